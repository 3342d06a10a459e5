/** status, ping (served from cached bytes by the dispatcher) and config_get. */
import type { Handlers } from "../dispatch.js";
import type { Manager } from "../manager.js";

export function statusHandlers(m: Manager): Handlers {
  return {
    status: () => m.state.status(),
    ping: () => m.state.status(),
    config_get: () => ({ success: true, msg: "", config: { ip_connect_info: {} } }),
  };
}
