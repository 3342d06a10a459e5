/**
 * The dashboard's files: a folder served at `/` (index.html and whatever it
 * loads), and the small login form shown to a browser without a session.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The dashboard folder of this package (`dashboard/` at its root). */
export const DEFAULT_DASHBOARD_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "dashboard",
);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** A file of the folder by its URL path; undefined when there is none (or it is outside). */
export async function dashboardFile(
  dir: string,
  urlPath: string,
): Promise<{ body: Buffer; type: string } | undefined> {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath.split("?")[0] ?? "");
  } catch {
    return undefined;
  }
  if (rel === "" || rel === "/") rel = "/index.html";
  const root = path.resolve(dir);
  const file = path.resolve(root, `.${path.posix.normalize(rel)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  try {
    if (!(await stat(file)).isFile()) return undefined;
    return {
      body: await readFile(file),
      type: TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream",
    };
  } catch {
    return undefined;
  }
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );
}

/** The login form: it sends the key as `/?token=KEY`, as Jupyter's does. */
export function loginPage(error?: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>zqs — log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
input{width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}.error{color:#b00}</style></head>
<body>
<h1>zqs</h1>
<p>Give an API key to open the dashboard.</p>
${error ? `<p class="error" id="login-error">${escapeHtml(error)}</p>` : ""}
<form method="get" action="/" id="login-form">
<label for="token">API key</label>
<input type="password" id="token" name="token" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>
</body>
</html>
`;
}
