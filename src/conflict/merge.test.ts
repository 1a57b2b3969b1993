import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { deepEqual, isPlainObject } from '../internal/plain.js';
import { diffFields, threeWayMerge } from './merge.js';

type Rec = Record<string, unknown>;

const merge = (base: Rec | null, local: Rec, remote: Rec, ignore: string[] = []) =>
  threeWayMerge(base, local, remote, { ignore });

afterEach(() => {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Rec)['polluted']).toBeUndefined();
});

describe('diffFields', () => {
  it('lists top-level fields whose values differ structurally', () => {
    expect(diffFields({ a: 1, b: [1], c: { x: 1 } }, { a: 1, b: [1], c: { x: 1 } }, [])).toEqual([]);
    expect(diffFields({ a: 1, b: [1], c: { x: 1 } }, { a: 2, b: [2], c: { x: 2 } }, [])).toEqual(['a', 'b', 'c']);
  });

  it('counts an absent field as undefined', () => {
    expect(diffFields({ a: 1 }, { b: 2 }, [])).toEqual(['a', 'b']);
    expect(diffFields({ a: 1, b: undefined }, { a: 1 }, [])).toEqual([]);
    expect(diffFields(null, { a: 1 }, [])).toEqual(['a']);
    expect(diffFields({ a: 1 }, null, [])).toEqual(['a']);
    expect(diffFields(null, null, [])).toEqual([]);
    expect(diffFields({ a: undefined }, { a: 1 }, [])).toEqual(['a']); // a field deleted on one side
    expect(merge({}, { a: 'local' }, { a: undefined }).value).toEqual({ a: 'local' });
  });

  it('skips ignored and forbidden fields', () => {
    expect(diffFields({ a: 1, version: 1 }, { a: 2, version: 2 }, ['version'])).toEqual(['a']);
    const evil = JSON.parse('{"__proto__":1,"constructor":2,"prototype":3}') as Rec;
    expect(diffFields(evil, {}, [])).toEqual([]);
  });

  it('law: empty exactly when deepEqual, ignoring nothing', () => {
    const rec = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
    fc.assert(
      fc.property(rec, rec, (a, b) => {
        expect(diffFields(a, b, []).length === 0).toBe(deepEqual(a, b));
        expect(new Set(diffFields(a, b, []))).toEqual(new Set(diffFields(b, a, [])));
      }),
    );
  });
});

describe('threeWayMerge', () => {
  const base = { id: 't1', title: 'Milk', done: false, n: 1, version: 3 };

  it('takes each side’s one-sided changes', () => {
    const result = merge(base, { ...base, title: 'Oat milk' }, { ...base, done: true, version: 4 }, ['version']);
    expect(result).toEqual({ value: { id: 't1', title: 'Oat milk', done: true, n: 1, version: 4 }, conflicts: [] });
  });

  it('accepts the same change made on both sides', () => {
    expect(merge(base, { ...base, title: 'X' }, { ...base, title: 'X' })).toEqual({
      value: { ...base, title: 'X' },
      conflicts: [],
    });
  });

  it('reports both-sided different changes and keeps remote’s value', () => {
    const result = merge(base, { ...base, title: 'L', n: 2 }, { ...base, title: 'R', done: true });
    expect(result.conflicts).toEqual(['title']);
    expect(result.value).toEqual({ ...base, title: 'R', n: 2, done: true });
  });

  it('treats an absent field as deleted', () => {
    const { title: _dropped, ...withoutTitle } = base;
    expect(merge(base, withoutTitle, { ...base, done: true })).toEqual({ value: { ...withoutTitle, done: true }, conflicts: [] });
    expect(merge(base, withoutTitle, { ...base, title: 'R' }).conflicts).toEqual(['title']);
    expect(merge(base, { ...base, extra: 1 }, base).value).toEqual({ ...base, extra: 1 });
    expect(merge(base, withoutTitle, withoutTitle).value).toEqual(withoutTitle);
  });

  it('merges nested plain objects recursively with dotted conflict paths', () => {
    const b = { id: 1, address: { city: 'Oslo', zip: '0150', geo: { lat: 1, lng: 2 } } };
    const local = { id: 1, address: { city: 'Bergen', zip: '0150', geo: { lat: 5, lng: 2 } } };
    const remote = { id: 1, address: { city: 'Trondheim', zip: '7010', geo: { lat: 1, lng: 9 } } };
    expect(merge(b, local, remote)).toEqual({
      value: { id: 1, address: { city: 'Trondheim', zip: '7010', geo: { lat: 5, lng: 9 } } },
      conflicts: ['address.city'],
    });
  });

  it('treats arrays as one value', () => {
    const b = { tags: ['a', 'b'] };
    expect(merge(b, { tags: ['a', 'b', 'c'] }, { tags: ['b'] })).toEqual({ value: { tags: ['b'] }, conflicts: ['tags'] });
    expect(merge(b, { tags: ['a', 'b', 'c'] }, b)).toEqual({ value: { tags: ['a', 'b', 'c'] }, conflicts: [] });
  });

  it('conflicts on a type change against an edit, at the changed level', () => {
    const b = { address: { city: 'Oslo' } };
    expect(merge(b, { address: null }, { address: { city: 'Bergen' } })).toEqual({
      value: { address: { city: 'Bergen' } },
      conflicts: ['address'],
    });
    expect(merge(b, {}, { address: { city: 'Bergen' } }).conflicts).toEqual(['address']);
  });

  it('merges objects both sides added as if their base were empty', () => {
    expect(merge({ id: 1 }, { id: 1, meta: { a: 1, b: 1 } }, { id: 1, meta: { b: 2, c: 3 } })).toEqual({
      value: { id: 1, meta: { b: 2, c: 3, a: 1 } },
      conflicts: ['meta.b'],
    });
  });

  it('base null: fields on both sides with different values conflict, one-sided fields are kept', () => {
    const result = merge(null, { id: 1, title: 'L', done: false, local: true }, { id: 1, title: 'R', done: false, remote: 1 });
    expect(result.conflicts).toEqual(['title']);
    expect(result.value).toEqual({ id: 1, title: 'R', done: false, remote: 1, local: true });
    expect(merge(null, { a: { x: 1, y: 1 } }, { a: { x: 2, z: 1 } })).toEqual({
      value: { a: { x: 2, z: 1, y: 1 } },
      conflicts: ['a.x'],
    });
  });

  it('ignored fields take remote’s value and never conflict', () => {
    const result = merge(base, { ...base, version: 9 }, { ...base, version: 4 }, ['version']);
    expect(result).toEqual({ value: { ...base, version: 4 }, conflicts: [] });
    expect(merge(base, base, { id: 't1', title: 'Milk', done: false, n: 1 }, ['version']).value).not.toHaveProperty('version');
    expect(merge(null, { v: 1 }, {}, ['v']).value).toEqual({});
  });

  it('never merges forbidden keys, at any level, and never touches a prototype', () => {
    const evil = (text: string) => JSON.parse(text) as Rec;
    const b = evil('{"a":{"x":1}}');
    const local = evil('{"a":{"x":2,"__proto__":{"polluted":1}},"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}');
    const remote = evil('{"a":{"x":1,"y":2,"constructor":{"prototype":{"polluted":1}}},"prototype":{"polluted":1}}');
    for (const [l, r] of [
      [local, remote],
      [remote, local],
    ] as const) {
      const { value } = merge(b, l, r);
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.keys(value)).toEqual(['a']);
      expect(Object.getPrototypeOf(value['a'])).toBe(Object.prototype);
      expect(Object.keys(value['a'] as Rec).sort()).toEqual(['x', 'y']);
    }
    expect(merge(null, local, remote).value['polluted']).toBeUndefined();
  });

  it('reads fields named like Object.prototype members as own data only', () => {
    const base = { id: 't1', toString: 'x', a: { valueOf: 1 } };
    const { value, conflicts } = merge(base, { id: 't1', a: {} }, base);
    expect(conflicts).toEqual([]);
    expect(Object.hasOwn(value, 'toString')).toBe(false);
    expect(Object.hasOwn(value['a'] as Rec, 'valueOf')).toBe(false);
  });

  it('does not mutate its inputs', () => {
    const b = { a: { x: 1 }, n: 1 };
    const l = { a: { x: 2 }, n: 2 };
    const r = { a: { x: 3, y: 1 }, n: 1 };
    const snapshot = structuredClone([b, l, r]);
    merge(b, l, r);
    expect([b, l, r]).toEqual(snapshot);
  });
});

// ---------------------------------------------------------------------------------------------
// Laws, on local and remote edited from a common base so that changes overlap often.

const DELETE = Symbol('delete');
const KEYS = ['a', 'b', 'c', 'd'] as const;
const SUBKEYS = ['x', 'y', 'z'] as const;
const leaf = fc.constantFrom<unknown>(1, 2, 'a', 'b', null, true, [1], [1, 2]);
const nestedValue = fc.dictionary(fc.constantFrom(...SUBKEYS), leaf, { maxKeys: 3 });

type Edit = { kind: 'keep' } | { kind: 'delete' } | { kind: 'set'; value: unknown } | { kind: 'sub'; sub: Rec };

function editArb(nested: boolean): fc.Arbitrary<Edit> {
  const value = nested ? fc.oneof(leaf, nestedValue) : leaf;
  const edits: Array<fc.WeightedArbitrary<Edit>> = [
    { weight: 3, arbitrary: fc.constant({ kind: 'keep' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
    { weight: 2, arbitrary: value.map((v) => ({ kind: 'set' as const, value: v })) },
  ];
  if (nested) {
    const sub = fc.dictionary(fc.constantFrom(...SUBKEYS), fc.oneof(leaf, fc.constant(DELETE)), { minKeys: 1, maxKeys: 2 });
    edits.push({ weight: 2, arbitrary: sub.map((s) => ({ kind: 'sub' as const, sub: s })) });
  }
  return fc.oneof(...edits);
}

function applyEdits(base: Rec, edits: Record<string, Edit>): Rec {
  const out: Rec = { ...base };
  for (const [key, edit] of Object.entries(edits)) {
    if (edit.kind === 'delete') delete out[key];
    else if (edit.kind === 'set') out[key] = edit.value;
    else if (edit.kind === 'sub') {
      const inner: Rec = isPlainObject(out[key]) ? { ...(out[key] as Rec) } : {};
      for (const [k, v] of Object.entries(edit.sub)) {
        if (v === DELETE) delete inner[k];
        else inner[k] = v;
      }
      out[key] = inner;
    }
  }
  return out;
}

function scenarioArb(nested: boolean) {
  const value = nested ? fc.oneof(leaf, nestedValue) : leaf;
  const record = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 4 });
  const edits = fc.record(Object.fromEntries(KEYS.map((k) => [k, editArb(nested)])) as Record<string, fc.Arbitrary<Edit>>);
  return fc.record({ base: record, local: edits, remote: edits, nullBase: fc.boolean() }).map(({ base, local, remote, nullBase }) => ({
    base: nullBase ? null : base,
    local: applyEdits(base, local),
    remote: applyEdits(base, remote),
  }));
}

const get = (record: Rec | null, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (isPlainObject(v) && Object.hasOwn(v, k) ? v[k] : undefined), record);

describe('threeWayMerge laws', () => {
  for (const nested of [false, true]) {
    const scenario = scenarioArb(nested);
    const label = nested ? 'nested' : 'flat';

    it(`${label}: merge(b, x, b) = x, merge(b, b, y) = y, merge(b, x, x) = x, without conflicts`, () => {
      fc.assert(
        fc.property(scenario, ({ base, local: x, remote: y }) => {
          const b = base ?? {};
          for (const [result, expected] of [
            [merge(b, x, b), x],
            [merge(b, b, y), y],
            [merge(b, x, x), x],
            [merge(base, x, x), x],
          ] as const) {
            expect(result.conflicts).toEqual([]);
            expect(deepEqual(result.value, expected)).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    });

    it(`${label}: changes without conflict commute`, () => {
      fc.assert(
        fc.property(scenario, ({ base, local, remote }) => {
          const lr = merge(base, local, remote);
          const rl = merge(base, remote, local);
          expect(new Set(lr.conflicts)).toEqual(new Set(rl.conflicts));
          if (lr.conflicts.length === 0) expect(deepEqual(lr.value, rl.value)).toBe(true);
        }),
        { numRuns: 300 },
      );
    });

    it(`${label}: each conflict path changed on both sides differently, holding remote’s value`, () => {
      fc.assert(
        fc.property(scenario, ({ base, local, remote }) => {
          const { value, conflicts } = merge(base, local, remote);
          for (const path of conflicts) {
            const [b, l, r] = [get(base, path), get(local, path), get(remote, path)];
            expect(deepEqual(b, l) || deepEqual(b, r) || deepEqual(l, r)).toBe(false);
            expect(deepEqual(get(value, path), r)).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    });
  }

  it('flat: the conflict list is exactly the fields changed on both sides differently', () => {
    fc.assert(
      fc.property(scenarioArb(false), ({ base, local, remote }) => {
        const expected = KEYS.filter((k) => {
          const [b, l, r] = [base?.[k], local[k], remote[k]];
          return !deepEqual(b, l) && !deepEqual(b, r) && !deepEqual(l, r);
        });
        expect([...merge(base, local, remote).conflicts].sort()).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('flat: each field takes the changed side, else remote', () => {
    fc.assert(
      fc.property(scenarioArb(false), ({ base, local, remote }) => {
        const { value } = merge(base, local, remote);
        for (const k of KEYS) {
          const expected = deepEqual(base?.[k], local[k]) ? remote[k] : deepEqual(base?.[k], remote[k]) ? local[k] : remote[k];
          expect(deepEqual(value[k], expected)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ignored fields always hold remote’s value', () => {
    fc.assert(
      fc.property(scenarioArb(true), fc.subarray([...KEYS]), ({ base, local, remote }, ignore) => {
        const { value, conflicts } = merge(base, local, remote, ignore);
        for (const k of ignore) {
          expect(value[k]).toBe(remote[k]);
          expect(conflicts.some((p) => p === k || p.startsWith(`${k}.`))).toBe(false);
        }
      }),
    );
  });

  it('Object.prototype is never polluted by any merge of parsed JSON', () => {
    const key = fc.constantFrom('a', '__proto__', 'constructor', 'prototype');
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.constantFrom(1, 'x', null), tie('object')),
      object: fc.dictionary(key, tie('value'), { maxKeys: 3 }),
    })).object;
    const parsed = json.map((o) => JSON.parse(JSON.stringify(o)) as Rec);
    fc.assert(
      fc.property(fc.option(parsed, { nil: null }), parsed, parsed, (b, l, r) => {
        const { value } = merge(b, l, r);
        expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
        for (const k of ['__proto__', 'constructor', 'prototype']) expect(Object.hasOwn(value, k)).toBe(false);
        expect(Object.keys(Object.prototype)).toEqual([]);
        expect(({} as Rec)['polluted']).toBeUndefined();
      }),
    );
  });
});
