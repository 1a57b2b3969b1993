import { describe, expect, it } from 'vitest';
import { ClosedError, ConflictError, PendingMutationsError } from '../errors.js';
import { ServerWaits } from './waiters.js';

const queued = (id: string) => ({ r: 'todos', id, state: 'queued' as const });
const parked = (id: string) => ({ r: 'todos', id, state: 'conflict' as const });

/** Starts a wait; `state` tells how it ended so far. */
function track(promise: Promise<unknown>) {
  const state: { settled: boolean; value?: unknown; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** No wait is kept for any of `seqs`, and no entity is listed. */
function expectNothingKept(waits: ServerWaits, ...seqs: number[]) {
  for (const seq of seqs) expect(waits.has(seq)).toBe(false);
  expect(waits.waited()).toEqual([]);
}

/** Lets resolved promises run their callbacks. */
const microtasks = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('ServerWaits', () => {
  it('resolves every wait on an entry with the value it settled with', async () => {
    const waits = new ServerWaits();
    const a = waits.wait(1, queued('t1'), undefined);
    const b = waits.wait(1, queued('t1'), undefined);
    const other = track(waits.wait(2, queued('t2'), undefined));
    waits.settle(1, { value: { id: 't1', title: 'x' } });
    await expect(a).resolves.toEqual({ id: 't1', title: 'x' });
    await expect(b).resolves.toEqual({ id: 't1', title: 'x' });
    expect(waits.has(1)).toBe(false);
    expect(waits.has(2)).toBe(true);
    expect(waits.waited().map(([seq]) => seq)).toEqual([2]);
    await microtasks();
    expect(other.settled).toBe(false);
  });

  it('rejects a wait with the error its entry ended in', async () => {
    const waits = new ServerWaits();
    const error = new ConflictError(['title'], { resource: 'todos', id: 't1' });
    const wait = waits.wait(1, queued('t1'), undefined);
    waits.settle(1, { error });
    await expect(wait).rejects.toBe(error);
  });

  it('settles only once: a second outcome for the entry reaches no one', async () => {
    const waits = new ServerWaits();
    const wait = waits.wait(1, queued('t1'), undefined);
    waits.settle(1, { value: null });
    waits.settle(1, { error: new ClosedError('x') });
    await expect(wait).resolves.toBeNull();
  });

  it('resolves with null at once a wait on an entry no longer in the outbox, and lists no entity for it', async () => {
    const waits = new ServerWaits();
    await expect(waits.wait(1, undefined, undefined)).resolves.toBeNull();
    expect(waits.waited()).toEqual([]);
    // Answered already: nothing kept for it, so no listener waits for a settle that never comes.
    expect(waits.has(1)).toBe(false);
  });

  it('lists each waited entity, queued or not as its entry was seen, and where its newest change stood once gone', () => {
    const waits = new ServerWaits();
    void waits.wait(1, queued('t1'), undefined);
    void waits.wait(2, parked('t2'), undefined);
    waits.gone(1, 3);
    waits.gone(9, 9);
    expect(waits.waited()).toEqual([
      [1, { r: 'todos', id: 't1', queued: true, made: 3 }],
      [2, { r: 'todos', id: 't2', queued: false }],
    ]);
  });

  it('keeps what is noted on a listed entity (seen queued since) for the next listing', () => {
    const waits = new ServerWaits();
    void waits.wait(2, parked('t2'), undefined);
    for (const [, waited] of waits.waited()) waited.queued = true;
    expect(waits.waited()).toEqual([[2, { r: 'todos', id: 't2', queued: true }]]);
  });

  it('settles a folded entry\'s waits with the entry it was folded into, whose entity is then queued', async () => {
    const waits = new ServerWaits();
    const folded = waits.wait(1, parked('t1'), undefined);
    const into = waits.wait(2, queued('t1'), undefined);
    waits.gone(1, 1);
    waits.fold(1, 2);
    expect(waits.has(1)).toBe(false);
    expect(waits.waited()).toEqual([[2, { r: 'todos', id: 't1', queued: true, made: 1 }]]);
    waits.settle(1, { value: { id: 'stale' } });
    waits.settle(2, { value: { id: 't1' } });
    await expect(folded).resolves.toEqual({ id: 't1' });
    await expect(into).resolves.toEqual({ id: 't1' });
  });

  it('fold of an entry nobody waits for leaves the waits on the entry folded into as they were', () => {
    const waits = new ServerWaits();
    void waits.wait(2, parked('t1'), undefined);
    waits.fold(1, 2);
    expect(waits.waited()).toEqual([[2, { r: 'todos', id: 't1', queued: false }]]);
  });

  it.each([
    ['while it waits', false],
    ['before it began', true],
  ])("rejects a wait whose signal aborted %s with the signal's reason when it is a DOMException, and keeps nothing", async (_, before) => {
    const waits = new ServerWaits();
    const controller = new AbortController();
    const reason = new DOMException('left the page', 'AbortError');
    if (before) controller.abort(reason);
    const wait = waits.wait(1, queued('t1'), controller.signal);
    controller.abort(reason);
    await expect(wait).rejects.toBe(reason);
    expectNothingKept(waits, 1);
  });

  it('rejects an aborted wait with an AbortError when the reason is not a DOMException', async () => {
    const waits = new ServerWaits();
    const controller = new AbortController();
    const wait = waits.wait(1, queued('t1'), controller.signal);
    controller.abort(new Error('not a DOMException'));
    const error: unknown = await wait.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect(error).toMatchObject({ name: 'AbortError' });
  });

  it('an abort takes away only its own wait: the others on the entry still settle, its entity still listed', async () => {
    const waits = new ServerWaits();
    const controller = new AbortController();
    const aborted = waits.wait(1, queued('t1'), controller.signal);
    const kept = waits.wait(1, queued('t1'), undefined);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(waits.waited().map(([seq]) => seq)).toEqual([1]);
    waits.settle(1, { value: { id: 't1' } });
    await expect(kept).resolves.toEqual({ id: 't1' });
  });

  it('an abort after a fold finds the wait under the entry it was folded into', async () => {
    const waits = new ServerWaits();
    const controller = new AbortController();
    const wait = waits.wait(1, parked('t1'), controller.signal);
    waits.fold(1, 2);
    controller.abort();
    await expect(wait).rejects.toMatchObject({ name: 'AbortError' });
    expectNothingKept(waits, 1, 2);
  });

  it('an abort after the wait settled changes nothing', async () => {
    const waits = new ServerWaits();
    const controller = new AbortController();
    const wait = waits.wait(1, queued('t1'), controller.signal);
    const other = waits.wait(1, queued('t1'), undefined);
    waits.settle(1, { value: { id: 't1' } });
    controller.abort();
    await expect(wait).resolves.toEqual({ id: 't1' });
    await expect(other).resolves.toEqual({ id: 't1' });
  });

  it('rejects every wait, each with the error made for its entity, and keeps none', async () => {
    const waits = new ServerWaits();
    const one = waits.wait(1, queued('t1'), undefined);
    const two = waits.wait(2, parked('t2'), undefined);
    waits.rejectAll((entity) => new PendingMutationsError(1, { by: 'cleared', resource: entity?.r, id: entity?.id }));
    await expect(one).rejects.toMatchObject({ name: 'PendingMutationsError', resource: 'todos', id: 't1' });
    await expect(two).rejects.toMatchObject({ name: 'PendingMutationsError', resource: 'todos', id: 't2' });
    expectNothingKept(waits, 1, 2);
  });
});
