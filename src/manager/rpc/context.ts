/** What the rpc area's own handlers (status, manager_stop) use: nothing else of the manager. */
import type { ReplyOf, Status } from "../../protocol/index.js";
import type { Activity } from "../activity.js";

export interface RpcContext {
  /** The current status map. */
  status(): Status;
  activity: Pick<Activity, "requireIdle">;
  /** The numbers of the `metrics` method. */
  metrics(): ReplyOf<"metrics">["metrics"];
  /** Stop the manager after the current replies are sent. */
  requestStop(reason: string): void;
}
