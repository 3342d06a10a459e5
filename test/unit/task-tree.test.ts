/** TaskTrees: the depth of subtasks, the size of a tree and the manager's unfinished tasks. */
import { describe, expect, it } from "vitest";
import { TaskTrees, TreeLimitError } from "../../src/manager/tasks/task-tree.js";

function make(limits: { depth?: number; tree?: number; live?: number } = {}) {
  let live = 0;
  const trees = new TaskTrees(
    {
      maxSubtaskDepth: limits.depth ?? 32,
      maxTreeTasks: limits.tree ?? 1000,
      maxLiveTasks: limits.live ?? 100_000,
    },
    () => live,
  );
  return { trees, setLive: (n: number) => (live = n) };
}

describe("TaskTrees", () => {
  it("refuses a subtask one level past --max-subtask-depth, naming it", () => {
    const { trees } = make({ depth: 3 });
    trees.admit("c1", "root", true);
    trees.admit("c2", "c1", true);
    trees.admit("c3", "c2", true);
    expect(() => trees.admit("c4", "c3", true)).toThrow(
      new TreeLimitError("depth 4 is over the limit of 3 (--max-subtask-depth)"),
    );
    // A plan's subtask is depth 1 too.
    trees.admit("p1", "plan-item", false);
    trees.admit("p2", "p1", true);
  });

  it("counts a tree's unfinished tasks (the root while it runs) until they leave", () => {
    const { trees } = make({ tree: 3 });
    trees.admit("a", "root", true);
    trees.admit("b", "a", true);
    expect(() => trees.admit("c", "root", true)).toThrow(
      "the task tree of 'root' has 3 unfinished tasks, the limit of 3 (--max-tree-tasks)",
    );
    trees.leave("root");
    trees.admit("c", "a", true);
    expect(() => trees.admit("d", "b", true)).toThrow("(--max-tree-tasks)");
    for (const uid of ["a", "b", "c"]) trees.leave(uid);
    // Empty: a new tree of the same root starts from its root alone.
    trees.admit("e", "root", true);
    trees.admit("f", "root", true);
    // A plan is no task: its tree counts its subtasks only.
    for (const uid of ["p1", "p2", "p3"]) trees.admit(uid, "plan-item", false);
    expect(() => trees.admit("p4", "plan-item", false)).toThrow("(--max-tree-tasks)");
  });

  it("refuses any task past --max-live-tasks", () => {
    const { trees, setLive } = make({ live: 10 });
    setLive(9);
    expect(trees.liveRefusal(1)).toBeUndefined();
    expect(trees.liveRefusal(2)).toBe(
      "The manager has 9 unfinished tasks: 2 tasks more would be over the limit of 10 (--max-live-tasks)",
    );
    setLive(10);
    expect(() => trees.admit("c", "root", true)).toThrow(
      "a task more would be over the limit of 10 (--max-live-tasks)",
    );
    // Nothing was entered: the tree is empty once its root... has left.
    setLive(0);
    trees.admit("c", "root", true);
  });
});
