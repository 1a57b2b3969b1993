import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toIfMatch } from './etag.js';

const ENTITY_TAG = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;

describe('toIfMatch', () => {
  it('quotes numbers', () => {
    expect(toIfMatch(3)).toBe('"3"');
    expect(toIfMatch(0)).toBe('"0"');
    expect(toIfMatch(-0)).toBe('"0"');
    expect(toIfMatch(-7)).toBe('"-7"');
    expect(toIfMatch(1.5)).toBe('"1.5"');
    expect(toIfMatch(1e21)).toBe('"1e+21"');
    expect(toIfMatch(12345678901234567890n)).toBe('"12345678901234567890"');
  });

  it('quotes strings, percent-encoding what an entity-tag cannot hold', () => {
    expect(toIfMatch('abc')).toBe('"abc"');
    expect(toIfMatch('')).toBe('""');
    expect(toIfMatch('2024-01-15T12:00:00Z')).toBe('"2024-01-15T12:00:00Z"');
    expect(toIfMatch('a b')).toBe('"a%20b"');
    expect(toIfMatch('a"b')).toBe('"a%22b"');
    expect(toIfMatch('a\\b')).toBe('"a%5Cb"');
    expect(toIfMatch('100%')).toBe('"100%25"');
    expect(toIfMatch('é')).toBe('"%C3%A9"');
    expect(toIfMatch('😀')).toBe('"%F0%9F%98%80"');
    expect(toIfMatch('\n')).toBe('"%0A"');
  });

  it('passes a string that already is a strong entity-tag through', () => {
    expect(toIfMatch('"3"')).toBe('"3"');
    expect(toIfMatch('"a')).toBe('"%22a"');
  });

  it('refuses a weak entity-tag: If-Match compares strongly, so it would never match', () => {
    expect(() => toIfMatch('W/"abc"')).toThrow(TypeError);
    expect(() => toIfMatch('W/"abc"')).toThrow(/weak entity-tag \(W\/"abc"\) never matches If-Match/);
  });

  it('throws a TypeError for anything that is not a version', () => {
    for (const value of [null, undefined, NaN, Infinity, -Infinity, true, {}, [], Symbol('v')]) {
      expect(() => toIfMatch(value), String(value)).toThrow(TypeError);
    }
    expect(() => toIfMatch(undefined)).toThrow('received undefined');
    expect(() => toIfMatch(NaN)).toThrow('received NaN');
  });

  it('law: always a valid entity-tag that fetch accepts as a header value', () => {
    const version = fc.oneof(fc.string({ unit: 'binary' }), fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
    fc.assert(
      fc.property(version, (v) => {
        fc.pre(!(typeof v === 'string' && /^W\/"[\x21\x23-\x7e]*"$/.test(v)));
        const tag = toIfMatch(v);
        expect(tag).toMatch(ENTITY_TAG);
        expect(() => new Headers({ 'If-Match': tag })).not.toThrow();
      }),
    );
  });

  it('law: the quoted content gives the version back (after percent-decoding strings)', () => {
    fc.assert(fc.property(fc.integer(), (n) => toIfMatch(n) === `"${n}"`));
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }).filter((s) => !ENTITY_TAG.test(s)), (s) => {
        expect(decodeURIComponent(toIfMatch(s).slice(1, -1))).toBe(s);
      }),
    );
  });
});
