import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { OutboxEntry } from '../outbox/entry.js';
import { OutboxMemory } from '../outbox/outbox-memory.js';
import type { TabMessage } from './broadcast.js';
import { FollowerFlushes } from './follower-flush.js';

const QUIET_MS = 30_000;

function entry(seq: number, changes: Partial<OutboxEntry> = {}): OutboxEntry {
  return {
    seq, r: 'todos', id: `t${seq}`, op: 'create', payload: { id: `t${seq}` }, baseVersion: null, key: `k${seq}`, rekeys: 0,
    frozen: false, attempts: 0, firstFailureAt: null, nextAttemptAt: 0, changedAt: 0, state: 'queued', conflict: null,
    failure: null, origin: 'tab', ...changes,
  };
}

function follower(entries: OutboxEntry[] = []) {
  const clock = new ManualClock();
  const outbox = new OutboxMemory();
  outbox.replaceAll(entries);
  const posted: TabMessage[] = [];
  const flushes = new FollowerFlushes({ tabId: 'me', clock, outbox, post: (m) => posted.push(m), quietMs: QUIET_MS });
  /** Starts a flush; `done` tells whether it resolved yet. */
  const flush = () => {
    const state = { done: false };
    const promise = flushes.wait().then(() => (state.done = true));
    return { promise, get done() { return state.done; } };
  };
  /** The outbox as re-read after another tab's hint. */
  const reread = (next: OutboxEntry[]) => {
    outbox.replaceAll(next);
    flushes.outboxChanged();
  };
  return { clock, outbox, posted, flushes, flush, reread };
}

/** Lets resolved promises run their callbacks. */
const microtasks = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('FollowerFlushes', () => {
  it('with nothing queued (or only parked or retrying entries) resolves at once and asks nobody', async () => {
    const f = follower([entry(1, { state: 'failed' }), entry(2, { state: 'conflict' }), entry(3, { attempts: 1, nextAttemptAt: Number.MAX_SAFE_INTEGER })]);
    await f.flushes.wait();
    expect(f.posted).toEqual([]);
    expect(f.clock.pendingTimers).toBe(0);
  });

  it("asks the leader to flush, and resolves on the leader's answer to its own request only", async () => {
    const f = follower([entry(1)]);
    const first = f.flush();
    const second = f.flush();
    expect(f.posted).toEqual([{ t: 'flush', token: 'me:0' }, { t: 'flush', token: 'me:1' }]);
    f.flushes.answered('someone-else:0');
    f.flushes.answered('me:1');
    await microtasks();
    expect([first.done, second.done]).toEqual([false, true]);
    f.flushes.answered('me:0');
    await microtasks();
    expect(first.done).toBe(true);
    expect(f.clock.pendingTimers).toBe(0);
  });

  it('resolves once every entry queued at the call is confirmed, parked or waiting for a retry; later ones do not hold it', async () => {
    const f = follower([entry(1), entry(2), entry(3)]);
    const flush = f.flush();
    f.reread([entry(2), entry(3), entry(4)]);
    await microtasks();
    expect(flush.done).toBe(false);
    f.reread([entry(2, { state: 'failed' }), entry(3, { attempts: 1, nextAttemptAt: f.clock.now() + 1000 }), entry(4)]);
    await microtasks();
    expect(flush.done).toBe(true);
  });

  it('an entry whose retry is due again still holds it', async () => {
    const f = follower([entry(1)]);
    const flush = f.flush();
    f.reread([entry(1, { attempts: 1, nextAttemptAt: f.clock.now() })]);
    await microtasks();
    expect(flush.done).toBe(false);
    f.flushes.endAll();
    await flush.promise;
  });

  it('is bounded: resolves after quietMs with no word from another tab; every word starts the quiet over', async () => {
    const f = follower([entry(1)]);
    const flush = f.flush();
    await f.clock.advance(QUIET_MS - 1000);
    f.flushes.heard();
    await f.clock.advance(QUIET_MS - 1000);
    expect(flush.done).toBe(false);
    await f.clock.advance(1000);
    expect(flush.done).toBe(true);
    expect(f.clock.pendingTimers).toBe(0);
  });

  it('stays bounded when the wall clock steps back: a negative quiet counts as expired, not as fresh', async () => {
    const f = follower([entry(1)]);
    const flush = f.flush();
    f.clock.step(-3_600_000);
    await f.clock.advance(QUIET_MS);
    await microtasks();
    expect(flush.done).toBe(true);
    expect(f.clock.pendingTimers).toBe(0);
  });

  it('endAll() (this tab leads now, or closed) resolves every wait and leaves no timer', async () => {
    const f = follower([entry(1)]);
    const flushes = [f.flush(), f.flush()];
    f.flushes.endAll();
    await Promise.all(flushes.map((x) => x.promise));
    expect(f.clock.pendingTimers).toBe(0);
  });
});
