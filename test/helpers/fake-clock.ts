/** A fake clock with timers (the `Clock` of src/manager/tasks/delays.ts), for unit tests. */
import type { Clock } from "../../src/manager/due-timer.js";

export class FakeClock implements Clock {
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;

  constructor(public t = Date.parse("2030-01-01T00:00:00Z")) {}

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  /** Timers armed now. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move the clock `ms` on, running the timers due on the way (in order), each turn settled. */
  async advance(ms: number): Promise<void> {
    const to = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > to) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
      await new Promise((r) => setImmediate(r));
    }
    this.t = to;
  }
}
