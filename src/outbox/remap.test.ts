import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineResource } from '../resource.js';
import { outboxEntry } from '../../test/helpers/outbox-entry.js';
import { mergeTwins, recreateAfterSentDelete, referrersOf, replaceReferences, waitsForId } from './remap.js';

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

  it('leaves no named field naming the old id, and is undone by the inverse replacement when the new id was not there before', () => {
    const id = fc.constantFrom('tmp:x', 'y', 'z');
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(id, fc.array(id, { maxLength: 3 }))), (value) => {
        const there = replaceReferences(value, ['a', 'b'], 'tmp:x', 'new');
        for (const field of ['a', 'b']) expect([there[field]].flat()).not.toContain('tmp:x');
        expect(replaceReferences(there, ['a', 'b'], 'new', 'tmp:x')).toEqual(value);
      }),
    );
  });

  it('holds back a payload that points at a temporary id', () => {
    expect(waitsForId({ projectId: 'tmp:abc' }, ['projectId'])).toBe(true);
    expect(waitsForId({ projectId: '12' }, ['projectId'])).toBe(false);
    expect(waitsForId(null, ['projectId'])).toBe(false);
  });

  it('treats a field holding an array as holding each of its ids', () => {
    const value = { id: 't', projectIds: ['3', 'tmp:1', 'tmp:2'] };
    expect(replaceReferences(value, ['projectIds'], 'tmp:1', 7)).toEqual({ id: 't', projectIds: ['3', 7, 'tmp:2'] });
    expect(value.projectIds).toEqual(['3', 'tmp:1', 'tmp:2']);
    const untouched = { id: 't', projectIds: ['3'] };
    expect(replaceReferences(untouched, ['projectIds'], 'tmp:1', '7')).toBe(untouched);
    expect(waitsForId({ projectIds: ['3', 'tmp:abc'] }, ['projectIds'])).toBe(true);
    expect(waitsForId({ projectIds: ['3', 12] }, ['projectIds'])).toBe(false);
  });
});

describe('mergeTwins', () => {
  type Twin = {
    seq: number;
    op: 'create' | 'update' | 'delete';
    payload: Record<string, unknown> | null;
    frozen: boolean;
    state: 'queued' | 'conflict' | 'failed';
    failure: { message: string; rejected: boolean } | null;
    changedAt: number;
    lastSeq?: number;
  };
  let next = 0;
  // `made`: the entry's newest change's place in the order the changes were made (`lastSeq`, the
  // number the outbox drew for it), whatever its place in the queue (`seq`). Its time says nothing.
  const update = (made: number, payload: Record<string, unknown>, frozen = false, state: Twin['state'] = 'queued'): Twin => ({
    seq: next++,
    op: 'update',
    payload,
    frozen,
    state,
    failure: null,
    changedAt: 0,
    lastSeq: made,
  });
  const remove = (made: number, frozen = false): Twin => ({ seq: next++, op: 'delete', payload: null, frozen, state: 'queued', failure: null, changedAt: 0, lastSeq: made });
  const refused = (entry: Twin): Twin => ({ ...entry, frozen: true, state: 'failed', failure: { message: '403', rejected: true } });
  const values = (entries: Twin[]) => mergeTwins(entries, 'id').kept.map((e) => e.payload);

  it('leaves a field out of a later update when an earlier entry changed after it already set it: the value goes out once', () => {
    // Outbox order: the temporary id's entry, coalesced until change 166, then the real id's, changed at 138.
    const entries = [update(166, { title: 'made last', done: true }), update(138, { title: 'made first', note: 'n' })];
    const { kept, dropped } = mergeTwins(entries, 'id');
    expect(kept[0]).toBe(entries[0]);
    expect(kept[1]!.payload).toEqual({ note: 'n' });
    expect(dropped).toEqual([]);
    expect(entries[1]!.payload).toEqual({ title: 'made first', note: 'n' });
    // Left with nothing to send, it goes: its waits follow the entry that carries its value.
    const nothingLeft = [update(166, { title: 'made last' }), update(138, { title: 'made first' })];
    expect(mergeTwins(nothingLeft, 'id')).toEqual({ kept: [nothingLeft[0]], dropped: [nothingLeft[1]], folded: [{ seq: nothingLeft[1]!.seq, into: nothingLeft[0]!.seq }], moved: [] });
  });

  it('folds an update left with nothing into the last entry carrying one of its values: its waits end once all of them are out', () => {
    for (const payload of [{ title: 'old', done: false }, { done: false, title: 'old' }]) {
      const entries = [update(5, { title: 'x' }), update(6, { done: true }), update(1, payload)];
      expect(mergeTwins(entries, 'id').folded).toEqual([{ seq: entries[2]!.seq, into: entries[1]!.seq }]);
    }
    // The same when the later carrier was itself given a value (a sent entry in between set another).
    const create = { ...update(9, { id: '2', title: 'w' }), op: 'create' as const };
    const given = [create, update(2, { title: 's' }, true), update(8, { note: 'n' }), update(3, { title: 'c' }), update(1, { note: 'o', title: 'd' })];
    expect(mergeTwins(given, 'id').folded).toEqual([{ seq: given[4]!.seq, into: given[3]!.seq }]);
  });

  it('gives a later entry the value of an earlier one changed after it when an entry in between, sent, set another', () => {
    // The earlier one is a create: it stays where the entity needs it.
    const entries = [{ ...update(9, { id: '2', title: 'made last' }), op: 'create' as const }, update(3, { title: 'sent' }, true), update(2, { title: 'made first' })];
    expect(values(entries)).toEqual([{ id: '2', title: 'made last' }, { title: 'sent' }, { title: 'made last' }]);
  });

  it('leaves entries that may go out again under their key, the key field and entries already in time order as they are', () => {
    const inOrder = [update(1, { title: 'a' }), update(2, { title: 'b' })];
    expect(mergeTwins(inOrder, 'id')).toEqual({ kept: inOrder, dropped: [], folded: [], moved: [] });
    const fixed = [update(5, { title: 'late' }), update(2, { title: 'sent' }, true), update(3, { title: 'parked' }, true, 'failed')];
    expect(mergeTwins(fixed, 'id').kept.slice(0, 2)).toEqual(fixed.slice(1));
    const keyed: Twin[] = [
      { seq: next++, op: 'create', payload: { id: '7', title: 'x' }, frozen: false, state: 'queued', failure: null, changedAt: 0, lastSeq: 9 },
      { seq: next++, op: 'create', payload: { id: '8' }, frozen: false, state: 'queued', failure: null, changedAt: 0, lastSeq: 1 },
    ];
    expect(values(keyed)[1]).toEqual({ id: '8' });
  });

  it('moves an entry changed last behind a change sent after it under its key, which would override it: with the fields it decides', () => {
    const entries = [update(9, { title: 'late', note: 'older' }), update(2, { title: 'sent' }, true), update(10, { note: 'newer' })];
    const { kept, moved } = mergeTwins(entries, 'id');
    expect(moved).toEqual([{ ...entries[0], payload: { title: 'late' } }]);
    expect(kept).toEqual([entries[1], entries[2], moved[0]]);
    // Moved rather than carried by a later entry: its value goes out once (not twice, as it would
    // from it and from the entry after the sent change).
    const carried = [update(9, { title: 'late' }), update(2, { title: 'sent' }, true), update(1, { title: 'x', done: true })];
    expect(values(carried)).toEqual([{ title: 'sent' }, { title: 'x', done: true }, { title: 'late' }]);
    // Nothing to move when no sent change after it sets another value.
    expect(mergeTwins([update(9, { title: 'late' }), update(2, { title: 'late' }, true), update(1, { note: 'x' }, true)], 'id').moved).toEqual([]);
  });

  it('moves a change made after a delete sent under the other id behind it: the delete goes out as it is, and must not remove the change', () => {
    // The temporary id's coalesced update, then the server id's delete, sent before the update was made.
    const entries = [update(9, { title: 'after the delete', done: true }), remove(5, true)];
    const { kept, moved, dropped } = mergeTwins(entries, 'id');
    expect(moved).toEqual([entries[0]]);
    expect(kept).toEqual([entries[1], moved[0]]);
    expect(dropped).toEqual([]);
    // Made before the delete, it goes with the entity (or, a change made after the delete keeping
    // the entity, stays where it is); a create after the delete makes the entity anew itself.
    expect(mergeTwins([update(4, { title: 'before' }), remove(5, true)], 'id').dropped.map((e) => e.op)).toEqual(['update']);
    expect(mergeTwins([update(4, { title: 'before' }), remove(5, true), update(9, { note: 'after' })], 'id').moved).toEqual([]);
    const createAfter = [update(9, { title: 'after' }), remove(5, true), { ...update(7, { id: '2', title: 'anew' }), op: 'create' as const }];
    expect(mergeTwins(createAfter, 'id').moved).toEqual([]);
  });

  it('brings a change parked as a conflict along too: its decision goes out under a new key, or not at all when nothing is left', () => {
    const created = { ...update(9, { id: '2', title: 'late' }), op: 'create' as const };
    expect(values([created, update(2, { title: 'sent' }, true), update(1, { title: 'old' }, true, 'conflict')])[2]).toEqual({ title: 'late' });
    const superseded = [update(9, { title: 'late' }), update(2, { title: 'parked' }, true, 'conflict')];
    expect(mergeTwins(superseded, 'id')).toMatchObject({ dropped: [superseded[1]], folded: [{ seq: superseded[1]!.seq, into: superseded[0]!.seq }] });
  });

  it('a change made after a delete under the other id keeps the entity: the delete is dropped, unless it may be out', () => {
    const entries = [remove(1), update(5, { title: 'kept' })];
    expect(mergeTwins(entries, 'id')).toEqual({ kept: [entries[1]], dropped: [entries[0]], folded: [], moved: [] });
    const sent = [remove(1, true), update(5, { title: 'kept' })];
    expect(mergeTwins(sent, 'id')).toEqual({ kept: sent, dropped: [], folded: [], moved: [] });
  });

  it('a delete made after changes under the other id removes it: the changes made before are dropped', () => {
    const entries = [update(1, { title: 'a' }), update(3, { title: 'b' }, true), remove(5), update(2, { title: 'c' })];
    expect(mergeTwins(entries, 'id')).toEqual({ kept: [entries[1], entries[2]], dropped: [entries[0], entries[3]], folded: [], moved: [] });
  });

  it('a change the server refused (rolled back, shown nowhere) decides nothing: it neither drops changes nor lends its values', () => {
    const refusedDelete = [update(5, { title: 'kept' }), refused(remove(10))];
    expect(mergeTwins(refusedDelete, 'id')).toEqual({ kept: refusedDelete, dropped: [], folded: [], moved: [] });
    const refusedUpdate = [remove(5), refused(update(10, { title: 'refused' }))];
    expect(mergeTwins(refusedUpdate, 'id')).toEqual({ kept: refusedUpdate, dropped: [], folded: [], moved: [] });
    expect(values([refused(update(10, { title: 'X' })), update(5, { title: 'Y' })])[1]).toEqual({ title: 'Y' });
  });

  it('a delete followed by a create keeps its place: the create makes the entity anew after it', () => {
    const entries = [update(1, { title: 'a' }), remove(2), { ...update(4, { id: '2', title: 'b' }), op: 'create' as const }];
    expect(mergeTwins(entries, 'id').dropped).toEqual([]);
    // The same when an update under the other id was made last: the create still needs the delete before it.
    const later = [update(6, { title: 'c' }), remove(2), { ...update(4, { id: '2', title: 'b' }), op: 'create' as const }];
    expect(mergeTwins(later, 'id').dropped).toEqual([]);
  });

  const twin = fc
    .record({
      op: fc.constantFrom<Twin['op']>('create', 'update', 'update', 'delete'),
      payload: fc.dictionary(fc.constantFrom('title', 'done', 'note'), fc.integer({ min: 0, max: 3 }), { minKeys: 1 }),
      frozen: fc.boolean(),
      state: fc.constantFrom<Twin['state']>('queued', 'queued', 'conflict', 'failed'),
      rejected: fc.boolean(),
      // Times a clock that steps sets: they decide nothing.
      changedAt: fc.integer({ min: 0, max: 20 }),
      lastSeq: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
    })
    .map(({ rejected, ...e }): Twin => ({
      ...e,
      seq: next++,
      payload: e.op === 'delete' ? null : e.payload,
      failure: e.state === 'failed' ? { message: 'failed', rejected } : null,
    }));
  const isFixed = (e: Twin) => e.frozen && e.state !== 'conflict';
  /** The entity's fields once the entries are applied in order (refused ones are not). */
  const endState = (list: readonly Twin[]) => {
    let state: Record<string, unknown> | null = null;
    for (const e of list) {
      if (isRefused(e)) continue;
      if (e.op === 'delete') state = null;
      else if (e.op === 'create') state = { ...e.payload };
      else state = { ...(state ?? {}), ...(e.payload ?? {}) };
    }
    return state;
  };
  /** The entries as the rule says, naively: every later entry still editable carries the value of the setter changed last. */
  const carried = (list: readonly Twin[]) =>
    list.map((e, i) => {
      if (untouchable(e) || e.op === 'delete') return e;
      const payload = { ...e.payload! };
      for (const field of Object.keys(payload)) {
        if (field === 'id') continue;
        const setters = list.filter((x) => x.op !== 'delete' && !isRefused(x) && field in x.payload!);
        const winner = setters.reduce((a, b) => (after(b, a) ? b : a));
        if (list.indexOf(winner) < i) payload[field] = winner.payload![field];
      }
      return { ...e, payload };
    });
  /** Made later: the later place in the order changes were made, never the later time. */
  const after = (a: Twin, b: Twin) => (a.lastSeq ?? a.seq) > (b.lastSeq ?? b.seq);
  const isRefused = (e: Twin) => e.failure?.rejected === true;
  const untouchable = (e: Twin) => isFixed(e) || isRefused(e);

  it('keeps or drops every entry; the change made last decides whether the entity stays; each field ends on its latest value', () => {
    fc.assert(
      fc.property(fc.array(twin, { minLength: 1, maxLength: 8 }), (generated) => {
        // In outbox order; a coalesced entry or a re-send stands where its newest change did (lastSeq),
        // a number no other entry holds, as the key generator draws it.
        const entries: Twin[] = generated.map((e, seq) => ({ ...e, seq, lastSeq: e.lastSeq === undefined ? undefined : e.lastSeq + (seq + 1) / 100 }));
        const { kept, dropped, folded, moved } = mergeTwins(entries, 'id');
        const bySeq = new Map(entries.map((e) => [e.seq, e]));
        const original = (e: Twin) => bySeq.get(e.seq)!;
        expect([...kept, ...dropped].map((e) => e.seq).sort((a, b) => a - b)).toEqual(entries.map((e) => e.seq).sort((a, b) => a - b));
        // In outbox order, but for the entries moved to the end.
        const stay = kept.filter((k) => !moved.some((m) => m.seq === k.seq));
        expect(stay.map((e) => e.seq)).toEqual(entries.filter((e) => stay.some((k) => k.seq === e.seq)).map((e) => e.seq));
        expect(kept.slice(stay.length).map((e) => e.seq)).toEqual(moved.map((m) => m.seq));
        for (const e of entries) if (untouchable(e)) expect(kept).toContain(e);
        const counted = entries.filter((e) => !isRefused(e));
        if (counted.length === 0) {
          expect(dropped).toEqual([]);
          return;
        }
        const last = counted.reduce((a, b) => (after(b, a) ? b : a));
        expect(kept.some((e) => e.seq === last.seq)).toBe(true);
        const createAfter = (e: Twin) => entries.slice(entries.indexOf(e) + 1).some((later) => later.op === 'create');
        for (const e of kept) {
          if (e.seq === last.seq || untouchable(original(e))) continue;
          if (last.op === 'delete') expect(e.op).toBe('delete');
          if (last.op === 'update' && e.op === 'delete') expect(createAfter(original(e))).toBe(true);
        }
        if (last.op === 'create') expect(dropped.every((e) => e.op !== 'delete')).toBe(true);
        // The entity ends as if every field of every later entry carried the value of the entry
        // changed last that sets it; no entry that may still be edited sends a value it already holds.
        // A value a change sent later would override is carried past it by the entry that decides it, moved.
        let reference = endState(carried(entries.filter((e) => kept.some((k) => k.seq === e.seq) || folded.some((f) => f.seq === e.seq))));
        const ended = endState(kept);
        const winnerOf = (field: string) =>
          kept.map(original).filter((x) => x.op !== 'delete' && !isRefused(x) && field in x.payload!).reduce<Twin | undefined>((a, b) => (a === undefined || after(b, a) ? b : a), undefined);
        // A change made after a delete already sent moves behind it, so the entity stays with it.
        if (moved.length > 0 && reference === null) reference = {};
        if (reference !== null) {
          for (const field of Object.keys(reference)) {
            const winner = winnerOf(field);
            const movable = winner !== undefined && winner.op === 'update' && winner.state === 'queued' && !winner.frozen;
            if (movable && !Object.is(reference[field], winner.payload![field])) reference[field] = winner.payload![field];
          }
          // A moved entry sends winning values (its own, or those of changes before it), unless a
          // moved entry after it sets the field; the entity ends on them.
          moved.forEach((m, i) => {
            for (const [field, value] of Object.entries(m.payload!)) {
              if (moved.slice(i + 1).some((later) => field in later.payload!)) continue;
              const winner = winnerOf(field)!;
              expect(kept.findIndex((e) => e.seq === winner.seq)).toBeLessThanOrEqual(kept.findIndex((e) => e.seq === m.seq));
              expect(value).toEqual(winner.payload![field]);
              reference[field] = value;
            }
          });
        }
        expect(ended).toEqual(reference);
        // No queued update made after a delete sent under its key stays in front of it, unless a
        // create after the delete makes the entity anew, or it decides no field.
        const sentDelete = kept.map((e) => e.op === 'delete' && untouchable(e) && !isRefused(e)).lastIndexOf(true);
        if (sentDelete >= 0 && !kept.slice(sentDelete + 1).some((e) => e.op === 'create')) {
          for (const e of kept.slice(0, sentDelete)) {
            const movable = e.op === 'update' && e.state === 'queued' && !e.frozen && !isRefused(e);
            if (movable && Object.keys(e.payload!).some((field) => winnerOf(field)?.seq === e.seq)) expect(after(original(e), kept[sentDelete]!)).toBe(false);
          }
        }
        // An update folded had nothing left to send: its waits follow a kept entry.
        for (const { seq, into } of folded) {
          expect(dropped.find((e) => e.seq === seq)?.op).toBe('update');
          expect(kept.findIndex((k) => k.seq === into)).toBeGreaterThanOrEqual(0);
        }
        // A winning value goes out from its own queued update, or a later update carries it: not both.
        for (const [field, winner] of new Map(kept.map(original).flatMap((e) => Object.keys(e.payload ?? {}).map((f) => [f, winnerOf(f)] as const)))) {
          if (field === 'id' || !winner || winner.op !== 'update' || winner.state !== 'queued' || winner.frozen) continue;
          const value = winner.payload![field];
          const at = kept.findIndex((e) => e.seq === winner.seq);
          // A delete or create between them removes the value: the carrier brings it back.
          const carries = (i: number) => i > at && !kept.slice(at + 1, i).some((between) => between.op !== 'update');
          const carriers = kept.filter(
            (e, i) => carries(i) && e.op === 'update' && !untouchable(e) && Object.is(e.payload![field], value) && !Object.is(original(e).payload![field], value),
          );
          if (kept.some((e) => e.seq === winner.seq && field in e.payload!)) expect(carriers).toEqual([]);
        }
        if (last.op === 'delete') expect(folded).toEqual([]);
        kept.forEach((e, i) => {
          const before = original(e);
          if (untouchable(before) || before.op === 'delete') return expect(e).toBe(before);
          expect(Object.keys(e.payload!).every((field) => field in before.payload!)).toBe(true);
          if (e.op !== 'update') return;
          const held = endState(kept.slice(0, i));
          for (const field of Object.keys(e.payload!)) {
            const setters = kept.map(original).filter((x) => x.op !== 'delete' && !isRefused(x) && field in x.payload!);
            const winner = setters.reduce((a, b) => (after(b, a) ? b : a));
            if (kept.findIndex((k) => k.seq === winner.seq) < i && held !== null && field in held) expect(held[field]).not.toEqual(winner.payload![field]);
          }
        });
        expect(mergeTwins(kept, 'id')).toEqual({ kept, dropped: [], folded: [], moved: [] });
      }),
    { numRuns: 3000 });
  });
});

describe('recreateAfterSentDelete', () => {
  const base = { id: '2', name: 'A', done: false, version: 3 };
  const sentDelete = outboxEntry({ seq: 1, id: '2', op: 'delete', payload: null, frozen: true, changedAt: 5 });
  // Made after the delete, by a clock that stepped back between them.
  const laterUpdate = outboxEntry({ seq: 2, id: '2', op: 'update', payload: { name: 'B' }, changedAt: 1 });

  it('turns the first editable update after a delete already sent into a create of the entity as the changes leave it', () => {
    const [, created] = recreateAfterSentDelete(base, [sentDelete, laterUpdate], 'version');
    expect(created).toEqual({ ...laterUpdate, op: 'create', payload: { id: '2', name: 'B', done: false }, baseVersion: null });
  });

  it('leaves the entries as they are when the delete was made last, may still be edited, or nothing editable follows it', () => {
    const cases = [
      // The update made first, the delete coalescing a change made after it (it drew place 3).
      [{ ...sentDelete, lastSeq: 3 }, laterUpdate],
      [{ ...sentDelete, frozen: false }, laterUpdate],
      [sentDelete, { ...laterUpdate, frozen: true }],
      [laterUpdate, { ...sentDelete, seq: 3 }],
    ];
    for (const entries of cases) expect(recreateAfterSentDelete(base, entries, 'version')).toEqual(entries);
    // Nothing known of the entity (no base, no create): nothing to recreate it from.
    expect(recreateAfterSentDelete(null, [sentDelete, laterUpdate], 'version')).toEqual([sentDelete, laterUpdate]);
    // A delete the server refused left the entity there: the update goes out as an update.
    const refusedDelete = { ...sentDelete, state: 'failed' as const, failure: { message: '403', rejected: true } };
    expect(recreateAfterSentDelete(base, [refusedDelete, laterUpdate], 'version')).toEqual([refusedDelete, laterUpdate]);
  });
});
