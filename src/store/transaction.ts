import { unwrap, type IDBPTransaction } from 'idb';
import { ValidationError } from '../errors.js';
import { toStorageError, type HarborDB, type HarborSchema, type StorageAt } from './db.js';

export type WriteTx = IDBPTransaction<HarborSchema, ('entities' | 'outbox' | 'meta')[], 'readwrite'>;

/**
 * A transaction that could not start because the browser is closing the connection, or that the
 * browser aborted (no request of it failed, the code did not abort it): nothing of it was stored.
 */
export class Interrupted {
  constructor(readonly cause: unknown) {}
}

export const isAbortError = (error: unknown) => error instanceof DOMException && error.name === 'AbortError';

/** What transaction() throws once the browser has begun closing the connection ("The database connection is closing"). */
export const isClosingError = (error: unknown) => error instanceof DOMException && error.name === 'InvalidStateError';

/** The browser is closing `db`: a transaction can no longer be started on it. */
export function refuses(db: HarborDB): boolean {
  try {
    db.transaction('meta', 'readonly');
    return false;
  } catch (error) {
    return isClosingError(error);
  }
}

/**
 * Whether a read on `db` that failed with `error` may work on a new connection: the browser is
 * closing `db`. WebKit fails the reads of a connection whose server it lost with UnknownError
 * ("Connection to Indexed Database server lost"), not AbortError.
 */
export const readInterrupted = (db: HarborDB, error: unknown) => isClosingError(error) || isAbortError(error) || refuses(db);

/**
 * One try of a read-write transaction. Throws Interrupted when nothing of it can have been
 * stored for a reason a new connection may cure; any other failure as a StorageError (a
 * ValidationError as it is).
 */
export async function attempt<R>(db: HarborDB, what: string, body: (tx: WriteTx) => Promise<R>, at: StorageAt = {}): Promise<R> {
  let tx: WriteTx;
  try {
    tx = db.transaction(['entities', 'outbox', 'meta'], 'readwrite', { durability: 'strict' });
  } catch (error) {
    if (isClosingError(error)) throw new Interrupted(error);
    throw toStorageError(error, what, at);
  }
  // Requests issued straight on the stores have no handler of their own: the first one to fail
  // is heard here (its error event reaches the transaction) and is what gets reported.
  let failed: unknown = null;
  unwrap(tx).onerror = (event) => {
    failed ??= (event.target as IDBRequest).error;
  };
  // A request that fails while the body still waits on another rejects `done` before it is
  // awaited below: marked handled now, it is no unhandled rejection for the page.
  tx.done.catch(() => undefined);
  try {
    const result = await body(tx);
    await tx.done;
    return result;
  } catch (error) {
    try {
      tx.abort();
    } catch {
      // Already finished or aborted: the original error is the one to report.
    }
    await tx.done.catch(() => undefined);
    // A change refused before anything was stored is reported as it is.
    if (error instanceof ValidationError) throw error;
    // Aborted with AbortError as its own error: neither a failed request (its error would be the
    // transaction's) nor abort() above (which leaves none) did it, the browser closing the
    // connection did. An aborted transaction stored nothing. So did one with a request that failed
    // on a connection the browser is closing now, whatever the error: WebKit fails the requests in
    // progress of a connection whose server it lost with UnknownError ("Connection to Indexed
    // Database server lost"), and a transaction whose requests had not all succeeded never began
    // to commit. (One that failed once they had may have committed before the server went.)
    if (isAbortError(unwrap(tx).error) || (failed !== null && refuses(db))) throw new Interrupted(unwrap(tx).error);
    // The abort a failed request caused is reported as that request's error.
    throw toStorageError(isAbortError(error) && failed ? failed : error, what, at);
  }
}

/** One request as a promise, through its handler properties (no listeners to add and remove). */
export function requested<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
