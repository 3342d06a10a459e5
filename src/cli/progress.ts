/**
 * Progress while the CLI waits: a cli-progress bar on a terminal, plain lines
 * (at most one a second, and one at the end) when stderr is not a terminal.
 * Everything goes to stderr, so stdout stays clean for `--json`.
 */
import cliProgress from "cli-progress";

export interface Progress {
  /** `value` out of the total; `text` says what is happening. */
  update(value: number, text: string): void;
  /** Final line (or bar) and cleanup. */
  stop(text?: string): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  /** Plain lines at most this often (ms) when not a terminal. */
  lineIntervalMs?: number;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const start = Date.now();
  const elapsed = () => ((Date.now() - start) / 1000).toFixed(1);
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${opts.label} [{bar}] {value}/{total} | {duration_formatted} | {text}`,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.total, 0, { text: "" });
    let stopped = false;
    return {
      update(value, text) {
        if (!stopped) bar.update(value, { text });
      },
      stop(text) {
        if (stopped) return;
        stopped = true;
        if (text !== undefined) bar.update({ text });
        bar.stop();
      },
    };
  }
  const interval = opts.lineIntervalMs ?? 1000;
  let last: { value: number; text: string } = { value: 0, text: "" };
  let lastLineAt = 0;
  let printed: string | undefined;
  const line = () => {
    printed = `${last.value}|${last.text}`;
    stream.write(
      `${opts.label}: ${last.value}/${opts.total}, ${elapsed()} s${last.text ? ` (${last.text})` : ""}\n`,
    );
  };
  // A line a second even when nothing changes, so a log shows the wait is alive.
  const timer = setInterval(() => {
    if (Date.now() - lastLineAt >= interval) {
      lastLineAt = Date.now();
      line();
    }
  }, interval);
  timer.unref();
  let stopped = false;
  return {
    update(value, text) {
      last = { value, text };
      if (Date.now() - lastLineAt >= interval) {
        lastLineAt = Date.now();
        line();
      }
    },
    stop(text) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (text !== undefined) last = { ...last, text };
      if (printed !== `${last.value}|${last.text}`) line();
    },
  };
}
