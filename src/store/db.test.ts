import { describe, expect, it } from 'vitest';
import { StorageError } from '../errors.js';
import { recordsOf, toStorageError } from './db.js';

describe('recordsOf', () => {
  const stored = [
    { r: 'notes', id: 'n1' },
    { r: 'todos', id: 't1' },
    { r: 'todos', id: 't2' },
    { r: 'todosx', id: 'x1' },
  ];
  /** A store keyed by [r, id] that answers a key range over [r] .. [r, []] and, without one, everything. */
  const source = {
    queries: [] as Array<IDBKeyRange | null | undefined>,
    async getAll(query?: IDBKeyRange | null) {
      this.queries.push(query);
      return query ? stored.filter((s) => query.includes([s.r, s.id])) : stored;
    },
  };

  it('reads one resource by key range where IDBKeyRange exists', async () => {
    source.queries.length = 0;
    expect(await recordsOf(source, IDBKeyRange, 'todos')).toEqual([stored[1], stored[2]]);
    expect(source.queries).toHaveLength(1);
    expect(source.queries[0]).toBeInstanceOf(IDBKeyRange);
  });

  it('scans and filters by resource where it is missing', async () => {
    source.queries.length = 0;
    expect(await recordsOf(source, undefined, 'todos')).toEqual([stored[1], stored[2]]);
    expect(source.queries).toEqual([undefined]);
  });
});

describe('toStorageError', () => {
  it('names the failure: quota in words, another by its name and message, or its name alone when the browser gives no text', () => {
    expect(toStorageError(new DOMException('', 'QuotaExceededError'), 'saving').message).toBe('saving failed: storage quota exceeded');
    expect(toStorageError(new DOMException('Connection lost', 'UnknownError'), 'reading').message).toBe('reading failed: UnknownError: Connection lost');
    const aborted = toStorageError(new DOMException('', 'AbortError'), 'saving', { resource: 'todos', id: 'a' });
    expect(aborted).toBeInstanceOf(StorageError);
    expect(aborted).toMatchObject({ resource: 'todos', id: 'a' });
    expect(aborted.message).toMatch(/saving failed: AbortError$/);
  });
});
