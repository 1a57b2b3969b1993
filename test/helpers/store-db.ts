import { IDBFactory } from 'fake-indexeddb';
import { openDatabase, type HarborDB } from '../../src/store/db.js';

/** A new namespace database in a factory of its own, for tests of what the store does inside one transaction. */
export async function freshDatabase(): Promise<HarborDB> {
  const ignore = () => undefined;
  const { db } = await openDatabase(
    new IDBFactory(),
    'test',
    { onLost: ignore, onClosed: ignore, onDeleted: ignore, onBlocked: ignore },
    // fake-indexeddb answers an open at once: the timer that bounds it never fires.
    { setTimer: () => ignore },
  );
  return db;
}
