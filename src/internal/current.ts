import type { Observable } from 'rxjs';

/**
 * The key under which a live observable of the core offers its current value, computed without
 * subscribing: what the React adapter renders first for a new query or a newly mounted status,
 * conflicts or failed hook, where it would otherwise render the initial state for one frame
 * before its subscription (an effect) brings the value.
 * A registered symbol, so the adapters' bundles and the core's agree on it.
 */
export const CURRENT: unique symbol = Symbol.for('harborsync.current');

export type WithCurrent<T> = Observable<T> & { readonly [CURRENT]?: () => T };

/** `source`, offering `current` as its current value. */
export function withCurrent<T>(source: Observable<T>, current: () => T): WithCurrent<T> {
  return Object.defineProperty(source, CURRENT, { value: current }) as WithCurrent<T>;
}
