import type { Env } from '../env.js';
import type { LockManagerLike } from '../types.js';
import { electByChannel } from './channel-election.js';

/** The Web Lock one tab per namespace holds while it replays the outbox. */
export const leaderLockName = (namespace: string) => `harborsync:${namespace}:leader`;

type Elect = (onLeader: (leader: boolean) => void) => () => void;

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
  onLeader: (leader: boolean) => void,
): () => void {
  const Channel = env.BroadcastChannel;
  if (!Channel) return leadAlone(onLeader);
  const byChannel: Elect = (report) => electByChannel(Channel, namespace, tabId, env.clock, report);
  return env.locks ? electByLock(env.locks, namespace, onLeader, byChannel) : byChannel(onLeader);
}

/** Every tab leads at once. */
function leadAlone(onLeader: (leader: boolean) => void): () => void {
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
  onLeader: (leader: boolean) => void,
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
