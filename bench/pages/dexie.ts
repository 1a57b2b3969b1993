// Dexie 4, used as its docs show: a typed table per store, bulkPut, liveQuery, rw transactions.
import Dexie, { liveQuery, type EntityTable } from 'dexie';
import { collectGarbage, heapAfterGc, keep, LIMIT, makeTodos, now, reactionPlan, register, signal, type ReactionResult, type Todo } from './common.js';

interface OutboxRow {
  seq?: number;
  id: string;
  op: 'update';
  payload: Partial<Todo>;
  key: string;
}
type Db = Dexie & { todos: EntityTable<Todo, 'id'>; outbox: EntityTable<OutboxRow, 'seq'> };

function open(): Db {
  const db = new Dexie('dexie-bench') as Db;
  db.version(1).stores({ todos: 'id, title', outbox: '++seq' });
  return db;
}

/** The seeded database of N todos. */
async function loaded(n: number): Promise<{ db: Db; items: Todo[] }> {
  const db = open();
  const count = await db.todos.count();
  if (count !== n) throw new Error(`dexie: ${count} of ${n} seeded`);
  return { db, items: makeTodos(n) };
}

register('dexie', {
  async ingest({ n }) {
    const items = makeTodos(n as number);
    const db = open();
    await db.open();
    const t0 = now();
    await db.todos.bulkPut(items);
    const ms = now() - t0;
    db.close();
    return { ms };
  },

  async seed({ n }) {
    const db = open();
    await db.todos.bulkPut(makeTodos(n as number));
    db.close();
    return {};
  },

  async hydrate({ n }) {
    const before = await heapAfterGc();
    const t0 = now();
    const db = open();
    const all = await db.todos.toArray();
    const ms = now() - t0;
    if (all.length !== n) throw new Error(`dexie hydrate: ${all.length} of ${n}`);
    keep.push(db, all);
    const heap = (await heapAfterGc()) - before;
    return { ms, heap };
  },

  async reaction({ n, single, burst }) {
    const { db, items } = await loaded(n as number);
    let expected: { id: string; title: string; done: (t: number) => void } | null = null;
    const ready = signal();
    // Booleans are not indexable in IndexedDB: walk the title index and filter, as Dexie's docs advise.
    const sub = liveQuery(() => db.todos.orderBy('title').filter((t) => !t.done).limit(LIMIT).toArray()).subscribe({
      next: (rows) => {
        if (rows.length === LIMIT) ready.resolve();
        const top = rows[0];
        if (expected && top && top.id === expected.id && top.title === expected.title) {
          const t = now();
          const e = expected;
          expected = null;
          e.done(t);
        }
      },
    });
    await ready.promise;
    const plan = reactionPlan(items, (single as number) + (burst as number));
    await collectGarbage();
    const result: ReactionResult = { single: [], burst: 0 };
    for (let k = 0; k < (single as number); k++) {
      const { id, title } = plan[k]!;
      const seen = signal<number>();
      expected = { id, title, done: seen.resolve };
      const t0 = now();
      const write = db.todos.update(id, { title });
      result.single.push((await seen.promise) - t0);
      await write;
    }
    const last = plan[plan.length - 1]!;
    const seen = signal<number>();
    expected = { id: last.id, title: last.title, done: seen.resolve };
    const writes: Array<Promise<unknown>> = [];
    const t0 = now();
    for (let k = single as number; k < plan.length; k++) writes.push(db.todos.update(plan[k]!.id, { title: plan[k]!.title }));
    result.burst = (await seen.promise) - t0;
    await Promise.all(writes);
    sub.unsubscribe();
    db.close();
    return result;
  },

  /** The same work as the others: the entity and an outbox row in one transaction. */
  async durable({ n, count }) {
    const { db, items } = await loaded(n as number);
    let durability = '';
    await collectGarbage();
    const t0 = now();
    for (let i = 0; i < (count as number); i++) {
      const { id } = items[i % items.length]!;
      const title = `w${i}`;
      await db.transaction('rw', db.todos, db.outbox, async (tx) => {
        durability ||= (tx.idbtrans as IDBTransaction & { durability?: string }).durability ?? '';
        await db.todos.update(id, { title });
        await db.outbox.add({ id, op: 'update', payload: { title }, key: crypto.randomUUID() });
      });
    }
    const ms = now() - t0;
    db.close();
    return { ms, durability };
  },
});
