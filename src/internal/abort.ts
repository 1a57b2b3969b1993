/** Per signal: its one abort listener, and what it runs for each call waiting on it. */
const watched = new WeakMap<AbortSignal, { listener: () => void; waiting: Set<() => void> }>();

/**
 * Runs `onAbort` when `signal` aborts, until the returned function stops it. The signal (the
 * client's lifetime) is shared by every request and every call waiting: one listener for all of
 * them, so Node does not warn of a leak past ten at once, and it goes with the last.
 */
export function whenAborted(signal: AbortSignal, onAbort: () => void): () => void {
  let watching = watched.get(signal);
  if (!watching) {
    const waiting = new Set<() => void>();
    const listener = () => {
      watched.delete(signal);
      for (const run of waiting) run();
    };
    signal.addEventListener('abort', listener, { once: true });
    watched.set(signal, (watching = { listener, waiting }));
  }
  const { listener, waiting } = watching;
  waiting.add(onAbort);
  return () => {
    waiting.delete(onAbort);
    if (waiting.size > 0 || watched.get(signal) !== watching) return;
    watched.delete(signal);
    signal.removeEventListener('abort', listener);
  };
}

/** Settles as `step` does, or rejects with the client's ClosedError once `lifetime` is aborted; the listener goes once it has settled. */
export function orClosed<T>(step: Promise<T>, lifetime: AbortSignal): Promise<T> {
  let unlisten = (): void => undefined;
  const closed = new Promise<never>((_, reject) => {
    const onAbort = () => reject(lifetime.reason);
    if (lifetime.aborted) onAbort();
    else unlisten = whenAborted(lifetime, onAbort);
  });
  return Promise.race([step, closed]).finally(() => unlisten());
}
