/**
 * Bytes written to stdout and stderr so far (through their `write`, which
 * console.log and the task logger use). A task's end carries the count, so the
 * manager publishes its output before its end (the pipes and the IPC channel
 * are read separately). The pipes block on write (the manager's --import), so
 * a write has reached the pipe when it returns.
 */
export class OutputCount {
  private written = 0;

  /** Counts what is written to `streams` from now on. */
  constructor(streams: NodeJS.WriteStream[]) {
    for (const stream of streams) {
      const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
      stream.write = (chunk: unknown, ...rest: unknown[]): boolean => {
        const enc = typeof rest[0] === "string" ? (rest[0] as BufferEncoding) : "utf8";
        if (typeof chunk === "string") this.written += Buffer.byteLength(chunk, enc);
        else if (chunk instanceof Uint8Array) this.written += chunk.byteLength;
        return write(chunk, ...rest);
      };
    }
  }

  get bytes(): number {
    return this.written;
  }
}
