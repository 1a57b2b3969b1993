// RxDB 17 with its free IndexedDB storage (Dexie-based), used as its docs show: a JSON schema
// with an index for the sorted query, bulkInsert, RxQuery.$, RxDocument.incrementalPatch.
import { createRxDatabase, type RxCollection, type RxDatabase, type RxDocument } from 'rxdb';
import { getRxStorageDexie } from 'rxdb/plugins/storage-dexie';
import { collectGarbage, heapAfterGc, keep, LIMIT, makeTodos, now, reactionPlan, recordDurability, register, signal, type ReactionResult, type Todo } from './common.js';

const schema = {
  version: 0,
  primaryKey: 'id',
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 32 },
    title: { type: 'string', maxLength: 64 },
    done: { type: 'boolean' },
    version: { type: 'integer' },
  },
  required: ['id', 'title', 'done', 'version'],
  indexes: ['title'],
} as const;

type Todos = RxCollection<Todo>;

async function open(): Promise<{ db: RxDatabase; todos: Todos }> {
  const db = await createRxDatabase({ name: 'rxdbbench', storage: getRxStorageDexie() });
  const { todos } = await db.addCollections({ todos: { schema } });
  return { db, todos: todos as Todos };
}

/** The seeded database of N todos. */
async function loaded(n: number) {
  const { db, todos } = await open();
  const count = await todos.count().exec();
  if (count !== n) throw new Error(`rxdb: ${count} of ${n} seeded`);
  return { db, todos, items: makeTodos(n) };
}

async function docs(todos: Todos, ids: string[]): Promise<Map<string, RxDocument<Todo>>> {
  return (await todos.findByIds([...new Set(ids)]).exec()) as Map<string, RxDocument<Todo>>;
}

register('rxdb', {
  async ingest({ n }) {
    const items = makeTodos(n as number);
    const { db, todos } = await open();
    const t0 = now();
    const { error } = await todos.bulkInsert(items);
    const ms = now() - t0;
    if (error.length) throw new Error(`rxdb ingest: ${error.length} errors`);
    await db.close();
    return { ms };
  },

  async seed({ n }) {
    const { db, todos } = await open();
    const { error } = await todos.bulkInsert(makeTodos(n as number));
    if (error.length) throw new Error(`rxdb seed: ${error.length} errors`);
    await db.close();
    return {};
  },

  async hydrate({ n }) {
    const before = await heapAfterGc();
    const t0 = now();
    const { db, todos } = await open();
    const all = await todos.find().exec();
    const ms = now() - t0;
    if (all.length !== n) throw new Error(`rxdb hydrate: ${all.length} of ${n}`);
    keep.push(db, all);
    const heap = (await heapAfterGc()) - before;
    return { ms, heap };
  },

  async reaction({ n, single, burst }) {
    const { db, todos, items } = await loaded(n as number);
    const plan = reactionPlan(items, (single as number) + (burst as number));
    await collectGarbage();
    const byId = await docs(todos, plan.map((p) => p.id));
    let expected: { id: string; title: string; done: (t: number) => void } | null = null;
    const ready = signal();
    const query = todos.find({ selector: { done: false }, sort: [{ title: 'asc' }], limit: LIMIT });
    const sub = query.$.subscribe((rows) => {
      if (rows.length === LIMIT) ready.resolve();
      const top = rows[0];
      if (expected && top && top.id === expected.id && top.title === expected.title) {
        const t = now();
        const e = expected;
        expected = null;
        e.done(t);
      }
    });
    await ready.promise;
    const result: ReactionResult = { single: [], burst: 0 };
    const patch = (k: number) => byId.get(plan[k]!.id)!.incrementalPatch({ title: plan[k]!.title });
    for (let k = 0; k < (single as number); k++) {
      const { id, title } = plan[k]!;
      const seen = signal<number>();
      expected = { id, title, done: seen.resolve };
      const t0 = now();
      const write = patch(k);
      result.single.push((await seen.promise) - t0);
      await write;
    }
    const last = plan[plan.length - 1]!;
    const seen = signal<number>();
    expected = { id: last.id, title: last.title, done: seen.resolve };
    const writes: Array<Promise<unknown>> = [];
    const t0 = now();
    for (let k = single as number; k < plan.length; k++) writes.push(patch(k));
    result.burst = (await seen.promise) - t0;
    await Promise.all(writes);
    sub.unsubscribe();
    await db.close();
    return result;
  },

  async durable({ n, count }) {
    const durability = recordDurability();
    const { db, todos, items } = await loaded(n as number);
    const ids = Array.from({ length: count as number }, (_, i) => items[i % items.length]!.id);
    const byId = await docs(todos, ids);
    await collectGarbage();
    const t0 = now();
    for (let i = 0; i < ids.length; i++) await byId.get(ids[i]!)!.incrementalPatch({ title: `w${i}` });
    const ms = now() - t0;
    await db.close();
    return { ms, durability: durability() };
  },
});
