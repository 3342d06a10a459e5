/**
 * The bounds of task trees: a task and the subtasks it (and they, in turn)
 * submitted. A function that submits itself would otherwise make tasks
 * without end, faster than anyone can cancel them.
 *
 *  - depth: a task submitted by a client (or a plan) is depth 0, a subtask
 *    its parent's depth + 1, at most `--max-subtask-depth`;
 *  - size: the unfinished tasks of one tree (its root, while it runs, and all
 *    its descendants), at most `--max-tree-tasks`;
 *  - the whole manager: its unfinished tasks (of any kind: function_execute,
 *    runs, subtasks), at most `--max-live-tasks`.
 *
 * Only unfinished tasks are kept here: a task leaves its tree once its final
 * state is visible (`leave`). A tree's root is the task that no other task
 * submitted, or the plan item that submitted it.
 */

/** The limits, as the manager's options set them. */
export interface TaskTreeLimits {
  /** --max-subtask-depth */
  maxSubtaskDepth: number;
  /** --max-tree-tasks */
  maxTreeTasks: number;
  /** --max-live-tasks */
  maxLiveTasks: number;
}

/** A subtask refused by a limit; its message names the limit and its option. */
export class TreeLimitError extends Error {
  override name = "TreeLimitError";
}

interface Node {
  root: string;
  depth: number;
}

export class TaskTrees {
  /** Unfinished tasks of trees that have subtasks: where they stand. */
  private readonly nodes = new Map<string, Node>();
  /** Root → its tree's unfinished tasks. */
  private readonly sizes = new Map<string, number>();

  constructor(
    readonly limits: TaskTreeLimits,
    /** The manager's unfinished tasks now. */
    private readonly liveTasks: () => number,
  ) {}

  /** Why `adding` more tasks would pass --max-live-tasks, or undefined when they fit. */
  liveRefusal(adding: number): string | undefined {
    const live = this.liveTasks();
    const max = this.limits.maxLiveTasks;
    if (live + adding <= max) return undefined;
    const what = adding === 1 ? "a task" : `${adding} tasks`;
    return (
      `The manager has ${live} unfinished tasks: ${what} more would be over ` +
      `the limit of ${max} (--max-live-tasks)`
    );
  }

  /**
   * Enter `child`, a new subtask of `parent` (a task when `parentIsTask`, else
   * a plan's item), in its parent's tree; throws a TreeLimitError when a
   * limit refuses it (nothing entered then).
   */
  admit(child: string, parent: string, parentIsTask: boolean): void {
    const { maxSubtaskDepth: maxDepth, maxTreeTasks: maxTree } = this.limits;
    // A parent without a node is a root: a task (counted in its own tree) or a plan (not a task).
    const up = this.nodes.get(parent);
    const root = up?.root ?? parent;
    const depth = (up?.depth ?? 0) + 1;
    if (depth > maxDepth) {
      throw new TreeLimitError(
        `depth ${depth} is over the limit of ${maxDepth} (--max-subtask-depth)`,
      );
    }
    const rootIsNew = !up && parentIsTask;
    const size = this.sizes.get(root) ?? (rootIsNew ? 1 : 0);
    if (size + 1 > maxTree) {
      throw new TreeLimitError(
        `the task tree of '${root}' has ${size} unfinished tasks, the limit of ` +
          `${maxTree} (--max-tree-tasks)`,
      );
    }
    const live = this.liveRefusal(1);
    if (live !== undefined) throw new TreeLimitError(live);
    if (rootIsNew) this.nodes.set(parent, { root, depth: 0 });
    this.nodes.set(child, { root, depth });
    this.sizes.set(root, size + 1);
  }

  /** The task's final state is visible: it leaves its tree. */
  leave(uid: string): void {
    const node = this.nodes.get(uid);
    if (!node) return;
    this.nodes.delete(uid);
    const n = (this.sizes.get(node.root) ?? 1) - 1;
    if (n > 0) this.sizes.set(node.root, n);
    else this.sizes.delete(node.root);
  }
}
