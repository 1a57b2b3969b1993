import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileQuery } from '../store/query.js';
import { inScope, pickEvictions, pushDown } from './on-demand-scope.js';

type Row = { id: string; n: number; done: boolean };

describe('pushDown', () => {
  it('sends equality filters and the order, with the key as the last tie-breaker', () => {
    const compiled = compileQuery<Row>({ where: { done: false }, orderBy: [['n', 'desc']], limit: 50 }, 'id');
    expect(pushDown(compiled as never, 'id', 50, null)).toEqual({
      where: { done: false },
      orderBy: [['n', 'desc'], ['id', 'asc']],
      limit: 50,
      cursor: null,
    });
  });

  it('sends an order by the key in its direction (a descending key was sent ascending)', () => {
    const compiled = compileQuery<Row>({ where: { done: false }, orderBy: [['id', 'desc']], limit: 5 }, 'id');
    expect(pushDown(compiled as never, 'id', 5, null).orderBy).toEqual([['id', 'desc']]);
    const byBoth = compileQuery<Row>({ orderBy: [['n', 'asc'], ['id', 'desc']] }, 'id');
    expect(pushDown(byBoth as never, 'id', 5, null).orderBy).toEqual([['n', 'asc'], ['id', 'desc']]);
  });

  it('never sends a predicate', () => {
    const compiled = compileQuery<Row>({ where: (r) => r.n > 2 }, 'id');
    expect(pushDown(compiled as never, 'id', 10, 'c1')).toEqual({ where: {}, orderBy: [['id', 'asc']], limit: 10, cursor: 'c1' });
  });
});

describe('inScope', () => {
  const compiled = compileQuery<Row>({ where: { done: false }, orderBy: 'n' }, 'id');
  const row = (id: string, n: number, done = false): Row => ({ id, n, done });

  it('covers matching rows after the previous page and up to the last row of this one', () => {
    const scope = { after: row('a', 2), last: row('b', 5) };
    expect(inScope(row('x', 3), scope, compiled)).toBe(true);
    expect(inScope(row('b', 5), scope, compiled)).toBe(true);
    expect(inScope(row('a', 2), scope, compiled)).toBe(false);
    expect(inScope(row('y', 6), scope, compiled)).toBe(false);
    expect(inScope(row('z', 3, true), scope, compiled)).toBe(false);
  });

  it('runs to the end when the server has no more', () => {
    fc.assert(
      fc.property(fc.integer(), (n) => {
        expect(inScope(row('q', n), { after: null, last: null }, compiled)).toBe(true);
      }),
    );
  });
});

describe('pickEvictions', () => {
  it('evicts only the excess, least recently shown first', () => {
    const candidates = [
      { id: 'a', lastShown: 5 },
      { id: 'b', lastShown: 1 },
      { id: 'c', lastShown: 0 },
    ];
    expect(pickEvictions(candidates, 1)).toEqual(['c', 'b']);
    expect(pickEvictions(candidates, 3)).toEqual([]);
  });

  it('keeps exactly min(cacheLimit, candidates) of them, each evicted one shown no later than any kept one', () => {
    const candidate = fc.record({ id: fc.string(), lastShown: fc.nat(50) });
    const distinct = fc.uniqueArray(candidate, { selector: (c) => c.id, maxLength: 60 });
    fc.assert(
      fc.property(distinct, fc.nat(80), (candidates, limit) => {
        const out = new Set(pickEvictions(candidates, limit));
        const kept = candidates.filter((c) => !out.has(c.id));
        expect(kept).toHaveLength(Math.min(limit, candidates.length));
        const newestEvicted = Math.max(-1, ...candidates.filter((c) => out.has(c.id)).map((c) => c.lastShown));
        for (const c of kept) expect(c.lastShown).toBeGreaterThanOrEqual(newestEvicted);
      }),
    );
  });
});
