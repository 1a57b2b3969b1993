import type { LockManagerLike } from '../types.js';

/**
 * One tab per namespace replays the outbox: the holder of a Web Lock. Where Web Locks are
 * missing every tab replays, and idempotency keys make the second sender harmless.
 * Returns a function that gives leadership up.
 */
export function electLeader(
  locks: LockManagerLike | undefined,
  namespace: string,
  onLeader: (leader: boolean) => void,
): () => void {
  if (!locks) {
    onLeader(true);
    return () => onLeader(false);
  }
  const controller = new AbortController();
  let release: (() => void) | null = null;
  let released = false;
  locks
    .request(`harborsync:${namespace}:leader`, { signal: controller.signal }, () => {
      if (released) return Promise.resolve();
      onLeader(true);
      return new Promise<void>((resolve) => (release = resolve));
    })
    .catch(() => undefined);
  return () => {
    released = true;
    controller.abort();
    if (release) {
      release();
      onLeader(false);
    }
  };
}
