/**
 * A task's printed lines reach QS_Console before its QS_Task completion event,
 * as a subscriber of the info socket sees them (one PUB socket: one order).
 * The lines travel on the worker's stdout pipe and the end on the IPC
 * channel, read separately by the manager; the end carries how much the
 * worker had written, and waits for it. A task that prints a lot is the hard
 * case: the manager reads worker output at a bounded rate (it pauses the
 * pipes), so the end would otherwise overtake the last lines.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BRISK_INFO_INTERVAL,
  InfoListener,
  RawClient,
  startManager,
  type RunningManager,
} from "../helpers/manager.js";
import { execute, fn, openEnvironment, waitEvent } from "../helpers/tasks.js";

const STARTUP = {
  "print.mjs": `
export function print_lines(tag) {
  console.log("first line of " + tag);
  console.log("second line of " + tag);
  console.log("last line of " + tag);
  return tag;
}
export function print_much(tag, kib) {
  const line = "x".repeat(1023);
  for (let i = 0; i < kib; i++) console.log(line);
  console.log("last line of " + tag);
  return tag;
}
`,
};

let m: RunningManager;
let c: RawClient;
let listener: InfoListener;

beforeEach(async () => {
  m = await startManager({ infoInterval: BRISK_INFO_INTERVAL, startup: STARTUP });
  c = new RawClient(m.controlAddr);
  listener = new InfoListener(m.infoAddr, ["QS_Console", "QS_Task"]);
  await listener.ready();
  await openEnvironment(c);
});

afterEach(async () => {
  listener.close();
  c.close();
  await m.stop();
});

/** QS_Console text published before the task's completion event (which must come). */
async function consoleBeforeEnd(uid: string): Promise<string> {
  await waitEvent(listener, uid, "task-succeeded");
  const msgs = listener.messages;
  const end = msgs.findIndex(
    (x) =>
      x.topic === "QS_Task" &&
      (x.payload.msg as { task_uid: string; event: string }).task_uid === uid &&
      (x.payload.msg as { event: string }).event === "task-succeeded",
  );
  return msgs
    .slice(0, end)
    .filter((x) => x.topic === "QS_Console")
    .map((x) => String(x.payload.msg))
    .join("");
}

describe("console output and the end of a task", () => {
  it("a few printed lines are published before the completion event", async () => {
    for (const tag of ["a", "b", "c"]) {
      const uid = await execute(c, fn("print_lines", [`few-${tag}`]), {
        run_in_background: true,
      });
      const text = await consoleBeforeEnd(uid);
      for (const which of ["first", "second", "last"]) {
        expect(text).toContain(`${which} line of few-${tag}\n`);
      }
    }
  });

  it("the last of many lines (beyond the manager's read rate) comes before the end", async () => {
    // Just over the manager's read budget of one window (OUTPUT_BYTES_PER_SECOND / 10, 800 KiB):
    // it pauses the pipes with the last lines still in them, while the end arrives by IPC.
    for (const kib of [830, 850, 870, 900, 1000]) {
      const tag = `${kib}`;
      const uid = await execute(c, fn("print_much", [`much-${tag}`, kib]), {
        run_in_background: true,
      });
      const text = await consoleBeforeEnd(uid);
      expect(text).toContain(`last line of much-${tag}\n`);
    }
  });
});
