import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deepEqual } from '../internal/plain.js';
import { applyOp, coalesce, type PendingOp } from './coalesce.js';

type Rec = Record<string, unknown>;

const create = (value: Rec): PendingOp => ({ op: 'create', value });
const update = (patch: Rec): PendingOp => ({ op: 'update', patch });
const del: PendingOp = { op: 'delete' };

/** What the outbox does with coalesce's answer: the unsent entries of one entity. */
function enqueue(queue: PendingOp[], next: PendingOp): void {
  const last = queue[queue.length - 1];
  if (last === undefined) {
    queue.push(next);
    return;
  }
  const result = coalesce(last, next);
  if (result.kind === 'replace') queue[queue.length - 1] = result.op;
  else if (result.kind === 'cancel') queue.pop();
  else queue.push(next);
}

const fold = (ops: readonly PendingOp[]): PendingOp[] => {
  const queue: PendingOp[] = [];
  for (const op of ops) enqueue(queue, op);
  return queue;
};

const serve = (initial: Rec | null, ops: readonly PendingOp[]): Rec | null => ops.reduce(applyOp, initial);

describe('coalesce', () => {
  it('update + update: one update, later fields win', () => {
    const prev = update({ title: 'a', done: false });
    const next = update({ title: 'b', n: 1 });
    expect(coalesce(prev, next)).toEqual({ kind: 'replace', op: update({ title: 'b', done: false, n: 1 }) });
    expect(prev).toEqual(update({ title: 'a', done: false }));
    expect(next).toEqual(update({ title: 'b', n: 1 }));
  });

  it('create + update: one create with the patch applied', () => {
    const prev = create({ id: 't1', title: 'a', done: false });
    expect(coalesce(prev, update({ done: true }))).toEqual({
      kind: 'replace',
      op: create({ id: 't1', title: 'a', done: true }),
    });
    expect(prev).toEqual(create({ id: 't1', title: 'a', done: false }));
  });

  it('create + delete: cancel', () => {
    expect(coalesce(create({ id: 't1' }), del)).toEqual({ kind: 'cancel' });
  });

  it('update + delete: one delete', () => {
    expect(coalesce(update({ title: 'a' }), del)).toEqual({ kind: 'replace', op: del });
  });

  it('delete + create: append, the delete first', () => {
    expect(coalesce(del, create({ id: 't1' }))).toEqual({ kind: 'append' });
  });

  it('throws for pairs a consistent caller never produces', () => {
    const impossible: Array<[PendingOp, PendingOp]> = [
      [del, update({ a: 1 })],
      [del, del],
      [create({}), create({})],
      [update({}), create({})],
    ];
    for (const [prev, next] of impossible) {
      expect(() => coalesce(prev, next)).toThrow(`cannot queue ${next.op} after an unsent ${prev.op}`);
    }
  });

  it('ten updates become one update', () => {
    const ops = Array.from({ length: 10 }, (_, i) => update({ title: `t${i}`, [`f${i % 3}`]: i }));
    expect(fold(ops)).toEqual([update({ title: 't9', f0: 9, f1: 7, f2: 8 })]);
  });

  it('never merges a forbidden key or touches a prototype', () => {
    const evil = JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"a":1}') as Rec;
    const merged = coalesce(update({ b: 2 }), update(evil));
    const created = coalesce(create({ id: 1 }), update(evil));
    expect(merged).toEqual({ kind: 'replace', op: update({ a: 1, b: 2 }) });
    expect(created).toEqual({ kind: 'replace', op: create({ id: 1, a: 1 }) });
    for (const result of [merged, created]) {
      if (result.kind !== 'replace') throw new Error('expected replace');
      const payload = result.op.op === 'update' ? result.op.patch : result.op.op === 'create' ? result.op.value : {};
      expect(Object.getPrototypeOf(payload)).toBe(Object.prototype);
      expect(Object.hasOwn(payload, '__proto__') || Object.hasOwn(payload, 'constructor')).toBe(false);
    }
    expect(({} as Rec)['polluted']).toBeUndefined();
  });
});

describe('applyOp', () => {
  it('create yields a copy of its value, whatever was there', () => {
    const value = { id: 1, a: 1 };
    const result = applyOp(null, create(value));
    expect(result).toEqual(value);
    expect(result).not.toBe(value);
    expect(applyOp({ id: 1, old: true }, create(value))).toEqual(value);
  });

  it('update applies the patch shallowly without mutating the entity', () => {
    const entity = { id: 1, a: { x: 1 }, b: 2 };
    expect(applyOp(entity, update({ a: { y: 2 } }))).toEqual({ id: 1, a: { y: 2 }, b: 2 });
    expect(entity).toEqual({ id: 1, a: { x: 1 }, b: 2 });
  });

  it('update of an absent entity leaves it absent (the server answers 404)', () => {
    expect(applyOp(null, update({ a: 1 }))).toBeNull();
  });

  it('delete leaves nothing', () => {
    expect(applyOp({ id: 1 }, del)).toBeNull();
    expect(applyOp(null, del)).toBeNull();
  });
});

describe('law: coalescing preserves what the server ends up holding', () => {
  const field = fc.constantFrom('title', 'done', 'n', '__proto__', 'constructor');
  const value = fc.oneof(fc.string({ maxLength: 2 }), fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.constant(null));
  const rec = fc.dictionary(field, value, { maxKeys: 4 });

  /** Sequences valid from the entity's existence: updates and deletes only while it exists. */
  const scenario = fc
    .record({
      initial: fc.option(rec, { nil: null }),
      choices: fc.array(fc.record({ kind: fc.constantFrom('change', 'delete'), payload: rec }), { maxLength: 30 }),
    })
    .map(({ initial, choices }) => {
      const ops: PendingOp[] = [];
      let exists = initial !== null;
      for (const { kind, payload } of choices) {
        if (!exists) ops.push(create(payload));
        else if (kind === 'delete') ops.push(del);
        else ops.push(update(payload));
        exists = ops[ops.length - 1]!.op !== 'delete';
      }
      return { initial: initial === null ? null : { ...initial }, ops };
    });

  it('folded entries applied in order equal every op applied in order', () => {
    fc.assert(
      fc.property(scenario, ({ initial, ops }) => {
        const queue = fold(ops);
        expect(deepEqual(serve(initial, queue), serve(initial, ops))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('at most two entries remain, and two only as delete then create', () => {
    fc.assert(
      fc.property(scenario, ({ initial, ops }) => {
        const queue = fold(ops);
        const shape = queue.map((op) => op.op).join(',');
        const before = initial !== null;
        const after = serve(initial, ops) !== null;
        expect(queue.length).toBeLessThanOrEqual(2);
        // The exact shape follows from existence before and after.
        if (!before && !after) expect(shape).toBe('');
        if (!before && after) expect(shape).toBe('create');
        if (before && !after) expect(shape).toBe('delete');
        if (before && after) expect(['', 'update', 'delete,create']).toContain(shape);
        if (ops.length > 0 && ops.every((op) => op.op === 'update')) expect(shape).toBe('update');
      }),
      { numRuns: 500 },
    );
  });

  it('inputs are never mutated', () => {
    fc.assert(
      fc.property(scenario, ({ ops }) => {
        const snapshot = structuredClone(ops);
        fold(ops);
        expect(ops).toEqual(snapshot);
      }),
    );
  });
});
