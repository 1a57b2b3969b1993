// In-process stand-ins for what several tabs of one origin share: the Web Locks API and
// BroadcastChannel. Two clients given the same FakeLocks, the same BroadcastHub's Channel and the
// same IDBFactory behave like two tabs of one browser profile.
import { IDBFactory } from 'fake-indexeddb';
import type { BroadcastChannelLike, LockManagerLike } from '../../src/index.js';

/** fake-indexeddb's factory, counting the connections opened through it and not yet closed. */
export class CountingIDBFactory extends IDBFactory {
  private readonly live = new Set<IDBDatabase>();

  get openConnections(): number {
    return this.live.size;
  }

  override open(name: string, version?: number): IDBOpenDBRequest {
    const request = super.open(name, version);
    request.addEventListener('success', () => {
      const db = request.result;
      this.live.add(db);
      const close = db.close.bind(db);
      db.close = () => {
        this.live.delete(db);
        close();
      };
    });
    return request;
  }
}

const abortError = (signal: AbortSignal) =>
  signal.reason instanceof Error || signal.reason instanceof DOMException
    ? signal.reason
    : new DOMException('The lock request was aborted', 'AbortError');

interface Waiter {
  name: string;
  grant(): void;
}

/**
 * A LockManager with the Web Locks semantics harborsync relies on: exclusive mode only, one
 * holder per name, a FIFO queue, the callback runs in a later task once granted, the lock is held
 * until the callback's promise settles, and an aborted signal takes a *waiting* request out of
 * the queue (rejecting it with the signal's reason). A granted lock is not affected by its signal.
 */
export class FakeLocks implements LockManagerLike {
  private readonly holders = new Map<string, number>();
  private readonly queues = new Map<string, Waiter[]>();
  private nextId = 1;
  /** Every grant, in order: `name#requestId`. */
  readonly grants: string[] = [];

  request<R>(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<R>): Promise<R> {
    const { signal } = options;
    return new Promise<R>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const id = this.nextId++;
      const onAbort = () => {
        const queue = this.queues.get(name) ?? [];
        const at = queue.indexOf(waiter);
        if (at < 0) return; // already granted: the signal no longer matters
        queue.splice(at, 1);
        reject(abortError(signal!));
      };
      const waiter: Waiter = {
        name,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.holders.set(name, id);
          this.grants.push(`${name}#${id}`);
          let result: Promise<R>;
          try {
            result = Promise.resolve(callback({ name, mode: 'exclusive' }));
          } catch (error) {
            result = Promise.reject(error);
          }
          result.then(resolve, reject).finally(() => {
            this.holders.delete(name);
            this.pump(name);
          });
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const queue = this.queues.get(name) ?? [];
      queue.push(waiter);
      this.queues.set(name, queue);
      this.pump(name);
    });
  }

  private pump(name: string): void {
    // Granting is a task of its own, as in browsers: never inside the caller's stack.
    setTimeout(() => {
      if (this.holders.has(name)) return;
      const queue = this.queues.get(name);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.queues.delete(name);
      next?.grant();
    }, 0);
  }

  /** Names currently held. */
  held(): string[] {
    return [...this.holders.keys()];
  }

  /** Requests waiting for a lock, over every name. */
  waiting(): number {
    let n = 0;
    for (const queue of this.queues.values()) n += queue.length;
    return n;
  }
}

interface Delivery {
  from: FakeChannelBase;
  data: unknown;
}

/** A page's event loop as far as its channels go: frozen, it neither posts nor handles messages; they wait. */
export class FakePage {
  frozen = false;
  private backlog: Array<() => void> = [];

  /** Runs `handle` now, or once the page thaws. */
  receive(handle: () => void): void {
    if (this.frozen) this.backlog.push(handle);
    else handle();
  }

  freeze(): void {
    this.frozen = true;
  }

  /** Hands the page what arrived while it was frozen, in order, in a later task. */
  thaw(): void {
    this.frozen = false;
    const backlog = this.backlog.splice(0);
    setTimeout(() => {
      for (const handle of backlog) handle();
    }, 0);
  }
}

abstract class FakeChannelBase implements BroadcastChannelLike {
  onmessage: ((event: MessageEvent) => void) | null = null;
  closed = false;
  constructor(
    readonly name: string,
    readonly page: FakePage | null,
  ) {}
  abstract postMessage(message: unknown): void;
  abstract close(): void;
}

/**
 * BroadcastChannel semantics: a message is cloned when posted (structuredClone, so what cannot
 * cross a tab boundary fails here too), then delivered in a later task to every OTHER open
 * instance of the same name, in posting order; never to the sender; not to instances closed
 * before delivery. `drop` loses messages on purpose (a broadcast is only a hint); `page()` makes
 * channels whose page can be frozen (bfcache, a frozen background tab).
 */
export class BroadcastHub {
  private readonly instances = new Set<FakeChannelBase>();
  /** Every message posted, as cloned: for assertions on what tabs told each other. */
  readonly posted: Array<{ name: string; data: unknown }> = [];
  /** Return true to lose a message (for every receiver). */
  drop: (data: unknown) => boolean = () => false;
  /** Return true to hold a message back until release(): it arrives late, behind what follows. */
  hold: (data: unknown) => boolean = () => false;
  private readonly held: Delivery[] = [];
  readonly Channel: new (name: string) => BroadcastChannelLike;

  constructor() {
    this.Channel = this.channelOf(null);
  }

  /** A BroadcastChannel class for the channels of one page, which the test can freeze and thaw. */
  page(): { Channel: new (name: string) => BroadcastChannelLike; page: FakePage } {
    const page = new FakePage();
    return { Channel: this.channelOf(page), page };
  }

  private channelOf(page: FakePage | null): new (name: string) => BroadcastChannelLike {
    const hub = this;
    return class FakeBroadcastChannel extends FakeChannelBase {
      constructor(name: string) {
        super(String(name), page);
        hub.instances.add(this);
      }
      postMessage(message: unknown): void {
        if (this.closed) throw new DOMException('BroadcastChannel is closed', 'InvalidStateError');
        if (page?.frozen) throw new Error('a frozen page runs no script');
        hub.deliver({ from: this, data: structuredClone(message) });
      }
      close(): void {
        this.closed = true;
        hub.instances.delete(this);
      }
    };
  }

  /** Delivers the messages held back, in the order they were posted. */
  release(): void {
    for (const delivery of this.held.splice(0)) this.send(delivery);
  }

  private deliver({ from, data }: Delivery): void {
    this.posted.push({ name: from.name, data });
    if (this.drop(data)) return;
    if (this.hold(data)) {
      this.held.push({ from, data });
      return;
    }
    this.send({ from, data });
  }

  private send({ from, data }: Delivery): void {
    const receivers = [...this.instances].filter((c) => c !== from && c.name === from.name);
    setTimeout(() => {
      for (const receiver of receivers) {
        if (receiver.closed) continue;
        const event = { data: structuredClone(data) } as MessageEvent;
        const handle = () => {
          if (!receiver.closed) receiver.onmessage?.(event);
        };
        if (receiver.page) receiver.page.receive(handle);
        else handle();
      }
    }, 0);
  }

  /** Open instances (of `name`, or of every name). */
  open(name?: string): number {
    return [...this.instances].filter((c) => name === undefined || c.name === name).length;
  }
}
