/** manager_stop, manager_kill, manager_test. */
import { pyTuple } from "../../protocol/index.js";
import type { Handlers } from "./dispatch.js";
import { BUSY } from "../activity.js";
import { RequestError } from "../errors.js";
import type { RpcContext } from "./context.js";

const STOP_OPTIONS = ["safe_off", "safe_on"] as const;

export function managerHandlers(m: RpcContext): Handlers {
  return {
    manager_stop: ({ option }) => {
      if (!(STOP_OPTIONS as readonly string[]).includes(option)) {
        throw new RequestError(
          `Option '${option}' is not allowed. Allowed options: ${pyTuple(STOP_OPTIONS)}`,
        );
      }
      if (option === "safe_on") m.activity.requireIdle(BUSY.stopSafely);
      m.requestStop("manager_stop request");
      return { success: true, msg: "" };
    },
    manager_kill: () => {
      throw new RequestError(
        "manager_kill is a test hook of the Python server and is not supported by zqs. Use manager_stop.",
      );
    },
    manager_test: () => {
      throw new RequestError(
        "manager_test is a test hook of the Python server and is not supported by zqs.",
      );
    },
  };
}
