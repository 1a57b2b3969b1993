// TanStack DB 0.15 as its docs show: a local-only collection, a live query collection
// (where / orderBy / limit) observed with subscribeChanges; for durable writes, a collection
// under @tanstack/offline-transactions, whose outbox is its durability.
import { createCollection, createLiveQueryCollection, eq, localOnlyCollectionOptions } from '@tanstack/db';
import { IndexedDBAdapter, startOfflineExecutor, type OnlineDetector } from '@tanstack/offline-transactions';
// offline-transactions 1.0.53 depends on its own exact @tanstack/db (0.8.7, nested under it): a
// collection from the top-level 0.15.2 does not see its transactions, so the collection it
// manages comes from that copy, as an app installing both would have to do.
import { createCollection as createOfflineCollection } from '../../node_modules/@tanstack/offline-transactions/node_modules/@tanstack/db/dist/esm/index.js';
import { collectGarbage, LIMIT, makeTodos, now, reactionPlan, recordDurability, register, signal, type ReactionResult, type Todo } from './common.js';

/** Never online: the executor keeps every transaction in its outbox. */
const offline: OnlineDetector = {
  subscribe: () => () => undefined,
  notifyOnline: () => undefined,
  isOnline: () => false,
  dispose: () => undefined,
};

/** The documented IndexedDB storage, reporting when each outbox write has landed. */
class ObservedAdapter extends IndexedDBAdapter {
  onSet: (() => void) | null = null;
  override async set(key: string, value: string): Promise<void> {
    await super.set(key, value);
    const done = this.onSet;
    this.onSet = null;
    done?.();
  }
}

register('tanstack', {
  async reaction({ n, single, burst }) {
    const items = makeTodos(n as number);
    const todos = createCollection(localOnlyCollectionOptions<Todo, string>({ id: 'todos', getKey: (t) => t.id, initialData: items }));
    const live = createLiveQueryCollection((q) =>
      q
        .from({ todo: todos })
        .where(({ todo }) => eq(todo.done, false))
        .orderBy(({ todo }) => todo.title, 'asc')
        .limit(LIMIT),
    );
    await live.preload();
    if (live.size !== LIMIT) throw new Error(`tanstack live query: ${live.size} rows`);
    let expected: { id: string; title: string; done: (t: number) => void } | null = null;
    const sub = live.subscribeChanges((changes) => {
      if (!expected) return;
      for (const change of changes) {
        if (change.type !== 'delete' && change.key === expected.id && change.value.title === expected.title) {
          const t = now();
          const e = expected;
          expected = null;
          e.done(t);
          return;
        }
      }
    });
    const plan = reactionPlan(items, (single as number) + (burst as number));
    await collectGarbage();
    const result: ReactionResult = { single: [], burst: 0 };
    const update = (k: number) =>
      todos.update(plan[k]!.id, (draft) => {
        draft.title = plan[k]!.title;
      });
    for (let k = 0; k < (single as number); k++) {
      const { id, title } = plan[k]!;
      const seen = signal<number>();
      expected = { id, title, done: seen.resolve };
      const t0 = now();
      const tx = update(k);
      result.single.push((await seen.promise) - t0);
      await tx.isPersisted.promise;
    }
    const last = plan[plan.length - 1]!;
    const seen = signal<number>();
    expected = { id: last.id, title: last.title, done: seen.resolve };
    const writes: Array<Promise<unknown>> = [];
    const t0 = now();
    for (let k = single as number; k < plan.length; k++) writes.push(update(k).isPersisted.promise);
    result.burst = (await seen.promise) - t0;
    await Promise.all(writes);
    sub.unsubscribe();
    return result;
  },

  /** Sequential offline transactions, each awaited until its outbox entry is stored. */
  async durable({ n, count }) {
    const durability = recordDurability();
    const items = makeTodos(n as number);
    const todos = createOfflineCollection<Todo, string>({
      id: 'todos',
      getKey: (t) => t.id,
      sync: {
        sync: ({ begin, write, commit, markReady }) => {
          begin();
          for (const value of items) write({ type: 'insert', value });
          commit();
          markReady();
        },
      },
    });
    await todos.preload();
    const storage = new ObservedAdapter('tanstack-bench', 'transactions');
    const executor = startOfflineExecutor({
      collections: { todos },
      mutationFns: { syncTodos: async () => undefined },
      storage,
      onlineDetector: offline,
    });
    await executor.waitForInit();
    if (!executor.isOfflineEnabled) throw new Error('tanstack: the offline executor is not enabled (not the leader?)');
    await collectGarbage();
    const t0 = now();
    for (let i = 0; i < (count as number); i++) {
      const { id } = items[i % items.length]!;
      const stored = signal();
      storage.onSet = stored.resolve;
      const tx = executor.createOfflineTransaction({ mutationFnName: 'syncTodos', autoCommit: false });
      tx.mutate(() =>
        todos.update(id, (draft) => {
          draft.title = `w${i}`;
        }),
      );
      // commit() settles only when the server has the change; durability is the outbox write.
      void tx.commit().catch(() => undefined);
      await stored.promise;
    }
    const ms = now() - t0;
    executor.dispose();
    return { ms, durability: durability() };
  },
});
