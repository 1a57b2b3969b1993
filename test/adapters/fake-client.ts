import { BehaviorSubject, Observable, distinctUntilChanged, map } from 'rxjs';
import { z } from 'zod';
import { defineResource } from '../../src/resource.js';
import { INITIAL_STATUS } from '../../src/sync/status.js';
import type {
  Conflict,
  Entity,
  EntityKey,
  EntityOf,
  EntityState,
  FailedMutation,
  Query,
  QueryState,
  ResourceDefinition,
  ResourceHandle,
  SyncClient,
  SyncEvent,
  SyncStatus,
} from '../../src/types.js';

export const todos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
});
export type Todo = EntityOf<typeof todos>;

export const STATUS: SyncStatus = { ...INITIAL_STATUS, leader: true };

type Table = ReadonlyMap<string, Entity> | null;

/**
 * A SyncClient over BehaviorSubjects, enough for the adapters (they depend on the interface only).
 * A table is `null` (loading) until `load()`; queries emit a new state only when their rows change,
 * as the real client's live queries do. `opened`/`active` count subscriptions to every observable.
 */
export function createFakeClient() {
  const tables = new Map<string, BehaviorSubject<Table>>();
  const status = new BehaviorSubject<SyncStatus>(STATUS);
  const conflicts = new BehaviorSubject<Conflict[]>([]);
  const failed = new BehaviorSubject<FailedMutation[]>([]);
  const counts = { opened: 0, active: 0 };
  const queries: Array<Query<Entity> | undefined> = [];

  const counted = <T>(source: Observable<T>): Observable<T> =>
    new Observable<T>((subscriber) => {
      counts.opened += 1;
      counts.active += 1;
      const inner = source.subscribe(subscriber);
      return () => {
        counts.active -= 1;
        inner.unsubscribe();
      };
    });

  const table = (name: string): BehaviorSubject<Table> => {
    let subject = tables.get(name);
    if (!subject) tables.set(name, (subject = new BehaviorSubject<Table>(null)));
    return subject;
  };

  const handle = (name: string): ResourceHandle<Entity> => {
    const rows = table(name);
    const write = (id: string, value: Entity | undefined): Entity | undefined => {
      const next = new Map(rows.value ?? []);
      if (value) next.set(id, value);
      else next.delete(id);
      rows.next(next);
      return value;
    };
    return {
      name,
      get$: (id: EntityKey) =>
        counted(
          rows.pipe(
            map((all) => all?.get(String(id))),
            distinctUntilChanged(),
            map((data): EntityState<Entity> => ({
              data,
              status: rows.value ? 'success' : 'loading',
              error: null,
              isFetching: false,
              pending: false,
            })),
          ),
        ),
      query$: (query?: Query<Entity>) => {
        queries.push(query);
        return counted(
          rows.pipe(
            map((all) => (all ? select([...all.values()], query) : null)),
            distinctUntilChanged((a, b) => a === b || (!!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]))),
            map((data): QueryState<Entity> => ({
              data: data ?? [],
              status: data ? 'success' : 'loading',
              error: null,
              isFetching: !data,
              pendingIds: new Set(),
              lastSyncedAt: data ? 1 : null,
              hasMore: false,
            })),
          ),
        );
      },
      get: async (id) => rows.value?.get(String(id)),
      list: async (query) => select([...(rows.value?.values() ?? [])], query),
      create: async (value) => write(String(value.id), { ...value }) as Entity,
      update: async (id, patch) => write(String(id), { ...rows.value?.get(String(id)), ...patch }) as Entity,
      delete: async (id) => {
        write(String(id), undefined);
      },
      refresh: async () => {},
    };
  };

  const client: SyncClient = {
    resource: ((definition: ResourceDefinition<object> | string) =>
      handle(typeof definition === 'string' ? definition : definition.name)) as SyncClient['resource'],
    status$: counted(status),
    conflicts$: counted(conflicts),
    failed$: counted(failed),
    events$: new Observable<SyncEvent>(),
    flush: async () => {},
    pause: () => {},
    resume: () => {},
    clear: async () => {},
    close: async () => {},
  };

  return {
    client,
    counts,
    /** Every query passed to `query$`, in order. */
    queries,
    status,
    conflicts,
    failed,
    load(name: string, rows: Entity[]): void {
      table(name).next(new Map(rows.map((row) => [String(row['id']), row])));
    },
  };
}

function select(rows: Entity[], query: Query<Entity> | undefined): Entity[] {
  const where = query?.where;
  let out = rows.filter((row) =>
    typeof where === 'function' ? where(row) : Object.entries(where ?? {}).every(([k, v]) => row[k] === v),
  );
  const order = query?.orderBy;
  if (typeof order === 'string') out = out.sort((a, b) => String(a[order]).localeCompare(String(b[order])));
  if (query?.limit !== undefined) out = out.slice(0, query.limit);
  return out;
}

/** A client that fails the test on any use: proves a render never reaches it. */
export function untouchableClient(): SyncClient {
  return new Proxy({} as SyncClient, {
    get(_target, property) {
      throw new Error(`the client was touched: ${String(property)}`);
    },
  });
}
