import { afterEach, describe, expect, it } from 'vitest';
import { outboxEntry } from '../../test/helpers/outbox-entry.js';
import { freshDatabase } from '../../test/helpers/store-db.js';
import type { HarborDB } from './db.js';
import { forgettableRenames, RENAMES_KEPT_MS, renameKey, storedRenames, type StoredRename } from './renames.js';

describe('storedRenames', () => {
  let db: HarborDB | undefined;
  afterEach(() => db?.close());

  const rename: StoredRename = { r: 'todos', from: 'tmp-1', to: 42, at: 1_000 };
  const other: StoredRename = { r: 'notes', from: 'tmp-2', to: 'n-7', at: 2_000 };

  async function plant(rows: Array<[key: string, value: unknown]>): Promise<HarborDB> {
    db = await freshDatabase();
    const tx = db.transaction('meta', 'readwrite');
    for (const [key, value] of rows) await tx.store.put(value, key);
    await tx.done;
    return db;
  }

  it.each([
    ['by key range', IDBKeyRange],
    ['by a scan where IDBKeyRange is missing', undefined],
  ])('reads the renames stored under renameKey, %s, and skips other rows and corrupted ones', async (_, KeyRange) => {
    const db = await plant([
      [renameKey(rename.r, rename.from), rename],
      [renameKey(other.r, other.from), other],
      // Corrupted: no time, no target, not an object.
      [renameKey('todos', 'tmp-3'), { r: 'todos', from: 'tmp-3', to: 43 }],
      [renameKey('todos', 'tmp-4'), { r: 'todos', from: 'tmp-4', at: 5 }],
      [renameKey('todos', 'tmp-5'), 'tmp-5'],
      // Shaped like a rename, under another key.
      ['cursor:todos', { ...rename, from: 'tmp-6' }],
    ]);
    const renames = await storedRenames(db.transaction('meta').store, KeyRange);
    expect(renames).toHaveLength(2);
    expect(renames).toEqual(expect.arrayContaining([rename, other]));
  });

  it('reads none from an empty store', async () => {
    const db = await plant([]);
    expect(await storedRenames(db.transaction('meta').store, IDBKeyRange)).toEqual([]);
  });
});

describe('forgettableRenames', () => {
  const now = 10 * RENAMES_KEPT_MS;
  const renamed = (from: string, at: number, r = 'todos'): StoredRename => ({ r, from, to: `server-${from}`, at });

  it('keeps renames for RENAMES_KEPT_MS, either side of now (the clock may have stepped back)', () => {
    const renames = [
      renamed('tmp-new', now),
      renamed('tmp-edge', now - RENAMES_KEPT_MS),
      renamed('tmp-old', now - RENAMES_KEPT_MS - 1, 'notes'),
      renamed('tmp-ahead-edge', now + RENAMES_KEPT_MS),
      renamed('tmp-ahead', now + RENAMES_KEPT_MS + 1),
    ];
    expect(forgettableRenames(renames, [], now)).toEqual([renameKey('notes', 'tmp-old'), renameKey('todos', 'tmp-ahead')]);
  });

  it('keeps an old rename while a queued row names its temporary id: as its entity, in a field, or in an array field', () => {
    const old = now - RENAMES_KEPT_MS - 1;
    const renames = ['tmp-entity', 'tmp-field', 'tmp-listed', 'tmp-unnamed'].map((from) => renamed(from, old));
    const queued = [
      outboxEntry({ seq: 1, id: 'tmp-entity' }),
      outboxEntry({ seq: 2, id: 'a', payload: { parent: 'tmp-field', n: 7 } }),
      outboxEntry({ seq: 3, id: 'b', op: 'delete', payload: null }),
      outboxEntry({ seq: 4, id: 'c', op: 'create', payload: { tags: ['x', 'tmp-listed'] } }),
    ];
    expect(forgettableRenames(renames, queued, now)).toEqual([renameKey('todos', 'tmp-unnamed')]);
  });
});
