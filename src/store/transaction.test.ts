import { unwrap } from 'idb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError, ValidationError } from '../errors.js';
import { freshDatabase } from '../../test/helpers/store-db.js';
import type { HarborDB } from './db.js';
import { attempt, Interrupted, refuses, requested } from './transaction.js';

let db: HarborDB;
beforeEach(async () => {
  db = await freshDatabase();
});
afterEach(() => db.close());

describe('attempt', () => {
  it("commits the body's writes and answers its result", async () => {
    const result = await attempt(db, 'saving', async (tx) => {
      unwrap(tx.objectStore('meta')).put('v', 'k');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await db.get('meta', 'k')).toBe('v');
  });

  it('reports the request that failed as a StorageError, not the abort it caused; nothing is stored', async () => {
    await db.put('meta', 'old', 'k');
    const failure = attempt(db, 'saving todos/a', async (tx) => {
      const meta = unwrap(tx.objectStore('meta'));
      meta.put('new', 'k');
      // The same key again: ConstraintError, which aborts the transaction and the read after it.
      meta.add('other', 'k');
      await requested(meta.get('k'));
    });
    await expect(failure).rejects.toThrow(StorageError);
    await expect(failure).rejects.toThrow(/^saving todos\/a failed: ConstraintError/);
    expect(await db.get('meta', 'k')).toBe('old');
  });

  it('rethrows a ValidationError from the body as it is, and stores nothing of what the body issued', async () => {
    const refused = new ValidationError([{ field: 'id', message: 'no' }]);
    const failure = attempt(db, 'saving', async (tx) => {
      unwrap(tx.objectStore('meta')).put('v', 'k');
      throw refused;
    });
    await expect(failure).rejects.toBe(refused);
    expect(await db.get('meta', 'k')).toBeUndefined();
  });

  it('throws Interrupted when the connection is closing: a new one may run it', async () => {
    const closing = await freshDatabase();
    closing.close();
    await expect(attempt(closing, 'saving', async () => 'done')).rejects.toBeInstanceOf(Interrupted);
  });
});

describe('refuses', () => {
  it('is true of a connection that is closing, false of one open', async () => {
    expect(refuses(db)).toBe(false);
    const closing = await freshDatabase();
    closing.close();
    expect(refuses(closing)).toBe(true);
  });
});

describe('requested', () => {
  it("resolves with a request's result and rejects with its error", async () => {
    await db.put('meta', 'v', 'k');
    const tx = db.transaction('meta', 'readwrite');
    const meta = unwrap(tx.store);
    expect(await requested(meta.get('k'))).toBe('v');
    await expect(requested(meta.add('w', 'k'))).rejects.toMatchObject({ name: 'ConstraintError' });
    await tx.done.catch(() => undefined);
  });
});
