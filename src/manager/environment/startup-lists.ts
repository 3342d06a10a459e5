/**
 * The lists of plans and devices known at start, before any environment is
 * open (as the Python server knows them from its startup folder). When the
 * store holds no lists read from the startup code as it is now (its
 * fingerprint: a hash of the files' contents), a short-lived worker process
 * loads that code, reports what it found (the same introspection an
 * environment's `ready` carries) and exits. The manager answers status the
 * whole time; requests that need the lists wait for them (`whenKnown`).
 *
 * The reader gives way to an environment: when one starts opening, the reader
 * is stopped (its result, if any comes, is dropped) and requests wait for the
 * environment's lists instead, until its open ends either way.
 */
import { createHash, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { EnvironmentContent } from "../../protocol/ipc.js";
import { VERSION } from "../../version.js";
import { WorkerProcess } from "../../worker-host/worker-process.js";

/** Where the startup code is (the options of the same names). */
export interface StartupCode {
  startupDir: string | undefined;
  startupModule: string | undefined;
}

/** Feed every file under `dir` (its relative path and content) to the hash; node_modules and dot entries are left out. */
function hashDir(h: ReturnType<typeof createHash>, dir: string, rel = ""): void {
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const name = path.join(rel, e.name);
    const full = path.join(dir, name);
    const st = fs.statSync(full, { throwIfNoEntry: false });
    if (st?.isDirectory()) hashDir(h, dir, name);
    else if (st?.isFile()) h.update(`file ${name}\0`).update(fs.readFileSync(full)).update("\0");
  }
}

/** The file a startup module names (a path, or a package resolved as Node does), when there is one. */
function moduleFile(mod: string): string | undefined {
  const isPath = mod.startsWith(".") || mod.startsWith("/") || /\.[cm]?[jt]s$/.test(mod);
  if (isPath) return path.resolve(mod);
  try {
    const url = import.meta.resolve(mod);
    return url.startsWith("file:") ? fileURLToPath(url) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A hash of the startup code (every file of the startup directory, or the
 * startup module's file) and of the zqs version that reads it; undefined when
 * there is no startup code.
 */
export function startupFingerprint(code: StartupCode): string | undefined {
  const h = createHash("sha256").update(`zqs ${VERSION}\0`);
  if (code.startupDir) {
    const dir = path.resolve(code.startupDir);
    h.update(`dir ${dir}\0`);
    if (fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) hashDir(h, dir);
  } else if (code.startupModule) {
    h.update(`module ${code.startupModule}\0`);
    const file = moduleFile(code.startupModule);
    if (file !== undefined && fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      h.update(fs.readFileSync(file));
    }
  } else {
    return undefined;
  }
  return h.digest("hex");
}

export interface StartupListsOptions extends StartupCode {
  heartbeatTimeoutMs: number;
}

/** What the reader tells: the lists it read, and the fingerprint of the code they came from. */
export interface StartupListsEvents {
  lists: [EnvironmentContent, string];
}

export class StartupLists extends EventEmitter<StartupListsEvents> {
  private proc: WorkerProcess | undefined;
  /** Resolves when the read ends (read, failed or stopped); undefined when none runs. */
  private pending: Promise<void> | undefined;
  private finish: (() => void) | undefined;

  constructor(
    private readonly opts: StartupListsOptions,
    private readonly log: {
      info(msg: string): void;
      error(msg: string): void;
    },
  ) {
    super();
  }

  /** A read is under way. */
  get loading(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Read the lists unless the store has them for the code as it is now
   * (`stored`: the fingerprint kept with them; `haveLists`: the store has lists).
   */
  start(stored: unknown, haveLists: boolean): void {
    let fingerprint: string | undefined;
    try {
      fingerprint = startupFingerprint(this.opts);
    } catch (err) {
      this.log.error(
        `Cannot read the startup code to know its plans and devices: ${(err as Error).message}`,
      );
      return;
    }
    if (fingerprint === undefined || (haveLists && stored === fingerprint)) return;
    this.read(fingerprint);
  }

  private read(fingerprint: string): void {
    const w = new WorkerProcess({
      id: randomUUID(),
      startupDir: this.opts.startupDir,
      startupModule: this.opts.startupModule,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
    });
    this.proc = w;
    this.pending = new Promise((resolve) => (this.finish = resolve));
    const end = (): void => {
      if (this.proc !== w) return;
      this.proc = undefined;
      this.settle();
    };
    w.on("message", (m) => {
      if (this.proc !== w) return;
      if (m.type === "ready") {
        end();
        w.send({ type: "close" });
        this.log.info(
          `Read the plans and devices of the startup code (${Object.keys(m.content.plans_existing).length} plans, ${Object.keys(m.content.devices_existing).length} devices)`,
        );
        this.emit("lists", m.content, fingerprint);
      } else if (m.type === "load_failed") {
        end();
        w.kill("SIGKILL", m.msg);
        this.log.error(
          `${m.msg}\n${m.traceback}\nThe lists of plans and devices stay as they were (empty on a new store) until an environment opens`,
        );
      }
    });
    w.on("exit", (e) => {
      if (this.proc !== w) return;
      end();
      const how = e.signal ? `signal ${e.signal}` : `exit code ${String(e.code)}`;
      this.log.error(
        `The process reading the plans and devices of the startup code ended (${e.reason ?? how}) before it read them: the lists stay as they were until an environment opens`,
      );
    });
    w.start();
    this.log.info(`Reading the plans and devices of the startup code (pid ${w.pid ?? "?"})`);
  }

  /**
   * Resolves true once no read is under way (the lists are what they will be),
   * false when `ms` passed first.
   */
  async whenKnown(ms: number): Promise<boolean> {
    const pending = this.pending;
    if (pending === undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([pending.then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * An environment is opening: a read under way is stopped, and the lists count
   * as loading until `opened` settles (the environment reported its lists, or
   * failed to open).
   */
  yieldTo(opened: Promise<void>): void {
    const w = this.proc;
    if (w === undefined) return;
    this.proc = undefined;
    w.kill("SIGKILL", "an environment is opening: its lists replace these");
    this.log.info(
      "An environment is opening: its lists replace those being read from the startup code (that process is stopped)",
    );
    void opened.then(() => this.settle());
  }

  /** Stop a read under way (the manager stops). */
  stop(why: string): void {
    const w = this.proc;
    this.proc = undefined;
    this.settle();
    w?.kill("SIGKILL", why);
  }

  /** The lists are what they will be: the requests waiting for them go on. */
  private settle(): void {
    const finish = this.finish;
    this.pending = undefined;
    this.finish = undefined;
    finish?.();
  }
}
