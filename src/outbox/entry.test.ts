import { describe, expect, it } from 'vitest';
import { outboxEntry as entry } from '../../test/helpers/outbox-entry.js';
import { foldView } from './entry.js';

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
