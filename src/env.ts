import { Observable } from 'rxjs';
import type { BroadcastChannelLike, LocalStorageLike, LockManagerLike, StorageManagerLike, SyncClientOptions } from './types.js';

export interface Clock {
  now(): number;
  /** Runs `callback` after `ms`; returns a function that cancels it. */
  setTimer(callback: () => void, ms: number): () => void;
}

/** Every platform dependency of one client. The only module that reads platform globals. */
export interface Env {
  clock: Clock;
  random(): number;
  online$: Observable<boolean>;
  /** True while the page is frozen, in the back/forward cache, or unloading. */
  suspended$: Observable<boolean>;
  /** Emits each time the page comes back to the foreground (it became visible). */
  foreground$: Observable<void>;
  indexedDB: IDBFactory | undefined;
  /** The IndexedDB classes idb tells values apart by (instanceof) that are not globals here: an injected factory needs them too. */
  missingIDBClasses: string[];
  /** The page's address, against which a relative `baseUrl` ('/api') resolves; undefined outside a page. */
  baseHref: string | undefined;
  /** The key ranges of the IndexedDB in use (a faster by-key-range load when present). */
  IDBKeyRange: typeof IDBKeyRange | undefined;
  fetch: typeof globalThis.fetch;
  locks: LockManagerLike | undefined;
  BroadcastChannel: (new (name: string) => BroadcastChannelLike) | undefined;
  localStorage: LocalStorageLike | undefined;
  storageManager: StorageManagerLike | undefined;
}

type EnvOptions = Pick<
  SyncClientOptions,
  'indexedDB' | 'fetch' | 'now' | 'random' | 'online' | 'suspended' | 'foreground' | 'locks' | 'BroadcastChannel' | 'setTimer' | 'localStorage' | 'storageManager'
>;

type Target = Partial<EventTarget> | undefined;

/** An event that emits `value` when it fires on `target` and `when` (if given) holds. */
type Source<T> = readonly [target: Target, type: string, value: T, when?: () => boolean];

/**
 * Emits `initial()` on subscription (when given), then the value of each of `events` that fires;
 * a target missing here (no window or document) never fires.
 */
function fromEvents<T>(initial: (() => T) | undefined, events: ReadonlyArray<Source<T>>): Observable<T> {
  return new Observable<T>((subscriber) => {
    if (initial) subscriber.next(initial());
    const removers: Array<() => void> = [];
    for (const [target, type, value, when] of events) {
      if (typeof target?.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') continue;
      const handler = () => {
        if (!when || when()) subscriber.next(value);
      };
      target.addEventListener(type, handler);
      removers.push(() => target.removeEventListener!(type, handler));
    }
    return () => {
      for (const remove of removers) remove();
    };
  });
}

/** navigator.onLine plus the window's online/offline events; always online where neither exists. */
function browserOnline$(): Observable<boolean> {
  const window = globalThis as unknown as Target;
  return fromEvents(
    () => {
      const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
      return typeof nav?.onLine === 'boolean' ? nav.onLine : true;
    },
    [
      [window, 'online', true],
      [window, 'offline', false],
    ],
  );
}

/**
 * The page lifecycle: suspended from the document's `freeze` or the window's `pagehide` (into the
 * back/forward cache, or unloading) until `resume` or `pageshow`; never where neither exists.
 */
function browserSuspended$(): Observable<boolean> {
  const window = globalThis as unknown as Target;
  const document = (globalThis as { document?: Target }).document;
  return fromEvents(
    () => false,
    [
      [document, 'freeze', true],
      [document, 'resume', false],
      [window, 'pagehide', true],
      [window, 'pageshow', false],
    ],
  );
}

/**
 * The page coming back to the foreground: the document's `visibilitychange` to visible; never
 * where there is no document (a worker, a server). Not the window's `focus`, which also fires
 * between windows of a page that stayed visible, with nothing missed.
 */
function browserForeground$(): Observable<void> {
  const document = (globalThis as { document?: Target & { visibilityState?: string } }).document;
  return fromEvents<void>(undefined, [[document, 'visibilitychange', undefined, () => document?.visibilityState === 'visible']]);
}

/** The page's localStorage; undefined where there is none or where reading it throws (storage blocked, sandboxed frames). */
function browserLocalStorage(): LocalStorageLike | undefined {
  try {
    return (globalThis as { localStorage?: LocalStorageLike }).localStorage;
  } catch {
    return undefined;
  }
}

const IDB_CLASSES = ['IDBRequest', 'IDBDatabase', 'IDBTransaction', 'IDBObjectStore', 'IDBIndex', 'IDBCursor'];

export function resolveEnv(options: EnvOptions): Env {
  const g = globalThis as {
    indexedDB?: IDBFactory;
    IDBKeyRange?: typeof IDBKeyRange;
    location?: { href?: string };
    navigator?: { locks?: LockManagerLike; storage?: StorageManagerLike };
    BroadcastChannel?: new (name: string) => BroadcastChannelLike;
  };
  const fetchImpl = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  return {
    clock: {
      now: options.now ?? (() => Date.now()),
      setTimer:
        options.setTimer ??
        ((callback, ms) => {
          const handle = setTimeout(callback, ms);
          return () => clearTimeout(handle);
        }),
    },
    random: options.random ?? (() => Math.random()),
    online$: options.online ?? browserOnline$(),
    suspended$: options.suspended ?? browserSuspended$(),
    foreground$: options.foreground ?? browserForeground$(),
    indexedDB: options.indexedDB ?? g.indexedDB,
    missingIDBClasses: IDB_CLASSES.filter((name) => typeof (g as Record<string, unknown>)[name] !== 'function'),
    IDBKeyRange: g.IDBKeyRange,
    baseHref: typeof g.location?.href === 'string' ? g.location.href : undefined,
    fetch: fetchImpl as typeof globalThis.fetch,
    locks: options.locks === null ? undefined : (options.locks ?? g.navigator?.locks),
    BroadcastChannel: options.BroadcastChannel === null ? undefined : (options.BroadcastChannel ?? g.BroadcastChannel),
    // The note speaks for the page's own IndexedDB: another one injected (a test's fresh fake,
    // another host's) is another store, which the page's localStorage would take for one evicted.
    localStorage:
      options.localStorage === null ? undefined : (options.localStorage ?? (options.indexedDB && options.indexedDB !== g.indexedDB ? undefined : browserLocalStorage())),
    storageManager: options.storageManager === null ? undefined : (options.storageManager ?? g.navigator?.storage),
  };
}
