import type { LockManagerLike } from '../types.js';

/** The Web Lock one tab per namespace holds while it replays the outbox. */
export const leaderLockName = (namespace: string) => `harborsync:${namespace}:leader`;

/**
 * One tab per namespace replays the outbox: the holder of a Web Lock. The lock is held until
 * the returned function is called (client.close()) or the page goes away, when the browser
 * releases it and the next tab waiting for it is granted it and starts replaying.
 *
 * Where Web Locks are missing (or refuse us, as in an opaque origin) every tab leads and says so
 * (`onLeader(true)`): each replays, and idempotency keys make a second sender of one entry
 * harmless (the server answers the repeat with the stored first answer).
 *
 * Returns a function that gives leadership up (or stops waiting for it). Calling it twice is harmless.
 */
export function electLeader(
  locks: LockManagerLike | undefined,
  namespace: string,
  onLeader: (leader: boolean) => void,
): () => void {
  let leading = false;
  let released = false;
  const lead = () => {
    if (released || leading) return;
    leading = true;
    onLeader(true);
  };
  const resign = () => {
    if (!leading) return;
    leading = false;
    onLeader(false);
  };
  if (!locks) {
    lead();
    return () => {
      released = true;
      resign();
    };
  }
  const controller = new AbortController();
  let release: (() => void) | null = null;
  const requestFailed = () => {
    // Our own abort: we were closing while waiting. Anything else: Web Locks are unusable here,
    // so behave as where they are missing rather than never sending.
    if (!released) lead();
  };
  try {
    locks
      .request(leaderLockName(namespace), { signal: controller.signal }, () => {
        if (released) return Promise.resolve();
        lead();
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
    resign();
  };
}
