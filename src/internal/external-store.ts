import type { Observable, Unsubscribable } from 'rxjs';
import type { EntityState, QueryState } from '../types.js';

/** The latest value of an observable, in the shape `useSyncExternalStore` takes. */
export interface ExternalStore<T> {
  /** Adds a listener; returns the function that removes it. */
  subscribe(onChange: () => void): () => void;
  /** The latest value: the same object until the source emits another (throws the source's error). */
  getSnapshot(): T;
}

/**
 * Bridges an observable to `{ subscribe, getSnapshot }` for the React and Vue adapters.
 *
 * Rules:
 * - `open` runs on the first listener only, so a server render (which never subscribes) never
 *   reaches the client or IndexedDB; the last listener leaving closes the source.
 * - The latest value outlives a close, so React's StrictMode unsubscribe/resubscribe keeps the
 *   snapshot's identity; the replayed value on reopening replaces it only if it is another object.
 * - A source error is kept and thrown by `getSnapshot`, which React hands to an error boundary.
 */
export function createExternalStore<T>(open: () => Observable<T>, initial: T): ExternalStore<T> {
  let value = initial;
  let failure: { error: unknown } | null = null;
  let source: Unsubscribable | null = null;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  return {
    subscribe(onChange) {
      // A wrapper per call: the same callback subscribed twice needs two removals.
      const listener = (): void => onChange();
      listeners.add(listener);
      if (!source) {
        const subscription = open().subscribe({
          next: (next) => {
            if (next === value) return;
            value = next;
            notify();
          },
          error: (error: unknown) => {
            failure = { error };
            notify();
          },
        });
        // A listener may have left during a synchronous first emission.
        if (listeners.size > 0) source = subscription;
        else subscription.unsubscribe();
      }
      return () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        source?.unsubscribe();
        source = null;
      };
    },
    getSnapshot() {
      if (failure) throw failure.error;
      return value;
    },
  };
}

/** The parts of a query the adapters compare; typed loosely so any entity's query fits. */
export interface QueryLike {
  where?: unknown;
  orderBy?: unknown;
  limit?: unknown;
}

/**
 * A string equal for two queries that select the same rows, so an inline object literal does not
 * resubscribe on every render. A predicate `where` is left out: see {@link queryPredicate}.
 */
export function queryKey(query: QueryLike | undefined): string {
  const where = query?.where;
  return stable([typeof where === 'function' ? null : where, query?.orderBy, query?.limit]);
}

/** A query's predicate `where`, if it has one, to compare by identity. */
export function queryPredicate(query: QueryLike | undefined): unknown {
  const where = query?.where;
  return typeof where === 'function' ? where : undefined;
}

function stable(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? String(value);
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value instanceof Date) return `Date(${value.getTime()})`;
  const fields = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stable((value as Record<string, unknown>)[key])}`);
  return `{${fields.join(',')}}`;
}

const EMPTY_SET: ReadonlySet<string> = /* @__PURE__ */ new Set<string>();

/** What a live query shows before its first emission, and on the server. */
export const LOADING_QUERY: QueryState<never> = /* @__PURE__ */ Object.freeze({
  data: /* @__PURE__ */ Object.freeze([]) as never[],
  status: 'loading',
  error: null,
  isFetching: false,
  pendingIds: EMPTY_SET,
  lastSyncedAt: null,
  hasMore: false,
});

/** What an entity shows before its first emission, and on the server. */
export const LOADING_ENTITY: EntityState<never> = /* @__PURE__ */ Object.freeze({
  data: undefined,
  status: 'loading',
  error: null,
  isFetching: false,
  pending: false,
});

/** The sync status before the client reports one, and on the server: nothing pending, nothing known. */
export { INITIAL_STATUS } from '../sync/status.js';

/** The conflict and failed lists before the client reports them, and on the server. */
export const EMPTY_LIST: never[] = /* @__PURE__ */ Object.freeze([]) as never[];

/**
 * What an adapter's useSyncClient() gives where the app gave it no client (null: a server render,
 * where there is no IndexedDB, or a page that has not made its client yet): a client that
 * throws, naming why, only when it is used. Used in event handlers and effects, which a server
 * render never runs, it is never reached there.
 */
export function absentClient<C extends object>(adapter: string): C {
  return new Proxy({} as C, {
    get(_target, property) {
      // What probes a value without using it (await, Vue's reactivity, inspection) finds nothing.
      if (typeof property === 'symbol' || property === 'then' || property.startsWith('__v_') || property === 'toJSON') return undefined;
      throw new Error(`${adapter}: the client given is null (a server render, or a page that has not made it yet); "${String(property)}" needs a client`);
    },
  });
}
