import { wrap, type DBSchema, type IDBPDatabase } from 'idb';
import type { Clock } from '../env.js';
import { StorageError, type ErrorContext } from '../errors.js';
import type { OutboxEntry } from '../outbox/entry.js';

/** One entity as stored: the last server-confirmed state and the local view while changes are pending. */
export interface EntityRecord {
  r: string;
  id: string;
  /** Last server-confirmed state; null when the server has not confirmed it (a create) or deleted it. */
  base: Record<string, unknown> | null;
  /** The local view: base with pending changes applied; null when deleted locally. */
  view: Record<string, unknown> | null;
  /**
   * The server state the pending changes were made on, kept when a pull rebased them on a newer
   * base: a conflict's `base` is what the user changed, not what was pulled since.
   */
  origin?: Record<string, unknown> | null;
  /**
   * When (the client's clock) `base` was stored as the answer to a queued change. A list
   * requested before then may have been computed before the change landed: its silence about
   * the entity does not remove it.
   */
  settledAt?: number;
}

export interface HarborSchema extends DBSchema {
  entities: { key: [string, string]; value: EntityRecord };
  outbox: { key: number; value: OutboxEntry; indexes: { entity: [string, string] } };
  meta: { key: string; value: unknown };
}

export type HarborDB = IDBPDatabase<HarborSchema>;

export const DB_VERSION = 2;
export const dbName = (namespace: string) => `harborsync:${namespace}`;

/**
 * Ordered upgrade steps: step i brings a database from version i to i + 1, inside the upgrade
 * transaction. A step never drops a store that may hold queued changes.
 */
const migrations: Array<(db: IDBDatabase, upgrade: IDBTransaction) => void> = [
  (db) => {
    const entities = db.createObjectStore('entities', { keyPath: ['r', 'id'] });
    entities.createIndex('r', 'r');
    const outbox = db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
    outbox.createIndex('entity', ['r', 'id']);
    db.createObjectStore('meta');
  },
  // A resource's records are one primary-key range ([r] to [r, []]): the `r` index only cost an
  // extra index write with every entity put.
  (_db, upgrade) => {
    const entities = upgrade.objectStore('entities');
    if (entities.indexNames.contains('r')) entities.deleteIndex('r');
  },
];

/** The resource and id a storage operation was about: kept on its StorageError, whose message starts with them. */
export type StorageAt = Pick<ErrorContext, 'resource' | 'id'>;

export function toStorageError(error: unknown, what: string, at: StorageAt = {}): StorageError {
  if (error instanceof StorageError) return error;
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  const detail =
    name === 'QuotaExceededError'
      ? 'storage quota exceeded'
      : error instanceof Error || error instanceof DOMException
        ? // A browser may give no text (an abort): the name alone says it.
          error.message ? `${name}: ${error.message}` : name
        : String(error);
  return new StorageError(`${what} failed: ${detail}`, { ...at, cause: error });
}

export interface OpenCallbacks {
  /** Another connection wants a newer version: the connection is gone for good (reload). */
  onLost(error: StorageError): void;
  /**
   * The browser closed the connection (iOS suspending the page, site data cleared, a crash of its
   * storage process): this connection is gone, but opening again may well work.
   */
  onClosed(): void;
  /**
   * Another tab of this namespace deletes the database (its `clear()`): the connection is closed
   * so the deletion can proceed; opening again later gives the fresh, empty database.
   */
  onDeleted(): void;
  /** An older connection elsewhere keeps this open waiting. */
  onBlocked(): void;
}

/**
 * How long an open may go without any sign of life (no `upgradeneeded`, `blocked`, `success` or
 * `error`) before it counts as hung: WebKit can leave an open unanswered until the page reloads
 * (https://bugs.webkit.org/show_bug.cgi?id=226547). A `blocked` open is alive (it waits for
 * another tab, and says so), and so is one that is upgrading: neither is timed out.
 */
export const OPEN_TIMEOUT_MS = 10_000;

export interface OpenTiming {
  setTimer: Clock['setTimer'];
  /** Aborted by close(): an open still under way rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Where a database this open creates numbers its outbox from (the client's clock, in ms): above
   * the numbers a deleted database of the namespace gave (clear(), an eviction; unless the clock
   * stepped back further than that database numbered), so an answer to a change of that one,
   * still on its way, never names a change made since.
   */
  firstSeq?: number;
}

export interface OpenedDatabase {
  db: HarborDB;
  /** The database did not exist: this open created it, empty. */
  created: boolean;
}

/**
 * Opens through the injected factory (idb's openDB always uses the global one) and wraps the
 * request with idb.
 */
export async function openDatabase(
  factory: IDBFactory | undefined,
  namespace: string,
  callbacks: OpenCallbacks,
  timing: OpenTiming,
): Promise<OpenedDatabase> {
  const name = dbName(namespace);
  if (!factory) throw new StorageError(`IndexedDB is not available here; cannot open "${name}"`);
  const { signal } = timing;
  if (signal?.aborted) throw toStorageError(signal.reason, `opening "${name}"`);
  let request: IDBOpenDBRequest;
  try {
    request = factory.open(name, DB_VERSION);
  } catch (error) {
    throw toStorageError(error, `opening "${name}"`);
  }
  // Rejects when the open shows no sign of life in time, or when close() gives up on it.
  let cancelTimer: () => void = () => undefined;
  let unlisten: () => void = () => undefined;
  const givenUp = new Promise<never>((_, reject) => {
    cancelTimer = timing.setTimer(
      () => reject(new StorageError(`opening "${name}" got no answer from IndexedDB within ${OPEN_TIMEOUT_MS / 1000} s; reload the page`)),
      OPEN_TIMEOUT_MS,
    );
    const onAbort = () => reject(toStorageError(signal?.reason, `opening "${name}"`));
    signal?.addEventListener('abort', onAbort);
    unlisten = () => signal?.removeEventListener('abort', onAbort);
  });
  let created = false;
  request.onupgradeneeded = (event) => {
    cancelTimer();
    created = event.oldVersion === 0;
    const db = request.result;
    for (let v = event.oldVersion; v < DB_VERSION; v++) migrations[v]!(db, request.transaction!);
    // A key given explicitly moves the key generator past it; the row itself goes at once.
    const floor = timing.firstSeq;
    if (created && floor !== undefined && Number.isSafeInteger(floor) && floor > 1) {
      const outbox = request.transaction!.objectStore('outbox');
      outbox.add({ seq: floor - 1 });
      outbox.delete(floor - 1);
    }
  };
  request.onblocked = () => {
    cancelTimer();
    callbacks.onBlocked();
  };
  let db: HarborDB;
  try {
    db = (await Promise.race([wrap(request), givenUp])) as unknown as HarborDB;
  } catch (error) {
    if (error instanceof StorageError) {
      // Given up on: should the open still succeed, nobody will use that connection.
      request.addEventListener('success', () => request.result.close());
      throw error;
    }
    if (error instanceof DOMException && error.name === 'VersionError') {
      // A newer release of the app upgraded the database (in another tab, or before a rollback).
      throw new StorageError(
        `"${name}" was upgraded by a newer version of this app (this one knows version ${DB_VERSION}); reload this page`,
        { cause: error },
      );
    }
    throw toStorageError(error, `opening "${name}"`);
  } finally {
    cancelTimer();
    unlisten();
  }
  // Closed at once, inside the event: a newer tab's upgrade (or another tab's clear()) never
  // waits for this one, and its `blocked` event does not fire because of us.
  db.addEventListener('versionchange', (event) => {
    db.close();
    if ((event as IDBVersionChangeEvent).newVersion === null) return callbacks.onDeleted();
    callbacks.onLost(
      new StorageError(
        `"${name}" is being upgraded to version ${(event as IDBVersionChangeEvent).newVersion} by a newer tab; reload this page`,
      ),
    );
  });
  db.addEventListener('close', () => callbacks.onClosed());
  return { db, created };
}

/**
 * Whether the namespace's database exists, learned without creating it: an open that would create
 * it is aborted, which leaves none. Opened at whatever version it has, it waits on no other tab.
 * An open with no answer within OPEN_TIMEOUT_MS (or refused) counts as existing: the open that
 * follows reports it. So does one `signal` (close()) gives up on, whose timer goes with it.
 */
export function databaseExists(factory: IDBFactory, namespace: string, setTimer: Clock['setTimer'], signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(dbName(namespace));
    } catch {
      return resolve(true);
    }
    const cancelTimer = setTimer(() => answer(true), OPEN_TIMEOUT_MS);
    const givenUp = () => answer(true);
    signal.addEventListener('abort', givenUp);
    const answer = (exists: boolean) => {
      cancelTimer();
      signal.removeEventListener('abort', givenUp);
      resolve(exists);
    };
    if (signal.aborted) answer(true);
    request.onupgradeneeded = (event) => {
      request.transaction!.abort();
      answer(event.oldVersion !== 0);
    };
    request.onsuccess = () => {
      request.result.close();
      answer(true);
    };
    request.onerror = (event) => {
      // The abort above, answered already: no error for the page.
      event.preventDefault();
      answer(true);
    };
  });
}

/** Deletes the namespace's database; `onBlocked` hears of a connection elsewhere that does not let go. */
export function deleteDatabase(factory: IDBFactory, namespace: string, onBlocked: () => void = () => undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = factory.deleteDatabase(dbName(namespace));
    request.onblocked = () => onBlocked();
    request.onsuccess = () => resolve();
    request.onerror = () => reject(toStorageError(request.error, `deleting "${dbName(namespace)}"`));
  });
}

/** Shape check for a record read back from IndexedDB; anything else is corruption. */
export function isEntityRecord(value: unknown): value is EntityRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const isObjOrNull = (x: unknown) => x === null || (typeof x === 'object' && !Array.isArray(x));
  return (
    typeof v['r'] === 'string' &&
    typeof v['id'] === 'string' &&
    isObjOrNull(v['base']) &&
    isObjOrNull(v['view']) &&
    (v['origin'] === undefined || isObjOrNull(v['origin'])) &&
    (v['settledAt'] === undefined || typeof v['settledAt'] === 'number')
  );
}

/**
 * The records of resource `r` from a store or index keyed by [r, id] (the entities' primary key,
 * the outbox's `entity` index): one key range, [r] up to [r, []], since ids are strings and an
 * array sorts after every string. IDBKeyRange comes from the realm that provides IndexedDB; where
 * it is missing, the whole store is scanned and filtered here.
 */
export async function recordsOf<T>(
  source: { getAll(query?: IDBKeyRange | null): Promise<T[]> },
  KeyRange: typeof IDBKeyRange | undefined,
  r: string,
): Promise<T[]> {
  if (KeyRange) return source.getAll(KeyRange.bound([r], [r, []]));
  return (await source.getAll()).filter((record) => typeof record === 'object' && record !== null && (record as { r?: unknown }).r === r);
}
