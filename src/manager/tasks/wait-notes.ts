/**
 * Why a task waits, said in its record (`DealerTasks.note`): no connected
 * worker offers its function (with its tags), or its function's rate limit
 * holds it. Each is said once, and cleared when the task is dealt. The
 * scheduler tells this what it sees while dealing; this decides nothing of
 * where a task runs.
 */
import type { DealerTasks } from "./context.js";

/** What a note needs of a job (the scheduler's jobs). */
export interface NotedJob {
  uid: string;
  call: { name: string };
  tags: readonly string[];
  background: boolean;
  /** The worker it was handed to, while it runs. */
  worker: string | undefined;
  /** Its record says why it waits. */
  noted: boolean;
}

export class WaitNotes<J extends NotedJob> {
  /** Jobs made ready since every slot was last seen taken (`noteNew` looks at them). */
  private fresh: J[] = [];

  constructor(private readonly tasks: Pick<DealerTasks, "active" | "note">) {}

  /** The job became ready. */
  ready(job: J): void {
    this.fresh.push(job);
  }

  /** Every job made ready so far was looked at (dealt, or noted). */
  seen(): void {
    this.fresh = [];
  }

  /**
   * Every slot is taken: the jobs that became ready since the last look, which
   * no worker could take even when free, say so (each job is looked at once).
   */
  noteNew(workers: { offers(name: string, tags: readonly string[]): boolean }): void {
    const fresh = this.fresh;
    if (fresh.length === 0) return;
    this.fresh = [];
    for (const job of fresh) {
      if (!job.background || job.worker !== undefined || !this.tasks.active(job.uid)) continue;
      if (!workers.offers(job.call.name, job.tags)) this.unoffered(job);
    }
  }

  /** Say in the task's record that no worker offers it (once, until it is dealt). */
  unoffered(job: J): void {
    if (job.noted) return;
    job.noted = true;
    const tags = job.tags.length > 0 ? ` with the tags ${job.tags.join(", ")}` : "";
    this.tasks.note(
      job.uid,
      `Waiting: no connected worker${tags} offers the function '${job.call.name}'`,
    );
  }

  /** Say in the task's record why its rate limit holds it. */
  held(job: J, why: string): void {
    job.noted = true;
    this.tasks.note(job.uid, why);
  }

  /** The job is dealt: what its record said of its wait goes. */
  dealt(job: J): void {
    if (job.noted) {
      job.noted = false;
      this.tasks.note(job.uid, null);
    }
  }
}
