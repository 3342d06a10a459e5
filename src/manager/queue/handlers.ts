/** The queue_* item methods and history_get/history_clear. */
import type { Item } from "../../protocol/index.js";
import { ownValue, pyRepr, pyTuple } from "../../protocol/index.js";
import { validatePlanItem, type PlanDescription } from "../../protocol/plan-params.js";
import type { Handlers } from "../rpc/dispatch.js";
import { RequestError } from "../errors.js";
import { FORMAT, requireItem, requireItemType, requireRequester } from "../access/requester.js";
import type { QueueHandlersContext } from "./context.js";
import {
  DEFAULT_MODE,
  existingIndex,
  indexOfUid,
  insertIndex,
  newUid,
  notInQueue,
} from "./plan-queue.js";
import type { QueueItem, Where } from "./types.js";

const ITEM_TYPES = ["plan", "instruction"];
const INSTRUCTIONS = ["queue_stop"];

/** A Python `pprint`-like repr: one line when short, else one key per line. */
function planRepr(item: Item): string {
  const one = pyRepr(item);
  if (one.length <= 80) return one;
  const parts = Object.entries(item).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`);
  return `{${parts.join(",\n ")}}`;
}

/**
 * Check an item for the queue and give it its owner and a new uid. Throws a
 * RequestError with the Python server's message when it is not acceptable.
 */
export function prepareItem(
  m: Pick<QueueHandlersContext, "access">,
  given: Item | undefined,
  who: string | undefined,
  userGroup: string | undefined,
  keepUid = false,
): QueueItem {
  const item = requireItem(given);
  const { user, group } = requireRequester(m.access, who, userGroup);
  requireItemType(item, ITEM_TYPES);
  if (item.item_type === "instruction") {
    if (!INSTRUCTIONS.includes(item.name as string)) {
      throw new RequestError(
        `${FORMAT}unsupported instruction ${pyRepr(item.name)}, supported instructions ${pyTuple(INSTRUCTIONS)}`,
      );
    }
  } else {
    const problem = planProblem(m, item, group);
    if (problem !== undefined) {
      throw new RequestError(`Plan validation failed: ${problem}\nPlan: ${planRepr(item)}`);
    }
  }
  const uid =
    keepUid && typeof item.item_uid === "string" && item.item_uid !== "" ? item.item_uid : newUid();
  return { ...item, user, user_group: group, item_uid: uid };
}

function planProblem(
  m: Pick<QueueHandlersContext, "access">,
  item: Item,
  group: string,
): string | undefined {
  const name = item.name;
  if (typeof name !== "string" || name === "") return "Plan name is not specified";
  const allowed = m.access.allowedLists(group);
  return validatePlanItem(item, ownValue(allowed.plans, name) as PlanDescription | undefined, {
    allowedDevices: allowed.deviceNames,
    existingDevices: allowed.existingDeviceNames,
  });
}

/** The destination parameters of a request. */
function where(p: Where): Where {
  return { pos: p.pos, before_uid: p.before_uid, after_uid: p.after_uid };
}

export function queueHandlers(m: QueueHandlersContext): Handlers {
  const q = m.queue;
  const afterAdd = () => m.executor.maybeAutostart();

  return {
    queue_get: () => ({
      success: true,
      msg: "",
      items: q.items,
      running_item: q.running ?? {},
      plan_queue_uid: m.state.marker("plan_queue_uid"),
    }),

    queue_item_add: async (p, ctx) => {
      await m.access.requireLists();
      // A schedule's fire gives the uid it wrote down for the item.
      const given =
        ctx.chosenUid === undefined || p.item === undefined
          ? p.item
          : { ...p.item, item_uid: ctx.chosenUid };
      const item = prepareItem(m, given, p.user, p.user_group, ctx.chosenUid !== undefined);
      const qsize = await q.change((d) => {
        d.items.splice(insertIndex(d.items, where(p)), 0, item);
        return d.items.length;
      });
      afterAdd();
      return { success: true, msg: "", qsize, item };
    },

    queue_item_add_batch: async (p) => {
      const items = p.items;
      if (items === undefined) throw new RequestError(`${FORMAT}request contains no item info`);
      await m.access.requireLists();
      const prepared: (QueueItem | undefined)[] = [];
      const results = items.map((it) => {
        try {
          prepared.push(prepareItem(m, it, p.user, p.user_group));
          return { success: true, msg: "" };
        } catch (err) {
          prepared.push(undefined);
          const msg = err instanceof Error ? err.message : String(err);
          return { success: false, msg: `Failed to add a plan: ${msg}` };
        }
      });
      const failed = results.filter((r) => !r.success).length;
      if (failed > 0) {
        throw new RequestError(
          `Failed to add all items: validation of ${failed} out of ${items.length} submitted items failed`,
          { qsize: q.items.length, items, results },
          false,
        );
      }
      const ok = prepared as QueueItem[];
      const qsize = await q.change((d) => {
        d.items.splice(insertIndex(d.items, where(p)), 0, ...ok);
        return d.items.length;
      });
      afterAdd();
      return { success: true, msg: "", qsize, items: ok, results };
    },

    queue_item_update: async (p) => {
      const uid = p.item?.item_uid;
      if (typeof uid !== "string") {
        throw new RequestError(`${FORMAT}'item_uid' is not specified or is not a string`);
      }
      await m.access.requireLists();
      const item = prepareItem(m, p.item, p.user, p.user_group, !p.replace);
      const qsize = await q.change((d) => {
        const i = indexOfUid(d.items, uid);
        if (i < 0) throw notInQueue(uid);
        d.items[i] = item;
        return d.items.length;
      });
      return { success: true, msg: "", qsize, item };
    },

    queue_item_get: (p) => {
      const i = existingIndex(q.items, p.pos, p.uid);
      return { success: true, msg: "", item: q.items[i] as QueueItem };
    },

    queue_item_remove: async (p) => {
      const [item, qsize] = await q.change((d) => {
        const i = existingIndex(d.items, p.pos, p.uid);
        const [removed] = d.items.splice(i, 1);
        return [removed as QueueItem, d.items.length] as const;
      });
      return { success: true, msg: "", item, qsize };
    },

    queue_item_remove_batch: async (p) => {
      const uids = p.uids;
      if (uids === undefined) {
        throw new RequestError("Parameter 'uids' is not found in the request");
      }
      const [items, qsize] = await q.change((d) => {
        const missing = uids.filter((u) => indexOfUid(d.items, u) < 0);
        if (missing.length > 0 && !p.ignore_missing) {
          throw new RequestError(
            `The queue does not contain items with the following UIDs: ${pyRepr(missing)}`,
          );
        }
        const removed: QueueItem[] = [];
        for (const u of uids) {
          const i = indexOfUid(d.items, u);
          if (i >= 0) removed.push(...d.items.splice(i, 1));
        }
        return [removed, d.items.length] as const;
      });
      return { success: true, msg: "", items, qsize };
    },

    queue_item_move: async (p) => {
      if (p.pos_dest === undefined && p.before_uid === undefined && p.after_uid === undefined) {
        throw new RequestError("Destination for the item is not specified");
      }
      const [item, qsize] = await q.change((d) => {
        const from = existingIndex(d.items, p.pos, p.uid);
        const moving = d.items[from] as QueueItem;
        if (p.before_uid === moving.item_uid || p.after_uid === moving.item_uid) {
          return [moving, d.items.length] as const;
        }
        // A numeric destination is a position in the queue as it is now.
        const dest =
          typeof p.pos_dest === "number"
            ? existingIndex(d.items, p.pos_dest, undefined)
            : undefined;
        d.items.splice(from, 1);
        if (dest !== undefined) d.items.splice(dest, 0, moving);
        else {
          const to = insertIndex(d.items, {
            pos: p.pos_dest,
            before_uid: p.before_uid,
            after_uid: p.after_uid,
          });
          d.items.splice(to, 0, moving);
        }
        return [moving, d.items.length] as const;
      });
      return { success: true, msg: "", item, qsize };
    },

    queue_item_move_batch: async (p) => {
      const uids = p.uids;
      if (uids === undefined)
        throw new RequestError("Parameter 'uids' is not found in the request");
      if (new Set(uids).size !== uids.length) {
        throw new RequestError(`The list of contains repeated UIDs: ${pyRepr(uids)}`);
      }
      const [items, qsize] = await q.change((d) => {
        const missing = uids.filter((u) => indexOfUid(d.items, u) < 0);
        if (missing.length > 0) {
          throw new RequestError(
            `The queue does not contain items with the following UIDs: ${pyRepr(missing)}`,
          );
        }
        if (p.before_uid && uids.includes(p.before_uid)) {
          throw new RequestError("The item with 'before_uid' is in the batch");
        }
        if (p.after_uid && uids.includes(p.after_uid)) {
          throw new RequestError("The item with 'after_uid' is in the batch");
        }
        let moving = uids.map((u) => d.items[indexOfUid(d.items, u)] as QueueItem);
        if (p.reorder) {
          const order = new Map(d.items.map((it, i) => [it.item_uid, i]));
          moving = [...moving].sort(
            (a, b) => (order.get(a.item_uid) ?? 0) - (order.get(b.item_uid) ?? 0),
          );
        }
        const set = new Set(uids);
        d.items = d.items.filter((it) => !set.has(it.item_uid));
        const to = insertIndex(d.items, {
          pos: p.pos_dest,
          before_uid: p.before_uid,
          after_uid: p.after_uid,
        });
        d.items.splice(to, 0, ...moving);
        return [moving, d.items.length] as const;
      });
      return { success: true, msg: "", items, qsize };
    },

    queue_item_execute: async (p) => {
      await m.access.requireLists();
      const item = prepareItem(m, p.item, p.user, p.user_group);
      if (item.item_type !== "plan") {
        throw new RequestError(`${FORMAT}only plans can be executed immediately`);
      }
      await m.executor.executeNow(item);
      return { success: true, msg: "", qsize: q.items.length, item };
    },

    queue_clear: async () => {
      await q.change((d) => {
        d.items = [];
      });
      return { success: true, msg: "" };
    },

    queue_mode_set: async (p) => {
      const mode = p.mode;
      if (mode === undefined) {
        throw new RequestError(`Parameter 'mode' is not found in request ${pyRepr(p)}`);
      }
      const next = mode === "default" ? { ...DEFAULT_MODE } : { ...q.mode, ...checkMode(mode) };
      await q.change((d) => {
        d.mode = next;
      });
      return { success: true, msg: "" };
    },

    history_get: () => ({
      success: true,
      msg: "",
      items: q.history,
      plan_history_uid: m.state.marker("plan_history_uid"),
    }),

    history_clear: async (p) => {
      if (p.size !== undefined && p.item_uid !== undefined) {
        throw new RequestError("Ambiguous parameters: both 'size' and 'item_uid' are specified");
      }
      await q.change((_d, h) => {
        if (p.item_uid !== undefined) {
          const i = h.result.findIndex((it) => it.item_uid === p.item_uid);
          if (i < 0) {
            throw new RequestError(`Item with UID '${p.item_uid}' is not in the history`);
          }
          // Remove that item and every older one.
          h.trim(h.result.length - i - 1);
        } else {
          h.trim(p.size ?? 0);
        }
      });
      return { success: true, msg: "" };
    },
  };
}

function checkMode(
  mode: Record<string, unknown>,
): Partial<{ loop: boolean; ignore_failures: boolean }> {
  const supported = ["loop", "ignore_failures"];
  const out: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(mode)) {
    if (!supported.includes(k)) {
      throw new RequestError(
        `Unsupported plan queue mode parameter ${pyRepr(k)}: supported parameters ${pyRepr(supported)}`,
      );
    }
    if (typeof v !== "boolean") {
      throw new RequestError(
        `Unsupported type ${pyRepr(typeof v)} of the parameter ${pyRepr(k)}: expected 'bool'`,
      );
    }
    out[k] = v;
  }
  return out;
}
