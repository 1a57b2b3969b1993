// IndexedDB through the raw API, for tests that read or plant what harborsync stores (what a
// reload, another tab or another release would find), without going through harborsync.

/** A request's result, or its error. */
export function result<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Opens `name` (at `version`, running `upgrade` when it is newer than what is stored). */
export function openRaw(
  factory: Pick<IDBFactory, 'open'>,
  name: string,
  version?: number,
  upgrade?: (db: IDBDatabase) => void,
): Promise<IDBDatabase> {
  const request = version === undefined ? factory.open(name) : factory.open(name, version);
  if (upgrade) request.onupgradeneeded = () => upgrade(request.result);
  return result(request);
}

/** Resolves once the transaction committed; rejects with its error. */
export function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** Every value of one object store. */
export function getAllRaw<T = unknown>(db: IDBDatabase, store: string): Promise<T[]> {
  return result(db.transaction(store, 'readonly').objectStore(store).getAll() as IDBRequest<T[]>);
}
