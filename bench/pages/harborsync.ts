// harborsync, bundled from src/ (the current source), used as its README shows.
import { BehaviorSubject, filter, firstValueFrom } from 'rxjs';
import { createSyncClient, defineResource, type QueryState, type SyncClient, type Transport } from '../../src/index.js';
import {
  collectGarbage,
  heapAfterGc,
  keep,
  LIMIT,
  makeTodos,
  mark,
  now,
  reactionPlan,
  register,
  signal,
  todoSchema,
  type ReactionResult,
  type Todo,
} from './common.js';

const todos = defineResource({ name: 'todos', schema: todoSchema });

/** A transport whose list answer is already in memory: ingest measures the client, not the network. */
function listTransport(answer: () => unknown[]): Transport {
  const no = () => Promise.reject(new Error('not used by this benchmark'));
  return { list: async () => answer(), delta: no, one: no, query: no, create: no, update: no, remove: no };
}

function client(answer: () => unknown[], online = false): SyncClient {
  return createSyncClient({
    baseUrl: `${location.origin}/api`,
    resources: [todos],
    namespace: 'bench',
    transport: listTransport(answer),
    staleTimeMs: 1e12,
    // Offline: the outbox keeps what is written and sends nothing while a scenario runs.
    online: new BehaviorSubject(online),
  });
}

/** A client of the drain's API through the default REST transport; counts requests by method. */
function restClient(
  apiUrl: string,
  token: string,
  namespace: string,
  online: BehaviorSubject<boolean>,
  count: (method: string) => void,
  maxInFlight?: number,
): SyncClient {
  return createSyncClient({
    baseUrl: apiUrl,
    maxInFlight,
    resources: [todos],
    namespace,
    auth: { getToken: () => token },
    staleTimeMs: 1e12,
    online,
    fetch: (input, init) => {
      count(init?.method ?? (input instanceof Request ? input.method : 'GET'));
      return fetch(input, init);
    },
  });
}

/** A client over the seeded cache of N todos, loaded into its mirror. */
async function loaded(n: number): Promise<{ c: SyncClient; items: Todo[] }> {
  const c = client(() => {
    throw new Error('the seeded cache is fresh: nothing is fetched');
  });
  const count = (await c.resource(todos).list()).length;
  if (count !== n) throw new Error(`harborsync: ${count} of ${n} seeded`);
  return { c, items: makeTodos(n) };
}

register('harborsync', {
  /** A list answer of N: schema validation of each item, one transaction, the mirror. */
  async ingest({ n }) {
    const items = makeTodos(n as number);
    const c = client(() => items);
    const h = c.resource(todos);
    await h.list(); // open the database and hydrate the (empty) mirror first, like the baselines
    await mark('start');
    const t0 = now();
    await h.refresh();
    const ms = now() - t0;
    await mark('stop');
    const count = (await h.list()).length;
    await c.close();
    if (count !== n) throw new Error(`harborsync ingest: ${count} of ${n}`);
    return { ms };
  },

  /** Seeds the template profile: N todos pulled and cached. */
  async seed({ n }) {
    const items = makeTodos(n as number);
    const c = client(() => items);
    await c.resource(todos).refresh();
    await c.close();
    return {};
  },

  /** After a reload: createSyncClient → the first complete list of N from the cache. */
  async hydrate({ n }) {
    const before = await heapAfterGc();
    await mark('start');
    const t0 = now();
    const c = client(() => {
      throw new Error('hydrate must not fetch');
    });
    const state = await firstValueFrom(
      c.resource(todos).query$().pipe(filter((s) => s.status === 'success' && s.data.length === n)),
    );
    const ms = now() - t0;
    await mark('stop');
    keep.push(c, state);
    const heap = (await heapAfterGc()) - before;
    return { ms, heap };
  },

  async reaction({ n, single, burst }) {
    const { c, items } = await loaded(n as number);
    const h = c.resource(todos);
    let expected: { id: string; title: string; done: (t: number) => void } | null = null;
    const ready = signal();
    const sub = h.query$({ where: { done: false }, orderBy: [['title', 'asc']], limit: LIMIT }).subscribe((s: QueryState<Todo>) => {
      if (s.status === 'success' && s.data.length === LIMIT) ready.resolve();
      const top = s.data[0];
      if (expected && top && top.id === expected.id && top.title === expected.title) {
        const t = now();
        const e = expected;
        expected = null;
        e.done(t);
      }
    });
    await ready.promise;
    const plan = reactionPlan(items, (single as number) + (burst as number));
    await collectGarbage();
    const result: ReactionResult = { single: [], burst: 0 };
    await mark('start');
    for (let k = 0; k < (single as number); k++) {
      const { id, title } = plan[k]!;
      const seen = signal<number>();
      expected = { id, title, done: seen.resolve };
      const t0 = now();
      const write = h.update(id, { title });
      result.single.push((await seen.promise) - t0);
      await write; // durable before the next one; not timed
    }
    const last = plan[plan.length - 1]!;
    const seen = signal<number>();
    expected = { id: last.id, title: last.title, done: seen.resolve };
    const writes: Array<Promise<unknown>> = [];
    const t0 = now();
    for (let k = single as number; k < plan.length; k++) writes.push(h.update(plan[k]!.id, { title: plan[k]!.title }));
    result.burst = (await seen.promise) - t0;
    await Promise.all(writes);
    await mark('stop');
    sub.unsubscribe();
    await c.close();
    return result;
  },

  /** Sequential awaited updates, each durable (entity + outbox entry in one strict transaction). */
  async durable({ n, count }) {
    const { c, items } = await loaded(n as number);
    const h = c.resource(todos);
    await collectGarbage();
    await mark('start');
    const t0 = now();
    for (let i = 0; i < (count as number); i++) await h.update(items[i % items.length]!.id, { title: `w${i}` });
    const ms = now() - t0;
    await mark('stop');
    await c.close();
    return { ms, durability: 'strict' };
  },

  /**
   * First page of a live query (not done, by title, 50) on an empty cache, from createSyncClient to
   * the first complete state: `load: 'on-demand'` fetches that page; `load: 'all'` the whole list.
   */
  async firstPage({ apiUrl, token, load }) {
    const resource = defineResource({ name: 'todos', schema: todoSchema, load: load as 'all' | 'on-demand' });
    await mark('start');
    const t0 = now();
    const c = createSyncClient({
      baseUrl: apiUrl as string,
      resources: [resource],
      namespace: `first-page-${String(load)}`,
      auth: { getToken: () => token as string },
      online: new BehaviorSubject(true),
    });
    const state = await firstValueFrom(
      c
        .resource(resource)
        .query$({ where: { done: false }, orderBy: [['title', 'asc']], limit: LIMIT })
        .pipe(filter((s) => s.status === 'success' && !s.isFetching && s.data.length === LIMIT)),
    );
    const ms = now() - t0;
    await mark('stop');
    keep.push(state);
    await c.close();
    return { ms };
  },

  /**
   * Seeds the drain's template profile: the API's todos pulled, then `updates` queued offline
   * (back to back; each is its own transaction, and repeats of an entity coalesce).
   */
  async drainSeed({ apiUrl, token, namespace, updates }) {
    const c = restClient(apiUrl as string, token as string, namespace as string, new BehaviorSubject(false), () => undefined);
    const h = c.resource(todos);
    await h.refresh();
    const list = updates as Array<{ id: string; title: string }>;
    await Promise.all(list.map((u) => h.update(u.id, { title: u.title })));
    const { pending } = await firstValueFrom(c.status$);
    await c.close();
    return { pending };
  },

  /**
   * One tab of the takeover scenario: a client on `namespace` (Web Locks, or the BroadcastChannel
   * election with `locks: false`), started. The leader's page resolves once it leads; a follower's
   * once it has had time to claim (past the election's claim window) and records, in
   * `__leaderAt`, the wall-clock time (`Date.now()`, comparable with the runner's) it starts leading.
   */
  async tabOpen({ namespace, locks, lead }) {
    const c = createSyncClient({
      baseUrl: `${location.origin}/api`,
      resources: [todos],
      namespace: namespace as string,
      transport: listTransport(() => []),
      online: new BehaviorSubject(false),
      ...(locks ? {} : { locks: null }),
    });
    keep.push(c);
    if (lead) {
      await firstValueFrom(c.status$.pipe(filter((s) => s.leader)));
      return { leader: true };
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const leader = (await firstValueFrom(c.status$)).leader;
    c.status$.pipe(filter((s) => s.leader)).subscribe(() => ((globalThis as { __leaderAt?: number }).__leaderAt ??= Date.now()));
    return { leader };
  },

  /** The queued updates delivered once online: from going online to nothing pending. */
  async drain({ apiUrl, token, namespace, expected, maxInFlight }) {
    const online = new BehaviorSubject(false);
    let patches = 0;
    const countPatch = (method: string) => {
      if (method === 'PATCH') patches++;
    };
    const c = restClient(apiUrl as string, token as string, namespace as string, online, countPatch, maxInFlight as number);
    // Started: the outbox is loaded and this tab leads (sends).
    await firstValueFrom(c.status$.pipe(filter((s) => s.leader && s.pending === expected)));
    await mark('start');
    const t0 = now();
    online.next(true);
    await firstValueFrom(c.status$.pipe(filter((s) => s.pending === 0 && s.failed === 0 && s.conflicts === 0)));
    const ms = now() - t0;
    await mark('stop');
    await c.close();
    return { ms, requests: patches };
  },
});
