/**
 * End a long-running command (manager, worker) without process.exit: that
 * would drop what ZeroMQ still holds to send, while a natural exit lets it
 * deliver within the sockets' linger. Whatever else might keep the process
 * alive is cut off after `graceMs`.
 */
export function exitWhenDone(code: number, graceMs: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), graceMs).unref();
}
