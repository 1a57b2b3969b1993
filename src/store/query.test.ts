import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Query, SortDirection } from '../types.js';
import { SortedChunks } from './sorted-chunks.js';
import {
  compareValues,
  compileQuery,
  queryKey,
} from './query.js';

interface Todo {
  id: string;
  title?: unknown;
  done?: unknown;
  n?: unknown;
}

const ids = (list: readonly { id: unknown }[]): unknown[] => list.map((e) => e.id);
const sign = (x: number): number => (x < 0 ? -1 : x > 0 ? 1 : 0);

describe('compareValues', () => {
  it('orders types as Postgres orders JSONB: missing and null < strings < numbers < booleans < other', () => {
    expect(compareValues(undefined, null)).toBe(0);
    const ladder = [null, '', 'a', -Infinity, -1, 0, 2.5, Infinity, false, true, [], {}];
    for (let i = 0; i < ladder.length; i++) {
      for (let j = 0; j < ladder.length; j++) {
        expect(sign(compareValues(ladder[i], ladder[j])), `${i} vs ${j}`).toBe(sign(i - j));
      }
    }
  });

  it('orders numbers numerically, -0 equal to 0, NaN first among numbers', () => {
    expect(compareValues(2, 10)).toBe(-1);
    expect(compareValues(10, 2)).toBe(1);
    expect(compareValues(-0, 0)).toBe(0);
    expect(compareValues(NaN, NaN)).toBe(0);
    expect(compareValues(NaN, -Infinity)).toBe(-1);
    expect(compareValues(-Infinity, NaN)).toBe(1);
    expect(compareValues(NaN, null)).toBe(1);
    expect(compareValues(NaN, '')).toBe(1);
  });

  it('orders strings by code point, as the server does (COLLATE "C"), not locale nor UTF-16 code unit', () => {
    expect(compareValues('B', 'a')).toBe(-1); // 'B' is 0x42, 'a' 0x61
    expect(compareValues('Z', 'a')).toBe(-1);
    expect(compareValues('z', 'ä')).toBe(-1);
    expect(compareValues('10', '9')).toBe(-1);
    expect(compareValues('a', 'aa')).toBe(-1);
    // A character past U+FFFF (its first surrogate, 0xD83D, below 0xFF5E) after every one up to U+FFFF.
    expect(compareValues('\uff5e', '\u{1F600}')).toBe(-1);
    expect(compareValues('a\u{1F600}', 'a\uffff')).toBe(1);
    expect(compareValues('\u{1F600}', '\u{1F601}')).toBe(-1);
    expect(compareValues('\u{1F600}', '\ud7ff')).toBe(1);
    expect(compareValues('\u{1F600}x', '\u{1F600}')).toBe(1);
    expect(compareValues('same', 'same')).toBe(0);
  });

  it('orders arrays and objects as Postgres orders JSONB: by size, then element by element', () => {
    expect(compareValues([1, 2], [1, 3])).toBe(-1);
    expect(compareValues([9], [1, 1])).toBe(-1); // fewer elements first, whatever they hold
    expect(compareValues([10], [9])).toBe(1); // numbers numerically, not as text
    expect(compareValues(['b'], [1])).toBe(-1); // strings < numbers < booleans < arrays < objects inside too
    expect(compareValues([true], [[]])).toBe(-1);
    expect(compareValues([[]], [{}])).toBe(-1);
    expect(compareValues([new Date(0)], ['1970-01-01T00:00:00.000Z'])).toBe(0); // as JSON carries it
    expect(compareValues({ a: 2 }, { a: 1 })).toBe(1);
    expect(compareValues({ z: 1 }, { a: 1, b: 1 })).toBe(-1); // fewer keys first
    expect(compareValues({ a: 1 }, { a: 1, b: undefined })).toBe(0);
    // Keys in JSONB's storage order: shorter (in UTF-8 bytes) first; 'é' is 2 bytes, after 'b'.
    expect(compareValues({ bb: 1, c: 2 }, { bb: 2, d: 1 })).toBe(-1); // c < d decides before the values
    expect(compareValues({ é: 1, b: 2 }, { é: 2, b: 1 })).toBe(1);
    expect(compareValues({ a: 1 }, { a: 1 })).toBe(0);
    expect(compareValues(new Date('2020-01-02'), new Date('2021-01-01'))).toBe(-1);
    expect(compareValues([], {})).toBe(-1);
    expect(compareValues(new Date(0), [])).toBe(-1);
    // A date is a string on the wire: after the strings, before numbers and booleans.
    expect(compareValues('\uffff', new Date(0))).toBe(-1);
    expect(compareValues(new Date(8.64e15), -Infinity)).toBe(-1);
    expect(compareValues(new Date(0), false)).toBe(-1);
  });

  it('orders dates chronologically beyond the years 0 to 9999 too (a far-future "no deadline" date sorts last)', () => {
    const bce = new Date(Date.UTC(-1, 0, 1)); // ISO text "-000001-01-01T…"
    const now = new Date('2024-05-01T00:00:00Z');
    const never = new Date(8.64e15); // the latest Date, year 275760: "+275760-09-13T…"
    expect(compareValues(bce, now)).toBe(-1);
    expect(compareValues(now, never)).toBe(-1);
    expect(compareValues(bce, never)).toBe(-1);
    const { compare } = compileQuery<{ id: string; due: Date }>({ orderBy: 'due' }, 'id');
    const rows = [
      { id: 'a', due: never },
      { id: 'b', due: now },
      { id: 'c', due: bce },
    ];
    expect(rows.sort(compare).map((r) => r.id)).toEqual(['c', 'b', 'a']);
  });

  it('never throws on values JSON cannot write', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => compareValues(10n, 9n)).not.toThrow();
    expect(() => compareValues(cyclic, {})).not.toThrow();
    expect(() => compareValues(() => 1, Symbol('s'))).not.toThrow();
  });

  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    // Past U+FFFF, and from U+E000 up: their code points and UTF-16 units order differently.
    fc.string({ unit: fc.constantFrom('a', '\ud7ff', '\ue000', '\uff5e', '\u{1F600}', '\u{10FFFF}'), maxLength: 3 }),
    fc.constantFrom(undefined, NaN, -0, Infinity, -Infinity, new Date(0), new Date(1), new Date(NaN)),
  );
  const leaf = fc.oneof(
    fc.jsonValue({ maxDepth: 1 }),
    fc.bigInt({ min: -3n, max: 3n }),
    fc.constantFrom<unknown>(undefined, NaN, -0, Infinity, -Infinity, new Date(0), new Date(1), new Date(NaN), '1970-01-01T00:00:00.000Z', new Map()),
  );
  // Dates, invalid ones and bigints inside arrays and objects too: JSON carries the first as text,
  // the second as null, and cannot carry the third. Objects without a prototype too (a schema's output).
  const { wide } = fc.letrec((tie) => ({
    wide: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('wide'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'cc', 'é'), tie('wide'), { maxKeys: 3 }),
    ),
  }));

  it('laws: reflexive, antisymmetric, transitive', () => {
    fc.assert(fc.property(wide, (a) => compareValues(a, a) === 0));
    fc.assert(
      fc.property(wide, wide, (a, b) => {
        expect(sign(compareValues(a, b))).toBe(0 - sign(compareValues(b, a)));
      }),
    );
    fc.assert(
      fc.property(wide, wide, wide, (a, b, c) => {
        // Boxed: Array.prototype.sort moves undefined elements to the end without comparing them.
        const [x, y, z] = [a, b, c]
          .map((v) => ({ v }))
          .sort((p, q) => compareValues(p.v, q.v))
          .map((p) => p.v);
        expect(compareValues(x, y)).toBeLessThanOrEqual(0);
        expect(compareValues(y, z)).toBeLessThanOrEqual(0);
        expect(compareValues(x, z)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('agrees with an independent rank-then-value oracle', () => {
    const typeRank = (v: unknown): number =>
      v === undefined || v === null
        ? 1
        : typeof v === 'string'
          ? 2
          : v instanceof Date
            ? 3
            : typeof v === 'number'
              ? 4
              : typeof v === 'boolean'
                ? 5
                : Array.isArray(v)
                  ? 6
                  : 7;
    const points = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0)!);
    const lexical = (p: number[], q: number[]): number => {
      for (let i = 0; i < Math.min(p.length, q.length); i++) if (p[i] !== q[i]) return p[i]! - q[i]!;
      return p.length - q.length;
    };
    const oracle = (a: unknown, b: unknown): number => {
      if (typeRank(a) !== typeRank(b)) return typeRank(a) - typeRank(b);
      if (typeof a === 'boolean') return Number(a) - Number(b);
      if (typeof a === 'number') {
        const [p, q] = [a, b as number].map((x) => (Number.isNaN(x) ? -Infinity : x) as number);
        if (Number.isNaN(a) !== Number.isNaN(b)) return Number.isNaN(a) ? -1 : 1;
        return p! === q! ? 0 : p! < q! ? -1 : 1;
      }
      if (typeof a === 'string') return lexical(points(a), points(b as string));
      if (typeRank(a) === 3) return oracle((a as Date).getTime(), (b as Date).getTime());
      if (typeRank(a) === 6) {
        const [p, q] = [a, b].map((x) => (x as unknown[]).map((e) => JSON.parse(JSON.stringify(e ?? null))));
        if (p!.length !== q!.length) return p!.length - q!.length;
        for (let i = 0; i < p!.length; i++) if (oracle(p![i], q![i]) !== 0) return oracle(p![i], q![i]);
        return 0;
      }
      if (typeRank(a) === 7) {
        const bytes = (s: string): number[] => [...new TextEncoder().encode(s)];
        const stored = (o: object): string[] =>
          Object.keys(o)
            .filter((k) => (o as Record<string, unknown>)[k] !== undefined)
            .sort((k, l) => lexical([bytes(k).length], [bytes(l).length]) || lexical(bytes(k), bytes(l)));
        const [p, q] = [stored(a as object), stored(b as object)];
        if (p.length !== q.length) return p.length - q.length;
        for (let i = 0; i < p.length; i++) {
          const c = lexical(points(p[i]!), points(q[i]!)) || oracle((a as Record<string, unknown>)[p[i]!], (b as Record<string, unknown>)[q[i]!]);
          if (c !== 0) return c;
        }
        return 0;
      }
      return 0;
    };
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(sign(compareValues(a, b))).toBe(sign(oracle(a, b)));
      }),
    );
  });
});

describe('compileQuery', () => {
  const rows: Todo[] = [
    { id: 'c', title: 'b', done: false, n: 2 },
    { id: 'a', title: 'a', done: true, n: null },
    { id: 'b', title: 'b', done: false },
    { id: 'd', title: 'B', done: true, n: 1 },
  ];
  const run = (query: Query<Todo> | undefined, key = 'id'): unknown[] => {
    const q = compileQuery<Todo>(query, key);
    return ids(rows.filter(q.matches).sort(q.compare));
  };

  it('without a query matches everything, sorted by key, unlimited', () => {
    const q = compileQuery<Todo>(undefined, 'id');
    expect(q.limit).toBe(Infinity);
    expect(q.order).toEqual([['id', 'asc']]);
    expect(q.equality).toBeNull();
    expect(run(undefined)).toEqual(['a', 'b', 'c', 'd']);
    expect(run({})).toEqual(['a', 'b', 'c', 'd']);
  });

  it('equality where: every listed field equal, undefined fields ignored', () => {
    expect(run({ where: { done: false } })).toEqual(['b', 'c']);
    expect(run({ where: { done: false, title: 'b' } })).toEqual(['b', 'c']);
    expect(run({ where: { done: true, title: undefined } })).toEqual(['a', 'd']);
    expect(run({ where: { n: null } })).toEqual(['a']); // null matches null, not absent
    expect(run({ where: { n: undefined } })).toEqual(['a', 'b', 'c', 'd']);
    expect(run({ where: { title: 'x' } })).toEqual([]);
    expect(run({ where: {} })).toEqual(['a', 'b', 'c', 'd']);
  });

  it('equality where compares objects and arrays structurally', () => {
    const q = compileQuery<Record<string, unknown>>({ where: { tags: ['x', 'y'], at: { lat: 1, lng: 2 } } }, 'id');
    expect(q.matches({ id: 1, tags: ['x', 'y'], at: { lng: 2, lat: 1 } })).toBe(true);
    expect(q.matches({ id: 1, tags: ['y', 'x'], at: { lng: 2, lat: 1 } })).toBe(false);
    expect(q.matches({ id: 1, tags: ['x', 'y'] })).toBe(false);
  });

  it('equality is a frozen copy without undefined fields', () => {
    const where = { done: false, title: undefined };
    const q = compileQuery<Todo>({ where }, 'id');
    expect(q.equality).toEqual({ done: false });
    expect(Object.keys(q.equality!)).toEqual(['done']);
    expect(Object.isFrozen(q.equality)).toBe(true);
    expect(q.equality).not.toBe(where);
  });

  it('reads fields named after Object.prototype members as own data only', () => {
    // Matched by no entity's inherited member: a function is no value a where compares with.
    expect(() => compileQuery<Record<string, unknown>>({ where: { constructor: Object } }, 'id')).toThrow('query where.constructor must be a value to compare with');
    const parsed = JSON.parse('{"__proto__":"x"}') as Record<string, unknown>;
    const p = compileQuery<Record<string, unknown>>({ where: parsed }, 'id');
    expect(p.equality && Object.hasOwn(p.equality, '__proto__')).toBe(true);
    expect(p.matches({ id: 1 })).toBe(false);
    expect(p.matches(JSON.parse('{"id":1,"__proto__":"x"}') as Record<string, unknown>)).toBe(true);
    const sorted = compileQuery<Record<string, unknown>>({ orderBy: 'toString' }, 'id');
    expect(sorted.compare({ id: 1 }, { id: 2 })).toBe(-1); // both undefined, key decides
  });

  it('predicate where: equality is null and truthy results count as true', () => {
    const q = compileQuery<Todo>({ where: (t) => t.n === 2 }, 'id');
    expect(q.equality).toBeNull();
    expect(rows.filter(q.matches).map((r) => r.id)).toEqual(['c']);
    const truthy = compileQuery<Todo>({ where: ((t: Todo) => t.n) as unknown as (t: Todo) => boolean }, 'id');
    expect(truthy.matches(rows[0]!)).toBe(true);
    expect(truthy.matches(rows[1]!)).toBe(false);
  });

  it('orderBy forms: a field, fields, tuples, desc; ties broken by key ascending', () => {
    expect(run({ orderBy: 'title' })).toEqual(['d', 'a', 'b', 'c']);
    expect(run({ orderBy: ['title'] })).toEqual(['d', 'a', 'b', 'c']);
    expect(run({ orderBy: [['title', 'asc']] })).toEqual(['d', 'a', 'b', 'c']);
    // desc reverses the field, never the key tie-break
    expect(run({ orderBy: [['title', 'desc']] })).toEqual(['b', 'c', 'a', 'd']);
    expect(run({ orderBy: [['done', 'desc'], 'title'] })).toEqual(['d', 'a', 'b', 'c']);
    expect(run({ orderBy: [['done', 'asc'], ['n', 'desc']] })).toEqual(['c', 'b', 'd', 'a']);
    expect(run({ orderBy: [['title']] } as unknown as Query<Todo>)).toEqual(['d', 'a', 'b', 'c']); // JS: no direction is asc
  });

  it('a where naming a temporary id also matches the entities holding the id the server gave it', () => {
    const current = (field: string, value: unknown) => (field === 'listId' && value === 'tmp:1' ? 's1' : value);
    const { matches } = compileQuery<{ id: string; listId?: unknown }>({ where: { listId: 'tmp:1' } }, 'id', current);
    expect([{ listId: 'tmp:1' }, { listId: 's1' }, { listId: 's2' }, {}].map((e) => matches({ id: 'x', ...e }))).toEqual([true, true, false, false]);
  });

  it('missing and null values sort first ascending and last descending, together (the key decides between them)', () => {
    expect(run({ orderBy: 'n' })).toEqual(['a', 'b', 'd', 'c']);
    expect(run({ orderBy: [['n', 'desc']] })).toEqual(['c', 'd', 'a', 'b']);
  });

  it('mixed types in one field follow the type order', () => {
    const mixed = [
      { id: 1, v: 'x' },
      { id: 2, v: 3 },
      { id: 3, v: true },
      { id: 4, v: null },
      { id: 5 },
      { id: 6, v: [1] },
      { id: 7, v: false },
    ];
    const q = compileQuery<Record<string, unknown>>({ orderBy: 'v' }, 'id');
    expect(ids([...mixed].sort(q.compare))).toEqual([4, 5, 1, 2, 7, 3, 6]);
  });

  it('order: repeats dropped, cut after the key, key appended otherwise', () => {
    expect(compileQuery<Todo>({ orderBy: ['title', ['title', 'desc'], 'n'] }, 'id').order).toEqual([
      ['title', 'asc'],
      ['n', 'asc'],
      ['id', 'asc'],
    ]);
    expect(compileQuery<Todo>({ orderBy: [['id', 'desc'], 'title'] }, 'id').order).toEqual([['id', 'desc']]);
    expect(run({ orderBy: [['id', 'desc']] })).toEqual(['d', 'c', 'b', 'a']);
    expect(compileQuery<Todo>({ orderBy: [['title', 'desc'], 'id'] }, 'id').order).toEqual([
      ['title', 'desc'],
      ['id', 'asc'],
    ]);
    expect(Object.isFrozen(compileQuery<Todo>(undefined, 'id').order)).toBe(true);
  });

  it('uses the given key field for the tie-break', () => {
    const q = compileQuery<Record<string, unknown>>({ orderBy: 'g' }, 'uid');
    const list = [
      { uid: 2, g: 1 },
      { uid: 1, g: 1 },
    ];
    expect(list.sort(q.compare).map((r) => r['uid'])).toEqual([1, 2]);
    expect(q.order).toEqual([
      ['g', 'asc'],
      ['uid', 'asc'],
    ]);
  });

  it('compare is 0 only for the same key', () => {
    const entity = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 1, 2),
      title: fc.constantFrom('x', 'y', undefined),
      n: fc.constantFrom(1, 2, null),
    });
    const q = compileQuery<Record<string, unknown>>({ orderBy: ['title', ['n', 'desc']] }, 'id');
    fc.assert(
      fc.property(entity, entity, (a, b) => {
        if (a.id !== b.id) expect(q.compare(a, b)).not.toBe(0);
        expect(sign(q.compare(a, b))).toBe(0 - sign(q.compare(b, a)));
      }),
    );
  });

  it('limit: a non-negative integer or undefined', () => {
    expect(compileQuery<Todo>({ limit: 0 }, 'id').limit).toBe(0);
    expect(compileQuery<Todo>({ limit: 50 }, 'id').limit).toBe(50);
    expect(compileQuery<Todo>({ limit: undefined }, 'id').limit).toBe(Infinity);
    const bad: Array<[unknown, string]> = [
      [-1, '-1'],
      [1.5, '1.5'],
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      ['5', '"5"'],
      [null, 'null'],
    ];
    for (const [limit, named] of bad) {
      expect(() => compileQuery<Todo>({ limit } as Query<Todo>, 'id')).toThrow(TypeError);
      expect(() => compileQuery<Todo>({ limit } as Query<Todo>, 'id')).toThrow(`received ${named}`);
    }
  });

  it('rejects malformed orderBy, where and key field with a TypeError', () => {
    const bad: unknown[] = [
      { orderBy: '' },
      { orderBy: [''] },
      { orderBy: [['', 'asc']] },
      { orderBy: [['title', 'up']] },
      { orderBy: 5 },
      { orderBy: [5] },
      { where: 5 },
      { where: 'done' },
      { where: [] },
      { where: null },
      { where: new Date() },
    ];
    for (const query of bad) {
      expect(() => compileQuery(query as Query<Todo>, 'id'), JSON.stringify(query)).toThrow(TypeError);
      expect(() => queryKey(query as Query<Todo>, 'id'), JSON.stringify(query)).toThrow(TypeError);
    }
    expect(() => compileQuery<Todo>({ orderBy: [['title', 'up']] } as unknown as Query<Todo>, 'id')).toThrow(`"up"`);
    for (const orderBy of [5, {}]) {
      expect(() => compileQuery<Todo>({ orderBy } as unknown as Query<Todo>, 'id')).toThrow('query orderBy field must be a non-empty string');
    }
    expect(() => compileQuery<Todo>(undefined, '')).toThrow(TypeError);
  });

  it('rejects a query that is no object, an option name it does not know, or a where value no entity holds (a function, a symbol), naming it: none shows every row or none', () => {
    const bad: Array<[unknown, string]> = [
      ['title', 'a query must be an object of where, orderBy and limit, received "title"'],
      [5, 'received 5'],
      [null, 'received null'],
      [[['title', 'asc']], 'received an array'],
      [{ filter: { done: false } }, 'query.filter is not a query option (where, orderBy, limit)'],
      [{ where: { done: false }, sort: 'title' }, 'query.sort is not a query option'],
      [{ where: { title: (title: string) => title.startsWith('a') } }, 'query where.title must be a value to compare with, received a value of type function'],
      [{ where: { title: Symbol('a') } }, 'query where.title must be a value to compare with, received a value of type symbol'],
    ];
    for (const [query, message] of bad) {
      expect(() => compileQuery(query as Query<Todo>, 'id'), String(message)).toThrow(message);
      expect(() => queryKey(query as Query<Todo>, 'id'), String(message)).toThrow(message);
      expect(() => compileQuery(query as Query<Todo>, 'id')).toThrow(TypeError);
    }
  });
});

describe('queryKey', () => {
  it('is the same for equivalent queries', () => {
    const same: Array<Query<Todo>> = [
      { where: { done: false, title: 'a' }, orderBy: 'title', limit: 5 },
      { where: { title: 'a', done: false, n: undefined }, orderBy: [['title', 'asc']], limit: 5 },
      { where: { title: 'a', done: false }, orderBy: ['title', 'title', 'id', 'n'], limit: 5 },
    ];
    const keys = same.map((q) => queryKey(q, 'id'));
    expect(new Set(keys).size).toBe(1);
    expect(queryKey(undefined, 'id')).toBe(queryKey({}, 'id'));
    expect(queryKey({ where: {} }, 'id')).toBe(queryKey({}, 'id'));
    expect(queryKey({ where: { n: { a: 1, b: [1, { c: 2, d: 3 }] } } }, 'id')).toBe(
      queryKey({ where: { n: { b: [1, { d: 3, c: 2 }], a: 1 } } }, 'id'),
    );
  });

  it('differs when what the query shows differs', () => {
    const distinct: Array<Query<Todo>> = [
      {},
      { where: { done: false } },
      { where: { done: 'false' } },
      { where: { done: null } },
      { where: { n: Number.NaN } },
      { where: { n: Number.POSITIVE_INFINITY } },
      { where: { n: Number.NEGATIVE_INFINITY } },
      { where: { n: [undefined] } },
      { where: { n: [null] } },
      { where: { n: new Date(0) } },
      { where: { n: '1970-01-01T00:00:00.000Z' } },
      { orderBy: 'title' },
      { orderBy: [['title', 'desc']] },
      { orderBy: ['title', 'n'] },
      { orderBy: ['n', 'title'] },
      { limit: 0 },
      { limit: 1 },
    ];
    const keys = distinct.map((q) => queryKey(q, 'id'));
    expect(new Set(keys).size).toBe(distinct.length);
    expect(queryKey({}, 'id')).not.toBe(queryKey({}, 'uid'));
  });

  it('is null for a predicate', () => {
    expect(queryKey<Todo>({ where: () => true }, 'id')).toBeNull();
  });

  it('law: equal keys exactly when equality, order and limit are equal', () => {
    const where = fc.option(
      fc.record(
        { title: fc.constantFrom('a', 'b', undefined), done: fc.constantFrom(true, false, null, undefined) },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    );
    const field = fc.constantFrom('title', 'done', 'n', 'id');
    const orderBy = fc.option(fc.array(fc.oneof(field, fc.tuple(field, fc.constantFrom<SortDirection>('asc', 'desc'))), { maxLength: 3 }), {
      nil: undefined,
    });
    const query = fc.record({ where, orderBy, limit: fc.constantFrom(undefined, 0, 3) }) as fc.Arbitrary<Query<Todo>>;
    fc.assert(
      fc.property(query, query, (a, b) => {
        const [ca, cb] = [compileQuery(a, 'id'), compileQuery(b, 'id')];
        const same =
          JSON.stringify(ca.order) === JSON.stringify(cb.order) &&
          ca.limit === cb.limit &&
          JSON.stringify(Object.entries(ca.equality ?? {}).sort()) === JSON.stringify(Object.entries(cb.equality ?? {}).sort());
        expect(queryKey(a, 'id') === queryKey(b, 'id')).toBe(same);
      }),
    );
  });
});

describe('incremental maintenance equals a full recompute', () => {
  const idArb = fc.constantFrom('e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7');
  const titleArb = fc.constantFrom<unknown>(undefined, null, '', 'a', 'B', 'b', 'ä', 'aa');
  const doneArb = fc.constantFrom<unknown>(true, false, null);
  const nArb = fc.constantFrom<unknown>(undefined, null, 0, -1, 1, 2.5, NaN, '1', [1], { x: 1 });
  const fieldsArb = fc.record({ title: titleArb, done: doneArb, n: nArb }, { requiredKeys: [] });

  type Step =
    | { type: 'put'; id: string; fields: Partial<Todo> }
    | { type: 'patch'; id: string; fields: Partial<Todo> }
    | { type: 'delete'; id: string };
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ type: fc.constant('put' as const), id: idArb, fields: fieldsArb }),
    fc.record({ type: fc.constant('patch' as const), id: idArb, fields: fieldsArb }),
    fc.record({ type: fc.constant('delete' as const), id: idArb }),
  );

  const predicates: Array<(t: Todo) => boolean> = [
    (t) => typeof t.n === 'number' && t.n > 0,
    (t) => t.done !== true,
    (t) => typeof t.title === 'string' && t.title.length <= 1,
  ];
  const whereArb = fc.oneof(
    fc.constant(undefined),
    fc.record({ title: titleArb, done: doneArb, n: nArb }, { requiredKeys: [] }),
    fc.constantFrom(...predicates),
  );
  const fieldArb = fc.constantFrom('title', 'done', 'n', 'id');
  const orderByArb = fc.oneof(
    fc.constant(undefined),
    fieldArb,
    fc.array(fc.oneof(fieldArb, fc.tuple(fieldArb, fc.constantFrom<SortDirection>('asc', 'desc'))), { maxLength: 4 }),
  );
  const queryArb = fc.record({ where: whereArb, orderBy: orderByArb, limit: fc.constantFrom(undefined, 0, 2, 5) });

  it('after every insert, update and delete', () => {
    fc.assert(
      fc.property(queryArb, fc.array(stepArb, { maxLength: 60 }), (query, steps) => {
        const q = compileQuery<Todo>(query as Query<Todo>, 'id');
        const store = new Map<string, Todo>();
        const sorted = new SortedChunks<Todo>(q.compare);
        for (const step of steps) {
          const old = store.get(step.id);
          let next: Todo | undefined;
          if (step.type === 'put') next = { ...step.fields, id: step.id };
          else if (step.type === 'patch') next = old && { ...old, ...step.fields };
          else next = undefined;
          if (old && q.matches(old)) expect(sorted.remove(old)).toBeGreaterThanOrEqual(0);
          if (next) store.set(step.id, next);
          else store.delete(step.id);
          if (next && q.matches(next)) sorted.insert(next);

          const full = [...store.values()].filter(q.matches).sort(q.compare);
          expect(sorted.length).toBe(full.length);
          sorted.head(full.length).forEach((entity, i) => expect(entity).toBe(full[i]));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the full result does not depend on the order entities arrived in', () => {
    fc.assert(
      fc.property(queryArb, fc.uniqueArray(fc.record({ id: idArb, f: fieldsArb }), { selector: (r) => r.id }), (query, raw) => {
        const q = compileQuery<Todo>(query as Query<Todo>, 'id');
        const entities: Todo[] = raw.map((r) => ({ ...r.f, id: r.id }));
        const forward = entities.filter(q.matches).sort(q.compare);
        const backward = [...entities].reverse().filter(q.matches).sort(q.compare);
        expect(ids(forward)).toEqual(ids(backward));
      }),
    );
  });
});
