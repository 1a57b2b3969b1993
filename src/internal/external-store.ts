import type { Observable, Unsubscribable } from 'rxjs';
import type { EntityState, QueryState } from '../types.js';
import { CURRENT, type WithCurrent } from './current.js';

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
 * - `peek`: a `getSnapshot` while no listener is subscribed (before the first, or after the last
 *   left, as under React's `<Activity mode="hidden">`) opens the source (without subscribing) and
 *   takes the current value it offers (CURRENT), keeping the object while equal: so a new query
 *   renders its rows at once, and one shown again never renders the rows from before it was
 *   hidden. The first value its subscription brings, if equal to that, keeps the object and
 *   notifies no one. Not on the server, which asks React's server snapshot instead.
 */
export function createExternalStore<T>(open: () => Observable<T>, initial: T, peek = false): ExternalStore<T> {
  let value = initial;
  let failure: { error: unknown } | null = null;
  let source: Unsubscribable | null = null;
  /** Opened by a peek, for the next subscription to use. */
  let opened: Observable<T> | null = null;
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
        let observable = opened;
        opened = null;
        try {
          observable ??= open();
        } catch (error) {
          // As in getSnapshot: once a value was shown (a client closed since), it stays; before, the render throws the error.
          if (value === initial) {
            failure = { error };
            notify();
          }
          return () => void listeners.delete(listener);
        }
        // The value shown (peeked, or kept from the last subscription), until the subscription
        // shows whether it changed since.
        let shown: T | null = value !== initial ? value : null;
        const subscription = observable.subscribe({
          next: (next) => {
            const same = next === value || (shown !== null && shallowEqualState(next, shown));
            shown = null;
            if (same) return;
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
      // No subscription brings the source's changes now: the value kept may be out of date.
      if (peek && listeners.size === 0 && !failure) {
        try {
          opened ??= open();
          const current = (opened as WithCurrent<T>)[CURRENT];
          if (current) {
            const next = current();
            if (value === initial || !shallowEqualState(next, value)) value = next;
          }
        } catch (error) {
          // Once a value was shown (a client closed since, say), it stays, as it does in a
          // subtree that stayed subscribed: a closed client's observables complete, never error.
          if (value === initial) failure = { error };
        }
      }
      if (failure) throw failure.error;
      return value;
    },
  };
}

/** Two states with the same fields: each identical, or arrays of identical items, or sets of the same members. */
function shallowEqualState(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => {
    const x = (a as Record<string, unknown>)[key];
    const y = (b as Record<string, unknown>)[key];
    if (x === y) return true;
    if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((item, i) => item === y[i]);
    if (x instanceof Set && y instanceof Set) return x.size === y.size && [...x].every((item) => y.has(item));
    return false;
  });
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
  // JSON writes NaN and ±Infinity as null, which a query compares differently.
  if (typeof value === 'number') return String(value);
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
