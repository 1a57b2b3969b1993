// Two tabs of one browser profile, in process: two clients on ONE fake IDBFactory, sharing a fake
// LockManager and a fake BroadcastChannel hub, against the reference server.
import { forceCloseDatabase, IDBFactory, IDBVersionChangeEvent } from 'fake-indexeddb';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestBackend, type LedgerEntry } from '../../server/index.mjs';
import {
  ConflictError,
  defineResource,
  HttpError,
  NetworkError,
  PendingMutationsError,
  SchemaError,
  StorageError,
  ValidationError,
  type Conflict,
  type EntityState,
  type FailedMutation,
  type QueryState,
  type SyncClientOptions,
  type StandardSchemaV1,
} from '../../src/index.js';
import { device, heldAnswers, heldListAnswers, outcomeOf, todoSchema, todos, until, type Device, type Todo, currentStatus as status } from '../helpers/harness.js';
import { ManualClock, seededRandom, settle, upperHalfRandom } from '../helpers/manual-clock.js';
import { BroadcastHub, CountingIDBFactory, FakeLocks } from '../helpers/tabs.js';
import { committed, openRaw, result } from '../helpers/raw-idb.js';
import { ELECTION_TIMING } from '../../src/sync/channel-election.js';
import { DB_VERSION } from '../../src/store/db.js';
import { LocalStore } from '../../src/store/local-store.js';

/** todos without the delta feed: every pull is the whole list. */
const wholeTodos = defineResource({ name: 'todos', schema: todoSchema });
const NAMESPACE = 'tabs';
const DB_NAME = `harborsync:${NAMESPACE}`;

const backend = createTestBackend();
let server: Awaited<ReturnType<typeof backend.start>>;
const open: Device[] = [];

/** What several tabs of one profile share. */
interface Browser {
  indexedDB: IDBFactory;
  locks: FakeLocks;
  hub: BroadcastHub;
  clock: ManualClock;
  tab(overrides?: Partial<SyncClientOptions>): Device;
}

function browser(indexedDB: IDBFactory = new IDBFactory()): Browser {
  const locks = new FakeLocks();
  const hub = new BroadcastHub();
  const clock = new ManualClock();
  let seed = 1;
  return {
    indexedDB,
    locks,
    hub,
    clock,
    tab: (overrides = {}) => {
      // Each tab its own random sequence, as in a browser: ids and idempotency keys differ between tabs.
      const random = seededRandom(seed++);
      const d = device(server.apiUrl, { namespace: NAMESPACE, locks, BroadcastChannel: hub.Channel, random, ...overrides }, indexedDB, clock);
      open.push(d);
      return d;
    },
  };
}

/** The latest value of an observable that replays (status$, conflicts$, query$ ...). */
function latest<T>(source: Observable<T>): { readonly value: T | undefined } {
  const box: { value: T | undefined } = { value: undefined };
  const subscription = source.subscribe((v) => (box.value = v));
  subscriptions.push(() => subscription.unsubscribe());
  return box;
}
const subscriptions: Array<() => void> = [];


/** Waits until exactly one of the tabs leads; returns [leader, follower]. */
async function roles(a: Device, b: Device): Promise<[Device, Device]> {
  await until(() => status(a).leader || status(b).leader, 'a leader');
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect([status(a).leader, status(b).leader].filter(Boolean)).toHaveLength(1);
  return status(a).leader ? [a, b] : [b, a];
}

/** Lets virtual time pass, 50 ms a step with real IO and messages between steps, until `check` holds (bounded). */
async function elapse(b: Browser, check: () => boolean, what: string): Promise<void> {
  await until(async () => {
    if (check()) return true;
    await b.clock.advance(50);
    return check();
  }, what);
}

/** A message of the BroadcastChannel election (where Web Locks are missing). */
const isElection = (data: unknown) => ['claim', 'lead', 'resign'].includes((data as { t?: string }).t ?? '');

const ledger = async (): Promise<LedgerEntry[]> => server.admin.ledger('todos');
const applied = async () => (await ledger()).map((r) => `${r.op} ${r.entityId}`);
const sentIds = (d: Device) => d.events.flatMap((e) => (e.type === 'sent' ? [e.id] : []));
const ids = (s: QueryState<Todo> | undefined) => (s?.data ?? []).map((t) => t.id);

/** The todo's record as stored, read past harborsync. */
async function storedTodo(b: Browser, id: string): Promise<unknown> {
  const db = await openRaw(b.indexedDB, DB_NAME);
  try {
    return await result(db.transaction('entities').objectStore('entities').get(['todos', id]));
  } finally {
    db.close();
  }
}

/** The delta cursor of todos as stored, read past harborsync. */
async function lastCursor(b: Browser): Promise<unknown> {
  const db = await openRaw(b.indexedDB, DB_NAME);
  try {
    return await result(db.transaction('meta').objectStore('meta').get('cursor:todos'));
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  server = await backend.start();
});
afterAll(() => backend.close());
beforeEach(() => backend.reset());
afterEach(async () => {
  for (const stop of subscriptions.splice(0)) stop();
  await Promise.all(open.splice(0).map((d) => d.client.close()));
});

describe('one sender', () => {
  it('exactly one tab leads, holding the namespace lock; status$ and events$ say which', async () => {
    const b = browser();
    const one = b.tab();
    const two = b.tab();
    const [leader, follower] = await roles(one, two);
    expect(b.locks.held()).toEqual([`${DB_NAME}:leader`]);
    expect(b.locks.waiting()).toBe(1);
    expect(leader.events.filter((e) => e.type === 'leader')).toEqual([expect.objectContaining({ leader: true })]);
    expect(follower.events.some((e) => e.type === 'leader')).toBe(false);
  });

  it("a write in the follower appears in the leader's live query and wakes its replay: sent once, by the leader", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$({ orderBy: 'title' }));
    const inFollower = latest(follower.client.resource(todos).query$({ orderBy: 'title' }));
    await until(() => inLeader.value?.status === 'success' && inFollower.value?.status === 'success', 'both views loaded');

    await follower.client.resource(todos).create({ id: 'a', title: 'From the follower', done: false });
    await until(() => ids(inLeader.value).includes('a'), "the write in the leader's view");
    await until(async () => (await ledger()).length === 1, 'the change on the server');
    await until(
      () => inFollower.value?.data[0]?.version === 1 && inLeader.value?.data[0]?.version === 1,
      'the confirmed entity in both views',
    );
    expect(inFollower.value!.pendingIds.size).toBe(0);
    expect(inLeader.value!.pendingIds.size).toBe(0);
    expect(await applied()).toEqual(['create a']);
    expect(sentIds(leader)).toEqual(['a']);
    expect(sentIds(follower)).toEqual([]);
    await until(() => status(follower).pending === 0, "the follower's pending count");
  });

  it('a write in the leader appears in the follower (with its server answer) at once', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inFollower = latest(follower.client.resource(todos).query$());
    await until(() => inFollower.value?.status === 'success', 'loaded');
    await leader.client.resource(todos).create({ id: 'l', title: 'From the leader', done: false });
    await until(() => ids(inFollower.value).includes('l'), 'the write in the follower');
    await until(() => inFollower.value?.data[0]?.version === 1 && inFollower.value.pendingIds.size === 0, 'confirmed in the follower');
  });

  it('a hint about an entity that has not changed (repeated, or re-announced) is read and shows nothing new: get$ and query$ emit nothing', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await leader.client.resource(todos).create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    const entityStates: Array<EntityState<Todo>> = [];
    const listStates: Array<QueryState<Todo>> = [];
    const watching = [
      follower.client.resource(todos).get$('a').subscribe((s) => entityStates.push(s)),
      follower.client.resource(todos).query$().subscribe((s) => listStates.push(s)),
    ];
    subscriptions.push(() => watching.forEach((s) => s.unsubscribe()));
    await until(
      () => entityStates.at(-1)?.data?.version === 1 && entityStates.at(-1)?.isFetching === false && listStates.at(-1)?.isFetching === false && listStates.at(-1)?.pendingIds.size === 0,
      "'a' confirmed in the follower, its first pull done",
    );
    const [entitiesBefore, listsBefore] = [entityStates.length, listStates.length];

    const loadRecords = LocalStore.prototype.loadRecords;
    let reads = 0;
    LocalStore.prototype.loadRecords = async function (...args) {
      const records = await loadRecords.apply(this, args);
      reads++;
      return records;
    };
    const other = new b.hub.Channel(DB_NAME);
    try {
      other.postMessage({ t: 'changed', r: 'todos', ids: ['a'], outbox: false });
      await until(() => reads > 0, "'a' read again");
      await settle();
    } finally {
      LocalStore.prototype.loadRecords = loadRecords;
      other.close();
    }
    expect(entityStates).toHaveLength(entitiesBefore);
    expect(listStates).toHaveLength(listsBefore);
  });

  it('closing the leader hands leadership to the other tab, which replays what is pending: applied once', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab({ retry: { baseDelayMs: 1000, maxDelayMs: 1000 } }), b.tab({ retry: { baseDelayMs: 1000, maxDelayMs: 1000 } }));
    await server.admin.faults({ offline: true });
    await follower.client.resource(todos).create({ id: 'p', title: 'Pending', done: false });
    await until(() => leader.events.some((e) => e.type === 'retrying'), 'the leader to fail once');

    await leader.client.close();
    await until(() => status(follower).leader, 'the follower to lead');
    await server.admin.faults({ offline: false });
    await b.clock.advance(1000);
    await until(async () => (await ledger()).length === 1, 'the pending change on the server');
    await until(() => status(follower).pending === 0, 'nothing pending');
    expect(await applied()).toEqual(['create p']);
    expect(sentIds(follower)).toContain('p');
    expect(b.locks.held()).toEqual([`${DB_NAME}:leader`]);
  });

  it('a leader closed mid-request: the next leader re-sends with the same key, applied once', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ latencyMs: 400 });
    const created = follower.client.resource(todos).create({ id: 'm', title: 'Mid-flight', done: false }, { wait: 'server' });
    await until(() => sentIds(leader).includes('m'), 'the request in flight from the leader');
    const closing = leader.client.close();
    await until(() => status(follower).leader, 'the follower to lead');
    await until(() => sentIds(follower).includes('m'), 'the re-send');
    await expect(created).resolves.toMatchObject({ id: 'm', version: 1 });
    await closing;
    const rows = await ledger();
    expect(rows.map((r) => `${r.op} ${r.entityId}`)).toEqual(['create m']);
    const seqs = [...leader.events, ...follower.events].flatMap((e) => (e.type === 'sent' ? [e.seq] : []));
    expect(new Set(seqs).size).toBe(1);
  });

  it('two tabs that both lead (the election unheard: a partition) both send; idempotency keys keep every change applied once', async () => {
    const b = browser();
    b.hub.drop = isElection;
    const one = b.tab({ locks: null });
    const two = b.tab({ locks: null });
    await elapse(b, () => status(one).leader && status(two).leader, 'both tabs to say they lead');
    const inOne = latest(one.client.resource(todos).query$({ orderBy: 'title' }));
    const inTwo = latest(two.client.resource(todos).query$({ orderBy: 'title' }));
    await until(() => inOne.value?.status === 'success' && inTwo.value?.status === 'success', 'both views loaded');
    // Slow answers, so the second tab hears of the change while the first one's request is out.
    await server.admin.faults({ latencyMs: 400 });

    await two.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => sentIds(one).includes('a') && sentIds(two).includes('a'), 'both tabs to send a');
    await one.client.resource(todos).create({ id: 'b', title: 'B', done: false });
    await until(() => status(one).pending === 0 && status(two).pending === 0, 'nothing pending');
    await two.client.resource(todos).update('a', { done: true });
    await until(() => status(one).pending === 0 && status(two).pending === 0 && inOne.value?.data[0]?.version === 2, 'the update confirmed');

    const rows = await ledger();
    expect(rows.map((r) => `${r.op} ${r.entityId}`).sort()).toEqual(['create a', 'create b', 'update a']);
    expect(new Set(rows.map((r) => r.idempotencyKey)).size).toBe(3);
    expect(inOne.value!.data).toEqual(inTwo.value!.data);
    expect(inTwo.value!.data).toEqual([
      { id: 'a', title: 'A', done: true, version: 2 },
      { id: 'b', title: 'B', done: false, version: 1 },
    ]);
    for (const d of [one, two]) {
      expect(d.events.filter((e) => e.type === 'failed' || e.type === 'conflict')).toEqual([]);
    }

    // The partition heals: the tabs hear each other, one resigns and stops sending.
    await server.admin.faults({ latencyMs: 0 });
    b.hub.drop = () => false;
    await elapse(b, () => status(one).leader !== status(two).leader, 'one tab to resign');
    const [leader, resigned] = status(one).leader ? [one, two] : [two, one];
    expect(resigned.events.filter((e) => e.type === 'leader').map((e) => (e as { leader: boolean }).leader)).toEqual([true, false]);
    const sentBefore = sentIds(resigned).length;
    await resigned.client.resource(todos).create({ id: 'c', title: 'C', done: false }, { wait: 'server' });
    expect(sentIds(leader)).toContain('c');
    expect(sentIds(resigned)).toHaveLength(sentBefore);
    expect((await applied()).sort()).toEqual(['create a', 'create b', 'create c', 'update a']);
  });

  it('two tabs that both lead meet the same conflict: the merged re-send is applied once, and neither tab leaves a conflict behind (RELIABILITY #31)', async () => {
    const b = browser();
    b.hub.drop = isElection;
    const one = b.tab({ locks: null });
    const two = b.tab({ locks: null });
    await elapse(b, () => status(one).leader && status(two).leader, 'both tabs to say they lead');
    await one.client.resource(todos).create({ id: 'a', title: 'A', done: false }, { wait: 'server' });
    await until(() => status(two).pending === 0, 'the create heard');
    await server.admin.edit({ resource: 'todos', id: 'a', patch: { title: 'theirs' } });
    await server.admin.faults({ latencyMs: 400 });
    await two.client.resource(todos).update('a', { done: true });
    await until(() => sentIds(one).filter((id) => id === 'a').length >= 2 && sentIds(two).filter((id) => id === 'a').length >= 1, 'both tabs to send the update');
    await until(() => status(one).pending === 0 && status(two).pending === 0, 'nothing pending', 1000);
    await server.admin.faults({ latencyMs: 0 });

    const rows = await ledger();
    expect(rows.map((r) => [r.op, r.user, r.body])).toEqual([
      ['create', 'alice', { id: 'a', title: 'A', done: false }],
      ['update', 'mallory', { title: 'theirs' }],
      ['update', 'alice', { done: true }],
    ]);
    for (const d of [one, two]) {
      // A tab that finds the answer stored by the other one shows it once it has re-read it.
      await until(async () => (await d.client.resource(todos).get('a'))?.version === 3, 'the view to converge');
      expect(await d.client.resource(todos).get('a')).toEqual({ id: 'a', title: 'theirs', done: true, version: 3 });
      expect(status(d)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
      expect(d.events.filter((e) => e.type === 'failed')).toEqual([]);
    }
  });
});

describe('flush() in the leader', () => {
  it("resolves with status$ counting the outbox it found, when another tab's hint re-read it and the entities are still being read", async () => {
    const b = browser();
    const leader = b.tab();
    await until(() => status(leader).leader, 'a leader');
    const h = leader.client.resource(todos);
    await h.list();
    leader.online.next(false);
    for (const id of ['a', 'b', 'c']) await h.create({ id, title: id, done: false });
    expect(status(leader).pending).toBe(3);
    // Another sender settled them, unheard of here: only its hint about the outbox arrives.
    const db = await openRaw(b.indexedDB, DB_NAME);
    const tx = db.transaction('outbox', 'readwrite');
    tx.objectStore('outbox').clear();
    await committed(tx);
    db.close();
    const loadRecords = LocalStore.prototype.loadRecords;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    LocalStore.prototype.loadRecords = async function (...args) {
      held = true;
      await released;
      return loadRecords.apply(this, args);
    };
    const other = new b.hub.Channel(DB_NAME);
    try {
      other.postMessage({ t: 'outbox' });
      // The outbox is re-read; the entities gone from it are still being read.
      await until(() => held, 'the entities being read again');
      await leader.client.flush();
      expect(status(leader).pending).toBe(0);
    } finally {
      LocalStore.prototype.loadRecords = loadRecords;
      release();
      other.close();
    }
  });
});

describe('without Web Locks: an election over BroadcastChannel', () => {
  /** Opens two tabs without Web Locks and waits for the election; returns [leader, follower]. */
  async function elected(b: Browser, overrides: Partial<SyncClientOptions> = {}): Promise<[Device, Device]> {
    const one = b.tab({ locks: null, ...overrides });
    const two = b.tab({ locks: null, ...overrides });
    await elapse(b, () => status(one).leader || status(two).leader, 'a leader');
    // A lease more: a second (wrong) leader would show itself.
    const settledAt = b.clock.now() + ELECTION_TIMING.leaseMs;
    await elapse(b, () => b.clock.now() >= settledAt, 'a lease');
    expect([status(one).leader, status(two).leader].filter(Boolean)).toHaveLength(1);
    return status(one).leader ? [one, two] : [two, one];
  }

  it("exactly one tab leads, says so on status$ and events$, and sends the other's writes", async () => {
    const b = browser();
    const [leader, follower] = await elected(b);
    expect(leader.events.filter((e) => e.type === 'leader')).toEqual([expect.objectContaining({ leader: true })]);
    expect(follower.events.some((e) => e.type === 'leader')).toBe(false);
    await follower.client.resource(todos).create({ id: 'f', title: 'From the follower', done: false }, { wait: 'server' });
    await leader.client.resource(todos).create({ id: 'l', title: 'From the leader', done: false }, { wait: 'server' });
    expect(await applied()).toEqual(['create f', 'create l']);
    expect(sentIds(leader)).toEqual(['f', 'l']);
    expect(sentIds(follower)).toEqual([]);
  });

  it('a leader woken a lease late sends nothing until it has led again', async () => {
    const b = browser();
    const [leader, follower] = await elected(b);
    // The page slept past its lease: its clock moved on, its timers have not run yet.
    b.clock.jump(ELECTION_TIMING.leaseMs);
    await leader.client.resource(todos).create({ id: 's', title: 'Written on waking', done: false });
    await until(async () => status(leader).pending === 1, 'the write to be queued');
    expect(sentIds(leader)).toEqual([]);
    await elapse(b, () => sentIds(leader).length > 0 || sentIds(follower).length > 0, 'a leader to send it');
    const sender = sentIds(leader).length > 0 ? leader : follower;
    // Whoever sends it leads by then; the woken tab stepped down first.
    expect(leader.events.filter((e) => e.type === 'leader').map((e) => (e as { leader: boolean }).leader).slice(0, 2)).toEqual([true, false]);
    expect(status(sender).leader).toBe(true);
    expect(await applied()).toEqual(['create s']);
  });

  it('closing every tab leaves no election timer or channel behind', async () => {
    const b = browser();
    const tabs = await elected(b);
    for (const d of tabs) {
      await d.client.close();
      open.splice(open.indexOf(d), 1);
    }
    expect(b.clock.pendingTimers).toBe(0);
    expect(b.hub.open()).toBe(0);
  });

  it('a leader that closes resigns: the other tab leads within the claim window and replays what is pending, applied once', async () => {
    const b = browser();
    const retry = { baseDelayMs: 1000, maxDelayMs: 1000 };
    const [leader, follower] = await elected(b, { retry });
    await server.admin.faults({ offline: true });
    await follower.client.resource(todos).create({ id: 'p', title: 'Pending', done: false });
    await until(() => leader.events.some((e) => e.type === 'retrying'), 'the leader to fail once');

    await leader.client.close();
    expect(status(leader).leader).toBe(false);
    const closedAt = b.clock.now();
    await elapse(b, () => status(follower).leader, 'the follower to lead');
    expect(b.clock.now() - closedAt).toBeLessThanOrEqual(ELECTION_TIMING.claimMs + 100);
    await server.admin.faults({ offline: false });
    await b.clock.advance(1000);
    await until(async () => (await ledger()).length === 1 && status(follower).pending === 0, 'the pending change on the server');
    expect(await applied()).toEqual(['create p']);
    expect(sentIds(follower)).toContain('p');
  });

  it('a leader frozen (bfcache) is replaced after its lease; woken, it steps down without sending, and the new leader sends once', async () => {
    const b = browser();
    // The first tab is a page of its own, with its own clock: frozen, neither runs.
    const { Channel, page } = b.hub.page();
    const pageClock = new ManualClock(b.clock.now());
    const first = b.tab({ locks: null, BroadcastChannel: Channel, now: pageClock.now, setTimer: pageClock.setTimer });
    /** Both pages' time passes (until `check`), as long as neither is frozen. */
    const together = (check: () => boolean, what: string) =>
      until(async () => {
        await pageClock.advance(50);
        await b.clock.advance(50);
        return check();
      }, what);
    await together(() => status(first).leader, 'the first tab to lead');
    const second = b.tab({ locks: null });
    const settledAt = b.clock.now() + ELECTION_TIMING.leaseMs;
    await together(() => b.clock.now() >= settledAt, 'the second tab to have asked and followed');
    expect([status(first).leader, status(second).leader]).toEqual([true, false]);

    page.freeze();
    await second.client.resource(todos).create({ id: 'z', title: 'Written while the leader sleeps', done: false });
    await elapse(b, () => status(second).leader, 'the second tab to take over');
    await until(async () => (await applied()).includes('create z'), 'the change on the server');

    await b.clock.advance(ELECTION_TIMING.leaseMs); // the page stays in the cache a while
    pageClock.jump(b.clock.now() - pageClock.now());
    page.thaw();
    await together(() => !status(first).leader, 'the woken tab to step down');
    const thawedAt = b.clock.now() + ELECTION_TIMING.leaseMs;
    await together(() => b.clock.now() >= thawedAt, 'a lease more');
    expect([status(first).leader, status(second).leader]).toEqual([false, true]);
    expect(first.events.filter((e) => e.type === 'leader').map((e) => (e as { leader: boolean }).leader)).toEqual([true, false]);
    expect(sentIds(first)).toEqual([]);
    expect(sentIds(second)).toEqual(['z']);
    expect(await applied()).toEqual(['create z']);
  });
});

describe('pause() and resume() in any tab', () => {
  it('pause() in a follower holds back the tab that sends, and resume() there lets it send', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    follower.client.pause();
    await until(() => status(leader).paused === 'manual', 'the leader to pause');
    expect(status(follower).paused).toBe('manual');
    await follower.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => status(leader).pending === 1, 'the leader to hear of the write');
    await leader.client.flush();
    expect(await applied()).toEqual([]);
    follower.client.resume();
    await until(async () => (await applied()).length === 1, 'the create sent');
    expect(status(leader).paused).toBeNull();
    expect(await applied()).toEqual(['create a']);
  });

  it('pause() in the leader pauses every open tab; a tab opened later starts unpaused, the others stay paused', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    leader.client.pause();
    await until(() => status(follower).paused === 'manual', 'the follower to pause');
    const later = b.tab();
    await until(() => status(later).online, 'the later tab to start');
    await settle(4);
    expect(status(later).paused).toBeNull();
    expect([status(leader).paused, status(follower).paused]).toEqual(['manual', 'manual']);
  });

  it("a 401 to a follower's own read pauses that tab only: the leader's token may still work", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ unauthorized: true });
    await expect(follower.client.resource(todos).refresh()).rejects.toThrow(HttpError);
    expect(status(follower).paused).toBe('unauthorized');
    await server.admin.faults({ unauthorized: false });
    await leader.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await leader.client.flush();
    expect(status(leader).paused).toBeNull();
    expect(await applied()).toEqual(['create a']);
  });

  it("a 401 to the leader's own read shows in the follower's status$: the tab that sends can send no more", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ unauthorized: true });
    await expect(leader.client.resource(todos).refresh()).rejects.toThrow(HttpError);
    await until(() => status(follower).paused === 'unauthorized', 'the follower told');
    await server.admin.faults({ unauthorized: false });
    await follower.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    follower.client.resume();
    await until(async () => (await applied()).length === 1, 'the create sent');
    expect(status(leader).paused).toBeNull();
  });

  it("a 401 that pauses the leader shows in the follower's status$, and resume() there sends again", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ unauthorized: true });
    await leader.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => status(leader).paused === 'unauthorized', 'the leader paused as unauthorized');
    await until(() => status(follower).paused === 'unauthorized', 'the follower told');
    await server.admin.faults({ unauthorized: false });
    follower.client.resume();
    await until(async () => (await applied()).length === 1, 'the create sent');
    expect(status(leader).paused).toBeNull();
    expect(status(follower).paused).toBeNull();
  });
});

describe('{ wait: "server" } in a follower', () => {
  /**
   * Two tabs: a follower's change parked as a conflict in the leader, and a change made behind it
   * (`behind`, its `{ wait: 'server' }` not answered yet), queued in the leader.
   */
  async function conflictWithAChangeBehind() {
    const b = browser();
    const [leader, follower] = await roles(b.tab({ conflicts: 'manual' }), b.tab({ conflicts: 'manual' }));
    const h = follower.client.resource(todos);
    await h.create({ id: 'c', title: 'Before', done: false }, { wait: 'server' });
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs' } });
    await expect(h.update('c', { title: 'Mine' }, { wait: 'server' })).rejects.toBeInstanceOf(ConflictError);
    const conflicts = latest(leader.client.conflicts$);
    await until(() => conflicts.value?.length === 1, 'the conflict in the leader');
    const behind = h.update('c', { done: true }, { wait: 'server' });
    let answered = false;
    behind.then(() => (answered = true), () => (answered = true));
    await until(() => status(leader).pending === 1, 'the change behind the conflict, in the leader');
    return { b, leader, follower, conflicts, behind, answered: () => answered };
  }

  it("resolves with the leader's confirmed entity", async () => {
    const b = browser();
    const [, follower] = await roles(b.tab(), b.tab());
    const h = follower.client.resource(todos);
    const created = await h.create({ id: 'w', title: 'Wait', done: false }, { wait: 'server' });
    expect(created).toEqual({ id: 'w', title: 'Wait', done: false, version: 1 });
    const updated = await h.update('w', { done: true }, { wait: 'server' });
    expect(updated).toEqual({ id: 'w', title: 'Wait', done: true, version: 2 });
    expect(sentIds(follower)).toEqual([]);
  });

  it('rejects with the HttpError of a refused change and the ConflictError of a conflict', async () => {
    const b = browser();
    const [, follower] = await roles(b.tab({ conflicts: 'manual' }), b.tab({ conflicts: 'manual' }));
    const h = follower.client.resource(todos);
    await server.admin.faults({ failStatus: { status: 422, match: 'refuse me' } });
    const refused = h.create({ id: 'r', title: 'refuse me', done: false }, { wait: 'server' });
    await expect(refused).rejects.toBeInstanceOf(HttpError);
    await expect(refused).rejects.toMatchObject({ status: 422, resource: 'todos', message: expect.stringMatching(/answered 422/) });

    await h.create({ id: 'c', title: 'Before', done: false }, { wait: 'server' });
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs' } });
    const conflicted = h.update('c', { title: 'Mine' }, { wait: 'server' });
    await expect(conflicted).rejects.toBeInstanceOf(ConflictError);
    await expect(conflicted).rejects.toMatchObject({ fields: ['title'], resource: 'todos', id: 'c' });
  });

  it("a change folded into a conflict's re-send by the leader's resolve() resolves with that re-send's answer", async () => {
    const { b, leader, follower, conflicts, behind, answered } = await conflictWithAChangeBehind();
    // Its entry leaves the queue now, folded into the conflicted one, whose re-send waits.
    leader.client.pause();
    const postedBefore = b.hub.posted.length;
    await conflicts.value![0]!.resolve('local');
    await until(() => status(follower).conflicts === 0, 'the follower to hear of the decision');
    await settle(20);
    expect(answered()).toBe(false);
    // The fold is told before the decision's change hint: a tab re-reading the queue on the hint
    // finds the wait already following the re-sent entry, never answers it from what is stored.
    const told = b.hub.posted.slice(postedBefore).map((p) => (p.data as { t: string }).t);
    expect(told.indexOf('folded')).toBeGreaterThanOrEqual(0);
    expect(told.indexOf('folded')).toBeLessThan(told.indexOf('changed'));
    leader.client.resume();
    expect(await outcomeOf(behind)).toEqual({ value: { id: 'c', title: 'Mine', done: true, version: 3 } });
  });

  it("a change folded into a conflict's re-send whose 'folded' message is lost still resolves with that re-send's answer, not before", async () => {
    const { b, leader, follower, conflicts, behind, answered } = await conflictWithAChangeBehind();
    // The leader's page dies between the decision's commit and telling of the fold: the message never comes.
    b.hub.drop = (data) => (data as { t?: string }).t === 'folded';
    leader.client.pause();
    await conflicts.value![0]!.resolve('local');
    await until(() => status(follower).conflicts === 0, 'the follower to hear of the decision');
    await settle(20);
    expect(answered()).toBe(false);
    leader.client.resume();
    expect(await outcomeOf(behind)).toEqual({ value: { id: 'c', title: 'Mine', done: true, version: 3 } });
  });

  it("rejects with PendingMutationsError when another tab's clear({ discardPending: true }) discards the change", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    leader.client.pause();
    const waiting = follower.client.resource(todos).create({ id: 'd', title: 'Discarded', done: false }, { wait: 'server' });
    await until(() => status(leader).pending === 1, 'the change, in the leader');
    const settled = outcomeOf(waiting);
    await leader.client.clear({ discardPending: true });
    const { error } = (await settled) as { error: unknown };
    expect(error).toBeInstanceOf(PendingMutationsError);
    expect(error).toMatchObject({ resource: 'todos', id: 'd', discarded: 'cleared' });
  });

  it("still resolves when the leader's 'settled' message never arrives (it closed right after committing)", async () => {
    const b = browser();
    const [, follower] = await roles(b.tab(), b.tab());
    b.hub.drop = (data) => (data as { t?: string }).t === 'settled';
    const created = await follower.client.resource(todos).create({ id: 's', title: 'Silent', done: false }, { wait: 'server' });
    expect(created).toEqual({ id: 's', title: 'Silent', done: false, version: 1 });
  });
});

describe('a leader page frozen or put in the back/forward cache', () => {
  it('gives the Web Lock up: the other tab sends meanwhile; back, it queues for the lock and sends nothing', async () => {
    const b = browser();
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ suspended });
    await until(() => status(first).leader, 'the first tab to lead');
    const second = b.tab();
    await until(() => b.locks.waiting() === 1, 'the second tab to queue');

    suspended.next(true);
    expect(status(first).leader).toBe(false);
    await until(() => status(second).leader, 'the second tab to lead');
    await first.client.resource(todos).create({ id: 'c', title: 'Written as the page hides', done: false });
    await second.client.resource(todos).create({ id: 'd', title: 'Written meanwhile', done: false });
    await until(async () => (await applied()).length === 2 && status(second).pending === 0, 'both changes on the server');

    suspended.next(false);
    await until(() => b.locks.waiting() === 1, 'the woken tab to queue for the lock again');
    expect([status(first).leader, status(second).leader]).toEqual([false, true]);
    expect(first.events.filter((e) => e.type === 'leader').map((e) => (e as { leader: boolean }).leader)).toEqual([true, false]);
    expect(sentIds(first)).toEqual([]);
    expect((await applied()).sort()).toEqual(['create c', 'create d']);

    await second.client.close();
    await until(() => status(first).leader, 'the woken tab to lead once the other closes');
  });

  it('keeps no channel open to the other tabs meanwhile (a message reaching it would get it evicted from the back/forward cache), yet its writes reach the sender; back, it hears again', async () => {
    const b = browser();
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ suspended });
    await until(() => status(first).leader, 'the first tab to lead');
    const second = b.tab();
    await until(() => b.locks.waiting() === 1, 'the second tab to queue');
    const inFirst = latest(first.client.resource(todos).query$({ orderBy: 'id' }));
    expect(b.hub.open(DB_NAME)).toBe(2);

    suspended.next(true);
    expect(b.hub.open(DB_NAME)).toBe(1);
    await until(() => status(second).leader, 'the second tab to lead');
    await second.client.resource(todos).create({ id: 'meanwhile', title: 'Written meanwhile', done: false });
    await first.client.resource(todos).create({ id: 'hiding', title: 'Written as the page hides', done: false });
    await until(() => sentIds(second).includes('hiding'), 'the hidden tab\'s write sent by the other');
    expect(b.hub.open(DB_NAME)).toBe(1);

    suspended.next(false);
    expect(b.hub.open(DB_NAME)).toBe(2);
    await until(() => ids(inFirst.value).includes('meanwhile'), 'the write it did not hear, read again');
    await second.client.resource(todos).create({ id: 'after', title: 'Written after', done: false });
    await until(() => ids(inFirst.value).includes('after'), 'the next write, heard');
    expect((await applied()).sort()).toEqual(['create after', 'create hiding', 'create meanwhile']);
  });

  it('forgets the changes it froze but had not sent: the other tab sends them, and it sends none again when it leads again', async () => {
    const b = browser();
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ suspended, maxInFlight: 1 });
    await until(() => status(first).leader, 'the first tab to lead');
    const second = b.tab({ maxInFlight: 1 });
    await until(() => b.locks.waiting() === 1, 'the second tab to queue');
    first.online.next(false);
    const h = first.client.resource(todos);
    for (const id of ['a', 'b', 'c', 'd']) await h.create({ id, title: id, done: false });
    await server.admin.faults({ latencyMs: 150 });
    // One request out, the rest frozen behind it in this tab's send queue.
    first.online.next(true);
    await until(() => sentIds(first).length === 1, 'the first request');
    suspended.next(true);
    await until(() => status(second).leader, 'the second tab to lead');
    await until(async () => (await applied()).length === 4 && status(second).pending === 0, 'every change on the server');
    await server.admin.faults({ latencyMs: 0 });

    suspended.next(false);
    await second.client.close();
    await until(() => status(first).leader, 'the first tab to lead again');
    await first.client.flush();
    expect(sentIds(first)).toEqual(['a']);
    expect((await applied()).sort()).toEqual(['create a', 'create b', 'create c', 'create d']);
  });

  it('without Web Locks it resigns at once: the other tab leads within the claim window', async () => {
    const b = browser();
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ locks: null, suspended });
    await elapse(b, () => status(first).leader, 'the first tab to lead');
    const second = b.tab({ locks: null });
    const settledAt = b.clock.now() + ELECTION_TIMING.leaseMs;
    await elapse(b, () => b.clock.now() >= settledAt, 'a lease');
    expect([status(first).leader, status(second).leader]).toEqual([true, false]);

    suspended.next(true);
    const suspendedAt = b.clock.now();
    await elapse(b, () => status(second).leader, 'the second tab to lead');
    expect(b.clock.now() - suspendedAt).toBeLessThanOrEqual(ELECTION_TIMING.claimMs + 100);
    expect(status(first).leader).toBe(false);
  });
});

describe('flush() in a follower', () => {
  /** A flush() started now; `done` tells whether it resolved yet. */
  function flushing(d: Device) {
    const state = { done: false };
    const promise = d.client.flush().then(() => (state.done = true));
    return { promise, get done() { return state.done; } };
  }

  it('makes the leader send at once (sendDelayMs skipped) and resolves when what was queued is confirmed, views included', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab({ sendDelayMs: 60_000 }), b.tab({ sendDelayMs: 60_000 }));
    const inFollower = latest(follower.client.resource(todos).query$({ orderBy: 'title' }));
    await follower.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await leader.client.resource(todos).create({ id: 'b', title: 'B', done: false });
    await server.admin.faults({ latencyMs: 200 });
    const flush = flushing(follower);
    await until(() => sentIds(leader).length > 0, 'the leader to send');
    expect(flush.done).toBe(false);
    await flush.promise;
    expect((await applied()).sort()).toEqual(['create a', 'create b']);
    expect(sentIds(follower)).toEqual([]);
    expect(status(follower).pending).toBe(0);
    expect(inFollower.value!.data.map((t) => t.version)).toEqual([1, 1]);
  });

  it('resolves when nothing more can be sent now: the server is down and the entries wait for a retry', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ offline: true });
    await follower.client.resource(todos).create({ id: 'r', title: 'Retry later', done: false });
    await follower.client.flush();
    expect(leader.events.some((e) => e.type === 'retrying')).toBe(true);
    expect(status(follower).pending).toBe(1);
  });

  it('with a leader that never answers (frozen, holding the lock) it is bounded: it resolves after timeoutMs of silence', async () => {
    const b = browser();
    const { Channel, page } = b.hub.page();
    const leader = b.tab({ BroadcastChannel: Channel });
    await until(() => status(leader).leader, 'the first tab to lead');
    const follower = b.tab();
    await until(() => b.locks.waiting() === 1, 'the second tab to queue for the lock');
    page.freeze();
    await follower.client.resource(todos).create({ id: 'f', title: 'Frozen leader', done: false });
    const flush = flushing(follower);
    await until(() => b.hub.posted.some((p) => (p.data as { t?: string }).t === 'flush'), 'the request');
    await b.clock.advance(29_000);
    expect(flush.done).toBe(false);
    await b.clock.advance(1_000);
    await flush.promise;
    expect(status(follower).pending).toBe(1);
    expect(await applied()).toEqual([]);
    page.thaw();
  });

  it('a follower that becomes the leader while waiting sends the rest itself: applied once', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ latencyMs: 300 });
    await follower.client.resource(todos).create({ id: 'm', title: 'Mid-flight', done: false });
    const flush = flushing(follower);
    await until(() => sentIds(leader).includes('m'), 'the request in flight from the leader');
    await leader.client.close();
    await flush.promise;
    expect(status(follower).leader).toBe(true);
    expect(sentIds(follower)).toContain('m');
    expect(status(follower).pending).toBe(0);
    expect(await applied()).toEqual(['create m']);
  });

  it("asked of a leader that closes before answering, it is served by the tab that leads next: sendDelayMs skipped there too", async () => {
    const b = browser();
    const first = b.tab({ sendDelayMs: 60_000 });
    await until(() => status(first).leader, 'the first tab to lead');
    const next = b.tab({ sendDelayMs: 60_000 });
    await until(() => b.locks.waiting() === 1, 'the second tab to queue for the lock');
    const asking = b.tab({ sendDelayMs: 60_000 });
    await until(() => b.locks.waiting() === 2, 'the third tab to queue for the lock');
    await server.admin.faults({ latencyMs: 300 });
    await asking.client.resource(todos).create({ id: 'h', title: 'Handed over', done: false });
    const flush = flushing(asking);
    await until(() => sentIds(first).includes('h'), 'the request in flight from the first leader');
    await first.client.close();
    await until(() => status(next).leader, 'the second tab to lead');
    // No virtual time passes: only a flush served by the new leader sends before sendDelayMs.
    await outcomeOf(flush.promise, "the follower's flush()");
    expect(sentIds(next)).toContain('h');
    expect(sentIds(asking)).toEqual([]);
    expect(status(asking).pending).toBe(0);
    expect(await applied()).toEqual(['create h']);
  });
});

describe('every tab live', () => {
  /** Two tabs showing 'x', confirmed; then clear() in the follower, and both views emptied. */
  async function clearedInTheFollower() {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$());
    const inFollower = latest(follower.client.resource(todos).query$());
    await leader.client.resource(todos).create({ id: 'x', title: 'X', done: false }, { wait: 'server' });
    await until(() => ids(inFollower.value).includes('x') && status(follower).pending === 0, 'x confirmed in the follower');

    await follower.client.clear();
    await until(() => ids(inLeader.value).length === 0 && ids(inFollower.value).length === 0, 'both views empty');
    return { b, leader, follower, inLeader, inFollower };
  }

  it("clear() in one tab empties the other's views, and the other keeps working", async () => {
    const { leader, follower, inLeader, inFollower } = await clearedInTheFollower();
    expect(leader.events.some((e) => e.type === 'storageError')).toBe(false);
    expect(status(leader).lastError).toBeNull();

    await leader.client.resource(todos).create({ id: 'y', title: 'Y', done: false }, { wait: 'server' });
    await follower.client.resource(todos).create({ id: 'z', title: 'Z', done: false }, { wait: 'server' });
    await until(() => ids(inLeader.value).sort().join() === 'y,z' && ids(inFollower.value).sort().join() === 'y,z', 'both writes in both views');
    expect(await applied()).toEqual(['create x', 'create y', 'create z']);
  });

  it('clear() (logout) leaves no database of the namespace behind: neither tab reads it back into being as it shows the emptied views, nor once closed', async () => {
    const { b, leader, follower } = await clearedInTheFollower();
    const names = async () => (await b.indexedDB.databases()).map((d) => d.name);
    // Bounded: each tab reads its views again as it learns of the deletion, and the 'cleared' message comes after.
    for (let round = 0; round < 20; round++) {
      await settle(2);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await names()).not.toContain(DB_NAME);
    }
    await Promise.all([leader.client.close(), follower.client.close()]);
    expect(await names()).not.toContain(DB_NAME);
  });

  it("an entity another tab created and deleted before its create was sent shows as deleted here at once, not 'loading' while this tab's first pull runs", async () => {
    const b = browser();
    const reads = heldListAnswers();
    const writer = b.tab();
    const watcher = b.tab({ fetch: reads.fetch });
    await roles(writer, watcher);
    reads.hold();
    const entity = latest(watcher.client.resource(todos).get$('a'));
    const list = latest(watcher.client.resource(todos).query$());
    await until(() => watcher.calls.some((call) => call.startsWith('GET ')) && entity.value?.status === 'loading', "the watcher's first pull under way");

    const created = writer.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await writer.client.resource(todos).delete('a');
    await created;
    await until(() => entity.value?.status === 'success', "'a' shown as deleted in the watcher");
    expect(entity.value).toMatchObject({ data: undefined, status: 'success', pending: false });
    expect(list.value).toMatchObject({ data: [], status: 'success' });
    expect(status(writer).pending).toBe(0);
    expect(await applied()).toEqual([]);
    reads.release();
  });

  it("another tab's clear() is heard twice, by its database's deletion and by its message: a write made in between keeps its wait and its view", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$());
    await leader.client.resource(todos).create({ id: 'x', title: 'X', done: false }, { wait: 'server' });
    await until(() => status(follower).pending === 0, 'x confirmed in the follower');
    b.hub.hold = (data) => (data as { t?: string }).t === 'cleared';
    await follower.client.clear();
    await until(() => inLeader.value?.status === 'success' && ids(inLeader.value).length === 0, 'the leader emptied by the deletion');
    leader.online.next(false);
    const written = outcomeOf(leader.client.resource(todos).create({ id: 'y', title: 'Y', done: false }, { wait: 'server' }));
    await until(() => ids(inLeader.value).includes('y') && leader.events.some((e) => e.type === 'enqueued' && e.id === 'y'), 'the write stored');
    // Its wait is registered once the write's promise goes on, after the commit.
    await new Promise((resolve) => setTimeout(resolve, 0));
    b.hub.hold = () => false;
    b.hub.release();
    leader.online.next(true);
    expect(await written).toMatchObject({ value: { id: 'y', title: 'Y' } });
    expect(ids(inLeader.value)).toContain('y');
    expect(await applied()).toEqual(['create x', 'create y']);
  });

  it("a tab whose connection the browser closed hears another tab's clear() by its message only: a pull requested before it is not stored, and the fresh database is no eviction", async () => {
    const b = browser();
    // The tab's own view of the shared factory, keeping its connections for the browser to close.
    const connections: IDBDatabase[] = [];
    const ownFactory = {
      open: (name: string, version?: number) => {
        const request = b.indexedDB.open(name, version);
        request.addEventListener('success', () => connections.push(request.result));
        return request;
      },
      deleteDatabase: (name: string) => b.indexedDB.deleteDatabase(name),
      cmp: (x: unknown, y: unknown) => b.indexedDB.cmp(x, y),
      databases: () => b.indexedDB.databases(),
    } as unknown as IDBFactory;
    const reads = heldListAnswers();
    const clearing = b.tab();
    const other = b.tab({ indexedDB: ownFactory, fetch: reads.fetch });
    await roles(clearing, other);
    const inOther = latest(other.client.resource(todos).query$());
    await other.client.resource(todos).create({ id: 'x', title: 'Before the clear', done: false }, { wait: 'server' });
    await until(() => status(clearing).pending === 0 && ids(inOther.value).includes('x'), 'x confirmed in both tabs');
    // iOS suspending the page, say: the connection fires `close`, and is opened again when next used.
    for (const db of connections) forceCloseDatabase(db as unknown as Parameters<typeof forceCloseDatabase>[0]);
    const pull = await reads.heldRequest(() => other.client.resource(todos).refresh(), b.clock);

    await clearing.client.clear();
    await until(() => ids(inOther.value).length === 0, 'the other tab emptied by the message');
    await pull.landed();
    await settle(10);

    expect(ids(inOther.value)).toEqual([]);
    expect(await storedTodo(b, 'x')).toBeUndefined();
    expect(other.events.filter((e) => e.type === 'storageError')).toEqual([]);
    expect(status(other).lastError).toBeNull();
  });

  it("site data cleared with both tabs open: the tab that finds the database gone tells the other, whose change lost with it rejects its wait with PendingMutationsError ('evicted') and is reported there, not taken as confirmed", async () => {
    /** fake-indexeddb's factory, keeping every connection it opened (for the browser to close them). */
    class KeepingFactory extends IDBFactory {
      readonly connections: IDBDatabase[] = [];
      override open(name: string, version?: number): IDBOpenDBRequest {
        const request = super.open(name, version);
        request.addEventListener('success', () => this.connections.push(request.result));
        return request;
      }
    }
    const factory = new KeepingFactory();
    const b = browser(factory);
    const [finding, other] = await roles(b.tab(), b.tab());
    for (const d of [finding, other]) d.online.next(false);
    const inOther = latest(other.client.resource(todos).query$());
    const lost = outcomeOf(other.client.resource(todos).create({ id: 'x', title: 'Lost with the database', done: false }, { wait: 'server' }));
    await until(() => status(other).pending === 1 && status(finding).pending === 1, 'x queued in both tabs');

    // The user clears the site's data: the browser closes every connection and deletes the database.
    for (const db of factory.connections) forceCloseDatabase(db as unknown as Parameters<typeof forceCloseDatabase>[0]);
    await result(factory.deleteDatabase(DB_NAME));
    // One tab opens it again first, and finds it gone.
    await finding.client.resource(todos).create({ id: 'y', title: 'After', done: false });
    expect(finding.events.filter((e) => e.type === 'storageError')).toHaveLength(1);

    const { error } = (await lost) as { error: unknown };
    expect(error).toBeInstanceOf(PendingMutationsError);
    expect(error).toMatchObject({ discarded: 'evicted', resource: 'todos', id: 'x' });
    expect(status(other).lastError?.message).toMatch(/"harborsync:tabs" was missing and has been created empty/);
    await until(() => ids(inOther.value).join() === 'y' && status(other).pending === 1, "the other tab shows what the database holds");
  });

  it('conflicts$ and failed$ update in both tabs; deciding in the follower is sent by the leader', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab({ conflicts: 'manual' }), b.tab({ conflicts: 'manual' }));
    const conflicts = [latest(leader.client.conflicts$), latest(follower.client.conflicts$)];
    const failed = [latest(leader.client.failed$), latest(follower.client.failed$)];
    const inLeader = latest(leader.client.resource(todos).query$());
    const h = follower.client.resource(todos);

    await h.create({ id: 'c', title: 'Before', done: false }, { wait: 'server' });
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs' } });
    await h.update('c', { title: 'Mine' });
    await until(() => conflicts.every((c) => c.value?.length === 1), 'the conflict in both tabs');
    expect(conflicts.map((c) => (c.value as Conflict[])[0]!.fields)).toEqual([['title'], ['title']]);
    expect([status(leader).conflicts, status(follower).conflicts]).toEqual([1, 1]);
    // An unrelated change re-read from another tab does not make conflicts$ emit again.
    let emissions = 0;
    const counting = follower.client.conflicts$.subscribe(() => emissions++);
    const inFollower = latest(h.query$());
    await leader.client.resource(todos).create({ id: 'other', title: 'Unrelated', done: false }, { wait: 'server' });
    await until(() => inFollower.value?.data.some((t) => t.id === 'other' && t.version === 1) === true, 'the unrelated change in the follower');
    counting.unsubscribe();
    expect(emissions).toBe(1); // the replayed latest value only
    await (conflicts[1]!.value as Conflict[])[0]!.resolve('local');
    await until(() => conflicts.every((c) => c.value?.length === 0), 'the conflict gone from both tabs');
    await until(async () => (await ledger()).some((r) => r.op === 'update' && r.user === 'alice'), 'the decision on the server');
    await until(() => inLeader.value?.data[0]?.title === 'Mine' && inLeader.value.pendingIds.size === 0, 'the decision in the leader');

    await server.admin.faults({ failStatus: { status: 422, match: 'refuse me' } });
    await h.create({ id: 'r', title: 'refuse me', done: false });
    await until(() => failed.every((f) => f.value?.length === 1), 'the failure in both tabs');
    expect((failed[0]!.value as FailedMutation[])[0]).toMatchObject({ id: 'r', op: 'create', error: { status: 422 } });
    expect(ids(inLeader.value)).not.toContain('r'); // rolled back in the view
    await (failed[0]!.value as FailedMutation[])[0]!.discard();
    await until(() => failed.every((f) => f.value?.length === 0), 'the failure gone from both tabs');
    expect(leader.events.filter((e) => e.type === 'conflict')).toHaveLength(1);
    expect(follower.events.filter((e) => e.type === 'conflict')).toHaveLength(0);
  });

  it("a pull in one tab gives a parked conflict the newer server state in the other tab's conflicts$ too", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab({ conflicts: 'manual' }), b.tab({ conflicts: 'manual' }));
    const conflicts = [latest(leader.client.conflicts$), latest(follower.client.conflicts$)];
    const h = follower.client.resource(todos);
    await h.create({ id: 'c', title: 'Before', done: false }, { wait: 'server' });
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs' } });
    await h.update('c', { title: 'Mine' });
    await until(() => conflicts.every((c) => c.value?.length === 1), 'the conflict in both tabs');
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs again' } });
    await leader.client.resource(todos).refresh();
    const remoteTitle = (c: { value: Conflict[] | undefined }) => (c.value?.[0]?.remote as Todo | null)?.title;
    await until(() => conflicts.every((c) => remoteTitle(c) === 'Theirs again'), 'the newer remote in both tabs');
    await (conflicts[1]!.value as Conflict[])[0]!.resolve('remote');
    await until(() => conflicts.every((c) => c.value?.length === 0), 'the conflict gone from both tabs');
    expect(await h.get('c')).toMatchObject({ title: 'Theirs again', version: 3 });
    expect(await leader.client.resource(todos).get('c')).toMatchObject({ title: 'Theirs again', version: 3 });
  });

  it("flush() in a follower waits for an undisputed conflict's decision under 'merge', then has the leader send it", async () => {
    const b = browser();
    // Sent only when flushed: the follower's flush() must be what sends the decision.
    const [leader, follower] = await roles(b.tab({ sendDelayMs: 60_000 }), b.tab({ sendDelayMs: 60_000 }));
    const conflicts = latest(follower.client.conflicts$);
    const h = follower.client.resource(todos);
    await h.create({ id: 'c', title: 'Before', done: false });
    await follower.client.flush();
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Theirs' } });
    await h.update('c', { title: 'Mine' });
    await follower.client.flush();
    await until(() => conflicts.value?.length === 1, 'the conflict');
    await server.admin.edit({ resource: 'todos', id: 'c', patch: { title: 'Before', done: true } });
    await h.refresh();
    await follower.client.flush();
    expect(status(follower).pending).toBe(0);
    expect(await applied()).toEqual(['create c', 'update c', 'update c', 'update c']);
    expect((await ledger()).at(-1)).toMatchObject({ user: 'alice', op: 'update' });
    expect(await h.get('c')).toMatchObject({ title: 'Mine', done: true, version: 4 });
    expect([...leader.events, ...follower.events].filter((e) => e.type === 'resolved')).toHaveLength(1);
  });

  it("another tab's pull reaches a tab that did not pull (a big one re-read whole)", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    follower.online.next(false); // it serves its cache and never pulls itself
    const inFollower = latest(follower.client.resource(todos).query$());
    await until(() => inFollower.value?.status === 'success', 'the follower loaded from its cache');
    expect(ids(inFollower.value)).toEqual([]);
    await server.admin.seed('todos', 1_500);
    await leader.client.resource(todos).refresh();
    await until(() => inFollower.value?.data.length === 1_500, 'the pulled rows in the follower', 1_000);
    await server.admin.edit({ resource: 'todos', id: inFollower.value!.data[0]!.id, delete: true });
    await leader.client.resource(todos).refresh();
    await until(() => inFollower.value?.data.length === 1_499, 'the deletion in the follower');
  });

  /** Two tabs, the other one showing todos: the puller's pulls are what it learns from. */
  async function pullerAndWatcher() {
    const b = browser();
    const [puller, other] = await roles(b.tab(), b.tab());
    const inOther = latest(other.client.resource(todos).query$());
    await until(() => inOther.value?.status === 'success', 'the other tab loaded');
    return { b, puller, other, inOther };
  }

  it("a tab that dies after committing a pull, before telling the others: their next pull brings that pull's changes", async () => {
    const { b, puller, other, inOther } = await pullerAndWatcher();
    await server.admin.seed('todos', 3);
    b.hub.drop = () => true; // nothing the puller says is heard: it dies right after its commit
    await puller.client.resource(todos).refresh();
    await puller.client.close();
    b.hub.drop = () => false;
    expect(ids(inOther.value)).toEqual([]);
    // The stored delta cursor is past those changes; the other tab pulls from the last one it knows.
    await other.client.resource(todos).refresh();
    await until(() => inOther.value?.data.length === 3, "the dead tab's pull in the other tab");
    // And it carries on from there: a later change arrives once.
    await server.admin.edit({ resource: 'todos', id: inOther.value!.data[0]!.id, delete: true });
    await other.client.resource(todos).refresh();
    await until(() => inOther.value?.data.length === 2, 'the next change');
  });

  it("a tab that dies after a whole-list pull that removed an entity, before telling: the other's next whole-list pull removes it from its views too", async () => {
    const b = browser();
    const [puller, other] = await roles(b.tab({ resources: [wholeTodos] }), b.tab({ resources: [wholeTodos] }));
    const inOther = latest(other.client.resource(wholeTodos).query$());
    await server.admin.seed('todos', 2);
    await other.client.resource(wholeTodos).refresh();
    await until(() => inOther.value?.data.length === 2, 'both shown in the other tab');
    const gone = ids(inOther.value)[0]!;
    await server.admin.edit({ resource: 'todos', id: gone, delete: true });
    b.hub.drop = () => true; // nothing the puller says is heard: it dies right after its commit
    await puller.client.resource(wholeTodos).refresh();
    await puller.client.close();
    b.hub.drop = () => false;
    expect(ids(inOther.value)).toContain(gone);
    // Stored nowhere now, so the answer's absence alone must take it out of the view.
    await other.client.resource(wholeTodos).refresh();
    await until(() => !ids(inOther.value).includes(gone), 'the removal in the other tab');
    expect(ids(inOther.value)).toHaveLength(1);
  });

  /** A leader and a follower following whole lists, the follower's list answers held on demand. */
  async function followerWithHeldLists() {
    const b = browser();
    const lists = heldListAnswers();
    const [leader, follower] = await roles(b.tab({ resources: [wholeTodos] }), b.tab({ resources: [wholeTodos], fetch: lists.fetch }));
    const h = follower.client.resource(wholeTodos);
    /** The follower's next whole list, its answer held once computed. */
    const heldRefresh = () => lists.heldRequest(() => h.refresh(), b.clock);
    return { leader, h, heldRefresh };
  }

  it("a delete made in one tab and sent by the other while the first tab's whole list, computed before it landed, was on its way: the answer does not bring it back", async () => {
    const { leader, h, heldRefresh } = await followerWithHeldLists();
    const inLeader = latest(leader.client.resource(wholeTodos).query$());
    await server.admin.seed('todos', 2);
    await h.refresh();
    await until(() => inLeader.value?.data.length === 2, 'both shown in the leader');
    const gone = (await h.list())[0]!.id;
    const { landed } = await heldRefresh();
    await h.delete(gone, { wait: 'server' });
    await landed();
    expect((await h.list()).map((t) => t.id)).not.toContain(gone);
    await settle();
    expect(ids(inLeader.value)).not.toContain(gone);
    expect(ids(inLeader.value)).toHaveLength(1);
  });

  it("a create confirmed while one tab's whole list was on its way, then listed by another tab's newer pull: the older list, applied last, does not remove it", async () => {
    const { leader, h, heldRefresh } = await followerWithHeldLists();
    await server.admin.seed('todos', 1);
    await h.refresh();
    const { landed } = await heldRefresh();
    const created = await leader.client.resource(wholeTodos).create({ title: 'fresh', done: false }, { wait: 'server' });
    // Stores the same version again, as a pull does.
    await leader.client.resource(wholeTodos).refresh();
    await landed();
    expect((await h.list()).map((t) => t.id)).toContain(created.id);
    expect((await leader.client.resource(wholeTodos).list()).map((t) => t.id)).toContain(created.id);
  });

  it("a delta page answered before an entity was deleted, stored after another tab stored the deletion: the entity does not come back, in either tab nor after a reload", async () => {
    const b = browser();
    const pages = heldListAnswers();
    const first = b.tab();
    const late = b.tab({ fetch: pages.fetch });
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'X', done: false } });
    await first.client.resource(todos).refresh();
    await late.client.resource(todos).refresh();
    await server.admin.edit({ resource: 'todos', id: 'x', patch: { title: 'X2' } });
    // Its page holds x renamed, its cursor before the deletion that follows.
    const { landed } = await pages.heldRequest(() => late.client.resource(todos).refresh(), b.clock);
    await server.admin.edit({ resource: 'todos', id: 'x', delete: true });
    await first.client.resource(todos).refresh();
    expect(await first.client.resource(todos).get('x')).toBeUndefined();
    await landed();
    // The first tab pulls on from its cursor, past the deletion: it would never name x again.
    await first.client.resource(todos).refresh();
    await settle();
    expect(await late.client.resource(todos).get('x')).toBeUndefined();
    expect(await first.client.resource(todos).get('x')).toBeUndefined();
    await first.client.close();
    await late.client.close();
    const reloaded = b.tab();
    await reloaded.client.resource(todos).refresh();
    expect(await reloaded.client.resource(todos).list()).toEqual([]);
  });

  it("a tab that heard another's pulls follows their cursor: its own pull asks only for what came after", async () => {
    const { b, puller, other, inOther } = await pullerAndWatcher();
    await server.admin.seed('todos', 3);
    await puller.client.resource(todos).refresh();
    await until(() => inOther.value?.data.length === 3, "the puller's changes in the other tab");
    await server.admin.seed('todos', 2);
    await puller.client.resource(todos).refresh();
    await until(() => inOther.value?.data.length === 5, 'the second pull in the other tab');
    const pullerAsked = puller.calls.filter((c) => c.includes('since='));
    const before = other.calls.length;
    await other.client.resource(todos).refresh();
    // From the cursor the puller's last commit stored, as if it had pulled itself: nothing new.
    expect(other.calls.slice(before)).toEqual([pullerAsked.at(-1)!.replace(/since=[^&]*/, `since=${encodeURIComponent(String(await lastCursor(b)))}`)]);
    expect(other.events.filter((e) => e.type === 'pulled').at(-1)).toMatchObject({ count: 0 });
  });

  it("a pull's hint that arrives after this tab's clear() (delayed, or repeated) does not move its cursor: its next pull brings again what the deleted database held", async () => {
    const b = browser();
    const [puller, other] = await roles(b.tab(), b.tab());
    await server.admin.seed('todos', 3);
    // The other tab shows the cached (empty) resource and does not pull.
    other.online.next(false);
    const inOther = latest(other.client.resource(todos).query$());
    await until(() => inOther.value?.status === 'success', 'the other tab loaded');
    b.hub.hold = (data) => (data as { t?: string }).t === 'changed';
    // The first pull of the namespace: its hint moves the cursor from none.
    await puller.client.resource(todos).refresh();
    await other.client.clear();
    // Loaded again, from the fresh database, before the hint arrives.
    expect(await other.client.resource(todos).list()).toEqual([]);
    b.hub.hold = () => false;
    b.hub.release();
    // Bounded: the hint is read (its entities, from the fresh database) before the tab pulls.
    for (let round = 0; round < 10; round++) {
      await settle(2);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    other.online.next(true);
    await other.client.resource(todos).refresh();
    await until(() => inOther.value?.data.length === 3, 'the pulled entities in the tab that cleared', 100);
  });

  it('a lost hint is repaired by the next one', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$());
    await until(() => inLeader.value?.status === 'success', 'loaded');
    b.hub.drop = () => true;
    await follower.client.resource(todos).create({ id: 'lost', title: 'Lost hint', done: false });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ids(inLeader.value)).toEqual([]);
    b.hub.drop = () => false;
    await follower.client.resource(todos).create({ id: 'next', title: 'Next', done: false });
    await until(async () => (await ledger()).length === 2, 'both changes on the server');
    await until(() => ids(inLeader.value).includes('next'), 'the next write in the leader');
  });

  it("an entity another tab stored under another schema (a newer release of the app) is shown only if it passes this tab's, as when the resource loads", async () => {
    // The newer release made `done` optional; this one requires it.
    const newer = defineResource({ name: 'todos', schema: todoSchema.extend({ done: todoSchema.shape.done.optional() }), delta: true });
    const b = browser();
    const oldTab = b.tab();
    const newTab = b.tab({ resources: [newer] });
    await roles(oldTab, newTab);
    for (const d of [oldTab, newTab]) d.online.next(false);
    const inOld = latest(oldTab.client.resource(todos).query$());
    await until(() => inOld.value?.status === 'success', 'loaded');
    await newTab.client.resource(newer).create({ id: 'a', title: 'No done' });
    await newTab.client.resource(newer).create({ id: 'b', title: 'With done', done: true });
    await until(() => ids(inOld.value).includes('b'), "the newer tab's valid entity in the older tab");
    expect(ids(inOld.value)).toEqual(['b']);
    expect(oldTab.events.filter((e) => e.type === 'schemaError').map((e) => e.id)).toContain('a');
    // As a reload of the older tab shows it.
    await oldTab.client.close();
    const reloaded = b.tab();
    reloaded.online.next(false);
    const inReloaded = latest(reloaded.client.resource(todos).query$());
    await until(() => inReloaded.value?.status === 'success', 'reloaded');
    expect(ids(inReloaded.value)).toEqual(['b']);
  });

  it.each([
    ['ids as one string', { t: 'changed', r: 'todos', ids: 'a' }],
    ['ids as objects', { t: 'changed', r: 'todos', ids: [{ id: 'a' }] }],
    ['no ids', { t: 'changed', r: 'todos', outbox: true }],
    ['a wait settled with issues of another shape', { t: 'settled', seq: 1, error: { name: 'SchemaError', message: 'm', issues: 'x' } }],
  ])("a message in a shape this release does not know (%s, from another release's tab) is ignored: the hints heard with it still show", async (_, foreign) => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    leader.online.next(false);
    const inFollower = latest(follower.client.resource(todos).query$());
    await until(() => inFollower.value?.status === 'success', 'loaded');
    const errorsBefore = follower.events.filter((e) => e.type === 'error').length;
    // Held, then delivered together: the follower reads the first hint while the rest queue up behind it.
    b.hub.hold = () => true;
    await leader.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    const otherRelease = new b.hub.Channel(DB_NAME);
    otherRelease.postMessage(foreign);
    otherRelease.close();
    await leader.client.resource(todos).create({ id: 'b', title: 'B', done: false });
    b.hub.hold = () => false;
    b.hub.release();
    await until(() => ids(inFollower.value).includes('b'), "the leader's write after the foreign message, in the follower");
    expect(ids(inFollower.value).sort()).toEqual(['a', 'b']);
    expect(follower.events.filter((e) => e.type === 'error').length).toBe(errorsBefore);
  });
});

describe('a page back from suspension', () => {
  it('reads again what it shows: the hints it missed while frozen are made up for, and what did not change keeps its object', async () => {
    const b = browser();
    const suspended = new BehaviorSubject(false);
    const [leader, follower] = await roles(b.tab(), b.tab({ suspended }));
    await leader.client.resource(todos).create({ id: 'kept', title: 'Kept', done: false });
    await leader.client.flush();
    const inFollower = latest(follower.client.resource(todos).query$({ orderBy: 'id' }));
    await until(() => inFollower.value?.data[0]?.version === 1 && follower.events.some((e) => e.type === 'pulled'), 'the confirmed change in the follower');
    const kept = inFollower.value!.data[0];
    suspended.next(true);
    // Every hint lost while the page is frozen: a create, and an update of what it shows.
    b.hub.drop = () => true;
    await leader.client.resource(todos).create({ id: 'new', title: 'New', done: false });
    await leader.client.flush();
    b.hub.drop = () => false;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ids(inFollower.value)).toEqual(['kept']);
    suspended.next(false);
    await until(() => ids(inFollower.value).includes('new'), 'the missed change in the follower');
    expect(ids(inFollower.value)).toEqual(['kept', 'new']);
    expect(inFollower.value!.data[0]).toBe(kept);
    expect(inFollower.value!.pendingIds.size).toBe(0);
  });
});

/** One tab's view of a shared factory, counting the transactions it starts that `counts` names. */
function countingTransactions(shared: IDBFactory, counts: (stores: string[], mode: IDBTransactionMode | undefined) => boolean): { indexedDB: IDBFactory; started: () => number } {
  let started = 0;
  const indexedDB = {
    open: (name: string, version?: number) => {
      const request = shared.open(name, version);
      request.addEventListener('success', () => {
        const db = request.result;
        const transaction = db.transaction.bind(db);
        db.transaction = ((stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) => {
          if (counts([stores].flat(), mode)) started++;
          return transaction(stores, mode, options);
        }) as IDBDatabase['transaction'];
      });
      return request;
    },
    deleteDatabase: (name: string) => shared.deleteDatabase(name),
    cmp: (a: unknown, b: unknown) => shared.cmp(a, b),
    databases: () => shared.databases(),
  } as IDBFactory;
  return { indexedDB, started: () => started };
}

/** One tab's view of a shared factory, counting its reads of the whole outbox (one per re-read of it). */
function countingOutboxReads(shared: IDBFactory): { indexedDB: IDBFactory; outboxReads: () => number } {
  const { indexedDB, started } = countingTransactions(shared, (stores, mode) => stores[0] === 'outbox' && mode !== 'readwrite');
  return { indexedDB, outboxReads: started };
}

describe('a page back to the foreground', () => {
  it('reads again what it shows: the views and the counts of a tab that heard no hint converge', async () => {
    const b = browser();
    const first = b.tab();
    await until(() => status(first).leader, 'the first tab to lead');
    const foreground = new Subject<void>();
    const second = b.tab({ foreground });
    await first.client.resource(todos).create({ id: 'kept', title: 'Kept', done: false });
    await first.client.flush();
    const inSecond = latest(second.client.resource(todos).query$({ orderBy: 'id' }));
    const keptInSecond = latest(second.client.resource(todos).get$('kept'));
    await until(() => inSecond.value?.data[0]?.version === 1 && second.events.some((e) => e.type === 'pulled'), 'the confirmed change in the second tab');

    // Not one hint is heard from here on: a pull bringing another device's change, then a write left pending.
    b.hub.drop = () => true;
    const elsewhere = device(server.apiUrl, {}, new IDBFactory());
    open.push(elsewhere);
    await elsewhere.client.resource(todos).create({ id: 'remote', title: 'From elsewhere', done: false });
    await elsewhere.client.flush();
    await first.client.resource(todos).refresh();
    first.online.next(false);
    await first.client.resource(todos).update('kept', { title: 'Edited' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ids(inSecond.value)).toEqual(['kept']);
    expect(keptInSecond.value?.data?.title).toBe('Kept');
    expect(status(second).pending).toBe(0);

    foreground.next();
    await until(() => ids(inSecond.value).length === 2 && status(second).pending === 1, 'the second tab to catch up');
    expect(ids(inSecond.value)).toEqual(['kept', 'remote']);
    expect([...inSecond.value!.pendingIds]).toEqual(['kept']);
    expect(keptInSecond.value).toMatchObject({ data: { title: 'Edited' }, pending: true });
  });

  it('reads once for a burst of events (a suspension ends as the page is shown)', async () => {
    const b = browser();
    const first = b.tab();
    await until(() => status(first).leader, 'the first tab to lead');
    const foreground = new Subject<void>();
    const suspended = new BehaviorSubject(false);
    const counted = countingOutboxReads(b.indexedDB);
    const second = b.tab({ foreground, suspended, indexedDB: counted.indexedDB });
    const inSecond = latest(second.client.resource(todos).query$());
    await until(() => inSecond.value?.status === 'success', 'the second tab loaded');
    suspended.next(true);
    b.hub.drop = () => true;
    await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    const before = counted.outboxReads();

    suspended.next(false);
    foreground.next();
    await until(() => ids(inSecond.value).includes('a'), 'the second tab to catch up');
    await new Promise((resolve) => setTimeout(resolve, 50));
    await settle();
    expect(counted.outboxReads() - before).toBe(1);
  });

  it('reads the outbox again each time, the resources shown at most once per staleTimeMs: a lost hint is rare, a whole read is not free', async () => {
    const b = browser();
    const first = b.tab();
    await until(() => status(first).leader, 'the first tab to lead');
    const foreground = new Subject<void>();
    const counted = countingOutboxReads(b.indexedDB);
    const second = b.tab({ foreground, indexedDB: counted.indexedDB, staleTimeMs: 30_000 });
    const inSecond = latest(second.client.resource(todos).query$());
    await until(() => inSecond.value?.status === 'success', 'the second tab loaded');
    b.hub.drop = () => true;
    const readsAfter = async () => {
      const before = counted.outboxReads();
      foreground.next();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await settle();
      return counted.outboxReads() - before;
    };
    expect(await readsAfter()).toBe(1);
    await first.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    b.clock.jump(29_000);
    expect(await readsAfter()).toBe(1);
    expect(ids(inSecond.value)).toEqual([]);
    b.clock.jump(1_000);
    expect(await readsAfter()).toBe(1);
    expect(ids(inSecond.value)).toEqual(['a']);
  });

  it("wakes the leader: a retry whose time passed while its timer was held back goes out, by the stored deadline", async () => {
    const b = browser();
    const foreground = new Subject<void>();
    const leader = b.tab({ foreground, random: upperHalfRandom() });
    await until(() => status(leader).leader, 'the tab to lead');
    await server.admin.faults({ rateLimit: { count: 1, retryAfter: '30' } });
    await leader.client.resource(todos).create({ id: 'a', title: 'A', done: false });
    await until(() => leader.events.some((e) => e.type === 'retrying'), 'a retry');
    expect(status(leader).nextRetryAt).toBe(b.clock.now() + 30_000);

    foreground.next(); // not due yet: nothing goes out
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await ledger()).toHaveLength(0);
    // A background tab's timer fires late: the deadline passes, the timer has not fired.
    b.clock.jump(30_000);
    foreground.next();
    await until(async () => (await ledger()).length === 1, 'the retry sent');
  });
});

describe("a write in a tab that has not heard of another tab's commit yet", () => {
  // A write assumes the stored record is what its tab last heard of, and checks that assumption
  // in its transaction (one round trip). These tabs hear nothing of each other: every message is
  // lost, so the check alone keeps the second write correct.
  async function unheard(): Promise<{ b: Browser; one: Device; two: Device; inOne: { readonly value: QueryState<Todo> | undefined }; inTwo: { readonly value: QueryState<Todo> | undefined } }> {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'Old', done: false } });
    const b = browser();
    // The tab that writes second, on a stale copy, leads: it sends without a message from the other.
    const [two, one] = await roles(b.tab(), b.tab());
    const inOne = latest(one.client.resource(todos).query$());
    const inTwo = latest(two.client.resource(todos).query$());
    await until(() => ids(inOne.value).includes('x') && ids(inTwo.value).includes('x'), 'x in both tabs');
    b.hub.drop = () => true;
    return { b, one, two, inOne, inTwo };
  }

  it("coalesces into the other tab's queued change: one request carries both, and the view shows both at once", async () => {
    const { b, one, two, inOne, inTwo } = await unheard();
    for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).update('x', { title: 'Mine' });
    await two.client.resource(todos).update('x', { done: true });
    expect(inTwo.value?.data).toEqual([{ id: 'x', title: 'Mine', done: true, version: 1 }]);

    b.hub.drop = () => false;
    for (const d of [one, two]) d.online.next(true);
    await until(() => status(two).pending === 0 && inTwo.value?.data[0]?.version === 2, 'the change confirmed');
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.map((r) => r.body)).toEqual([{ title: 'Mine', done: true }]);
    expect(inTwo.value?.data).toEqual([{ id: 'x', title: 'Mine', done: true, version: 2 }]);
    await until(() => inOne.value?.data[0]?.version === 2, 'the answer in the other tab');
    expect(inOne.value?.data).toEqual(inTwo.value?.data);
  });

  it('a write on a stale copy is redone in its own place: the writes made right after it still land after it', async () => {
    const { b, one, two, inTwo } = await unheard();
    for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).update('x', { done: true });
    const h = two.client.resource(todos);
    // Not awaited one by one: the second write is issued while the first (on a stale copy) commits.
    await Promise.all([h.update('x', { title: 'First' }), h.update('x', { title: 'Second' })]);
    expect(inTwo.value?.data).toEqual([{ id: 'x', title: 'Second', done: true, version: 1 }]);

    b.hub.drop = () => false;
    for (const d of [one, two]) d.online.next(true);
    await until(() => status(two).pending === 0 && inTwo.value?.data[0]?.version === 2, 'the change confirmed');
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.map((r) => r.body)).toEqual([{ done: true, title: 'Second' }]);
  });

  it("a change the other tab made and set back before it was sent leaves nothing queued: this tab's change goes alone", async () => {
    const { b, one, two, inTwo } = await unheard();
    for (const d of [one, two]) d.online.next(false);
    // Changed and changed back: the queued change is gone, and the view is what the server has.
    await one.client.resource(todos).update('x', { title: 'Mine' });
    await one.client.resource(todos).update('x', { title: 'Old' });
    expect(status(one).pending).toBe(0);
    await two.client.resource(todos).update('x', { done: true });

    b.hub.drop = () => false;
    for (const d of [one, two]) d.online.next(true);
    await until(() => status(two).pending === 0 && inTwo.value?.data[0]?.version === 2, 'the change confirmed');
    const updates = (await ledger()).filter((r) => r.op === 'update');
    expect(updates.map((r) => r.body)).toEqual([{ done: true }]);
  });

  it("keeps another tab's refused change, which leaves the view as it was, ahead of its own write: in its queue and in failed$", async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'Old', done: false } });
    const b = browser();
    const [leader, other] = await roles(b.tab(), b.tab());
    // Shares the database and the lock, but hears nothing of the other two (a channel of its own).
    const deaf = b.tab({ BroadcastChannel: new BroadcastHub().Channel });
    const inDeaf = latest(deaf.client.resource(todos).query$());
    await until(() => ids(inDeaf.value).includes('x'), 'x in the deaf tab');
    await server.admin.faults({ failStatus: { status: 422, match: 'Refused', count: 1 } });
    await other.client.resource(todos).update('x', { title: 'Refused' });
    await until(() => status(leader).failed === 1, 'the change refused and rolled back');

    await deaf.client.resource(todos).update('x', { done: true });
    expect(inDeaf.value?.data).toEqual([{ id: 'x', title: 'Old', done: true, version: 1 }]);
    expect(status(deaf).failed).toBe(1);
    const failedInDeaf = latest(deaf.client.failed$);
    expect(failedInDeaf.value).toMatchObject([{ id: 'x', op: 'update', payload: { title: 'Refused' }, error: { status: 422 } }]);
  });

  it("builds on the other tab's newer pull, not on its own older copy: the change is sent on that version", async () => {
    const { one, two, inTwo } = await unheard();
    await server.admin.edit({ resource: 'todos', id: 'x', patch: { title: 'Theirs' } });
    await one.client.resource(todos).refresh();
    expect(inTwo.value?.data[0]?.title).toBe('Old');

    await two.client.resource(todos).update('x', { done: true });
    expect(inTwo.value?.data).toEqual([{ id: 'x', title: 'Theirs', done: true, version: 2 }]);
    await until(async () => (await ledger()).some((r) => r.op === 'update' && r.body !== null && (r.body as { done?: boolean }).done === true), 'the change on the server');
    const update = (await ledger()).filter((r) => r.op === 'update').at(-1)!;
    expect(update).toMatchObject({ versionBefore: 2, versionAfter: 3, body: { done: true } });
    for (const d of [one, two]) expect(d.events.filter((e) => e.type === 'conflict')).toEqual([]);
  });

  it("an update of an entity the other tab's pull deleted is kept on the copy it showed, and meets the deletion at the server: a conflict with remote null", async () => {
    const { b, one, two, inTwo } = await unheard();
    await server.admin.edit({ resource: 'todos', id: 'x', delete: true });
    await one.client.resource(todos).refresh();
    expect(await storedTodo(b, 'x')).toBeUndefined();

    await two.client.resource(todos).update('x', { title: 'Mine' });
    const conflicts = latest(two.client.conflicts$);
    await until(() => conflicts.value?.length === 1, 'the conflict');
    expect(conflicts.value![0]).toMatchObject({ id: 'x', base: { id: 'x', title: 'Old', version: 1 }, local: { title: 'Mine' }, remote: null });
    // Sent once, on the version the tab showed; the server had nothing to apply it to.
    expect(sentIds(two)).toEqual(['x']);
    expect((await ledger()).filter((r) => r.op === 'update')).toEqual([]);
    expect(inTwo.value?.data).toMatchObject([{ id: 'x', title: 'Mine' }]);
  });

  it("a delete of an entity the other tab's pull deleted is sent on the version the tab showed: the server's 404 is a success", async () => {
    const { b, one, two, inTwo } = await unheard();
    await server.admin.edit({ resource: 'todos', id: 'x', delete: true });
    await one.client.resource(todos).refresh();

    await two.client.resource(todos).delete('x');
    expect(inTwo.value?.data).toEqual([]);
    await until(() => status(two).pending === 0, 'the delete settled');
    expect(sentIds(two)).toEqual(['x']);
    expect(status(two)).toMatchObject({ conflicts: 0, failed: 0 });
    expect(await storedTodo(b, 'x')).toBeUndefined();
    expect(await applied()).toEqual(['create x', 'delete x']);
  });

  it("an update of another tab's unconfirmed create that it then cancelled, unheard of, is refused with a ValidationError: nothing to send it against", async () => {
    const b = browser();
    const [one, two] = await roles(b.tab(), b.tab());
    const inTwo = latest(two.client.resource(todos).query$());
    await until(() => inTwo.value?.status === 'success', 'loaded');
    for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).create({ id: 'y', title: 'Draft', done: false });
    await until(() => ids(inTwo.value).includes('y') && status(two).pending === 1, 'the create heard of');
    b.hub.drop = () => true;
    await one.client.resource(todos).delete('y');
    expect(await storedTodo(b, 'y')).toBeUndefined();

    await expect(two.client.resource(todos).update('y', { title: 'Mine' })).rejects.toBeInstanceOf(ValidationError);
    expect(await storedTodo(b, 'y')).toBeUndefined();
    b.hub.drop = () => false;
    for (const d of [one, two]) d.online.next(true);
    await one.client.flush();
    expect(await applied()).toEqual([]);
  });

  it('an update of an entity the other tab deleted (its delete still queued) is refused with a ValidationError; nothing stored changes', async () => {
    await server.admin.edit({ resource: 'todos', create: { id: 'x', title: 'Old', done: false } });
    const b = browser();
    // The tab that deletes leads here, so its delete is sent without a message to the other.
    const [one, two] = await roles(b.tab(), b.tab());
    const inTwo = latest(two.client.resource(todos).query$());
    await until(() => ids(inTwo.value).includes('x'), 'x in the stale tab');
    b.hub.drop = () => true;
    for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).delete('x');
    const before = await storedTodo(b, 'x');
    expect(before).toMatchObject({ base: { id: 'x', version: 1 }, view: null });

    // Two at once: neither may leave its unstored view behind.
    const h = two.client.resource(todos);
    const refused = [h.update('x', { title: 'Mine' }), h.update('x', { title: 'Mine too' })];
    for (const write of refused) {
      await expect(write).rejects.toBeInstanceOf(ValidationError);
      await expect(write).rejects.toThrow('todos/x: field "id" no entity with this id here (deleted, renamed or evicted since this tab last heard)');
    }
    expect(await storedTodo(b, 'x')).toEqual(before);
    // The view is brought to what is stored, though no message from the other tab arrived.
    await until(() => inTwo.value?.status === 'success' && !ids(inTwo.value).includes('x'), 'the view as stored');
    // The delete is sent as it was queued, and nothing else.
    for (const d of [one, two]) d.online.next(true);
    await until(async () => (await ledger()).some((r) => r.op === 'delete'), 'the delete on the server');
    await one.client.flush();
    expect(await applied()).toEqual(['create x', 'delete x']);
  });

  it("a delete of an entity the other tab deleted (its delete still queued) is done: the other tab's delete is sent once", async () => {
    const { one, two, inTwo } = await unheard();
    for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).delete('x');

    await two.client.resource(todos).delete('x');
    expect(inTwo.value?.data).toEqual([]);
    expect(status(two).pending).toBe(1);
    for (const d of [one, two]) d.online.next(true);
    await until(async () => (await ledger()).some((r) => r.op === 'delete'), 'the delete on the server');
    await two.client.flush();
    expect(sentIds(two)).toEqual(['x']);
    expect(await applied()).toEqual(['create x', 'delete x']);
  });

  it.each([
    ['still queued', false],
    ['confirmed', true],
  ])("a create of an id the other tab created (its create %s) is refused with a ValidationError naming it, as in the tab that heard: nothing stored changes, one create goes out", async (_, confirmed) => {
    const b = browser();
    const [one, two] = await roles(b.tab(), b.tab());
    const inTwo = latest(two.client.resource(todos).query$());
    await until(() => inTwo.value?.status === 'success', 'loaded');
    b.hub.drop = () => true;
    if (!confirmed) for (const d of [one, two]) d.online.next(false);
    await one.client.resource(todos).create({ id: 'y', title: 'Theirs', done: false });
    if (confirmed) await one.client.flush();
    const before = await storedTodo(b, 'y');

    const refused = two.client.resource(todos).create({ id: 'y', title: 'Mine', done: false });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toThrow('todos/y: field "id" an entity with this id already exists');
    expect(await storedTodo(b, 'y')).toEqual(before);
    // The view is brought to what is stored, though no message from the other tab arrived.
    await until(() => inTwo.value?.data.find((t) => t.id === 'y')?.title === 'Theirs', 'the view as stored');
    b.hub.drop = () => false;
    for (const d of [one, two]) d.online.next(true);
    await one.client.flush();
    await two.client.flush();
    expect(await applied()).toEqual(['create y']);
  });
});

describe('lifecycle', () => {
  it('a client opened and closed many times leaves no held lock, waiting request, open channel or connection', async () => {
    const factory = new CountingIDBFactory();
    const b = browser(factory);
    const keeper = b.tab();
    await until(() => status(keeper).leader, 'a first leader');
    for (let i = 0; i < 15; i++) {
      const d = b.tab();
      if (i % 3 === 1) await until(() => b.locks.waiting() === 1, 'the tab to queue for the lock');
      if (i % 3 === 2) await d.client.resource(todos).create({ id: `n${i}`, title: 'N', done: false });
      await d.client.close();
      open.splice(open.indexOf(d), 1);
    }
    await keeper.client.close();
    open.splice(open.indexOf(keeper), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b.locks.held()).toEqual([]);
    expect(b.locks.waiting()).toBe(0);
    expect(b.hub.open()).toBe(0);
    expect(factory.openConnections).toBe(0);
    // No connection left open: deleting the database is never blocked.
    let blocked = false;
    await new Promise<void>((resolve, reject) => {
      const request = b.indexedDB.deleteDatabase(DB_NAME);
      request.onblocked = () => (blocked = true);
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
    });
    expect(blocked).toBe(false);
  });

  it('a write committed in the same run as close() still reaches the other tab, which sends it', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$());
    await until(() => inLeader.value?.status === 'success', 'loaded');
    // Closed in the run that commits the write, before its announcement's microtask.
    let closing: Promise<void> | undefined;
    follower.client.events$.subscribe((e) => {
      if (e.type === 'enqueued') closing ??= follower.client.close();
    });
    await follower.client.resource(todos).create({ id: 'last', title: 'Written, then closed', done: false });
    await closing;
    open.splice(open.indexOf(follower), 1);
    expect(b.hub.posted.map((m) => m.data)).toContainEqual(expect.objectContaining({ t: 'changed', r: 'todos', ids: ['last'] }));
    await until(() => ids(inLeader.value).includes('last'), "the write in the leader's view");
    await until(async () => (await ledger()).length === 1, 'the change on the server');
    expect(await applied()).toEqual(['create last']);
  });

  it('closing the leader hands leadership over within a second', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const started = Date.now();
    await leader.client.close();
    await until(() => status(follower).leader, 'the new leader');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('a newer tab upgrades the database', () => {
  /** Opens the namespace's database at `version` as a newer release of the app would. */
  function upgrade(indexedDB: IDBFactory, version: number) {
    const seen = { blocked: false, upgraded: false };
    const opened = new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, version);
      request.onblocked = () => (seen.blocked = true);
      request.onupgradeneeded = () => (seen.upgraded = true);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return { seen, opened };
  }

  it('the old tabs close their connections at once, report it, give up the lock, and never block the upgrade', async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ offline: true });
    await follower.client.resource(todos).create({ id: 'kept', title: 'Queued before the upgrade', done: false });

    const { seen, opened } = upgrade(b.indexedDB, DB_VERSION + 1);
    const db = await Promise.race([
      opened,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the upgrade hung')), 2000)),
    ]);
    expect(seen).toEqual({ blocked: false, upgraded: true });
    for (const d of [leader, follower]) {
      const storageErrors = d.events.flatMap((e) => (e.type === 'storageError' ? [e.error] : []));
      expect(storageErrors).toHaveLength(1);
      expect(storageErrors[0]).toBeInstanceOf(StorageError);
      expect(storageErrors[0]!.message).toContain(`upgraded to version ${DB_VERSION + 1} by a newer tab; reload this page`);
      expect(status(d).lastError).toBe(storageErrors[0]);
      expect(status(d).leader).toBe(false);
      await expect(d.client.resource(todos).create({ id: 'late', title: 'Too late', done: false })).rejects.toBeInstanceOf(StorageError);
      await expect(d.client.resource(todos).update('kept', { done: true })).rejects.toBeInstanceOf(StorageError);
    }
    await until(() => b.locks.held().length === 0, 'the lock released for the newer tab');
    // The queued change is still there for the newer tab to send.
    const queued = await new Promise<unknown[]>((resolve) => {
      const request = db.transaction('outbox').objectStore('outbox').getAll();
      request.onsuccess = () => resolve(request.result);
    });
    expect(queued).toEqual([expect.objectContaining({ id: 'kept', op: 'create' })]);
    db.close();
  });

  it('a tab whose connection the browser had closed finds the upgrade as it opens again: it reports it once, gives up the lock, and its writes reject with it without opening again', async () => {
    const connections: IDBDatabase[] = [];
    class KeepingFactory extends IDBFactory {
      override open(name: string, version?: number): IDBOpenDBRequest {
        const request = super.open(name, version);
        request.addEventListener('success', () => connections.push(request.result));
        return request;
      }
    }
    const b = browser(new KeepingFactory());
    const d = b.tab();
    await until(() => status(d).leader, 'leading');
    await server.admin.faults({ offline: true });
    await d.client.resource(todos).create({ id: 'kept', title: 'Queued before the upgrade', done: false });
    // The browser closed the connection (Safari losing its IndexedDB server), so no versionchange
    // reaches it: a newer tab, loaded meanwhile, upgrades unblocked.
    for (const db of connections) forceCloseDatabase(db as unknown as Parameters<typeof forceCloseDatabase>[0]);
    const { seen, opened } = upgrade(b.indexedDB, DB_VERSION + 1);
    const db = await opened;
    expect(seen).toEqual({ blocked: false, upgraded: true });
    db.close();

    const error = await d.client.resource(todos).update('kept', { done: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/upgraded by a newer version of this app .*reload this page/);
    await until(() => b.locks.held().length === 0, 'the lock released for the newer tab');
    expect(status(d).leader).toBe(false);
    const reported = d.events.flatMap((e) => (e.type === 'storageError' ? [e.error] : []));
    expect(reported).toHaveLength(1);
    expect(status(d).lastError).toBe(reported[0]);
    // Lost for good: later calls reject with it, and nothing opens the database again.
    await expect(d.client.resource(todos).create({ id: 'late', title: 'Too late', done: false })).rejects.toBe(reported[0]);
    await b.clock.advance(120_000);
    expect(d.events.filter((e) => e.type === 'storageError')).toHaveLength(1);
  });

  it("a { wait: 'server' } made before the upgrade rejects with the tab's StorageError, in the tab that leads and in the one that follows, rather than never settling", async () => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    await server.admin.faults({ offline: true });
    const waits = [leader, follower].map((d, i) =>
      outcomeOf(d.client.resource(todos).create({ id: `w${i}`, title: 'Waiting for the server', done: false }, { wait: 'server' }), 'the wait'),
    );
    await until(() => [leader, follower].every((d) => d.events.some((e) => e.type === 'enqueued')), 'the writes stored');
    const { opened } = upgrade(b.indexedDB, DB_VERSION + 1);
    const db = await opened;
    for (const [i, d] of [leader, follower].entries()) {
      const outcome = await waits[i]!;
      expect(outcome).toEqual({ error: expect.any(StorageError) });
      // The error the tab reported: a request already out when the storage went may fail after it and be lastError since.
      expect(d.events.filter((e) => e.type === 'storageError').map((e) => (e as { error: unknown }).error)).toEqual([(outcome as { error: unknown }).error]);
    }
    db.close();
  });

  it("a { wait: 'server' } whose write commits as the upgrade comes (in its transaction) rejects with the tab's StorageError, never hangs", async () => {
    /** Once armed, the newer tab's upgrade reaches the connection as its next read-write transaction starts. */
    class UpgradedDuringWrite extends IDBFactory {
      armed = false;
      override open(name: string, version?: number): IDBOpenDBRequest {
        const request = super.open(name, version);
        request.addEventListener('success', () => {
          const db = request.result;
          const original = db.transaction.bind(db);
          db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
            const tx = original(...args);
            if (this.armed && args[1] === 'readwrite') {
              this.armed = false;
              db.dispatchEvent(new IDBVersionChangeEvent('versionchange', { oldVersion: DB_VERSION, newVersion: DB_VERSION + 1 }));
            }
            return tx;
          }) as IDBDatabase['transaction'];
        });
        return request;
      }
    }
    const factory = new UpgradedDuringWrite();
    const b = browser(factory);
    const d = b.tab();
    await until(() => status(d).leader, 'leading');
    await server.admin.faults({ offline: true });
    await d.client.resource(todos).list();
    factory.armed = true;
    const outcome = await outcomeOf(d.client.resource(todos).create({ id: 'w', title: 'Waiting for the server', done: false }, { wait: 'server' }), 'the wait');
    expect(outcome).toEqual({ error: expect.any(StorageError) });
    expect((outcome as { error: unknown }).error).toBe(status(d).lastError);
  });

  it('a tab whose connection hears the upgrade while it loads the outbox never leads: the lock stays free for the newer tab', async () => {
    /** The newer tab's upgrade reaches the first connection while its first transaction (the outbox load) runs. */
    class UpgradedDuringLoad extends IDBFactory {
      override open(name: string, version?: number): IDBOpenDBRequest {
        const request = super.open(name, version);
        request.addEventListener('success', () => {
          const db = request.result;
          const original = db.transaction.bind(db);
          let first = true;
          db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
            const tx = original(...args);
            if (first) {
              first = false;
              db.dispatchEvent(new IDBVersionChangeEvent('versionchange', { oldVersion: DB_VERSION, newVersion: DB_VERSION + 1 }));
            }
            return tx;
          }) as IDBDatabase['transaction'];
        });
        return request;
      }
    }
    const b = browser(new UpgradedDuringLoad());
    const d = b.tab();
    await until(() => d.events.some((e) => e.type === 'storageError'), 'the upgrade reported');
    // Granting a lock takes a task: give a request made meanwhile its chance.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(status(d).leader).toBe(false);
    expect(b.locks.held()).toEqual([]);
    expect(b.locks.waiting()).toBe(0);
  });

  it('a leader with a request out when the upgrade comes does not say it is syncing from then on: it sends nothing more', async () => {
    let answer = () => undefined as void;
    const held = new Promise<void>((resolve) => (answer = resolve));
    const writes: typeof fetch = async (input, init) => {
      const method = input instanceof Request ? input.method : (init?.method ?? 'GET');
      if (method !== 'GET') await held;
      return fetch(input, init);
    };
    const b = browser();
    const d = b.tab({ fetch: writes });
    await until(() => status(d).leader, 'leading');
    await d.client.resource(todos).create({ id: 'out', title: 'Out when the upgrade comes', done: false });
    await until(() => status(d).syncing, 'the request out');

    const { opened } = upgrade(b.indexedDB, DB_VERSION + 1);
    const db = await opened;
    answer();
    await until(() => d.events.some((e) => e.type === 'storageError'), 'the upgrade reported');
    await until(async () => (await ledger()).length === 1, 'the request answered');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(status(d)).toMatchObject({ leader: false, syncing: false });
    db.close();
  });

  it('reports `blocked` when a connection elsewhere does not let go, and finishes once it does', async () => {
    const b = browser();
    const d = b.tab();
    await until(() => status(d).leader, 'open');
    // A connection that ignores versionchange, as an old page without harborsync's handler would.
    const stubborn = await new Promise<IDBDatabase>((resolve) => {
      const request = b.indexedDB.open(DB_NAME);
      request.onsuccess = () => resolve(request.result);
    });
    let cleared = false;
    const clearing = d.client.clear().then(() => (cleared = true));
    await until(() => d.events.some((e) => e.type === 'storageError'), 'blocked reported');
    const error = d.events.find((e) => e.type === 'storageError')!;
    expect(error).toMatchObject({ error: expect.any(StorageError) });
    expect((error as { error: Error }).error.message).toMatch(/blocked/);
    expect(status(d).lastError?.message).toMatch(/blocked/);
    expect(cleared).toBe(false);
    const late = d.client.resource(todos).create({ id: 'late', title: 'Made while deleting', done: false });
    stubborn.close();
    await clearing;
    expect(cleared).toBe(true);
    // Made while the database was being deleted: it waited, and went to the fresh one.
    await late;
    await d.client.flush();
    expect(await applied()).toEqual(['create late']);
  });
});

describe("clear() in one tab while the other's request is out", () => {
  /**
   * A fetch that holds every write until released, as if it had reached the server: the clear()
   * aborting it does not stop the server applying it. Reads go through.
   */
  function heldWrites() {
    const held: Array<() => void> = [];
    const gated: typeof fetch = async (input, init) => {
      const method = input instanceof Request ? input.method : (init?.method ?? 'GET');
      if (method === 'GET') return fetch(input, init);
      await new Promise<void>((resolve) => held.push(resolve));
      return fetch(new Request(input, { ...init, signal: null }));
    };
    return { fetch: gated, held, release: () => held.splice(0).forEach((go) => go()) };
  }

  it("the old request's answer does not settle a change made since to the same entity (the fresh database numbers entries from 1 again): that change is sent", async () => {
    const b = browser();
    const writes = heldWrites();
    const [leader, follower] = await roles(b.tab({ fetch: writes.fetch }), b.tab({ fetch: writes.fetch }));
    await follower.client.resource(todos).create({ id: 'a', title: 'Before the clear', done: false });
    await until(() => writes.held.length === 1, "the leader's request out");

    await follower.client.clear({ discardPending: true });
    const again = outcomeOf(follower.client.resource(todos).create({ id: 'a', title: 'After the clear', done: false }, { wait: 'server' }));
    await until(() => status(leader).pending === 1, 'the new change, in the leader');
    await until(() => {
      writes.release();
      return status(leader).pending === 0 && status(follower).pending === 0;
    }, 'nothing pending');

    // Sent, it meets the discarded create the server applied anyway: a conflict, not a false success.
    expect(sentIds(leader)).toEqual(['a', 'a']);
    const { error } = (await again) as { error: unknown };
    expect(error).toBeInstanceOf(ConflictError);
    expect(await storedTodo(b, 'a')).toMatchObject({ view: { title: 'After the clear' } });
    await until(() => status(leader).conflicts === 1 && status(follower).conflicts === 1, 'the conflict counted in both tabs');
    expect(await applied()).toEqual(['create a']);
  });
});

describe("clear() in one tab while the other reads the database", () => {
  /** An IDBFactory that runs `onDelete` as a database deletion is requested: what the test does there comes as the clear() deletes. */
  class DeletionHookFactory extends IDBFactory {
    onDelete: (() => void) | null = null;
    override deleteDatabase(name: string): IDBOpenDBRequest {
      const hook = this.onDelete;
      this.onDelete = null;
      hook?.();
      return super.deleteDatabase(name);
    }
  }

  it("the load, read from the database before its deletion, does not bring the deleted data back: the view starts empty and the feed is read from its start", async () => {
    const factory = new DeletionHookFactory();
    const b = browser(factory);
    const [clearing, other] = await roles(b.tab(), b.tab());
    await clearing.client.resource(todos).create({ id: 'x', title: 'Before the clear', done: false }, { wait: 'server' });
    await until(() => status(other).pending === 0, 'x confirmed in the other tab');
    // Offline, the other tab shows what it holds and pulls nothing.
    other.online.next(false);
    let inOther: { readonly value: QueryState<Todo> | undefined } = { value: undefined };
    // The other tab's first subscriber comes as the database is deleted: its load is out.
    factory.onDelete = () => (inOther = latest(other.client.resource(todos).query$()));

    await clearing.client.clear();
    await until(() => inOther.value?.status === 'success', 'the other tab loaded');
    await settle(10);
    expect(ids(inOther.value)).toEqual([]);

    const before = other.calls.length;
    other.online.next(true);
    await until(() => ids(inOther.value).includes('x') && !inOther.value!.isFetching, 'x pulled again');
    expect(other.calls.slice(before)).toEqual([expect.stringMatching(/\/todos\?since=$/)]);
    expect(await storedTodo(b, 'x')).toMatchObject({ view: { title: 'Before the clear' } });
  });

  /** Once armed, another tab's clear() deletes the database as this connection's next read-write transaction starts. */
  class DeletedDuringWrite extends IDBFactory {
    armed = false;
    /** Read-write transactions to let pass once armed, before the one the deletion comes in. */
    skip = 0;
    override open(name: string, version?: number): IDBOpenDBRequest {
      const request = super.open(name, version);
      request.addEventListener('success', () => {
        const db = request.result;
        const original = db.transaction.bind(db);
        db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
          const tx = original(...args);
          if (this.armed && args[1] === 'readwrite' && this.skip-- === 0) {
            this.armed = false;
            db.dispatchEvent(new IDBVersionChangeEvent('versionchange', { oldVersion: DB_VERSION, newVersion: null }));
            this.deleteDatabase(name);
          }
          return tx;
        }) as IDBDatabase['transaction'];
      });
      return request;
    }
  }

  it('a write whose transaction commits as the deletion is heard went with the deleted database: it is refused with PendingMutationsError, not shown or counted as pending', async () => {
    const factory = new DeletedDuringWrite();
    const b = browser(factory);
    const d = b.tab();
    d.online.next(false);
    const shown = latest(d.client.resource(todos).query$());
    await until(() => shown.value?.status === 'success', 'loaded');
    factory.armed = true;
    const outcome = await outcomeOf(d.client.resource(todos).create({ id: 'x', title: 'Made as the other tab logs out', done: false }), 'the write');
    expect(outcome).toEqual({ error: expect.any(PendingMutationsError) });
    await settle(10);
    expect(ids(shown.value)).toEqual([]);
    expect(status(d).pending).toBe(0);
    expect(await storedTodo(b, 'x')).toBeUndefined();
  });

  it("a refused change's retry() whose transaction commits as the deletion is heard went with the deleted database: it rejects with PendingMutationsError, nothing shown or pending", async () => {
    const factory = new DeletedDuringWrite();
    const b = browser(factory);
    const d = b.tab();
    const shown = latest(d.client.resource(todos).query$());
    await server.admin.faults({ failStatus: { status: 422, match: 'Refused', count: 1 } });
    await d.client.resource(todos).create({ id: 'x', title: 'Refused', done: false });
    await until(() => status(d).failed === 1, 'the create refused');
    d.online.next(false);
    const [failed] = latest(d.client.failed$).value!;
    factory.armed = true;
    expect(await outcomeOf(failed!.retry(), 'retry()')).toEqual({ error: expect.any(PendingMutationsError) });
    await settle(10);
    expect(ids(shown.value)).toEqual([]);
    expect(status(d)).toMatchObject({ pending: 0, failed: 0 });
  });

  it("a server answer whose transaction commits as the deletion is heard went with the deleted database: the entity is not shown again", async () => {
    const factory = new DeletedDuringWrite();
    const b = browser(factory);
    const d = b.tab();
    await until(() => status(d).leader, 'leading');
    const h = d.client.resource(todos);
    d.online.next(false);
    await h.create({ id: 'x', title: 'Answered as the other tab logs out', done: false });
    // The first read-write transaction freezes the entry; the second stores the answer.
    factory.skip = 1;
    factory.armed = true;
    d.online.next(true);
    await until(async () => (await ledger()).length === 1 && !factory.armed, 'the answer stored');
    await settle(10);
    expect(await h.list()).toEqual([]);
    expect(status(d).pending).toBe(0);
    expect(await storedTodo(b, 'x')).toBeUndefined();
  });

  it("a hint's re-read, waiting behind another transaction as the database is deleted, does not show what the deleted database held", async () => {
    const b = browser();
    // The other tab's view of the shared factory, counting the reads of entities it starts.
    const counting = countingTransactions(b.indexedDB, (stores, mode) => mode !== 'readwrite' && stores.includes('entities'));
    const entityReads = counting.started;
    const clearing = b.tab();
    const other = b.tab({ indexedDB: counting.indexedDB });
    await roles(clearing, other);
    const inOther = latest(other.client.resource(todos).query$());
    await clearing.client.resource(todos).create({ id: 'x', title: 'Before the clear', done: false }, { wait: 'server' });
    await until(() => status(other).pending === 0 && ids(inOther.value).includes('x'), 'x confirmed in the other tab');
    other.online.next(false);
    // Another connection (another page of the app, say) holds the entities while the hint arrives.
    const raw = await openRaw(b.indexedDB, DB_NAME);
    let holding = true;
    raw.onversionchange = () => {
      holding = false;
      raw.close();
    };
    const holder = raw.transaction('entities', 'readwrite');
    const hold = () => {
      if (holding) holder.objectStore('entities').get(['', '']).onsuccess = hold;
    };
    hold();
    const reads = entityReads();
    // A pull in a third tab changed x.
    const third = new b.hub.Channel(`harborsync:${NAMESPACE}`);
    third.postMessage({ t: 'changed', r: 'todos', ids: ['x'], outbox: false });
    third.close();
    await until(() => entityReads() > reads, "the other tab's read of x, waiting");

    await clearing.client.clear();
    await until(() => inOther.value?.status === 'success', 'the other tab loaded again');
    await settle(20);
    expect(ids(inOther.value)).toEqual([]);
  });
});

describe("a follower's { wait: 'server' } whose 'settled' message is lost", () => {
  it('rejects when the leader parks the change, refused or in conflict: the re-read outbox says so', async () => {
    const b = browser();
    const [, follower] = await roles(b.tab(), b.tab());
    const elsewhere = device(server.apiUrl, { namespace: NAMESPACE });
    open.push(elsewhere);
    await follower.client.resource(todos).create({ id: 'c', title: 'Shared', done: false }, { wait: 'server' });
    await elsewhere.client.resource(todos).refresh();
    await elsewhere.client.resource(todos).update('c', { title: 'Theirs' }, { wait: 'server' });
    b.hub.drop = (data) => (data as { t?: string }).t === 'settled';

    await server.admin.faults({ failStatus: { count: 1, status: 422, match: 'Refused' } });
    const refused = await outcomeOf(follower.client.resource(todos).create({ id: 'r', title: 'Refused', done: false }, { wait: 'server' }));
    expect((refused as { error: unknown }).error).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ error: { status: 422, resource: 'todos', id: 'r' } });

    const conflicted = await outcomeOf(follower.client.resource(todos).update('c', { title: 'Mine' }, { wait: 'server' }));
    expect((conflicted as { error: unknown }).error).toBeInstanceOf(ConflictError);
    expect(conflicted).toMatchObject({ error: { fields: ['title'], resource: 'todos', id: 'c' } });
    expect(status(follower)).toMatchObject({ pending: 0, failed: 1, conflicts: 1 });
  });
  it("rejects with the leader's error as it was: the request's method and URL, the status, the issues the schema found", async () => {
    let malformed = false;
    const fetchBad: typeof fetch = (input, init) =>
      malformed ? Promise.resolve(new Response(JSON.stringify({ id: 7 }), { status: 201, headers: { 'content-type': 'application/json' } })) : fetch(input, init);
    const b = browser();
    const options = { retry: { maxAttempts: 1 }, fetch: fetchBad };
    const [leader, follower] = await roles(b.tab(options), b.tab(options));
    b.hub.drop = (data) => (data as { t?: string }).t === 'settled';
    const create = async (id: string) => {
      const outcome = await outcomeOf(follower.client.resource(todos).create({ id, title: id, done: false }, { wait: 'server' }));
      const parked = leader.events.find((e) => e.type === 'failed' && e.id === id);
      const fields = (error: unknown) => {
        const { name, method, url, status, issues } = error as Record<string, unknown>;
        return { name, method, url, status, issues };
      };
      return { here: fields((outcome as { error: unknown }).error), leader: fields((parked as { error: unknown }).error) };
    };

    await server.admin.faults({ failStatus: { count: 1, status: 422, match: 'refused' } });
    const refused = await create('refused');
    expect(refused.here).toEqual(refused.leader);
    expect(refused.here).toMatchObject({ name: 'HttpError', method: 'POST', status: 422 });
    expect(refused.here.url).toMatch(/\/todos$/);

    await server.admin.faults({ offline: true });
    const unanswered = await create('unanswered');
    expect(unanswered.here).toEqual(unanswered.leader);
    expect(unanswered.here).toMatchObject({ name: 'NetworkError', method: 'POST' });
    expect(unanswered.here.url).toMatch(/\/todos$/);
    await server.admin.faults({ offline: false });

    malformed = true;
    const unreadable = await create('unreadable');
    expect(unreadable.here).toEqual(unreadable.leader);
    expect(unreadable.here).toMatchObject({
      name: 'SchemaError',
      issues: [{ field: '', message: expect.any(String) }, ...['id', 'title', 'done', 'version'].map((field) => ({ field, message: expect.any(String) }))],
    });
  });
  it('rejects with the class of the failures the leader parked it after: no answer, an answer the schema refuses', async () => {
    // Each attempt the only one allowed: the first failure parks the change.
    let malformed = false;
    const fetchBad: typeof fetch = (input, init) =>
      malformed ? Promise.resolve(new Response(JSON.stringify({ id: 7 }), { status: 201, headers: { 'content-type': 'application/json' } })) : fetch(input, init);
    const b = browser();
    const options = { retry: { maxAttempts: 1 }, fetch: fetchBad };
    const [, follower] = await roles(b.tab(options), b.tab(options));
    b.hub.drop = (data) => (data as { t?: string }).t === 'settled';

    await server.admin.faults({ offline: true });
    const unanswered = await outcomeOf(follower.client.resource(todos).create({ id: 'n', title: 'No answer', done: false }, { wait: 'server' }));
    expect((unanswered as { error: unknown }).error).toBeInstanceOf(NetworkError);
    expect(unanswered).toMatchObject({ error: { code: 'NETWORK', resource: 'todos', id: 'n' } });
    await server.admin.faults({ offline: false });

    malformed = true;
    const refused = await outcomeOf(follower.client.resource(todos).create({ id: 's', title: 'Bad answer', done: false }, { wait: 'server' }));
    expect((refused as { error: unknown }).error).toBeInstanceOf(SchemaError);
    expect(refused).toMatchObject({ error: { code: 'SCHEMA', resource: 'todos', id: 's' } });
    expect(status(follower)).toMatchObject({ pending: 0, failed: 2 });
  });
});

describe("clear() in one tab while the other's answer is being checked", () => {
  it("an answer that arrived before the deletion but is stored after it does not settle the change made since", async () => {
    // todos whose schema answers asynchronously; one validation (the answer's) is held while armed.
    const gate = { armed: false, held: null as null | (() => void) };
    const schema: StandardSchemaV1<unknown, Todo> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        async validate(value) {
          const v = value as Record<string, unknown>;
          if (gate.armed && v['title'] === 'Before the clear' && typeof v['version'] === 'number') {
            gate.armed = false;
            await new Promise<void>((resolve) => (gate.held = resolve));
          }
          return todoSchema['~standard'].validate(value) as Awaited<ReturnType<StandardSchemaV1<unknown, Todo>['~standard']['validate']>>;
        },
      },
    };
    const gated = defineResource({ name: 'todos', schema, delta: true });
    const b = browser();
    const [leader, follower] = await roles(b.tab({ resources: [gated] }), b.tab({ resources: [gated] }));
    // Armed as the request leaves: the leader checks the change before it sends it too.
    const sending = leader.client.events$.subscribe((e) => {
      if (e.type === 'sent' && e.id === 'a') {
        gate.armed = true;
        sending.unsubscribe();
      }
    });
    await follower.client.resource(gated).create({ id: 'a', title: 'Before the clear', done: false });
    await until(() => gate.held !== null, "the leader checking the answer");

    await follower.client.clear({ discardPending: true });
    const again = outcomeOf(follower.client.resource(gated).create({ id: 'a', title: 'After the clear', done: false }, { wait: 'server' }));
    await until(() => status(leader).pending === 1, 'the new change, in the leader');
    gate.held!();
    await until(() => status(leader).pending === 0 && status(follower).pending === 0, 'nothing pending');

    expect(sentIds(leader)).toEqual(['a', 'a']);
    expect(((await again) as { error?: unknown }).error).toBeInstanceOf(ConflictError);
  });
});

describe('a change the old leader sent, and a new leader', () => {
  /** Tab messages about the queue: what a tab tells of the answers it stored. */
  const aboutTheQueue = (data: unknown) => ['changed', 'outbox', 'settled'].includes((data as { t?: string }).t ?? '');

  /**
   * The second tab's change, sent by the first; the server applied it, its answer is held. The
   * first tab then stands down with its request out; the second leads, offline for now, and reads
   * the change as frozen. `created` is the change's { wait: 'server' }.
   */
  async function frozenByTheNewLeader() {
    const b = browser();
    const writes = heldAnswers((request) => request.method !== 'GET');
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ suspended, fetch: writes.fetch });
    await until(() => status(first).leader, 'the first tab to lead');
    const second = b.tab();
    await until(() => b.locks.waiting() === 1, 'the second tab to queue');
    writes.hold();
    const created = outcomeOf(second.client.resource(todos).create({ id: 'x', title: 'Sent once', done: false }, { wait: 'server' }));
    await until(async () => (await ledger()).length === 1, 'the change applied at the server');
    second.online.next(false);
    suspended.next(true);
    await until(() => status(second).leader, 'the second tab to lead');
    await settle(20);
    return { b, writes, first, second, created };
  }

  /** Another connection holds the outbox in a read-write transaction until the returned function is called: the tabs' transactions on it wait. */
  async function outboxHeld(b: Browser): Promise<() => void> {
    const raw = await openRaw(b.indexedDB, DB_NAME);
    let holding = true;
    const holder = raw.transaction('outbox', 'readwrite');
    const hold = () => {
      if (holding) holder.objectStore('outbox').get(0).onsuccess = hold;
    };
    hold();
    return () => {
      holding = false;
      raw.close();
    };
  }

  it("a frozen change the old leader settles before the new one sends it (its hints not heard yet) is not sent again; its wait and flush() settle once", async () => {
    const { b, writes, first, second, created } = await frozenByTheNewLeader();

    // The old leader stores the answer; what it tells the other tab arrives late.
    b.hub.hold = aboutTheQueue;
    writes.release();
    await until(() => status(first).pending === 0, 'the answer stored by the old leader');
    second.online.next(true);
    const flushed = outcomeOf(second.client.flush(), 'flush() in the new leader');
    await settle(20);
    b.hub.hold = () => false;
    b.hub.release();

    expect(await flushed).toEqual({ value: undefined });
    expect(await created).toEqual({ value: { id: 'x', title: 'Sent once', done: false, version: 1 } });
    await until(() => status(second).pending === 0, 'nothing pending in the new leader');
    expect(sentIds(first)).toEqual(['x']);
    expect(sentIds(second)).toEqual([]);
    const settledMessages = b.hub.posted.filter((m) => (m.data as { t?: string }).t === 'settled');
    expect(settledMessages).toHaveLength(1);
    expect(await applied()).toEqual(['create x']);
  });

  it("a frozen change the old leader settles, then closes before telling, is not sent again by the new leader; its wait resolves with the stored answer", async () => {
    const { b, writes, first, second, created } = await frozenByTheNewLeader();

    // The old leader stores the answer and closes: what it would tell is lost.
    b.hub.drop = aboutTheQueue;
    writes.release();
    await until(() => status(first).pending === 0, 'the answer stored by the old leader');
    await first.client.close();
    second.online.next(true);
    await second.client.flush();

    expect(await created).toEqual({ value: { id: 'x', title: 'Sent once', done: false, version: 1 } });
    expect(status(second).pending).toBe(0);
    expect(sentIds(second)).toEqual([]);
    expect(await applied()).toEqual(['create x']);
  });

  it('a freeze that commits after its tab stood down sends nothing from that tab, nor once it leads again unheard of the sends since; the new leader sends each change once', async () => {
    const b = browser();
    // The first tab's view of the shared factory, counting the read-write transactions it starts.
    const counting = countingTransactions(b.indexedDB, (_, mode) => mode === 'readwrite');
    const writesStarted = counting.started;
    const suspended = new BehaviorSubject(false);
    const first = b.tab({ suspended, indexedDB: counting.indexedDB });
    await until(() => status(first).leader, 'the first tab to lead');
    const second = b.tab();
    await until(() => b.locks.waiting() === 1, 'the second tab to queue');
    first.online.next(false);
    for (const id of ['a', 'b', 'c']) await first.client.resource(todos).create({ id, title: id, done: false });
    await until(() => status(second).pending === 3, 'the changes heard in the second tab');

    const before = writesStarted();
    const release = await outboxHeld(b);
    first.online.next(true);
    await until(() => writesStarted() > before, "the first tab's freeze, waiting");
    suspended.next(true);
    await until(() => status(second).leader, 'the second tab to lead');
    // What the new leader tells of its sends is lost: the first tab goes by what it knew.
    b.hub.drop = aboutTheQueue;
    release();
    await until(async () => (await ledger()).length === 3 && status(second).pending === 0, 'every change on the server');

    // Back, the first tab leads again once the other closes, and is woken (coming online) while
    // its reads of the outbox wait: it sends none of what it froze.
    const releaseAgain = await outboxHeld(b);
    suspended.next(false);
    await second.client.close();
    await until(() => status(first).leader, 'the first tab to lead again');
    first.online.next(false);
    first.online.next(true);
    await settle(20);
    releaseAgain();
    await first.client.flush();
    await until(() => status(first).pending === 0, 'nothing pending in the first tab');
    expect(sentIds(first)).toEqual([]);
    expect(sentIds(second).sort()).toEqual(['a', 'b', 'c']);
    expect([...first.calls, ...second.calls].filter((call) => call.startsWith('POST'))).toHaveLength(3);
    expect((await applied()).sort()).toEqual(['create a', 'create b', 'create c']);
  });
});

describe('the record of deletions answers made, corrupted in storage', () => {
  /** The meta row LocalStore keeps of the todos its answers deleted, read past harborsync. */
  async function deletionsRow(b: Browser): Promise<unknown> {
    const db = await openRaw(b.indexedDB, DB_NAME);
    try {
      return await result(db.transaction('meta').objectStore('meta').get('deletedAt:todos'));
    } finally {
      db.close();
    }
  }

  it.each([
    ['text', 'deleted'],
    ['a plain object', { d: { at: 1, version: 1 } }],
    ['an array of pairs', [['d', { at: 1, version: 1 }]]],
    [
      'a Map of entries of the wrong shape',
      new Map<unknown, unknown>([
        [7, { at: 1, version: 1 }],
        ['x', null],
        ['y', 'at'],
        ['z', { at: 'soon' }],
        ['d', { at: Number.POSITIVE_INFINITY, version: Number.POSITIVE_INFINITY }],
        ['k', { at: Number.NaN, version: 99 }],
      ]),
    ],
  ])('as %s, it is ignored: every queued change of either tab is sent once, the pulls store what the server holds, and the row is written anew', async (_, corrupted) => {
    const b = browser();
    const [leader, follower] = await roles(b.tab(), b.tab());
    const inLeader = latest(leader.client.resource(todos).query$({ orderBy: 'id' }));
    const inFollower = latest(follower.client.resource(todos).query$({ orderBy: 'id' }));
    for (const id of ['d', 'k']) await follower.client.resource(todos).create({ id, title: id, done: false }, { wait: 'server' });
    const db = await openRaw(b.indexedDB, DB_NAME);
    const tx = db.transaction('meta', 'readwrite');
    tx.objectStore('meta').put(corrupted, 'deletedAt:todos');
    await committed(tx);
    db.close();

    // Queued in both tabs: the answer to the delete records it with what is stored; the pulls read it.
    follower.online.next(false);
    await follower.client.resource(todos).update('k', { done: true });
    await follower.client.resource(todos).delete('d');
    await leader.client.resource(todos).create({ id: 'n', title: 'n', done: false });
    await server.admin.edit({ resource: 'todos', id: 'k', patch: { title: 'theirs' } });
    follower.online.next(true);
    await follower.client.flush();
    await leader.client.resource(todos).refresh();
    await follower.client.resource(todos).refresh();

    expect((await applied()).slice(2).sort()).toEqual(['create n', 'delete d', 'update k', 'update k'].sort());
    const expected = [
      { id: 'k', title: 'theirs', done: true, version: 3 },
      { id: 'n', title: 'n', done: false, version: 1 },
    ];
    await until(() => inLeader.value?.data.length === 2 && inFollower.value?.data.length === 2, 'both views converged');
    expect(inLeader.value!.data).toEqual(expected);
    expect(inFollower.value!.data).toEqual(expected);
    for (const d of [leader, follower]) {
      expect(status(d)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
      expect(d.events.filter((e) => e.type === 'error' || e.type === 'failed')).toEqual([]);
    }
    const row = await deletionsRow(b);
    expect(row).toBeInstanceOf(Map);
    expect([...(row as Map<string, { at: number }>).keys()]).toEqual(['d']);
  });
});
