/**
 * The bound on a worker's console output at its source (console-limit.ts),
 * on a clock the test moves: output within the burst and the rate goes on,
 * beyond it is dropped, and one line says how much, naming the options.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConsoleLimit } from "../../src/manager/console-limit.js";

let now = 0;
const limits: ConsoleLimit[] = [];
afterEach(() => {
  for (const l of limits.splice(0)) l.close();
});

function limit(rate: number, burst: number) {
  const out: string[] = [];
  const l = new ConsoleLimit({ rate, burst, now: () => now }, (t) => out.push(t));
  limits.push(l);
  return { l, out };
}

const line = "x".repeat(99) + "\n"; // 100 bytes

describe("ConsoleLimit", () => {
  it("passes the burst, drops the rest, and says how much once the rate has refilled", () => {
    now = 0;
    const { l, out } = limit(1000, 500);
    for (let i = 0; i < 20; i++) l.write(line);
    expect(out).toHaveLength(5);
    // A second later the bucket holds a second's rate: the marker, then output goes on.
    now = 1000;
    l.write(line);
    expect(out[5]).toBe(
      "... 15 lines (1500 bytes) of output dropped (limit --console-rate 1000 bytes/s, --console-burst 500 bytes)\n",
    );
    expect(out[6]).toBe(line);
  });

  it("delivers at most the burst plus the rate over time, whatever is printed", () => {
    now = 0;
    const { l, out } = limit(1000, 500);
    for (let t = 0; t < 10_000; t += 10) {
      now = t;
      for (let i = 0; i < 10; i++) l.write(line);
    }
    l.close();
    const passed = out.filter((t) => t === line).length * 100;
    expect(passed).toBeLessThanOrEqual(500 + 1000 * 10);
    const dropped = out
      .filter((t) => t.startsWith("..."))
      .reduce((n, t) => n + Number(/\((\d+) bytes\)/.exec(t)?.[1]), 0);
    expect(passed + dropped).toBe(10_000 * 100);
    // One marker each time the bucket refills to min(rate, burst) (here 0.5 s), not one per piece.
    expect(out.filter((t) => t.startsWith("...")).length).toBeLessThanOrEqual(21);
  });

  it("ends a cut line before the marker; rate 0 is no limit", () => {
    now = 0;
    const { l, out } = limit(1000, 150);
    l.write(line);
    l.write("partial");
    l.write(line);
    l.close();
    expect(out.slice(0, 2)).toEqual([line, "partial"]);
    expect(out.at(-1)).toMatch(/^\n\.\.\. 1 lines \(100 bytes\)/);
    const open = limit(0, 1);
    for (let i = 0; i < 100; i++) open.l.write(line);
    expect(open.out).toHaveLength(100);
  });
});
