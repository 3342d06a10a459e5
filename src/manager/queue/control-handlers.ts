/** queue_start/stop/stop_cancel/autostart and the run engine controls re_*. */
import type { Handlers } from "../rpc/dispatch.js";
import type { ControlHandlersContext } from "./context.js";

const OK = { success: true, msg: "" } as const;

export function controlHandlers(m: ControlHandlersContext): Handlers {
  const x = m.executor;
  return {
    queue_start: async () => {
      await x.start();
      return OK;
    },
    queue_stop: () => {
      x.requestStop();
      return OK;
    },
    queue_stop_cancel: () => {
      x.cancelStop();
      return OK;
    },
    queue_autostart: async (p) => {
      await m.queue.change((d) => {
        d.autostart = p.enable;
      });
      if (p.enable) x.maybeAutostart();
      return OK;
    },
    re_pause: async (p) => {
      await x.control("pause", p.option);
      return OK;
    },
    re_resume: async () => {
      await x.control("resume");
      return OK;
    },
    re_stop: async () => {
      await x.control("stop");
      return OK;
    },
    re_abort: async () => {
      await x.control("abort");
      return OK;
    },
    re_halt: async () => {
      await x.control("halt");
      return OK;
    },
    re_runs: (p) => {
      const runs = x.planRuns;
      const list =
        p.option === "open"
          ? runs.filter((r) => r.is_open)
          : p.option === "closed"
            ? runs.filter((r) => !r.is_open)
            : runs;
      return {
        success: true,
        msg: "",
        run_list: list.map((r) => ({ ...r })),
        run_list_uid: m.state.marker("run_list_uid"),
      };
    },
    re_metadata: () => ({ success: true, msg: "", re_metadata: x.metadata }),
  };
}
