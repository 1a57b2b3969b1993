import type { Observable } from 'rxjs';
import type { Env } from '../env.js';
import type { LockManagerLike } from '../types.js';
import { electByChannel, type OnLeader } from './channel-election.js';

/** The Web Lock one tab per namespace holds while it replays the outbox. */
export const leaderLockName = (namespace: string) => `harborsync:${namespace}:leader`;

type Elect = (onLeader: OnLeader) => () => void;

/**
 * Chooses how the tabs of a namespace pick the one that replays the outbox: the holder of a Web
 * Lock; where Web Locks are missing (or refuse us, as in an opaque origin), an election over
 * BroadcastChannel. Without BroadcastChannel a follower's writes would never reach the leader, so
 * every tab leads and says so: each replays its own, and idempotency keys make a second sender of
 * one entry harmless.
 *
 * Returns a function that gives leadership up (or stops competing for it). Calling it twice is harmless.
 */
export function electLeader(
  env: Pick<Env, 'locks' | 'BroadcastChannel' | 'clock'>,
  namespace: string,
  tabId: string,
  onLeader: OnLeader,
): () => void {
  const Channel = env.BroadcastChannel;
  if (!Channel) return leadAlone(onLeader);
  const byChannel: Elect = (report) => electByChannel(Channel, namespace, tabId, env.clock, report);
  return env.locks ? electByLock(env.locks, namespace, onLeader, byChannel) : byChannel(onLeader);
}

/**
 * Competes for leadership only while the page runs: a page frozen or put in the back/forward
 * cache would hold the Web Lock (or the election) while sending nothing, so it gives leadership up
 * (the lock is released, or it resigns) and another tab sends meanwhile; back, it competes again.
 * A page unloading resigns too, which hands over at once where a lease would otherwise have to run out.
 *
 * Returns a function that stops for good.
 */
export function electWhileRunning(suspended$: Observable<boolean>, elect: () => () => void): () => void {
  // Running until told otherwise; a repeated state changes nothing.
  let leave: (() => void) | null = elect();
  const subscription = suspended$.subscribe((suspended) => {
    if (suspended) {
      leave?.();
      leave = null;
    } else leave ??= elect();
  });
  return () => {
    subscription.unsubscribe();
    leave?.();
    leave = null;
  };
}

/** Every tab leads at once. */
function leadAlone(onLeader: OnLeader): () => void {
  let leading = true;
  onLeader(true);
  return () => {
    if (!leading) return;
    leading = false;
    onLeader(false);
  };
}

/**
 * The holder of the namespace's Web Lock leads. The lock is held until the returned function is
 * called (client.close()) or the page goes away, when the browser releases it and the next tab
 * waiting for it is granted it and starts replaying. If the lock manager refuses, `fallback` elects.
 */
function electByLock(
  locks: LockManagerLike,
  namespace: string,
  onLeader: OnLeader,
  fallback: Elect,
): () => void {
  let leading = false;
  let released = false;
  let leaveFallback: (() => void) | null = null;
  const controller = new AbortController();
  let release: (() => void) | null = null;
  const requestFailed = () => {
    // Our own abort: we were closing while waiting. Anything else: Web Locks are unusable here.
    if (!released) leaveFallback = fallback(onLeader);
  };
  try {
    locks
      .request(leaderLockName(namespace), { signal: controller.signal }, () => {
        if (released) return Promise.resolve();
        leading = true;
        onLeader(true);
        return new Promise<void>((resolve) => (release = resolve));
      })
      .catch(requestFailed);
  } catch {
    requestFailed();
  }
  return () => {
    if (released) return;
    released = true;
    controller.abort();
    release?.();
    leaveFallback?.();
    if (!leading) return;
    leading = false;
    onLeader(false);
  };
}
