/**
 * A real browser for tests: Debian's chromium driven by puppeteer-core
 * (nothing downloaded), and a small plain HTTP server on another loopback
 * port, to play a page of another origin.
 */
import { existsSync } from "node:fs";
import http from "node:http";
import puppeteer, { type Browser } from "puppeteer-core";
import { expect } from "vitest";

export const CHROMIUM = process.env.ZQS_CHROMIUM ?? "/usr/bin/chromium";

export async function launchBrowser(): Promise<Browser> {
  expect(existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium)`).toBe(true);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

export interface PageServer {
  /** `http://127.0.0.1:PORT`: the origin of the page. */
  origin: string;
  close(): Promise<void>;
}

/** A plain HTTP server on a free loopback port answering `html` at every path. */
export async function servePage(html: string): Promise<PageServer> {
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(html);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const a = srv.address();
  if (a === null || typeof a === "string") throw new Error("the page server has no port");
  return {
    origin: `http://127.0.0.1:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}
