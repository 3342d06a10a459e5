/** status, ping (served from cached bytes by the dispatcher), config_get and metrics. */
import type { Handlers } from "./dispatch.js";
import type { RpcContext } from "./context.js";

export function statusHandlers(m: Pick<RpcContext, "status" | "metrics">): Handlers {
  return {
    metrics: () => ({ success: true, msg: "", metrics: m.metrics() }),
    status: () => m.status(),
    ping: () => m.status(),
    config_get: () => ({ success: true, msg: "", config: { ip_connect_info: {} } }),
  };
}
