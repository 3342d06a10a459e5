/**
 * What active schedules cost the no-op rate: background no-op tasks/s on one
 * manager with 10,000 `every: 3600` schedules active (one timer for the one
 * due first; none fires during the measure), over the same manager's rate
 * without them (before they are made, and again after they are deleted),
 * each the best of two.
 */
import { encode } from "../src/protocol/index.js";
import { fmt, pipelinedRate, startNoopManager, type NoopManager } from "./lib.js";
import { backgroundRate } from "./throughput.js";

const WARMUP_TASKS = 1000;
const IN_FLIGHT = 16;

export interface ScheduleCost {
  schedules: number;
  withoutPerSec: number;
  withPerSec: number;
}

/** `count` requests (`body(i)`, 16 in flight), each reply a success: the value of its `key`. */
async function many(
  z: NoopManager,
  count: number,
  body: (i: number) => Buffer,
  key: string,
): Promise<string[]> {
  const out: string[] = [];
  await pipelinedRate(z.m.controlAddr, body, count, IN_FLIGHT, (reply) => {
    const r = JSON.parse(reply.toString()) as Record<string, unknown>;
    if (r.success !== true) throw new Error(`refused: ${String(r.msg)}`);
    out.push(String(r[key]));
  });
  return out;
}

async function best(z: NoopManager, n: number): Promise<number> {
  return Math.max(await backgroundRate(z, n, IN_FLIGHT), await backgroundRate(z, n, IN_FLIGHT));
}

export async function benchScheduleCost(n = 5000, schedules = 10_000): Promise<ScheduleCost> {
  const z = await startNoopManager({ workers: 1 });
  try {
    await backgroundRate(z, WARMUP_TASKS, IN_FLIGHT);
    const before = await best(z, n);
    const create = encode(
      {
        method: "schedule_create",
        params: {
          every: 3600,
          task: { item_type: "function", name: "noop" },
          user: "bench",
          user_group: "primary",
        },
      },
      "json",
    );
    const uids = await many(z, schedules, () => create, "schedule_uid");
    const m = (await z.c.request("metrics")).metrics as { schedules: { active: number } };
    if (m.schedules.active !== schedules) {
      throw new Error(`${m.schedules.active} schedules active, not ${schedules}`);
    }
    const withPerSec = await best(z, n);
    await many(
      z,
      uids.length,
      (i) => encode({ method: "schedule_delete", params: { schedule_uid: uids[i] } }, "json"),
      "success",
    );
    const after = await best(z, n);
    return { schedules, withoutPerSec: Math.max(before, after), withPerSec };
  } finally {
    await z.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchScheduleCost(Number(process.env.BENCH_N ?? 5000));
  console.log(
    `background no-op tasks: ${fmt(r.withPerSec, 0)}/s with ${r.schedules} schedules active, ` +
      `${fmt(r.withoutPerSec, 0)}/s without (ratio ${fmt(r.withPerSec / r.withoutPerSec, 2)}, target ≥ 0.9)`,
  );
}
