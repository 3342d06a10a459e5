/**
 * Request rates: sequential `status` and `task_status` through one REQ socket
 * beside a bare REP echo; pipelined `status` and `task_status` (16 in flight
 * on a DEALER) beside a bare ROUTER echo with the same number in flight.
 */
import { encode } from "../src/protocol/index.js";
import { RawClient, startManager } from "../test/helpers/manager.js";
import { pipelinedRate, sequentialRate, startEchoServer } from "./lib.js";

export interface RequestRates {
  status: number;
  taskStatus: number;
  echoSeq: number;
  /** Pipelined `task_status`. */
  pipelined: number;
  statusPipelined: number;
  echoPipelined: number;
  inFlight: number;
}

export async function benchRequests(n = 5000, inFlight = 16): Promise<RequestRates> {
  const m = await startManager({
    checkReplies: false,
    examples: false,
    publishConsole: false,
  });
  const rep = await startEchoServer("rep");
  const router = await startEchoServer("router");
  try {
    const status = encode({ method: "status", params: {} }, "json");
    // A task_status of a uid the manager has never seen: the full request path, no worker.
    const taskStatus = encode(
      { method: "task_status", params: { task_uid: "6f1c2c54-0000-4000-8000-000000000000" } },
      "json",
    );
    const c = new RawClient(m.controlAddr);
    await c.request("status");
    c.close();
    // Rounds that interleave the subject and its baseline, so that both see the same machine.
    const rounds = 5;
    const per = Math.ceil(n / rounds);
    const sum = {
      echoSeq: 0,
      status: 0,
      taskStatus: 0,
      echoPipelined: 0,
      pipelined: 0,
      statusPipelined: 0,
    };
    for (let i = 0; i < rounds; i++) {
      sum.echoSeq += per / (await sequentialRate(rep.address, taskStatus, per));
      sum.status += per / (await sequentialRate(m.controlAddr, status, per));
      sum.taskStatus += per / (await sequentialRate(m.controlAddr, taskStatus, per));
      sum.echoPipelined +=
        per / (await pipelinedRate(router.address, () => taskStatus, per, inFlight));
      sum.pipelined += per / (await pipelinedRate(m.controlAddr, () => taskStatus, per, inFlight));
      sum.statusPipelined +=
        per / (await pipelinedRate(m.controlAddr, () => status, per, inFlight));
    }
    // Each sum is seconds in all; the rate is requests over it.
    const rate = (seconds: number) => (per * rounds) / seconds;
    const echoSeq = rate(sum.echoSeq);
    const statusRate = rate(sum.status);
    const taskStatusRate = rate(sum.taskStatus);
    const echoPipelined = rate(sum.echoPipelined);
    const pipelined = rate(sum.pipelined);
    return {
      status: statusRate,
      taskStatus: taskStatusRate,
      echoSeq,
      pipelined,
      statusPipelined: rate(sum.statusPipelined),
      echoPipelined,
      inFlight,
    };
  } finally {
    rep.stop();
    router.stop();
    await m.stop();
  }
}
