import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource } from '../resource.js';
import { latestValuesLast, referrersOf, replaceReferences, waitsForId } from './remap.js';

const schema = z.object({ id: z.string() });
const projects = defineResource({ name: 'projects', schema });
const todos = defineResource({ name: 'todos', schema, references: { projectId: 'projects', ownerId: 'users' } });
const links = defineResource({ name: 'links', schema, references: { from: 'projects', to: 'projects' } });

describe('remap', () => {
  it('finds every resource and field that references a resource', () => {
    expect(referrersOf([projects, todos, links], 'projects')).toEqual([
      { r: 'todos', fields: ['projectId'] },
      { r: 'links', fields: ['from', 'to'] },
    ]);
    expect(referrersOf([projects, todos], 'todos')).toEqual([]);
  });

  it('replaces only the named fields holding the old id, keeping the object when nothing changes', () => {
    const value = { id: 't', projectId: 'tmp:1', note: 'tmp:1' };
    expect(replaceReferences(value, ['projectId'], 'tmp:1', '7')).toEqual({ id: 't', projectId: '7', note: 'tmp:1' });
    expect(value.projectId).toBe('tmp:1');
    const untouched = { id: 't', projectId: '3' };
    expect(replaceReferences(untouched, ['projectId'], 'tmp:1', '7')).toBe(untouched);
    expect(replaceReferences(null, ['projectId'], 'tmp:1', '7')).toBeNull();
  });

  it('is undone by the inverse replacement when the new id was not there before', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('tmp:x', 'y', 'z')), (value) => {
        const there = replaceReferences(value, ['a', 'b'], 'tmp:x', 'new');
        expect(replaceReferences(there, ['a', 'b'], 'new', 'tmp:x')).toEqual(value);
      }),
    );
  });

  it('holds back a payload that points at a temporary id', () => {
    expect(waitsForId({ projectId: 'tmp:abc' }, ['projectId'])).toBe(true);
    expect(waitsForId({ projectId: '12' }, ['projectId'])).toBe(false);
    expect(waitsForId(null, ['projectId'])).toBe(false);
  });
});

describe('latestValuesLast', () => {
  type Twin = { op: 'create' | 'update' | 'delete'; payload: Record<string, unknown> | null; frozen: boolean; state: 'queued' | 'conflict' | 'failed'; changedAt: number };
  const update = (changedAt: number, payload: Record<string, unknown>, frozen = false, state: Twin['state'] = 'queued'): Twin => ({ op: 'update', payload, frozen, state, changedAt });

  it('gives a later entry the value of an earlier one changed after it (a coalesced entry under the other id)', () => {
    // Outbox order: the temporary id's entry, coalesced until t=166, then the real id's, changed at t=138.
    const entries = [update(166, { title: 'made last', done: true }), update(138, { title: 'made first' })];
    const out = latestValuesLast(entries, 'id');
    expect(out[1]!.payload).toEqual({ title: 'made last' });
    expect(out[0]).toBe(entries[0]);
    expect(entries[1]!.payload).toEqual({ title: 'made first' });
  });

  it('leaves frozen entries, deletes, the key field and entries already in time order as they are', () => {
    const inOrder = [update(1, { title: 'a' }), update(2, { title: 'b' })];
    expect(latestValuesLast(inOrder, 'id')).toEqual(inOrder);
    const frozen = [update(5, { title: 'late' }), update(2, { title: 'sent' }, true), update(3, { title: 'parked' }, true, 'failed')];
    expect(latestValuesLast(frozen, 'id').slice(1)).toEqual(frozen.slice(1));
    const keyed: Twin[] = [
      { op: 'create', payload: { id: '7', title: 'x' }, frozen: false, state: 'queued', changedAt: 9 },
      { op: 'create', payload: { id: '8' }, frozen: false, state: 'queued', changedAt: 1 },
    ];
    expect(latestValuesLast(keyed, 'id')[1]!.payload).toEqual({ id: '8' });
    const deleted: Twin[] = [update(9, { title: 'x' }), { op: 'delete', payload: null, frozen: false, state: 'queued', changedAt: 1 }];
    expect(latestValuesLast(deleted, 'id')).toEqual(deleted);
  });

  it('brings a change parked as a conflict along too: its decision goes out under a new key', () => {
    const entries = [update(9, { title: 'late' }), update(2, { title: 'parked' }, true, 'conflict')];
    expect(latestValuesLast(entries, 'id')[1]!.payload).toEqual({ title: 'late' });
  });

  const twin = fc.record({
    op: fc.constantFrom<'create' | 'update' | 'delete'>('create', 'update', 'update', 'delete'),
    payload: fc.dictionary(fc.constantFrom('title', 'done', 'note'), fc.integer({ min: 0, max: 3 }), { minKeys: 1 }),
    frozen: fc.boolean(),
    state: fc.constantFrom<Twin['state']>('queued', 'queued', 'conflict', 'failed'),
    changedAt: fc.integer({ min: 0, max: 20 }),
  }).map((e): Twin => ({ ...e, payload: e.op === 'delete' ? null : e.payload }));

  const fixed = (e: Twin) => e.frozen && e.state !== 'conflict';

  it('ends each field, applied in outbox order, on the value of the entry that set it last in time', () => {
    fc.assert(
      fc.property(fc.array(twin, { maxLength: 8 }), (entries) => {
        const out = latestValuesLast(entries, 'id');
        expect(out).toHaveLength(entries.length);
        const sets = (e: Twin) => (e.op === 'delete' ? [] : Object.keys(e.payload!));
        for (const field of ['title', 'done', 'note']) {
          const setters = entries.map((e, i) => ({ e, i })).filter(({ e }) => sets(e).includes(field));
          if (setters.length === 0) continue;
          const winner = setters.reduce((a, b) => (b.e.changedAt >= a.e.changedAt ? b : a));
          // A frozen entry after the winner with another value keeps it: its request may be out.
          const lastSetter = setters.at(-1)!;
          const expected = fixed(lastSetter.e) ? lastSetter.e.payload![field] : winner.e.payload![field];
          expect(out[lastSetter.i]!.payload![field]).toEqual(expected);
        }
        entries.forEach((e, i) => {
          if (fixed(e) || e.op === 'delete') expect(out[i]).toBe(e);
          else expect(Object.keys(out[i]!.payload!)).toEqual(Object.keys(e.payload!));
        });
        expect(latestValuesLast(out, 'id')).toEqual(out);
      }),
    );
  });
});
