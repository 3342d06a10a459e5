/**
 * Request rates: sequential `status` and `task_status` through one REQ socket
 * beside a bare REP echo; pipelined `task_status` (16 in flight on a DEALER)
 * beside a bare ROUTER echo with the same number in flight.
 */
import { encode } from "../src/protocol/index.js";
import { RawClient, startManager } from "../test/helpers/manager.js";
import { pipelinedRate, sequentialRate, startEchoServer } from "./lib.js";

export interface RequestRates {
  status: number;
  taskStatus: number;
  echoSeq: number;
  pipelined: number;
  echoPipelined: number;
  inFlight: number;
}

export async function benchRequests(n = 5000, inFlight = 16): Promise<RequestRates> {
  const m = await startManager({ examples: false, publishConsole: false });
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
    // Interleave the subject and its baseline so that both see the same machine.
    const echoSeq = await sequentialRate(rep.address, taskStatus, n);
    const statusRate = await sequentialRate(m.controlAddr, status, n);
    const taskStatusRate = await sequentialRate(m.controlAddr, taskStatus, n);
    const echoPipelined = await pipelinedRate(router.address, () => taskStatus, n, inFlight);
    const pipelined = await pipelinedRate(m.controlAddr, () => taskStatus, n, inFlight);
    return {
      status: statusRate,
      taskStatus: taskStatusRate,
      echoSeq,
      pipelined,
      echoPipelined,
      inFlight,
    };
  } finally {
    rep.stop();
    router.stop();
    await m.stop();
  }
}
