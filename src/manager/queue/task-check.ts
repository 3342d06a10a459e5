/**
 * A schedule's task checked as its method checks it, without submitting it:
 * a function as function_execute (the group, the function allowed for it), a
 * plan as queue_item_add (the group, the plan and its devices allowed). The
 * schedules area is given it as its context's `check`.
 */
import { requireFunctionAllowed, requireRequester } from "../access/requester.js";
import type { FunctionAccess, ListAccess } from "../access/types.js";
import { prepareItem } from "./handlers.js";

type Access = FunctionAccess & ListAccess;

/** The refusal's message, or undefined when the task would be accepted. */
export async function taskProblem(
  access: Access,
  task: Record<string, unknown>,
  user: string,
  group: string,
): Promise<string | undefined> {
  try {
    if (task.item_type === "function") {
      requireRequester(access, user, group);
      requireFunctionAllowed(access, group, String(task.name));
    } else {
      await access.requireLists();
      prepareItem({ access }, task, user, group);
    }
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
