// @ts-check
// The console output: what was kept when the page opened, then as it comes.
import { own } from "../lib/api.js";
import { $ } from "../lib/dom.js";

const CONSOLE_KEEP = 200_000;

/**
 * Add text at the end (the view follows the end while it is there).
 * @param {string} text
 */
export function appendConsole(text) {
  const pre = $("console");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  let all = (pre.textContent ?? "") + text;
  if (all.length > CONSOLE_KEEP) all = all.slice(all.length - CONSOLE_KEEP);
  pre.textContent = all;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

export async function loadConsole() {
  const r = await own("console_output");
  $("console").textContent = "";
  appendConsole(r.text ?? "");
}
