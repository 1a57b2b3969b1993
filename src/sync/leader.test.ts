import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { BroadcastHub, FakeLocks } from '../../test/helpers/tabs.js';
import type { Env } from '../env.js';
import type { LockManagerLike } from '../types.js';
import { ELECTION_TIMING } from './channel-election.js';
import { electLeader, electWhileRunning } from './leader.js';

/** Lets the fakes' tasks (grants, releases, deliveries) run. */
const tasks = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

let nextTab = 1;

function elector(locks: LockManagerLike | undefined, namespace = 'ns', seams: Partial<Pick<Env, 'BroadcastChannel' | 'clock'>> = {}) {
  const seen: boolean[] = [];
  const env = { locks, BroadcastChannel: new BroadcastHub().Channel, clock: new ManualClock(), ...seams };
  const release = electLeader(env, namespace, `tab-${nextTab++}`, (leader) => seen.push(leader));
  return { seen, release, get leader() { return seen.at(-1) ?? false; } };
}

describe('electLeader with Web Locks', () => {
  it('makes exactly one of several tabs the leader, on the namespace lock', async () => {
    const locks = new FakeLocks();
    const tabs = [elector(locks), elector(locks), elector(locks)];
    await tasks();
    expect(tabs.map((t) => t.leader)).toEqual([true, false, false]);
    // The lock's name is public (README, Several tabs): another library or a devtool may ask for it.
    expect(locks.held()).toEqual(['harborsync:ns:leader']);
    expect(locks.waiting()).toBe(2);
    for (const t of tabs) t.release();
  });

  it('hands leadership to the next waiting tab, in request order, when the leader releases', async () => {
    const locks = new FakeLocks();
    const [a, b, c] = [elector(locks), elector(locks), elector(locks)];
    await tasks();
    a.release();
    expect(a.seen).toEqual([true, false]);
    await tasks();
    expect([b.leader, c.leader]).toEqual([true, false]);
    b.release();
    await tasks();
    expect(c.leader).toBe(true);
    c.release();
    await tasks();
    expect(locks.held()).toEqual([]);
    expect(locks.waiting()).toBe(0);
  });

  it('a tab that gives up while waiting leaves the queue and never leads', async () => {
    const locks = new FakeLocks();
    const a = elector(locks);
    const b = elector(locks);
    await tasks();
    b.release();
    await tasks();
    expect(locks.waiting()).toBe(0);
    a.release();
    await tasks();
    expect(b.seen).toEqual([]);
    expect(locks.held()).toEqual([]);
  });

  it('a tab that gives up before its request was even granted does not hold the lock', async () => {
    const locks = new FakeLocks();
    const a = elector(locks);
    a.release();
    await tasks();
    expect(a.seen).toEqual([]);
    expect(locks.held()).toEqual([]);
    expect(locks.waiting()).toBe(0);
  });

  it('namespaces elect independently', async () => {
    const locks = new FakeLocks();
    const a = elector(locks, 'alice');
    const b = elector(locks, 'bob');
    await tasks();
    expect([a.leader, b.leader]).toEqual([true, true]);
    a.release();
    b.release();
  });

  it('releasing twice is harmless', async () => {
    const locks = new FakeLocks();
    const a = elector(locks);
    await tasks();
    a.release();
    a.release();
    expect(a.seen).toEqual([true, false]);
  });

  it('leaves no held lock or waiting request after many tabs come and go', async () => {
    const locks = new FakeLocks();
    const live: Array<ReturnType<typeof elector>> = [];
    for (let i = 0; i < 50; i++) {
      live.push(elector(locks));
      if (i % 3 === 0) await tasks(1);
      if (i % 2 === 0) live.shift()!.release();
    }
    await tasks();
    expect(live.filter((t) => t.leader)).toHaveLength(1);
    for (const t of live) t.release();
    await tasks();
    expect(locks.held()).toEqual([]);
    expect(locks.waiting()).toBe(0);
  });
});

describe('electLeader without Web Locks', () => {
  it('elects one tab over BroadcastChannel', async () => {
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    const tabs = [elector(undefined, 'ns', { BroadcastChannel: hub.Channel, clock }), elector(undefined, 'ns', { BroadcastChannel: hub.Channel, clock })];
    await tasks();
    await clock.advance(ELECTION_TIMING.claimMs);
    expect(tabs.map((t) => t.leader).filter(Boolean)).toHaveLength(1);
    for (const t of tabs) t.release();
    expect(hub.open()).toBe(0);
  });

  it('elects over BroadcastChannel when the lock manager refuses (an opaque origin), instead of never sending', async () => {
    const rejecting: LockManagerLike = { request: () => Promise.reject(new DOMException('no locks here', 'SecurityError')) };
    const throwing: LockManagerLike = {
      request: () => {
        throw new DOMException('no locks here', 'SecurityError');
      },
    };
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    const a = elector(rejecting, 'ns', { BroadcastChannel: hub.Channel, clock });
    const b = elector(throwing, 'ns', { BroadcastChannel: hub.Channel, clock });
    await tasks();
    await clock.advance(ELECTION_TIMING.claimMs);
    expect([a.leader, b.leader].filter(Boolean)).toHaveLength(1);
    a.release();
    b.release();
    expect(hub.open()).toBe(0);
  });

  it('without BroadcastChannel every tab leads at once, and says so, with or without Web Locks', () => {
    const locks = new FakeLocks();
    const a = elector(undefined, 'ns', { BroadcastChannel: undefined });
    const b = elector(locks, 'ns', { BroadcastChannel: undefined });
    expect([a.leader, b.leader]).toEqual([true, true]);
    expect(locks.waiting()).toBe(0);
    a.release();
    a.release();
    expect(a.seen).toEqual([true, false]);
  });
});

describe('electWhileRunning', () => {
  /** A tab whose page the test suspends (freeze, bfcache, unload) and resumes. */
  function page(seams: Pick<Env, 'locks' | 'BroadcastChannel' | 'clock'>) {
    const suspended = new Subject<boolean>();
    const seen: boolean[] = [];
    let elections = 0;
    const stop = electWhileRunning(suspended, () => {
      elections++;
      return electLeader(seams, 'ns', `page-${nextTab++}`, (leader) => seen.push(leader));
    });
    return { suspended, seen, stop, get elections() { return elections; } };
  }

  it('a suspended page gives the Web Lock up, so another tab leads; back, it queues for the lock again', async () => {
    const locks = new FakeLocks();
    const seams = { locks, BroadcastChannel: new BroadcastHub().Channel, clock: new ManualClock() };
    const frozen = page(seams);
    await tasks();
    const other = elector(locks);
    await tasks();
    expect([frozen.seen, other.seen]).toEqual([[true], []]);

    frozen.suspended.next(true);
    expect(frozen.seen).toEqual([true, false]);
    await tasks();
    expect(other.leader).toBe(true);

    frozen.suspended.next(false);
    await tasks();
    expect(frozen.seen).toEqual([true, false]);
    expect(locks.waiting()).toBe(1);
    other.release();
    await tasks();
    expect(frozen.seen).toEqual([true, false, true]);
    frozen.stop();
    await tasks();
    expect(locks.held()).toEqual([]);
  });

  it('without Web Locks a suspended leader resigns at once: another tab leads within the claim window, not a lease later', async () => {
    const hub = new BroadcastHub();
    const clock = new ManualClock();
    const seams = { locks: undefined, BroadcastChannel: hub.Channel, clock };
    const frozen = page(seams);
    await tasks();
    await clock.advance(ELECTION_TIMING.claimMs);
    const other = elector(undefined, 'ns', seams);
    await tasks();
    await clock.advance(ELECTION_TIMING.claimMs);
    expect([frozen.seen, other.seen]).toEqual([[true], []]);

    frozen.suspended.next(true);
    await tasks();
    await clock.advance(ELECTION_TIMING.claimMs);
    expect([frozen.seen, other.seen]).toEqual([[true, false], [true]]);
    frozen.stop();
    other.release();
    expect(hub.open()).toBe(0);
  });

  it('a repeated state changes nothing; once stopped, a page back from suspension does not compete', async () => {
    const locks = new FakeLocks();
    const tab = page({ locks, BroadcastChannel: new BroadcastHub().Channel, clock: new ManualClock() });
    tab.suspended.next(false);
    await tasks();
    expect([tab.elections, tab.seen]).toEqual([1, [true]]);
    tab.suspended.next(true);
    tab.suspended.next(true);
    expect(tab.seen).toEqual([true, false]);
    tab.stop();
    tab.suspended.next(false);
    await tasks();
    expect(tab.elections).toBe(1);
    expect(locks.held()).toEqual([]);
    expect(locks.waiting()).toBe(0);
  });
});
