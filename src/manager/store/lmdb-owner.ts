/**
 * One manager per LMDB directory (LMDB itself lets many processes share an
 * environment, so two managers would each keep their own view and overwrite
 * each other's documents). Two locks, taken before the environment is opened:
 *
 * - On Linux, a listening unix socket in the abstract namespace, named after
 *   the directory's device and inode (so every path to the directory, through
 *   symlinks or bind mounts, gives one name). Binding is atomic, one process
 *   at a time can hold the name, and the kernel frees it when the process dies,
 *   `kill -9` included: nothing is left to clean up. A manager that finds the
 *   name taken connects to it; the owner answers with its record.
 * - Everywhere, `owner.json` in the directory: the owner's record (pid, host,
 *   since, boot id and process start time), written whole to a temporary file
 *   and hard-linked to its name, which fails when the name exists (so two
 *   managers cannot both create it, and no one reads half a record). It covers
 *   the managers the socket cannot see (another host on a shared file system,
 *   another network namespace, a system without abstract sockets) and gives
 *   the error its details. A record of this host whose process is gone (pid
 *   not running, or now another process: start time) is replaced, with a log
 *   line; a record of another host is not, since zqs cannot tell from here
 *   whether that manager still runs: the error says which file to remove.
 *
 * With the socket held, a stale record is removed by one manager at a time
 * (the others of this host cannot hold the socket; those of other hosts see a
 * record they refuse). Without it, two managers replacing the same stale
 * record at the same moment could race; the socket is what makes Linux sturdy.
 * A local user could take the socket's name first and so keep a manager from
 * starting (never from writing safely); the error then names that process.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
  StoreInUseError,
  describeOwner,
  ownerRecord,
  ownerState,
  parseOwner,
  type OwnerRecord,
  type StoreLog,
} from "./owner.js";
import { StoreError } from "./types.js";

/** The record's file name in the store directory. */
export const OWNER_FILE = "owner.json";

export interface DirectoryOwnership {
  readonly record: OwnerRecord;
  /** Remove the record (when it is still this one) and free the socket. */
  release(): Promise<void>;
}

/** Take the directory for this process, or throw a StoreInUseError naming its owner. */
export async function takeDirectory(dir: string, log?: StoreLog): Promise<DirectoryOwnership> {
  const me = ownerRecord();
  const file = path.join(dir, OWNER_FILE);
  const server = await holdSocket(dir, file, me);
  try {
    takeRecord(dir, file, me, log);
  } catch (err) {
    server?.close();
    throw err;
  }
  let released = false;
  return {
    record: me,
    async release() {
      if (released) return;
      released = true;
      const text = readText(file);
      if (text !== undefined && parseOwner(text)?.token === me.token) {
        fs.rmSync(file, { force: true });
      }
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function inUse(dir: string, file: string, owner: OwnerRecord | undefined, elsewhere: boolean) {
  let msg = `Store ${dir} is in use by ${owner ? describeOwner(owner) : "another manager"}; stop it first or use another --store-path`;
  if (elsewhere) {
    msg += ` (zqs cannot tell from this host whether that manager still runs: if it does not, remove ${file})`;
  }
  return new StoreInUseError(msg, owner);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Listen on the directory's abstract socket (Linux). Undefined when this system
 * has none; a StoreInUseError when another process holds it.
 */
async function holdSocket(
  dir: string,
  file: string,
  me: OwnerRecord,
): Promise<net.Server | undefined> {
  if (process.platform !== "linux") return undefined;
  const st = fs.statSync(dir, { bigint: true });
  const name = `\0zqs-store/${st.dev}/${st.ino}`;
  const answer = `${JSON.stringify(me)}\n`;
  for (let attempt = 1; ; attempt++) {
    const server = net.createServer((sock) => {
      sock.on("error", () => undefined);
      sock.end(answer);
    });
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(name, () => resolve(undefined));
    });
    if (err === undefined) {
      server.on("error", () => undefined);
      server.unref();
      return server;
    }
    // No abstract sockets here (a restricted sandbox): the record alone decides.
    if (err.code !== "EADDRINUSE") return undefined;
    const { owner, refused } = await askOwner(name);
    // Refused: the owner closed the socket just now (it is exiting): try again.
    if (refused && attempt < 3) continue;
    // No answer (a stopped process): its record says who it is.
    const text = owner === undefined ? readText(file) : undefined;
    throw inUse(dir, file, owner ?? (text === undefined ? undefined : parseOwner(text)), false);
  }
}

/**
 * The record the process holding the socket answers (none when it does not
 * answer within 1 s), and whether the connection was refused.
 */
function askOwner(name: string): Promise<{ owner?: OwnerRecord; refused: boolean }> {
  return new Promise((resolve) => {
    let data = "";
    const sock = net.connect(name);
    const done = (owner: OwnerRecord | undefined, refused = false) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(owner === undefined ? { refused } : { owner, refused });
    };
    const timer = setTimeout(() => done(undefined), 1000);
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      data += chunk;
      if (data.length > 65_536) done(undefined);
    });
    sock.on("end", () => done(parseOwner(data)));
    sock.on("error", (err: NodeJS.ErrnoException) => done(undefined, err.code === "ECONNREFUSED"));
  });
}

/** Create the record, replacing one whose process is gone; throw when another manager owns it. */
function takeRecord(dir: string, file: string, me: OwnerRecord, log?: StoreLog): void {
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, text)) return;
    const found = readText(file);
    if (found === undefined) continue; // removed in between: try again
    const owner = parseOwner(found);
    if (owner === undefined) {
      throw new StoreInUseError(
        `Store ${dir} has an owner record that cannot be read (${file}); if no manager uses this store, remove that file`,
      );
    }
    const state = ownerState(owner);
    if (state !== "gone") throw inUse(dir, file, owner, state === "elsewhere");
    log?.warn(
      `Store ${dir} was owned by ${describeOwner(owner)}, which is no longer running: taking it over`,
    );
    if (readText(file) === found) fs.rmSync(file, { force: true });
  }
  throw new StoreError(`Cannot take the store at ${dir}: its owner record ${file} keeps changing`);
}

/** Create `file` with `text` unless it exists; false when it does. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  const fd = fs.openSync(tmp, "wx", 0o644);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    // A file system without hard links: an exclusive create, written at once.
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw err;
    try {
      fs.writeFileSync(file, text, { flag: "wx", mode: 0o644 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
