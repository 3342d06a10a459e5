/**
 * The bound on a worker's console output at its source: a token bucket of
 * bytes per worker (`--console-rate` bytes a second, `--console-burst` at
 * once). Output within it goes on to QS_Console as read; output beyond it is
 * read (the worker is not held up) and dropped, and once the bucket has
 * refilled for a second (or the worker is gone) one line says how much was
 * dropped and names the option. So a task that prints without end costs the
 * info socket, the gateway and every reader at most the rate.
 */

/** Defaults of `--console-rate` and `--console-burst`. */
export const DEFAULT_CONSOLE_RATE = 1024 * 1024;
export const DEFAULT_CONSOLE_BURST = 8 * 1024 * 1024;

export interface ConsoleLimitOptions {
  /** Bytes a second (0: no limit). */
  rate: number;
  /** Bytes at once. */
  burst: number;
  /** Milliseconds now (tests give their own clock). */
  now?: () => number;
}

export class ConsoleLimit {
  private tokens: number;
  private last: number;
  private droppedLines = 0;
  private droppedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The last text that went on did not end its line. */
  private midLine = false;
  private readonly now: () => number;

  constructor(
    private readonly opts: ConsoleLimitOptions,
    private readonly out: (text: string) => void,
  ) {
    this.now = opts.now ?? Date.now;
    this.tokens = opts.burst;
    this.last = this.now();
  }

  /** What a dropping stream waits for before it goes on: a second of the rate (within the burst). */
  private get resumeAt(): number {
    return Math.min(this.opts.rate, this.opts.burst);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(
      this.opts.burst,
      this.tokens + ((t - this.last) * this.opts.rate) / 1000,
    );
    this.last = t;
  }

  write(text: string): void {
    if (this.opts.rate <= 0) {
      this.out(text);
      return;
    }
    const bytes = Buffer.byteLength(text);
    this.refill();
    if (this.droppedBytes > 0 && this.tokens >= this.resumeAt) this.flush();
    // A piece larger than the burst goes when the bucket is full (the rate holds: it goes below 0).
    if (this.droppedBytes === 0 && (bytes <= this.tokens || this.tokens >= this.opts.burst)) {
      this.tokens -= bytes;
      this.midLine = !text.endsWith("\n");
      this.out(text);
      return;
    }
    this.drop(text, bytes);
  }

  private drop(text: string, bytes: number): void {
    let lines = 0;
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
    this.droppedLines += lines;
    this.droppedBytes += bytes;
    if (this.timer) return;
    const wait = Math.max(0, ((this.resumeAt - this.tokens) * 1000) / this.opts.rate);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      this.flush();
    }, wait);
    this.timer.unref();
  }

  /** The marker of what was dropped, if anything was; the output goes on. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.droppedBytes === 0) return;
    const text =
      (this.midLine ? "\n" : "") +
      `... ${this.droppedLines} lines (${this.droppedBytes} bytes) of output dropped ` +
      `(limit --console-rate ${this.opts.rate} bytes/s, --console-burst ${this.opts.burst} bytes)\n`;
    this.droppedLines = 0;
    this.droppedBytes = 0;
    this.midLine = false;
    this.out(text);
  }

  /** The worker is gone: say what was dropped, keep no timer. */
  close(): void {
    this.flush();
  }
}
