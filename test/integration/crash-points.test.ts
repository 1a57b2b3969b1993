/**
 * G5: a tab crashes at each point of the replay state machine, for a create, an update and a
 * delete, while a second tab of the same profile lives on; then a third tab opens on the same
 * storage. Every change is applied once on the server (the ledger), leaves the outbox once, and
 * every tab ends showing the server's state with nothing pending.
 *
 * A change made by the tab that dies, or by the other one, whose wait for the server ends with
 * the answer all the same.
 *
 * A crash: from that moment the tab's storage connection refuses transactions (nothing more
 * commits), its fetches fail, and its channel posts nothing; then its page goes (close(), which
 * lets go of its lock and channel as the browser would).
 */
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestBackend } from '../../server/index.mjs';
import type { BroadcastChannelLike } from '../../src/index.js';
import { device, outcomeOf, until, type Device, currentStatus as status } from '../helpers/harness.js';
import { ManualClock, seededRandom, settle } from '../helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../helpers/tabs.js';

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const open: Device[] = [];
beforeAll(async () => {
  server = await backend.start();
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.client.close()));
});

/** A tab's own doors to what the profile shares: shut at once by crash(). */
class Mortal {
  dead = false;
  muted = false;

  /** The shared factory, seen through connections that refuse transactions once dead. */
  factory(shared: IDBFactory): IDBFactory {
    const mortal = this;
    return new Proxy(shared, {
      get(target, property) {
        if (property === 'open') {
          return (name: string, version?: number) => {
            const request = target.open(name, version);
            request.addEventListener('success', () => {
              const db = request.result;
              const transaction = db.transaction.bind(db);
              db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
                if (mortal.dead) throw new DOMException('The database connection is closing.', 'InvalidStateError');
                return transaction(...args);
              }) as IDBDatabase['transaction'];
            });
            return request;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  channel(Channel: new (name: string) => BroadcastChannelLike): new (name: string) => BroadcastChannelLike {
    const mortal = this;
    return class MortalChannel {
      readonly #inner: BroadcastChannelLike;
      constructor(name: string) {
        this.#inner = new Channel(name);
      }
      get onmessage() {
        return this.#inner.onmessage;
      }
      set onmessage(handler) {
        this.#inner.onmessage = handler;
      }
      postMessage(message: unknown): void {
        if (!mortal.dead && !mortal.muted) this.#inner.postMessage(message);
      }
      close(): void {
        this.#inner.close();
      }
    };
  }
}

type Point = 'beforeCommit' | 'beforeSend' | 'beforeRequest' | 'beforeAnswer' | 'beforeStored' | 'beforeBroadcast';
const POINTS: Point[] = ['beforeCommit', 'beforeSend', 'beforeRequest', 'beforeAnswer', 'beforeStored', 'beforeBroadcast'];
const OPS = ['create', 'update', 'delete'] as const;


describe('a tab crashing at each point of a change’s way to the server (G5)', () => {
  // A change the other tab makes reaches the one that dies only once stored: from the request on.
  const makers = (point: Point) => (point === 'beforeCommit' || point === 'beforeSend' ? (['itself'] as const) : (['itself', 'the other tab'] as const));
  const cases = OPS.flatMap((op) => POINTS.flatMap((point) => makers(point).map((maker) => [op, point, maker] as const)));
  it.each(cases)('%s, crash %s, made by %s: applied once (none if never stored), gone from the outbox once, every tab converges', async (op, point, maker) => {
    const shared = new IDBFactory();
    const locks = new FakeLocks();
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    const mortal = new Mortal();
    let seed = 1;
    let armed: 'beforeRequest' | 'beforeAnswer' | 'beforeStored' | 'beforeBroadcast' | null = null;
    let crashedAt: Promise<void> | null = null;
    const tab = (overrides: Parameters<typeof device>[1] = {}, factory: IDBFactory = shared) => {
      const d = device(server.apiUrl, { namespace: 'crash', locks, BroadcastChannel: hub.Channel, random: seededRandom(seed++), ...overrides }, factory, clock);
      open.push(d);
      return d;
    };
    let a!: Device;
    const crash = () => {
      mortal.dead = true;
      crashedAt ??= settle().then(() => a.client.close());
    };
    const mortalFetch: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (mortal.dead) throw new TypeError('fetch failed: the page is gone');
      const write = request.method !== 'GET';
      if (write && armed === 'beforeRequest') {
        crash();
        throw new TypeError('fetch failed: the page is gone');
      }
      const answer = await fetch(request);
      if (write && armed === 'beforeAnswer') {
        crash();
        throw new TypeError('fetch failed: the page is gone');
      }
      if (write && armed === 'beforeStored') mortal.dead = true;
      if (write && armed === 'beforeBroadcast') mortal.muted = true;
      return answer;
    };
    a = tab({ fetch: mortalFetch, BroadcastChannel: mortal.channel(hub.Channel) }, mortal.factory(shared));
    const ha = a.client.resource('todos');
    await until(() => status(a).leader, 'tab a to lead');
    const b = tab();
    const hb = b.client.resource('todos');
    const shownB = hb.query$({ orderBy: 'id' });
    let seenB: readonly Record<string, unknown>[] = [];
    shownB.subscribe((s) => (seenB = s.data));
    if (op !== 'create') {
      await ha.create({ id: 'x', title: 'before', done: false });
      await a.client.flush();
      await until(() => seenB.some((t) => t['id'] === 'x' && t['version'] === 1), 'tab b to show x');
    }
    // Made by the tab that sends, or by the other one, which waits for the server's answer.
    const [h, wait] = maker === 'itself' ? [ha, undefined] : [hb, { wait: 'server' as const }];
    let waited: Promise<unknown> | undefined;
    const write = (): Promise<unknown> => {
      const made = op === 'create' ? h.create({ id: 'x', title: 'made', done: false }, wait) : op === 'update' ? h.update('x', { title: 'changed' }, wait) : h.delete('x', wait);
      if (!wait) return made;
      waited = made;
      return Promise.resolve();
    };

    let stored = true;
    if (point === 'beforeCommit') {
      crash();
      const outcome = await write().then(
        () => 'resolved',
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(Error);
      stored = false;
    } else if (point === 'beforeSend') {
      a.online.next(false);
      await write();
      crash();
    } else {
      armed = point;
      await write().catch(() => undefined);
      if (point === 'beforeStored') {
        await until(() => a.events.some((e) => e.type === 'storageError' || e.type === 'error'), 'storing the answer to fail');
        crash();
      } else if (point === 'beforeBroadcast') {
        await until(() => a.events.some((e) => e.type === 'succeeded' && e.op === op), 'the answer to be stored');
        crash();
      }
    }
    await until(() => crashedAt !== null, 'the crash');
    await crashedAt;

    // The surviving tab takes over and sends what is left.
    await until(async () => {
      await clock.advance(100);
      return status(b).leader;
    }, 'tab b to lead');
    await clock.advance(120_000);
    await b.client.flush();
    // A tab opened after it all.
    const c = tab();
    await c.client.flush();
    await b.client.flush();

    // The change applied once (never, when it was never stored), and nothing else but the setup's create.
    const ledger = await server.admin.ledger('todos');
    expect(ledger.filter((r) => r.op === op)).toHaveLength(stored ? 1 : 0);
    expect(ledger).toHaveLength((op === 'create' ? 0 : 1) + (stored ? 1 : 0));
    const expected = !stored
      ? op === 'create'
        ? []
        : [{ id: 'x', title: 'before', done: false, version: 1 }]
      : op === 'delete'
        ? []
        : [{ id: 'x', title: op === 'create' ? 'made' : 'changed', done: false, version: op === 'create' ? 1 : 2 }];
    for (const d of [b, c]) {
      expect(status(d)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
      expect(await d.client.resource('todos').list({ orderBy: 'id' })).toEqual(expected);
    }
    await until(() => JSON.stringify(seenB) === JSON.stringify(expected), 'tab b’s live query to show the server’s state');
    // The other tab's wait ends with what the server confirmed, though the tab that sent it died.
    if (waited) expect(await outcomeOf(waited)).toEqual({ value: op === 'delete' ? undefined : expected[0] });
  }, 30_000);
});
