import { Observable } from 'rxjs';
import type { BroadcastChannelLike, LockManagerLike, SyncClientOptions } from './types.js';

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
  indexedDB: IDBFactory | undefined;
  /** The page's address, against which a relative `baseUrl` ('/api') resolves; undefined outside a page. */
  baseHref: string | undefined;
  /** The key ranges of the IndexedDB in use (a faster by-key-range load when present). */
  IDBKeyRange: typeof IDBKeyRange | undefined;
  fetch: typeof globalThis.fetch;
  locks: LockManagerLike | undefined;
  BroadcastChannel: (new (name: string) => BroadcastChannelLike) | undefined;
}

type EnvOptions = Pick<
  SyncClientOptions,
  'indexedDB' | 'fetch' | 'now' | 'random' | 'online' | 'locks' | 'BroadcastChannel' | 'setTimer'
>;

/** navigator.onLine plus the window's online/offline events; always online where neither exists. */
function browserOnline$(): Observable<boolean> {
  return new Observable<boolean>((subscriber) => {
    const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
    subscriber.next(typeof nav?.onLine === 'boolean' ? nav.onLine : true);
    const target = globalThis as unknown as Partial<EventTarget>;
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return;
    const up = () => subscriber.next(true);
    const down = () => subscriber.next(false);
    target.addEventListener('online', up);
    target.addEventListener('offline', down);
    return () => {
      target.removeEventListener!('online', up);
      target.removeEventListener!('offline', down);
    };
  });
}

export function resolveEnv(options: EnvOptions): Env {
  const g = globalThis as {
    indexedDB?: IDBFactory;
    IDBKeyRange?: typeof IDBKeyRange;
    location?: { href?: string };
    navigator?: { locks?: LockManagerLike };
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
    indexedDB: options.indexedDB ?? g.indexedDB,
    IDBKeyRange: g.IDBKeyRange,
    baseHref: typeof g.location?.href === 'string' ? g.location.href : undefined,
    fetch: fetchImpl as typeof globalThis.fetch,
    locks: options.locks === null ? undefined : (options.locks ?? g.navigator?.locks),
    BroadcastChannel: options.BroadcastChannel === null ? undefined : (options.BroadcastChannel ?? g.BroadcastChannel),
  };
}
