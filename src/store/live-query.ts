import type { QueryState } from '../types.js';
import type { CompiledQuery } from './query.js';
import { SortedChunks } from './sorted-chunks.js';

/** What every query of a resource shares: fetch state and confirmation time. */
export interface ResourceFlags {
  hydrated: boolean;
  isFetching: boolean;
  error: Error | null;
  lastSyncedAt: number | null;
  hasMore: boolean;
}

const EMPTY_IDS: ReadonlySet<string> = new Set();

export function queryStatus(flags: ResourceFlags, cached: boolean): QueryState<unknown>['status'] {
  // Not loaded because the load failed (IndexedDB refused to open): nothing is in flight.
  if (!flags.hydrated) return flags.error ? 'error' : 'loading';
  if (cached || flags.lastSyncedAt !== null) return 'success';
  if (flags.error) return 'error';
  return flags.isFetching ? 'loading' : 'success';
}

/**
 * One live query: the sorted list of every matching entity, kept up to date one change at a time
 * (binary search, then a splice inside one chunk of SortedChunks: no rescan, and a cost that does not
 * grow with the list), and the state last emitted. Emits only when what it shows changed.
 */
export class LiveQuery<T extends object> {
  readonly #sorted: SortedChunks<T>;
  /** Pending ids of the matching entities (shown or not), and the pending deletes of rows shown. */
  #pendingIds = new Set<string>();
  /** Of those, the pending deletes. */
  #pendingGone = new Set<string>();
  #pendingChanged = false;
  /** The pending ids emitted: those of the rows shown, and the pending deletes. */
  #pendingView: ReadonlySet<string> = EMPTY_IDS;
  #dirty = false;
  state!: QueryState<T>;
  /** On-demand: the server said it has more beyond what was loaded. */
  serverHasMore = false;
  readonly listeners = new Set<(state: QueryState<T>) => void>();

  readonly #idOf: (entity: T) => string;
  /** What the query's predicate threw last: shown as the query's error. */
  #thrown: Error | null = null;

  constructor(
    readonly compiled: CompiledQuery<T>,
    idOf: (entity: T) => string,
  ) {
    this.#idOf = idOf;
    this.#sorted = new SortedChunks(compiled.compare);
  }

  /**
   * The app's predicate, contained: thrown out of a write's or a pull's change of the mirror, it
   * would fail that change after the mirror took it (shown, never stored). The entity is left out
   * of this query, whose state carries the error.
   */
  #matches(entity: T): boolean {
    try {
      return this.compiled.matches(entity);
    } catch (error) {
      this.#thrown = error instanceof Error ? error : new Error(String(error));
      this.#dirty = true;
      return false;
    }
  }

  /** Full recompute: the initial fill, and a batch too large to splice one by one. */
  reset(all: Iterable<T>, isPending: (id: string) => boolean, exists: (id: string) => boolean): void {
    const { compare } = this.compiled;
    const sorted: T[] = [];
    const pending = new Set<string>();
    for (const entity of all) {
      if (!this.#matches(entity)) continue;
      sorted.push(entity);
      const id = this.#idOf(entity);
      if (isPending(id)) pending.add(id);
    }
    sorted.sort(compare);
    // Pending deletes of entities this query showed stay listed (as apply() keeps them); a
    // pending entity that no longer matches leaves, as it would spliced.
    const gone = new Set<string>();
    const shown = this.state ? this.state.data.map(this.#idOf) : [];
    for (const id of [...this.#pendingGone, ...shown]) if (isPending(id) && !exists(id)) gone.add(id);
    this.#sorted.reset(sorted);
    this.#pendingIds = new Set([...pending, ...gone]);
    this.#pendingGone = gone;
    this.#pendingChanged = true;
    this.#dirty = true;
  }

  /** Splices one change in; returns whether what the query shows changed. */
  apply(id: string, before: T | undefined, after: T | undefined, pending: boolean): boolean {
    const { limit } = this.compiled;
    let changed = false;
    // hasMore tells whether matches go on past the limit: a change beyond the window can flip it.
    const wasOver = this.#sorted.length > limit;
    const wasIn = before !== undefined && this.#matches(before);
    const isIn = after !== undefined && this.#matches(after);
    let removedAt = -1;
    let insertedAt = Infinity;
    if (wasIn) {
      removedAt = this.#sorted.remove(before, limit);
      if (removedAt >= 0 && removedAt < limit) changed = true;
    }
    if (isIn) {
      insertedAt = this.#sorted.insert(after, limit);
      if (insertedAt < limit) changed = true;
    }
    if (this.#sorted.length > limit !== wasOver) changed = true;
    // A delete stays listed as pending if the row was shown (a row beyond the window was not).
    const wasGone = this.#pendingGone.has(id);
    const gone = after === undefined && (wasIn ? removedAt >= 0 && removedAt < limit : wasGone);
    const shouldPend = pending && (isIn || gone);
    const isGone = shouldPend && gone;
    if (isGone) this.#pendingGone.add(id);
    else this.#pendingGone.delete(id);
    if (shouldPend !== this.#pendingIds.has(id) || isGone !== wasGone) {
      if (shouldPend) this.#pendingIds.add(id);
      else this.#pendingIds.delete(id);
      this.#pendingChanged = true;
      // Seen only on a row shown, or on a pending delete: one beyond the window emits nothing.
      if (insertedAt < limit || gone || wasGone) changed = true;
    }
    if (changed) this.#dirty = true;
    return changed;
  }

  /** The pending ids among `data` and the pending deletes; the set emitted last while they are the same. */
  #shownPending(data: readonly T[]): ReadonlySet<string> {
    let ids: Set<string>;
    if (this.compiled.limit === Infinity) {
      if (!this.#pendingChanged) return this.#pendingView;
      ids = new Set(this.#pendingIds);
    } else {
      ids = new Set(this.#pendingGone);
      if (this.#pendingIds.size > ids.size) {
        for (const entity of data) {
          const id = this.#idOf(entity);
          if (this.#pendingIds.has(id)) ids.add(id);
        }
      }
    }
    this.#pendingChanged = false;
    const same = ids.size === this.#pendingView.size && [...ids].every((id) => this.#pendingView.has(id));
    return same ? this.#pendingView : ids;
  }

  markDirty(): void {
    this.#dirty = true;
  }

  /** Builds the next state (sharing what did not change) and emits it, if anything changed. */
  flush(flags: ResourceFlags, cachedCount: number): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const { limit } = this.compiled;
    const data = this.#sorted.head(limit);
    this.#pendingView = this.#shownPending(data);
    this.state = {
      data,
      status: queryStatus(flags, cachedCount > 0),
      error: this.#thrown ?? flags.error,
      isFetching: flags.isFetching,
      pendingIds: this.#pendingView,
      lastSyncedAt: flags.lastSyncedAt,
      hasMore: this.serverHasMore || flags.hasMore || this.#sorted.length > limit,
    };
    for (const listener of this.listeners) listener(this.state);
  }
}
