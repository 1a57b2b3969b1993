import type { EntityState, Query, QueryState } from '../types.js';
import { LiveQuery, queryStatus, type ResourceFlags } from './live-query.js';
import { compileQuery, type CurrentValue } from './query.js';
import { deepEqual, FORBIDDEN_KEYS, freezeDeep } from '../internal/plain.js';

type Listener<S> = (state: S) => void;

/** One get$ subscription: `id` is where it is filed, moved by follow(), so its unsubscribe finds it there. */
interface EntityWatch<S> {
  id: string;
  readonly listener: Listener<S>;
}

/** Above this many changes in one batch, a live query is recomputed instead of spliced. */
const SPLICE_LIMIT = 256;

/** A stored field and what the schema makes of it, shown in its place while the field holds that value. */
export interface Reshaped {
  stored: unknown;
  shown: unknown;
}

/** What kind of value: a field whose kind the schema changes is one it reshapes. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value instanceof Date ? 'date' : Array.isArray(value) ? 'array' : 'object';
}

/**
 * The fields of a stored view (cached under an older schema) whose value the schema's output
 * `parsed` holds as another kind: missing from the view (a field added with a default), or a
 * string it makes a Date of (a transform added). Undefined when none. A load runs it on every
 * record it reads: one pass over the output's keys, allocating nothing unless a field differs.
 */
export function reshapedFields(view: Record<string, unknown>, parsed: Record<string, unknown>): Record<string, Reshaped> | undefined {
  let reshaped: Record<string, Reshaped> | undefined;
  for (const key in parsed) {
    const stored = view[key];
    const shown = parsed[key];
    // The same value, or the same kind (what a schema's own output holds): the common case, about 50 ns a record.
    if (stored === shown || shown === undefined || kindOf(stored) === kindOf(shown) || FORBIDDEN_KEYS.has(key)) continue;
    (reshaped ??= {})[key] = { stored, shown };
  }
  return reshaped;
}

/**
 * The in-memory copy of one resource's local view: answers every query, and pushes each change
 * to the live queries and entity subscribers it concerns.
 */
export class ResourceMirror<T extends object> {
  readonly entities = new Map<string, T>();
  readonly #pending = new Set<string>();
  /**
   * Ids a local change (this tab's or another's) took out of the view before the first pull
   * ended: known deleted, they show as such, not as loading.
   */
  readonly #gone = new Set<string>();
  /** Counts changes of entities and flags: a query computed at one count is current while it holds. */
  #changes = 0;
  readonly #queries = new Set<LiveQuery<T>>();
  readonly #entityListeners = new Map<string, Set<EntityWatch<EntityState<T>>>>();
  readonly #entityStates = new Map<string, EntityState<T>>();
  /** Temporary ids the server renamed, and the ids their get$() subscribers were moved to (follow). */
  readonly #followed = new Map<string, string>();
  /** Of those, the ids still shown whose subscribers were moved to an id not shown yet: told when set. */
  readonly #moved = new Map<string, string>();
  readonly flags: ResourceFlags = { hydrated: false, isFetching: false, error: null, lastSyncedAt: null, hasMore: false };
  #batchDepth = 0;
  #batchChanges = 0;
  readonly #touchedIds = new Set<string>();
  #flagsChanged = false;
  /**
   * Per entity, the fields the schema reshapes in its stored view (reshapedFields): shown as the
   * schema makes them, as the entity's type says they are, while the view holds them as stored;
   * never stored nor sent.
   */
  readonly #reshaped = new Map<string, Record<string, Reshaped>>();
  /** On-demand resources remember when each entity was last shown, for eviction. */
  readonly #shownAt = new Map<string, number>();
  #shownTick = 0;
  trackShown = false;

  readonly #keyField: string;
  readonly #current: CurrentValue | undefined;

  constructor(
    readonly name: string,
    keyField: string,
    current?: CurrentValue,
  ) {
    this.#keyField = keyField;
    this.#current = current;
  }

  readonly idOf = (entity: T): string => String((entity as Record<string, unknown>)[this.#keyField]);

  /** How many entities the status counts as known: a list a local deletion emptied is no loading one. */
  #known(): number {
    return this.entities.size + this.#gone.size;
  }

  isPending(id: string): boolean {
    return this.#pending.has(id);
  }

  /** Ids with unconfirmed changes, pending deletes (absent from `entities`) included. */
  pendingIds(): IterableIterator<string> {
    return this.#pending.keys();
  }

  /** Shows `fields` as the schema makes them in every view of `id` holding them as stored (see #reshaped). */
  reshape(id: string, fields: Record<string, Reshaped>): void {
    this.#reshaped.set(id, fields);
  }

  /**
   * The view as shown: with the fields the schema reshapes (the same object when none is).
   * `fromStore`: the view as stored; once it holds none of them as they were, storage has moved on
   * (a pull, a write of each) and the entity is shown as stored from then on.
   */
  shown(id: string, view: T, fromStore = false): T {
    const reshaped = this.#reshaped.size === 0 ? undefined : this.#reshaped.get(id);
    if (reshaped === undefined) return view;
    const fields = view as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const [key, { stored, shown }] of Object.entries(reshaped)) {
      // Changed since (here, by a pull, by another tab): the view's value stands.
      if (Object.hasOwn(fields, key) ? !deepEqual(fields[key], stored) : stored !== undefined) continue;
      (out ??= { ...fields })[key] = shown;
    }
    if (out === undefined && fromStore) this.#reshaped.delete(id);
    return (out as T | undefined) ?? view;
  }

  /** What is stored of a view shown: its reshaped fields as stored (the same object when none is). */
  stored(id: string, view: T): T {
    const reshaped = this.#reshaped.size === 0 ? undefined : this.#reshaped.get(id);
    if (reshaped === undefined) return view;
    const fields = view as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const [key, { stored, shown }] of Object.entries(reshaped)) {
      if (!Object.hasOwn(fields, key) || !deepEqual(fields[key], shown)) continue;
      out ??= { ...fields };
      if (stored === undefined) delete out[key];
      else out[key] = stored;
    }
    return (out as T | undefined) ?? view;
  }

  /** Sets an entity's local view (undefined: absent) and whether it has unconfirmed changes. */
  set(id: string, given: T | undefined, pending: boolean): void {
    const view = given === undefined ? given : this.shown(id, given);
    const before = this.entities.get(id);
    const wasPending = this.#pending.has(id);
    if (before === view && wasPending === pending) return;
    this.#changes++;
    const movedTo = this.#moved.get(id);
    if (movedTo !== undefined) {
      this.#moved.delete(id);
      this.#touchedIds.add(movedTo);
    }
    if (view === undefined) this.entities.delete(id);
    else this.entities.set(id, freezeDeep(view));
    // Kept for cached entities only: an on-demand session may scroll through millions.
    if (view === undefined) this.#shownAt.delete(id);
    if (pending) this.#pending.add(id);
    else if (wasPending) this.#pending.delete(id);
    if (view !== undefined) this.#gone.delete(id);
    else if (pending || wasPending) this.#gone.add(id);
    this.#batchChanges++;
    if (this.#batchDepth === 0 || this.#batchChanges <= SPLICE_LIMIT) {
      for (const query of this.#queries) query.apply(id, before, view, pending);
    }
    // Only watched entities are emitted one by one: a load of thousands remembers none of the rest.
    if (this.#entityListeners.has(id)) this.#touchedIds.add(id);
    if (this.#batchDepth === 0) this.#flush();
  }

  /**
   * Another tab's commit left `id` absent (an entity created and deleted there before it was
   * sent, which this tab never saw): known deleted, it shows as such, not as loading.
   */
  setGone(id: string): void {
    if (this.entities.has(id) || this.#pending.has(id) || this.#gone.has(id)) return;
    // The first id known makes the lists' status success: they emit it.
    if (this.#known() === 0) for (const query of this.#queries) query.markDirty();
    this.#gone.add(id);
    this.#changes++;
    if (this.#entityListeners.has(id)) this.#touchedIds.add(id);
    if (this.#batchDepth === 0) this.#flush();
  }

  setFlags(patch: Partial<ResourceFlags>): void {
    // Synced, the status no longer asks; cleared (null), the database that knew went.
    if ('lastSyncedAt' in patch) this.#gone.clear();
    let changed = false;
    for (const key of Object.keys(patch) as Array<keyof ResourceFlags>) {
      if (this.flags[key] !== patch[key]) {
        (this.flags as unknown as Record<string, unknown>)[key] = patch[key];
        changed = true;
      }
    }
    if (!changed) return;
    this.#changes++;
    this.#flagsChanged = true;
    if (this.#batchDepth === 0) this.#flush();
  }

  /** Runs `fn` and emits once at the end, however many entities it changed. */
  batch(fn: () => void): void {
    this.#batchDepth++;
    try {
      fn();
    } finally {
      if (--this.#batchDepth === 0) this.#flush();
    }
  }

  #flush(): void {
    if (this.#batchChanges > SPLICE_LIMIT) {
      for (const query of this.#queries) query.reset(this.entities.values(), (id) => this.#pending.has(id), (id) => this.entities.has(id));
    }
    if (this.#flagsChanged) for (const query of this.#queries) query.markDirty();
    for (const query of this.#queries) query.flush(this.flags, this.#known());
    if (this.trackShown) this.#markShown();
    if (this.#flagsChanged) {
      for (const id of this.#entityListeners.keys()) this.#emitEntity(id);
    } else {
      for (const id of this.#touchedIds) if (this.#entityListeners.has(id)) this.#emitEntity(id);
    }
    this.#touchedIds.clear();
    this.#batchChanges = 0;
    this.#flagsChanged = false;
  }

  #markShown(): void {
    const tick = ++this.#shownTick;
    for (const query of this.#queries) for (const entity of query.state.data) this.#shownAt.set(this.idOf(entity), tick);
  }

  /**
   * Ids going out of sight were shown until now: after whatever the last emission showed. Cached
   * ones only: eviction picks among those, and set() forgets an id only as it leaves the cache.
   */
  #lastSeen(ids: readonly string[]): void {
    const tick = ++this.#shownTick;
    for (const id of ids) if (this.entities.has(id)) this.#shownAt.set(id, tick);
  }

  /** Ids some live query shows now. */
  shownIds(): Set<string> {
    const ids = new Set<string>();
    for (const query of this.#queries) for (const entity of query.state.data) ids.add(this.idOf(entity));
    for (const id of this.#entityListeners.keys()) ids.add(id);
    return ids;
  }

  /** When the entity was last shown (a counter, not a time); 0 when never. */
  lastShown(id: string): number {
    return this.#shownAt.get(id) ?? 0;
  }

  #entityState(id: string): EntityState<T> {
    const data = this.entities.get(id);
    return {
      data,
      status: queryStatus(this.flags, data !== undefined || this.#gone.has(id)),
      error: this.flags.error,
      isFetching: this.flags.isFetching,
      pending: this.#pending.has(id),
    };
  }

  #emitEntity(id: string): void {
    const previous = this.#entityStates.get(id);
    const next = this.#entityState(id);
    if (
      previous &&
      previous.data === next.data &&
      previous.status === next.status &&
      previous.error === next.error &&
      previous.isFetching === next.isFetching &&
      previous.pending === next.pending
    ) {
      return;
    }
    this.#entityStates.set(id, next);
    for (const watch of this.#entityListeners.get(id) ?? []) {
      // A listener changed the entity (a write in its callback): every listener was just told
      // the newer state, which this older one must not follow.
      if (this.#entityStates.get(id) !== next) break;
      watch.listener(next);
    }
  }

  /** The state `watchEntity(id)` would start with, watching nothing. */
  peekEntity(given: string): EntityState<T> {
    const id = this.#followed.get(given) ?? given;
    return this.#entityStates.get(id) ?? this.#firstState(given, id);
  }

  /**
   * The first state of a watch of `given`, filed under `id`: a temporary id followed to the
   * server's before the entity is shown under that one shows it as it is shown still, until `id`
   * is set (as the subscribers moved there see it), never missing.
   */
  #firstState(given: string, id: string): EntityState<T> {
    return id !== given && !this.entities.has(id) && this.entities.has(given) ? this.#entityState(given) : this.#entityState(id);
  }

  watchEntity(given: string, listener: Listener<EntityState<T>>): () => void {
    // A temporary id already followed to the server's is watched there, as its earlier subscribers are.
    const id = this.#followed.get(given) ?? given;
    const watch: EntityWatch<EntityState<T>> = { id, listener };
    let set = this.#entityListeners.get(id);
    if (!set) this.#entityListeners.set(id, (set = new Set()));
    set.add(watch);
    let state = this.#entityStates.get(id);
    if (!state) this.#entityStates.set(id, (state = this.#firstState(given, id)));
    listener(state);
    return () => {
      const filed = this.#entityListeners.get(watch.id);
      if (!filed?.delete(watch) || filed.size > 0) return;
      this.#entityListeners.delete(watch.id);
      this.#entityStates.delete(watch.id);
      if (this.trackShown) this.#lastSeen([watch.id]);
    };
  }

  /**
   * Moves `get$(from)` subscribers to `to` (a temporary id the server renamed), and files those
   * that come later there too. They hear of it when `to` is set, so they never see the entity missing.
   */
  follow(from: string, to: string): void {
    this.#followed.set(from, to);
    // `to` names this entity now: a rename from it made earlier (a re-created entity's) is over.
    this.#followed.delete(to);
    const moving = this.#entityListeners.get(from);
    if (!moving) return;
    const seen = this.#entityStates.get(from);
    this.#entityListeners.delete(from);
    this.#entityStates.delete(from);
    let target = this.#entityListeners.get(to);
    if (!target) this.#entityListeners.set(to, (target = new Set()));
    for (const watch of moving) {
      watch.id = to;
      target.add(watch);
    }
    // `to` is compared with what they saw last; watched already, it is told anew.
    if (this.#entityStates.has(to)) this.#entityStates.delete(to);
    else if (seen) this.#entityStates.set(to, seen);
    // Still shown under `from` only, the entity is told once either id is set next (`to` may be
    // set to what it is already: absent, deleted meanwhile). Otherwise no change may follow.
    if (this.entities.has(from) && !this.entities.has(to)) {
      this.#moved.set(from, to);
      return;
    }
    this.#touchedIds.add(to);
    if (this.#batchDepth === 0) this.#flush();
  }

  /** A live query shared by its subscribers; torn down with the last one. */
  createQuery(query: Query<T> | undefined): {
    subscribe(listener: Listener<QueryState<T>>): () => void;
    setServerHasMore(hasMore: boolean): void;
    /** The state a subscriber would be given now, computed once without subscribing. */
    peek(): QueryState<T>;
  } {
    const compiled = compileQuery(query, this.#keyField, this.#current);
    let live: LiveQuery<T> | undefined;
    let serverHasMore = false;
    /** What peek() computed, adopted by the first subscriber if nothing changed since. */
    let peeked: { query: LiveQuery<T>; at: number } | undefined;
    const start = (): LiveQuery<T> => {
      const started = new LiveQuery(compiled, this.idOf);
      started.serverHasMore = serverHasMore;
      started.reset(this.entities.values(), (id) => this.#pending.has(id), (id) => this.entities.has(id));
      started.flush(this.flags, this.#known());
      return started;
    };
    return {
      setServerHasMore: (hasMore) => {
        serverHasMore = hasMore;
        if (!live || live.serverHasMore === hasMore) return;
        live.serverHasMore = hasMore;
        live.markDirty();
        live.flush(this.flags, this.#known());
      },
      peek: () => {
        if (live) return live.state;
        if (peeked?.at !== this.#changes || peeked.query.serverHasMore !== serverHasMore) peeked = { query: start(), at: this.#changes };
        return peeked.query.state;
      },
      subscribe: (listener) => {
        if (!live) {
          const current = peeked?.at === this.#changes && peeked.query.serverHasMore === serverHasMore;
          live = current ? peeked!.query : start();
          peeked = undefined;
          this.#queries.add(live);
        }
        const current = live;
        current.listeners.add(listener);
        listener(current.state);
        return () => {
          current.listeners.delete(listener);
          if (current.listeners.size === 0) {
            this.#queries.delete(current);
            if (this.trackShown) this.#lastSeen(current.state.data.map(this.idOf));
            if (live === current) live = undefined;
          }
        };
      },
    };
  }

  /** A one-shot answer from the mirror. */
  snapshot(query: Query<T> | undefined): T[] {
    const { matches, compare, limit } = compileQuery(query, this.#keyField, this.#current);
    const out: T[] = [];
    for (const entity of this.entities.values()) if (matches(entity)) out.push(entity);
    out.sort(compare);
    return limit === Infinity ? out : out.slice(0, limit);
  }

  get hasListeners(): boolean {
    return this.#queries.size > 0 || this.#entityListeners.size > 0;
  }
}
