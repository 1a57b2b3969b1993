import type { LocalStorageLike } from '../types.js';
import { dbName } from './db.js';

/**
 * A note, outside IndexedDB, that this origin has the namespace's database. IndexedDB alone cannot
 * tell a first start from a database deleted behind the app's back; the note can, unless it went
 * too (Safari's 7-day cap and "clear site data" take localStorage along). Every access is guarded:
 * localStorage throws where storage is blocked or full.
 */
export interface DatabaseMarker {
  present(): boolean;
  set(): void;
  remove(): void;
}

export function databaseMarker(storage: LocalStorageLike | undefined, namespace: string): DatabaseMarker {
  const key = dbName(namespace);
  const guarded = (use: (s: LocalStorageLike) => void) => {
    try {
      if (storage) use(storage);
    } catch {
      // No note then: an eviction goes unreported, as without localStorage.
    }
  };
  return {
    present: () => {
      let found = false;
      guarded((s) => (found = s.getItem(key) !== null));
      return found;
    },
    set: () => guarded((s) => s.setItem(key, '1')),
    remove: () => guarded((s) => s.removeItem(key)),
  };
}
