/** status, ping (served from cached bytes by the dispatcher) and config_get. */
import type { Handlers } from "./dispatch.js";
import type { RpcContext } from "./context.js";

export function statusHandlers(m: Pick<RpcContext, "status">): Handlers {
  return {
    status: () => m.status(),
    ping: () => m.status(),
    config_get: () => ({ success: true, msg: "", config: { ip_connect_info: {} } }),
  };
}
