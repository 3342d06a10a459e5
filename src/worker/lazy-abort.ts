/**
 * A task's abort signal, made only when the task first asks for it: most
 * short tasks never look, and an AbortController is one of the costlier
 * objects a task would otherwise allocate. Aborting before anyone asked
 * records the reason; the signal, once made, is already aborted with it.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private reason: unknown;
  private isAborted = false;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.isAborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.isAborted;
  }

  abort(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}
