import { describe, expect, it } from 'vitest';
import { outboxEntry as entry } from '../../test/helpers/outbox-entry.js';
import { asEntry, entryDefect, foldView, isQuarantined, onServerState } from './entry.js';

const base = { id: 'a', title: 'A', version: 1 };

describe('foldView', () => {
  it('applies the queued changes in order on the base', () => {
    expect(foldView(base, [entry({ payload: { title: 'B' } }), entry({ seq: 2, payload: { done: true } })])).toEqual({ ...base, title: 'B', done: true });
    expect(foldView(base, [entry({ op: 'delete', payload: null })])).toBeNull();
    expect(foldView(null, [entry({ op: 'create', payload: { id: 'a', title: 'N' } })])).toEqual({ id: 'a', title: 'N' });
  });

  it('is the base itself only when nothing is queued: a refused change leaves an equal view of its own', () => {
    expect(foldView(base, [])).toBe(base);
    const refused = entry({ state: 'failed', failure: { status: 422, message: 'no', rejected: true } });
    const view = foldView(base, [refused]);
    expect(view).toEqual(base);
    expect(view).not.toBe(base);
    // Parked after retryable failures, a change still shows.
    expect(foldView(base, [entry({ state: 'failed', failure: { status: 503, message: 'busy', rejected: false } })])).toEqual({ ...base, title: 'B' });
  });

  it('leaves an update of an entity that is gone out: nothing to apply it to', () => {
    expect(foldView(null, [entry({})])).toBeNull();
  });
});

describe('asEntry', () => {
  it('takes every well-formed entry as it is', () => {
    for (const e of [
      entry({}),
      entry({ op: 'create', payload: { id: 'a' }, baseVersion: null }),
      entry({ op: 'delete', payload: null, frozen: true, attempts: 3, firstFailureAt: 5, nextAttemptAt: 9 }),
      entry({ state: 'conflict', conflict: { base: null, local: null, remote: null, fields: [] } }),
      entry({ state: 'failed', failure: { message: 'no', rejected: true } }),
    ]) {
      expect(entryDefect(e)).toBeNull();
      expect(asEntry(e)).toBe(e);
    }
  });

  it.each([
    ['an unknown op', { ...entry({}), op: 'upsert' }, 'unknown op "upsert"'],
    ['a delete with a payload', { ...entry({}), op: 'delete' }, 'a payload that does not fit a delete'],
    ['an update without a payload object', { ...entry({}), payload: [1] }, 'a payload that does not fit a update'],
    ['no id', { ...entry({}), id: '' }, 'no id'],
    ['no key', { ...entry({}), key: 7 }, 'no idempotency key'],
    ['negative attempts', { ...entry({}), attempts: -1 }, 'malformed send state'],
    ['a string time', { ...entry({}), nextAttemptAt: 'soon' }, 'malformed times'],
    ['an unknown state', { ...entry({}), state: 'sending' }, 'unknown state'],
    ['a conflict without its sides', { ...entry({}), state: 'conflict' }, 'a conflict without its sides'],
    ['a failure without its message', { ...entry({}), state: 'failed', failure: {} }, 'a failure without its message'],
  ])('quarantines %s: failed, rolled back out of the view, never sent, the row kept', (_, row, defect) => {
    const raw = { ...row, seq: 7 };
    expect(entryDefect(raw)).toBe(defect);
    const quarantined = asEntry(raw);
    expect(quarantined).toMatchObject({ state: 'failed', frozen: true, payload: null, failure: { rejected: true, body: raw, quarantined: true } });
    expect(quarantined.failure!.message).toContain(defect);
    expect(isQuarantined(quarantined)).toBe(true);
    // Read back as stored (a rewrite puts it), it stays quarantined, the row it came from kept.
    expect(asEntry(structuredClone(quarantined))).toEqual(quarantined);
    expect(foldView({ id: 'a', title: 'A' }, [quarantined])).toEqual({ id: 'a', title: 'A' });
  });
});

describe('onServerState', () => {
  it('sends an unsent change against the new server version; a create, a frozen change and one after a deletion keep theirs', () => {
    const update = entry({ baseVersion: 1 });
    expect(onServerState(update, { id: 'a', version: 3 }, 'version')).toEqual({ ...update, baseVersion: 3 });
    expect(onServerState(update, { id: 'a', version: 1 }, 'version')).toBe(update);
    for (const kept of [entry({ op: 'create', payload: { id: 'a' }, baseVersion: null }), entry({ frozen: true }), update]) {
      const base = kept === update ? null : { id: 'a', version: 3 };
      expect(onServerState(kept, base, 'version')).toBe(kept);
    }
  });
});
