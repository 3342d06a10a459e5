// @ts-check
// Talking to the gateway: a method of the manager by its name (its route comes
// from the generated table), the gateway's own routes, who is logged in and
// what the session may do, and the notice shown when something fails.
import { METHODS, OWN_ROUTES, SCOPES } from "../generated/routes.js";
import { $, h, brief } from "./dom.js";

/** @typedef {keyof typeof METHODS} MethodName */
/** @typedef {keyof typeof OWN_ROUTES} OwnRouteName */
/** @typedef {Record<string, any>} Reply */
/**
 * @typedef {object} Whoami
 * @property {string} user
 * @property {string} user_group
 * @property {string[]} scopes
 * @property {string} [csrf_token]
 */

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} [status]
   */
  constructor(message, status) {
    super(message);
    /** The HTTP status, when the gateway answered. */
    this.status = status;
  }
}

/**
 * Whether the manager (or the gateway) does not know the method: the feature is absent.
 * @param {unknown} err
 */
export function isUnknown(err) {
  return err instanceof ApiError && (err.status === 404 || /unknown method/i.test(err.message));
}

/** @type {Promise<Whoami> | undefined} */
let whoamiReply;

/** Who is logged in, with the session's CSRF token and scopes (asked once, again after a failure). */
export function whoami() {
  whoamiReply ??= /** @type {Promise<Whoami>} */ (request("GET", OWN_ROUTES.whoami.path)).catch(
    (err) => {
      whoamiReply = undefined;
      throw err;
    },
  );
  return whoamiReply;
}

/** Ask who is logged in again (the session may have changed). */
export function forgetWhoami() {
  whoamiReply = undefined;
}

/**
 * Whether the session's scopes allow a method (each scope implies those before it).
 * @param {Whoami | undefined} me
 * @param {MethodName} method
 */
export function allows(me, method) {
  if (!me) return false;
  const need = SCOPES.indexOf(/** @type {any} */ (METHODS[method].scope));
  return (me.scopes ?? []).some((s) => SCOPES.indexOf(/** @type {any} */ (s)) >= need);
}

/**
 * A GET's parameters as a query string: a list as the name repeated, text as
 * it is, anything else as JSON.
 * @param {Record<string, unknown>} params
 */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    const values = Array.isArray(v) ? v : [v];
    for (const one of values) q.append(k, typeof one === "string" ? one : JSON.stringify(one));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

/**
 * A method of the manager through its route: a GET with its parameters in the
 * query string, a change with a JSON body. A reply with `success: false`
 * throws its `msg`.
 * @param {MethodName} method
 * @param {Record<string, unknown>} [params]
 * @returns {Promise<Reply>}
 */
export function call(method, params = {}) {
  const r = METHODS[method];
  return r.verb === "GET"
    ? request("GET", r.path + query(params))
    : request(r.verb, r.path, params);
}

/**
 * One of the gateway's own routes (logout, console output...).
 * @param {OwnRouteName} name
 * @param {Record<string, unknown>} [params]
 */
export function own(name, params = {}) {
  const r = OWN_ROUTES[name];
  return r.verb === "GET"
    ? request("GET", r.path + query(params))
    : request(r.verb, r.path, params);
}

/**
 * One request: a change (POST, DELETE) carries the session's CSRF token in
 * X-ZQS-CSRF and its body as application/json, as the gateway wants of a
 * request made with the session cookie. A 401 means the session ended: the
 * page offers the login again.
 * @param {string} verb
 * @param {string} path
 * @param {Record<string, unknown>} [body]
 * @returns {Promise<Reply>}
 */
async function request(verb, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  /** @type {RequestInit} */
  const init = { method: verb, headers, credentials: "same-origin" };
  if (verb !== "GET") {
    headers["X-ZQS-CSRF"] = (await whoami()).csrf_token ?? "";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`The gateway is unreachable (${/** @type {Error} */ (err).message})`);
  }
  /** @type {Reply | undefined} */
  let data;
  try {
    data = await res.json();
  } catch {
    data = undefined;
  }
  if (res.status === 401) {
    showNotice("The session has ended: log in again.", true);
    throw new ApiError("Not authenticated", 401);
  }
  if (!res.ok) {
    const detail = data?.detail ?? res.statusText;
    throw new ApiError(`${path.split("?")[0]}: ${brief(detail, 300)}`, res.status);
  }
  if (data && data.success === false) {
    throw new ApiError(data.msg || `${path} failed`, res.status);
  }
  return data ?? {};
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let noticeTimer;

/**
 * A line at the top of the page (a failure, mostly).
 * @param {string} text
 * @param {boolean} [sticky]
 */
export function showNotice(text, sticky = false) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  if (sticky) n.append(" ", h("a", { href: "/" }, "Log in"));
  else noticeTimer = setTimeout(() => (n.hidden = true), 8000);
}

/**
 * Run a loader; its failure is shown, never thrown into an event handler.
 * @param {() => Promise<unknown>} fn
 */
export function load(fn) {
  fn().catch((err) => {
    if (err?.status !== 401) showNotice(err?.message ?? String(err));
  });
}

/**
 * Calls that follow a burst of events: one call per `ms`, the last event always followed.
 * @param {() => Promise<unknown>} fn
 * @param {number} ms
 */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(fn), ms);
  };
}

/**
 * At most one call per `ms` while events come, the last one always followed.
 * @param {() => Promise<unknown>} fn
 * @param {number} ms
 */
export function throttle(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      load(fn);
    }, ms);
  };
}

/**
 * A button's action: the call, its failure (if any) shown at the top.
 * @param {HTMLButtonElement | HTMLElement} button
 * @param {() => Promise<unknown> | unknown} fn
 * @param {() => void} [after]
 */
export function onClick(button, fn, after) {
  button.addEventListener("click", async () => {
    /** @type {HTMLButtonElement} */ (button).disabled = true;
    try {
      await fn();
    } catch (err) {
      showNotice(/** @type {Error} */ (err).message);
    } finally {
      /** @type {HTMLButtonElement} */ (button).disabled = false;
      after?.();
    }
  });
}
