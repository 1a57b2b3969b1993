import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase } from '../../test/helpers/store-db.js';
import type { HarborDB } from './db.js';
import { deletionsOf, isBeforeDeletion, rememberDeletions, type AnsweredDeletion } from './deletions.js';
import type { WriteTx } from './transaction.js';

describe('answered deletions', () => {
  const keepMs = 1_000;
  let db: HarborDB;
  beforeEach(async () => {
    db = await freshDatabase();
  });
  afterEach(() => db.close());

  /** `body` in one committed write transaction, as the store runs it. */
  async function inTx<T>(body: (tx: WriteTx) => Promise<T>): Promise<T> {
    const tx = db.transaction(['entities', 'outbox', 'meta'], 'readwrite');
    const result = await body(tx);
    await tx.done;
    return result;
  }
  const remember = (deleted: Array<{ r: string; id: string; version: unknown }>, at: number, keep = keepMs) =>
    inTx((tx) => rememberDeletions(tx, deleted, at, keep));
  const known = (r: string) => inTx((tx) => deletionsOf(tx, r));

  it('remembers each deletion by resource: when it was answered and the version it was made on', async () => {
    await remember(
      [
        { r: 'todos', id: 'a', version: 3 },
        { r: 'notes', id: 'a', version: 'v9' },
        { r: 'todos', id: 'b', version: null },
      ],
      5_000,
    );
    expect(await known('todos')).toEqual(
      new Map<string, AnsweredDeletion>([
        ['a', { at: 5_000, version: 3 }],
        ['b', { at: 5_000, version: null }],
      ]),
    );
    expect(await known('notes')).toEqual(new Map([['a', { at: 5_000, version: 'v9' }]]));
    expect(await known('users')).toEqual(new Map());
  });

  it('keeps the deletions within keepMs of the new one, either side, and forgets the others', async () => {
    // Remembered without forgetting any.
    for (const [id, at] of [
      ['old', 3_999],
      ['edge', 4_000],
      ['ahead-edge', 6_000],
      ['ahead', 6_001],
    ] as const) {
      await remember([{ r: 'todos', id, version: 1 }], at, Infinity);
    }
    await remember([{ r: 'todos', id: 'new', version: 2 }], 5_000);
    expect([...(await known('todos')).keys()].sort()).toEqual(['ahead-edge', 'edge', 'new']);
  });

  it('forgets old deletions only of the resources it remembers one of', async () => {
    await remember([{ r: 'notes', id: 'n', version: 1 }], 0);
    await remember([{ r: 'todos', id: 't', version: 1 }], 10 * keepMs);
    expect(await known('notes')).toEqual(new Map([['n', { at: 0, version: 1 }]]));
  });

  it('answers a deletion of the same entity remembered again with the newer one', async () => {
    await remember([{ r: 'todos', id: 'a', version: 1 }], 5_000);
    await remember([{ r: 'todos', id: 'a', version: 4 }], 5_100);
    expect(await known('todos')).toEqual(new Map([['a', { at: 5_100, version: 4 }]]));
  });

  it('skips what is corrupted in the stored row, and reads a row that is no map as none', async () => {
    // Planted under the key a release stores the deletions of `todos` with.
    await inTx(async (tx) => {
      await tx.objectStore('meta').put(new Map<unknown, unknown>([['a', { at: 1, version: 2 }], [7, { at: 1 }], ['b', { version: 2 }], ['c', null]]), 'deletedAt:todos');
      await tx.objectStore('meta').put([['a', { at: 1, version: 2 }]], 'deletedAt:notes');
    });
    expect(await known('todos')).toEqual(new Map([['a', { at: 1, version: 2 }]]));
    expect(await known('notes')).toEqual(new Map());
  });
});

describe('isBeforeDeletion', () => {
  it('takes a numeric version no newer than the deleted one for the entity before its deletion', () => {
    expect(isBeforeDeletion(2, 3)).toBe(true);
    expect(isBeforeDeletion(3, 3)).toBe(true);
    expect(isBeforeDeletion(4, 3)).toBe(false);
  });

  it('takes only the same version where versions do not compare (created again otherwise)', () => {
    expect(isBeforeDeletion('v1', 'v1')).toBe(true);
    expect(isBeforeDeletion('v0', 'v1')).toBe(false);
    expect(isBeforeDeletion('v2', 'v1')).toBe(false);
    expect(isBeforeDeletion(3, '3')).toBe(false);
    expect(isBeforeDeletion(null, null)).toBe(true);
    expect(isBeforeDeletion(undefined, 1)).toBe(false);
  });
});
