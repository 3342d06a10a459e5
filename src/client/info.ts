/**
 * The info (PUB) socket of the manager, seen from the client: one SUB socket
 * per client, subscribed to every topic zqs publishes (QS_Info status,
 * QS_Console output, QS_Task events), fanning messages out to waits and to
 * the monitors (async iterators) the user asks for.
 */
import { Subscriber } from "zeromq";
import type { ConsolePayload, InfoPayload } from "../protocol/index.js";
import {
  decode,
  detectEncoding,
  TOPIC_CONSOLE,
  TOPIC_INFO,
  TOPIC_TASK,
} from "../protocol/index.js";

export type Topic = typeof TOPIC_INFO | typeof TOPIC_CONSOLE | typeof TOPIC_TASK;
const TOPICS: Topic[] = [TOPIC_INFO, TOPIC_CONSOLE, TOPIC_TASK];

/** A task event (topic QS_Task): `{time, msg: {event, task_uid, ...}}`. */
export interface TaskEventPayload {
  time: number;
  msg: { event: string; task_uid: string; [key: string]: unknown };
}
/** An event of a worker on another host (published on QS_Task). */
export interface WorkerEventPayload {
  time: number;
  msg: { event: string; worker: string; hostname: string; pid: number; [key: string]: unknown };
}
export type { ConsolePayload, InfoPayload };

type Listener = (payload: unknown) => void;

/** The manager republishes its status at least once a second while the socket is on (`--zmq-info-interval`, at most 1 s). */
const LIVE_WINDOW_MS = 1500;

export class InfoHub {
  private sock: Subscriber | undefined;
  private readonly listeners = new Map<Topic, Set<Listener>>();
  private closed = false;
  private lastMessageAt = 0;
  private firstResolve!: () => void;
  /** Resolves when the first message arrives: from then on, nothing published is missed. */
  readonly firstMessage: Promise<void>;

  constructor(private address: string) {
    this.firstMessage = new Promise((r) => (this.firstResolve = r));
  }

  /** The address subscribed to now. */
  get subscribedTo(): string {
    return this.address;
  }

  /**
   * Subscribe to another manager's info socket instead (a failover): from now
   * on only its messages arrive; `live` waits for its first one.
   */
  retarget(address: string): void {
    if (address === this.address || this.closed) return;
    const old = this.address;
    this.address = address;
    this.lastMessageAt = 0;
    if (!this.sock) return;
    try {
      this.sock.disconnect(old);
    } catch {
      // Not connected (any more): nothing to undo.
    }
    this.sock.connect(address);
  }

  /** True while the manager's status messages keep arriving. */
  get live(): boolean {
    return this.lastMessageAt > 0 && Date.now() - this.lastMessageAt < LIVE_WINDOW_MS;
  }

  private start(): void {
    if (this.sock || this.closed) return;
    const sock = new Subscriber({ linger: 0 });
    this.sock = sock;
    sock.connect(this.address);
    for (const t of TOPICS) sock.subscribe(t);
    void this.loop(sock);
  }

  private async loop(sock: Subscriber): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch {
        if (this.closed || sock.closed) return;
        continue;
      }
      const [topicBuf, payloadBuf] = frames;
      if (!topicBuf || !payloadBuf) continue;
      let payload: unknown;
      try {
        payload = decode(payloadBuf, detectEncoding(payloadBuf));
      } catch {
        continue;
      }
      this.lastMessageAt = Date.now();
      this.firstResolve();
      const set = this.listeners.get(topicBuf.toString() as Topic);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(payload);
        } catch {
          // A listener's failure is its own business.
        }
      }
    }
  }

  /** Call `fn` with every payload of `topic`; returns the unsubscribe function. */
  on(topic: Topic, fn: Listener): () => void {
    this.start();
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.sock?.close();
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * Messages of one topic as an async iterator (`for await (const m of monitor)`),
 * buffered (the oldest are dropped beyond `maxBuffer`). `nextMessage(timeout)`
 * is the pull-style form; `close()` (or `break` in a for-await loop) ends it.
 */
export class InfoMonitor<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private readonly waiters: ((r: IteratorResult<T> | undefined) => void)[] = [];
  private closed = false;
  private readonly off: () => void;
  /** Messages dropped because nobody read them in time. */
  dropped = 0;
  /** Resolves once the info socket delivers messages (a subscription is only live from then on). */
  readonly ready: Promise<void>;

  constructor(
    hub: InfoHub,
    topic: Topic,
    private readonly filter: (payload: T) => boolean = () => true,
    private readonly maxBuffer = 10_000,
  ) {
    this.off = hub.on(topic, (p) => this.push(p as T));
    this.ready = hub.firstMessage;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private push(v: T): void {
    if (this.closed || !this.filter(v)) return;
    const w = this.waiters.shift();
    if (w) {
      w({ done: false, value: v });
      return;
    }
    this.buffer.push(v);
    if (this.buffer.length > this.maxBuffer) {
      this.buffer.shift();
      this.dropped += 1;
    }
  }

  /** The next message (waits as long as it takes; `done` once closed). */
  next(): Promise<IteratorResult<T>> {
    return this.take(undefined).then((r) => r ?? DONE);
  }

  /**
   * The next message, or `undefined` when none came within `timeout` seconds
   * (or the monitor is closed). The pull-style form of `next()`.
   */
  async nextMessage(timeout?: number): Promise<T | undefined> {
    const r = await this.take(timeout);
    return r && !r.done ? r.value : undefined;
  }

  private take(timeout: number | undefined): Promise<IteratorResult<T> | undefined> {
    const v = this.buffer.shift();
    if (v !== undefined) return Promise.resolve({ done: false, value: v });
    if (this.closed) return Promise.resolve(DONE);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (r: IteratorResult<T> | undefined) => {
        if (timer) clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
      if (timeout !== undefined && Number.isFinite(timeout)) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(undefined);
        }, timeout * 1000);
      }
    });
  }

  /** Every buffered message at once (does not wait). */
  drain(): T[] {
    return this.buffer.splice(0, this.buffer.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.off();
    this.buffer.length = 0;
    for (const w of this.waiters.splice(0)) w(DONE);
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
