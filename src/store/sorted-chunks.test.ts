import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SortedChunks } from './sorted-chunks.js';

const cmp = (a: number, b: number) => a - b;

describe('SortedChunks', () => {
  it('inserts and removes like a sorted array, reporting the same indexes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { maxLength: 3000 }), fc.integer({ min: 0, max: 2000 }), (ops, start) => {
        const initial = Array.from({ length: start }, (_, i) => i * 2);
        const list = new SortedChunks<number>(cmp);
        list.reset(initial);
        const model = [...initial];
        for (const [insert, x] of ops) {
          const found = model.indexOf(x);
          if (insert) {
            let at = found;
            if (found < 0) {
              at = model.findIndex((y) => y > x);
              if (at < 0) at = model.length;
              model.splice(at, 0, x);
            }
            expect(list.insert(x)).toBe(at);
          } else {
            if (found >= 0) model.splice(found, 1);
            expect(list.remove(x)).toBe(found);
          }
          expect(list.length).toBe(model.length);
        }
        expect(list.head(Infinity)).toEqual(model);
        expect(list.head(50)).toEqual(model.slice(0, 50));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps a model through splits, replacements of equal items and emptying, at every chunk boundary', () => {
    type Item = { k: number; v: string };
    const byKey = (a: Item, b: Item) => a.k - b.k;
    const keys = Array.from({ length: 1500 }, (_, i) => i);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 375 }), fc.shuffledSubarray(keys, { minLength: 1200 }), fc.shuffledSubarray(keys, { minLength: 1500 }), (start, adds, removes) => {
        const list = new SortedChunks<Item>(byKey);
        expect(list.remove({ k: 0, v: '' })).toBe(-1);
        const model: Item[] = Array.from({ length: start }, (_, i) => ({ k: i * 4, v: 'old' }));
        list.reset(model);
        for (const k of adds) {
          const item = { k, v: 'new' };
          let at = model.findIndex((y) => y.k >= k);
          if (at < 0) at = model.length;
          model.splice(at, model[at]?.k === k ? 1 : 0, item);
          expect(list.insert(item)).toBe(at);
          expect(list.length).toBe(model.length);
        }
        expect(list.head(Infinity)).toEqual(model);
        for (const k of removes) {
          const at = model.findIndex((y) => y.k === k);
          if (at >= 0) model.splice(at, 1);
          expect(list.remove({ k, v: '' })).toBe(at);
        }
        expect(list.length).toBe(0);
        expect(list.head(Infinity)).toEqual([]);
        expect(list.remove({ k: 0, v: '' })).toBe(-1);
        expect(list.insert({ k: 7, v: 'again' })).toBe(0);
        expect(list.length).toBe(1);
        expect(list.head(Infinity)).toEqual([{ k: 7, v: 'again' }]);
      }),
      { numRuns: 20 },
    );
  });

  it('reports indexes exactly below the cap, and at least the cap above it', () => {
    const list = new SortedChunks<number>(cmp);
    list.reset(Array.from({ length: 5000 }, (_, i) => i * 2));
    expect(list.insert(1, 50)).toBe(1);
    expect(list.insert(9001, 50)).toBeGreaterThanOrEqual(50);
    expect(list.remove(9001, 50)).toBeGreaterThanOrEqual(50);
    expect(list.remove(1, 50)).toBe(1);
  });
});
