import { describe, expect, it } from 'vitest';
import { recordsOf } from './db.js';

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
