import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { applyPatch, copyPlain, deepEqual, FORBIDDEN_KEYS, freezeDeep, isForbiddenKey, isPlainObject, MAX_DEPTH, nestedTooDeep, unsendableField } from './plain.js';

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString'));
const record = fc.dictionary(key, jsonValue, { maxKeys: 6 });

function assertPrototypeClean(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
}

afterEach(assertPrototypeClean);

describe('FORBIDDEN_KEYS', () => {
  it('lists exactly the prototype-reaching keys', () => {
    expect([...FORBIDDEN_KEYS].sort()).toEqual(['__proto__', 'constructor', 'prototype']);
    for (const key of FORBIDDEN_KEYS) expect(isForbiddenKey(key)).toBe(true);
    expect(isForbiddenKey('proto')).toBe(false);
    expect(isForbiddenKey('Constructor')).toBe(false);
  });
});

describe('nestedTooDeep', () => {
  const nested = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);

  it('names the first array or plain object at level MAX_DEPTH (the value itself is level 0), as unsendableField does', () => {
    expect(nestedTooDeep({ a: nested(MAX_DEPTH - 1), b: 'x', at: new Date(0) })).toBeNull();
    expect(nestedTooDeep({ a: 1, b: { c: nested(MAX_DEPTH - 1) } })).toBe(`b.c${'.0'.repeat(MAX_DEPTH - 2)}`);
    expect(unsendableField({ a: 1, b: { c: nested(MAX_DEPTH - 1) } })?.field).toBe(nestedTooDeep({ a: 1, b: { c: nested(MAX_DEPTH - 1) } }));
    expect(nestedTooDeep(nested(50_000))).toBe(Array.from({ length: MAX_DEPTH }, () => '0').join('.'));
  });
});

describe('copyPlain', () => {
  it('copies plain objects and arrays at every depth, an own __proto__ key as data; leaves dates, class instances and what is past a cycle or MAX_DEPTH as they are', () => {
    const at = new Date(0);
    const given = JSON.parse('{"a":{"b":[{"c":1}]},"__proto__":{"d":[2]}}') as Record<string, unknown>;
    Object.assign(given, { at });
    const copy = copyPlain(given) as Record<string, unknown>;
    expect(copy).toEqual(given);
    expect(copy).not.toBe(given);
    expect(copy['a']).not.toBe(given['a']);
    expect((copy['a'] as { b: unknown[] }).b[0]).not.toBe((given['a'] as { b: unknown[] }).b[0]);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')!.value).toEqual({ d: [2] });
    expect(copy['at']).toBe(at);
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic['self'] = cyclic;
    expect((copyPlain(cyclic) as Record<string, unknown>)['self']).toBe(cyclic);
    expect(unsendableField(copyPlain(JSON.parse(`${'['.repeat(MAX_DEPTH + 5)}${']'.repeat(MAX_DEPTH + 5)}`)))).not.toBeNull();
  });
});

describe('freezeDeep', () => {
  it('freezes plain objects and arrays at every depth, an own __proto__ key as data; leaves dates and class instances as they are', () => {
    class Point {
      x = 1;
    }
    const entity = JSON.parse('{"a":{"b":[{"c":1}]},"__proto__":{"d":[2]}}') as Record<string, unknown>;
    Object.assign(entity, { at: new Date(0), point: new Point() });
    expect(freezeDeep(entity)).toBe(entity);
    const inner = entity['a'] as { b: Array<{ c: number }> };
    for (const value of [entity, inner, inner.b, inner.b[0], Object.getOwnPropertyDescriptor(entity, '__proto__')!.value as object]) expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(entity['at'])).toBe(false);
    expect(Object.isFrozen(entity['point'])).toBe(false);
  });

  it('does not walk into a value frozen already: a patched copy pays for its changed fields only', () => {
    const shared = Object.freeze({ deep: { not: 'walked' } });
    freezeDeep({ shared });
    expect(Object.isFrozen(shared.deep)).toBe(false);
  });
});

describe('isPlainObject', () => {
  it('accepts object literals, null-prototype objects and parsed JSON', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject({ a: 1 })).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject(JSON.parse('{"__proto__":{"x":1}}'))).toBe(true);
    expect(isPlainObject(structuredClone({ a: [1] }))).toBe(true);
  });

  it('accepts a plain object from another realm (an iframe), as data equal to this realm\'s', () => {
    const foreign: unknown = runInNewContext('({ a: 1, b: { c: [2] } })');
    expect(isPlainObject(foreign)).toBe(true);
    expect(deepEqual(foreign, { a: 1, b: { c: [2] } })).toBe(true);
    expect(unsendableField(foreign)).toBeNull();
  });

  it('rejects everything else', () => {
    class Thing {}
    for (const value of [null, undefined, 0, 'a', true, [], [1], new Date(), new Map(), new Thing(), () => 1, /x/]) {
      expect(isPlainObject(value)).toBe(false);
    }
  });
});

describe('deepEqual', () => {
  it('compares primitives by identity', () => {
    expect(deepEqual(1, 1)).toBe(true);
    expect(deepEqual(0, -0)).toBe(true);
    expect(deepEqual('a', 'a')).toBe(true);
    expect(deepEqual(null, null)).toBe(true);
    expect(deepEqual(undefined, undefined)).toBe(true);
    expect(deepEqual(1, '1')).toBe(false);
    expect(deepEqual(null, undefined)).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual(0, false)).toBe(false);
  });

  it('compares arrays element-wise and never equal to objects', () => {
    expect(deepEqual([1, [2, { a: 3 }]], [1, [2, { a: 3 }]])).toBe(true);
    expect(deepEqual([1, 2], [2, 1])).toBe(false);
    expect(deepEqual([1], [1, 2])).toBe(false);
    expect(deepEqual([], {})).toBe(false);
    expect(deepEqual({}, [])).toBe(false);
    expect(deepEqual({ 0: 'a', length: 1 }, ['a'])).toBe(false);
  });

  it('ignores key order and treats an undefined property as absent', () => {
    expect(deepEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(deepEqual({ a: { b: 1 } }, { a: { b: 2 } })).toBe(false);
    expect(deepEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(deepEqual({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(deepEqual({ toString: undefined }, {})).toBe(true); // absent, not Object.prototype's
    expect(deepEqual({}, { toString: undefined })).toBe(true);
  });

  it('compares dates by time and other objects by identity', () => {
    expect(deepEqual(new Date(5), new Date(5))).toBe(true);
    expect(deepEqual(new Date(5), new Date(6))).toBe(false);
    expect(deepEqual(new Date(5), {})).toBe(false);
    expect(deepEqual({}, new Date(5))).toBe(false);
    const map = new Map();
    expect(deepEqual(map, map)).toBe(true);
    expect(deepEqual(new Map(), new Map())).toBe(false);
  });

  it('reads own data keys named __proto__ as data', () => {
    const a = JSON.parse('{"__proto__":{"x":1}}') as unknown;
    const b = JSON.parse('{"__proto__":{"x":2}}') as unknown;
    expect(deepEqual(a, JSON.parse('{"__proto__":{"x":1}}'))).toBe(true);
    expect(deepEqual(a, b)).toBe(false);
    expect(deepEqual(a, {})).toBe(false);
  });

  it('is reflexive on clones, symmetric, and agrees with JSON text on canonical values', () => {
    fc.assert(fc.property(jsonValue, (v) => deepEqual(v, structuredClone(v))));
    fc.assert(
      fc.property(jsonValue, jsonValue, (a, b) => {
        expect(deepEqual(a, b)).toBe(deepEqual(b, a));
      }),
    );
    // Sorting keys makes JSON text canonical, so equal text ⇔ deepEqual for JSON values.
    const canonical = (v: unknown): string =>
      JSON.stringify(v, (_k, x: unknown) =>
        isPlainObject(x) ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : 1))) : x,
      );
    fc.assert(
      fc.property(jsonValue, jsonValue, (a, b) => {
        expect(deepEqual(a, b)).toBe(canonical(a) === canonical(b));
      }),
    );
  });
});

describe('applyPatch', () => {
  it('replaces top-level fields in a new object and mutates nothing', () => {
    const target = { a: 1, b: { c: 2 }, d: 'x' };
    const patch = { b: { e: 3 }, f: true };
    const result = applyPatch(target, patch);
    expect(result).toEqual({ a: 1, b: { e: 3 }, d: 'x', f: true });
    expect(result).not.toBe(target);
    expect(target).toEqual({ a: 1, b: { c: 2 }, d: 'x' });
    expect(patch).toEqual({ b: { e: 3 }, f: true });
  });

  it('sets undefined values (equal to absent)', () => {
    const result = applyPatch({ a: 1, b: 2 }, { b: undefined });
    expect(Object.hasOwn(result, 'b')).toBe(true);
    expect(deepEqual(result, { a: 1 })).toBe(true);
  });

  it('skips forbidden keys of the patch and never touches a prototype', () => {
    const payloads = [
      '{"__proto__":{"polluted":1}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '{"prototype":{"polluted":1}}',
      '{"a":1,"__proto__":{"polluted":1},"constructor":1}',
    ];
    for (const text of payloads) {
      const result = applyPatch({ keep: 1 }, JSON.parse(text) as Record<string, unknown>);
      expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
      expect(Object.hasOwn(result, '__proto__')).toBe(false);
      expect(Object.hasOwn(result, 'constructor')).toBe(false);
      expect(Object.hasOwn(result, 'prototype')).toBe(false);
      expect(result['keep']).toBe(1);
      expect(result['polluted']).toBeUndefined();
      assertPrototypeClean();
    }
  });

  it('keeps a forbidden key already own data of the target as plain data', () => {
    const target = JSON.parse('{"__proto__":{"polluted":1},"a":1}') as Record<string, unknown>;
    const result = applyPatch(target, { a: 2 });
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.hasOwn(result, '__proto__')).toBe(true);
    expect(result['polluted']).toBeUndefined();
    expect(result['a']).toBe(2);
  });

  it('ignores inherited keys of the patch', () => {
    const patch = Object.create({ inherited: 1 }) as Record<string, unknown>;
    patch['own'] = 2;
    expect(applyPatch({}, patch)).toEqual({ own: 2 });
  });

  it('law: every patch field wins, every other target field stays', () => {
    fc.assert(
      fc.property(record, record, (target, patch) => {
        const before = structuredClone(target);
        const result = applyPatch(target, patch);
        for (const key of Object.keys(patch)) {
          if (!isForbiddenKey(key)) expect(result[key]).toBe(patch[key]);
        }
        for (const key of Object.keys(target)) {
          if (!Object.hasOwn(patch, key) || isForbiddenKey(key)) expect(result[key]).toBe(target[key]);
        }
        expect(target).toEqual(before);
        expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
      }),
    );
  });

  it('law: patches compose like one merged patch', () => {
    fc.assert(
      fc.property(record, record, record, (target, p1, p2) => {
        expect(deepEqual(applyPatch(applyPatch(target, p1), p2), applyPatch(target, applyPatch(p1, p2)))).toBe(true);
      }),
    );
  });
});

describe('unsendableField', () => {
  it('refuses nesting past a thousand levels by its path, before the stack runs out', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    const found = unsendableField({ meta: deep });
    expect(found?.message).toBe('nests deeper than 1000 levels');
    expect(found?.field.split('.')).toHaveLength(1000);
    let fine: Record<string, unknown> = {};
    for (let i = 0; i < 998; i++) fine = { a: fine };
    expect(unsendableField({ meta: fine })).toBeNull();
  });

  it('law: JSON values, and records of them, are sendable', () => {
    fc.assert(fc.property(jsonValue, record, (value, rec) => {
      expect(unsendableField(value)).toBeNull();
      expect(unsendableField(rec)).toBeNull();
    }));
  });

  it('accepts valid Dates, null-prototype objects and undefined properties (absent, as in JSON)', () => {
    expect(unsendableField({ at: new Date(0), meta: Object.assign(Object.create(null) as object, { a: [1, 'x', null, true] }), note: undefined })).toBeNull();
    const shared = { a: 1 };
    expect(unsendableField({ x: shared, y: [shared, shared] })).toBeNull(); // shared, not a cycle
  });

  class Point {
    constructor(readonly x: number) {}
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic['self'] = { back: cyclic };

  it.each([
    ['a function', { x: () => 1 }, 'x', /a function, which IndexedDB cannot store/],
    ['a symbol', { x: Symbol('s') }, 'x', /a symbol/],
    ['a bigint', { n: 1n }, 'n', /a bigint, which a JSON request cannot carry/],
    ['NaN', { n: NaN }, 'n', /NaN, which a JSON request carries as null/],
    ['Infinity, nested', { a: { b: [1, -Infinity] } }, 'a.b.1', /-Infinity/],
    ['an invalid Date', { at: new Date(NaN) }, 'at', /an invalid Date/],
    ['undefined in an array', { tags: ['a', undefined] }, 'tags.1', /undefined in an array/],
    ['a hole in an array', { tags: [1, , 3] }, 'tags.1', /undefined in an array/],
    ['a Map', { m: new Map() }, 'm', /a Map, not plain data/],
    ['a Set in an array', { l: [new Set()] }, 'l.0', /a Set/],
    ['a typed array', { b: new Uint8Array(2) }, 'b', /a Uint8Array/],
    ['a class instance', { p: new Point(1) }, 'p', /a Point/],
    ['a boxed string', { s: new String('x') }, 's', /a String/],
    ['a cycle', cyclic, 'self.back', /refers back/],
  ])('refuses %s, naming its path', (_, value, field, message) => {
    const found = unsendableField(value);
    expect(found).toEqual({ field, message: expect.stringMatching(message) as unknown });
  });
});
