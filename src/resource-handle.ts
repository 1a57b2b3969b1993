import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import type { Env } from './env.js';
import { HarborSyncError, PendingMutationsError, StorageError, ValidationError } from './errors.js';
import { orClosed } from './internal/abort.js';
import { withCurrent } from './internal/current.js';
import { normalizeId, TEMP_ID_PREFIX, uuid } from './internal/ids.js';
import { applyPatch, copyPlain, deepEqual, FORBIDDEN_KEYS, isPlainObject, unsendableField } from './internal/plain.js';
import { validate, type Validation } from './internal/schema.js';
import type { StandardSchemaV1 } from './internal/standard-schema.js';
import type { PendingOp } from './outbox/coalesce.js';
import { isRolledBack, type NewEntry } from './outbox/entry.js';
import { renameIds } from './outbox/remap.js';
import type { LocalStore, ViewChange } from './store/local-store.js';
import type { ResourceMirror } from './store/mirror.js';
import type {
  CreateInput,
  EntityKey,
  EntityState,
  Query,
  QueryState,
  ResourceDefinition,
  ResourceHandle,
  SyncEvent,
  WriteOptions,
} from './types.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;
/**
 * Called by a write whose validation answers with a promise: the writes made after it wait until
 * it calls the function returned, once its change is shown or refused.
 */
type HoldTurn = () => () => void;

/** What a handle needs from its client. */
export interface HandleHost {
  readonly env: Env;
  readonly store: LocalStore;
  readonly origin: string;
  assertOpen(what: string): void;
  mirror(def: Def): ResourceMirror<object>;
  hydrate(def: Def): Promise<void>;
  revalidate(def: Def): void;
  refreshResource(def: Def, sinceNow?: boolean): Promise<void>;
  applied(change: ViewChange): void;
  written(r: string, id: string): void;
  /** Reads the entity and the outbox again from storage, as after another tab's message. */
  reread(r: string, id: string): void;
  emit(event: SyncEvent): void;
  waitFor(seq: number, signal: AbortSignal | undefined): Promise<Rec | null>;
  /** The entry `seq` got its final outcome: its waits, in every tab, settle with it. */
  settled(seq: number, outcome: { value: Rec | null }): void;
  currentId(r: string, id: string): string;
  /** currentId, as a field referring to the entity holds it: the server's id as its answer wrote it (a number stays one). */
  currentReference(r: string, id: string): string | number;
  /** Aborted when the client closes: writes queued behind a validation that never answers are released then. */
  readonly lifetime: AbortSignal;
  /** Completes each get$() and query$() subscriber: close() calls them. */
  readonly subscribers: Set<() => void>;
  /**
   * The client's write turn, shared by its resources (see ResourceHandleImpl's use): a write
   * waiting for its resource's load or an async validation holds back the writes made after it to
   * any resource, so a change naming an entity (a `references` field) is never queued before that
   * entity's create.
   */
  readonly writeTurn: { current: Promise<void> | null };
  /** Counts the clear({ discardPending: true }) calls gone ahead: a write called before the last one and not stored then is discarded. */
  readonly discards: number;
  /** On-demand: loads what the query shows; `fill()` loads again what rows that left it lack. */
  watchQuery(def: Def, query: Query<object> | undefined, setServerHasMore: (hasMore: boolean) => void): { fill(): void; stop(): void };
}

/**
 * A live observable of the client, offering `current`: it completes when the client closes, with
 * nothing after; subscribed after that, it gives `current` and completes.
 */
export function untilClosed<T>(host: Pick<HandleHost, 'lifetime' | 'subscribers'>, current: () => T, subscribe: (subscriber: Subscriber<T>) => TeardownLogic): Observable<T> {
  const live$ = new Observable<T>((subscriber) => {
    if (host.lifetime.aborted) {
      subscriber.next(current());
      return subscriber.complete();
    }
    const complete = () => subscriber.complete();
    host.subscribers.add(complete);
    subscriber.add(() => host.subscribers.delete(complete));
    return subscribe(subscriber);
  });
  return withCurrent(live$, current);
}

/**
 * Refuses options a JavaScript caller got wrong before anything is written: a misspelt `wait`
 * would resolve before the server answers, and a signal that is not one would fail only after the
 * change was stored, its promise rejecting though the change goes out.
 */
function checkWriteOptions(options: unknown, what: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`harborsync: ${what} options must be an object, received ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  // A misspelt name ({ Wait: 'server' }) would be no option at all: the write would resolve locally.
  for (const name of Object.keys(options)) {
    if (name !== 'wait' && name !== 'signal') throw new TypeError(`harborsync: ${what} options.${name} is not an option (wait, signal)`);
  }
  const { wait, signal } = options as Rec;
  if (wait !== undefined && wait !== 'local' && wait !== 'server') {
    throw new TypeError(`harborsync: ${what} options.wait must be 'local' or 'server', received ${typeof wait === 'string' ? JSON.stringify(wait) : typeof wait}`);
  }
  const listens = typeof signal === 'object' && signal !== null && typeof (signal as Rec)['aborted'] === 'boolean' && typeof (signal as Rec)['addEventListener'] === 'function';
  if (signal !== undefined && !listens) throw new TypeError(`harborsync: ${what} options.signal must be an AbortSignal`);
}

/** The input's own fields, their plain objects and arrays copied: the app's stay its own, mutable. */
function ownFields(input: Rec): Rec {
  const out: Rec = {};
  for (const key of Object.keys(input)) if (!FORBIDDEN_KEYS.has(key)) out[key] = copyPlain(input[key]);
  return out;
}

/**
 * The per-resource facade. Reads come from the mirror; a write validates, shows in every live
 * query in the same call, and resolves once its transaction (entity + outbox entry) is durable.
 */
export class ResourceHandleImpl<T extends object> implements ResourceHandle<T> {
  readonly #writing = new Map<string, number>();
  /** The latest write of each entity still committing. */
  readonly #committing = new Map<string, Promise<unknown>>();
  /**
   * Per entity with writes committing, what is stored as far as they know (the view before the
   * first, or what the last one stored): shown again should the last of them fail.
   */
  readonly #storedView = new Map<string, { view: object | undefined; pending: boolean }>();
  /** Writes called and not stored nor refused yet: flush() waits for them, so it sends them too. */
  readonly #unstored = new Set<Promise<void>>();
  /** Per write not stored yet (by its `stored`), host.discards when it was called. */
  readonly #calledAt = new WeakMap<() => void, number>();

  readonly #host: HandleHost;
  readonly #def: Def;

  constructor(host: HandleHost, def: Def) {
    this.#host = host;
    this.#def = def;
  }

  get name(): string {
    return this.#def.name;
  }

  /** Settles once every write called so far is stored or refused (a wait for the server aside). */
  async stored(): Promise<void> {
    await Promise.all([...this.#unstored]);
  }

  /** How many writes called are not stored nor refused yet. */
  get unstored(): number {
    return this.#unstored.size;
  }

  /** An optimistic write for this id is not committed yet. */
  isWriting(id: string): boolean {
    return this.#writing.has(id);
  }

  /**
   * Another transaction (a pull, an answer, another tab) committed `view` for an entity whose
   * writes are still committing: not shown over theirs, but what is stored now, shown should they fail.
   */
  storedMeanwhile(id: string, view: object | undefined, pending: boolean): void {
    if (this.#storedView.has(id)) this.#storedView.set(id, { view, pending });
  }

  #id(value: EntityKey, what: string): string {
    const id = normalizeId(value);
    if (id === undefined) {
      // String() throws for an object without a prototype: named by its tag instead.
      const named = typeof value === 'object' && value !== null ? Object.prototype.toString.call(value) : String(value);
      throw new ValidationError([{ field: this.#def.key, message: 'must be a non-empty string of at most 1,024 characters (not "." or "..", no lone surrogate) or a finite number' }], { resource: this.#def.name, id: named.slice(0, 64) });
    }
    this.#host.assertOpen(what);
    return this.#shownId(id);
  }

  /**
   * The id the entity is shown under: a temporary id the server renamed names the server's, but
   * while the answer that renamed it is still being applied here the entity is shown under the
   * temporary one only (a change made there is stored under the server's: LocalStore.write).
   */
  #shownId(id: string): string {
    const current = this.#host.currentId(this.#def.name, id);
    if (current === id) return id;
    const { entities } = this.#host.mirror(this.#def);
    return entities.has(current) || !entities.has(id) ? current : id;
  }

  get$(key: EntityKey): Observable<EntityState<T>> {
    const given = this.#id(key, 'get$()');
    // Named again at each subscription and peek: a temporary id the server renamed since the call
    // is found under the id it is shown under (a React render peeks before its effect subscribes).
    const id = (): string => this.#shownId(given);
    const current = () => this.#host.mirror(this.#def).peekEntity(id()) as EntityState<T>;
    return untilClosed<EntityState<T>>(this.#host, current, (subscriber) => {
      // An on-demand resource fetches per query: watched alone, the entity is loaded from the
      // cache, and nothing says it is being fetched.
      if (this.#def.load === 'on-demand') void this.#host.hydrate(this.#def).catch(() => undefined);
      else this.#host.revalidate(this.#def);
      return this.#host.mirror(this.#def).watchEntity(id(), (state) => subscriber.next(state as EntityState<T>));
    });
  }

  query$(given?: Query<T>): Observable<QueryState<T>> {
    this.#host.assertOpen('query$()');
    // A temporary id is kept: the views match the entities naming it by either id (before its
    // rename is shown here, they still name the temporary one), and the on-demand loader asks
    // the server for its current id at each load.
    const query = given as Query<object> | undefined;
    const live = this.#host.mirror(this.#def).createQuery(query);
    return untilClosed<QueryState<T>>(this.#host, () => live.peek() as QueryState<T>, (subscriber) => {
      this.#host.revalidate(this.#def);
      if (this.#def.load !== 'on-demand') return live.subscribe((state) => subscriber.next(state as QueryState<T>));
      // Watched first: the first state says whether a fetch follows, or whether the server has more.
      const watch = this.#host.watchQuery(this.#def, query, live.setServerHasMore);
      const idOf = (entity: object | undefined) => (entity as Rec | undefined)?.[this.#def.key];
      let shown: readonly object[] | null = null;
      const stop = live.subscribe((state) => {
        subscriber.next(state as QueryState<T>);
        // A row left (moved out of the filter, deleted) while the server has more: the next rows
        // are fetched, in place of fewer rows or of one cached beyond what was loaded (a gap).
        const { data } = state;
        if (shown && state.hasMore && (data.length < shown.length || (data.length === shown.length && idOf(data.at(-1)) !== idOf(shown.at(-1))))) watch.fill();
        shown = data;
      });
      return () => {
        watch.stop();
        stop();
      };
    });
  }

  async get(key: EntityKey): Promise<T | undefined> {
    const given = this.#id(key, 'get()');
    // A load waiting for a validation that never answers would hold the call past close().
    await orClosed(this.#host.hydrate(this.#def), this.#host.lifetime);
    // Named again once loaded: the renames stored by earlier sessions are read by then.
    const id = this.#shownId(given);
    return this.#host.mirror(this.#def).entities.get(id) as T | undefined;
  }

  async list(query?: Query<T>): Promise<T[]> {
    this.#host.assertOpen('list()');
    await orClosed(this.#host.hydrate(this.#def), this.#host.lifetime);
    return this.#host.mirror(this.#def).snapshot(query as Query<object> | undefined) as T[];
  }

  refresh(): Promise<void> {
    // A promise's refusal, as every other call's: a caller's .catch() must see it.
    try {
      this.#host.assertOpen('refresh()');
    } catch (error) {
      return Promise.reject(error);
    }
    return orClosed(this.#host.refreshResource(this.#def, true), this.#host.lifetime);
  }

  create(value: CreateInput<T>, options: WriteOptions = {}): Promise<T> {
    return this.#write('create()', (mirror, holdTurn, stored) => {
      checkWriteOptions(options, 'create()');
      if (typeof value !== 'object' || value === null) {
        throw new ValidationError([{ field: '', message: 'create() takes an object' }], { resource: this.#def.name });
      }
      const fields = this.#currentReferences(ownFields(value as Rec));
      delete fields[this.#def.version];
      const given = fields[this.#def.key];
      const id = given === undefined || given === null ? this.#newId() : this.#id(given as EntityKey, 'create()');
      fields[this.#def.key] = given === undefined || given === null ? id : given;
      return this.#validated(fields, id, holdTurn, (validated) => {
        // Named again: an entity it refers to may have been renamed while an async validation ran.
        const entity = this.#currentReferences(validated);
        // A schema that normalizes the key (trims, lower-cases) names the entity: kept under the
        // given id, it would not be found by the one returned, nor loaded again after a reload.
        // Checked once validated: a pull may have brought the id while an async validation ran.
        const named = entity[this.#def.key] === undefined ? id : this.#id(entity[this.#def.key] as EntityKey, 'create()');
        if (mirror.entities.has(named)) {
          throw new ValidationError([{ field: this.#def.key, message: 'an entity with this id already exists' }], { resource: this.#def.name, id: named });
        }
        this.#assertSendable(entity, named);
        return this.#commit(named, entity, { op: 'create', value: entity }, options, stored);
      });
    }) as Promise<T>;
  }

  update(key: EntityKey, patch: Partial<T>, options: WriteOptions = {}): Promise<T> {
    return this.#write('update()', (mirror, holdTurn, stored) => {
      checkWriteOptions(options, 'update()');
      const id = this.#id(key, 'update()');
      // An array, a Map or a Date has no changed fields of its own: the update would change nothing, silently.
      if (!isPlainObject(patch)) {
        throw new ValidationError([{ field: '', message: 'update() takes an object of changed fields' }], { resource: this.#def.name, id });
      }
      const current = mirror.entities.get(id) as Rec | undefined;
      if (!current) throw new ValidationError([{ field: this.#def.key, message: 'no entity with this id' }], { resource: this.#def.name, id });
      const changes = this.#currentReferences(ownFields(patch as Rec));
      delete changes[this.#def.version];
      // The key given as a temporary id the server has renamed since names the entity still.
      const named = this.#def.key in changes ? normalizeId(changes[this.#def.key]) : id;
      if (named === undefined || this.#host.currentId(this.#def.name, named) !== this.#host.currentId(this.#def.name, id)) {
        throw new ValidationError([{ field: this.#def.key, message: 'the key cannot be changed' }], { resource: this.#def.name, id });
      }
      delete changes[this.#def.key];
      // The values this update asks for, as the view shows them: what must hold should it change nothing.
      const asked = (fields: readonly string[]): Rec => Object.fromEntries(fields.map((field) => [field, current[field]]));
      const given = Object.keys(changes);
      for (const field of given) if (deepEqual(changes[field], current[field])) delete changes[field];
      if (Object.keys(changes).length === 0) return this.#unchanged(id, current, asked(given), options, stored);
      return this.#validated(applyPatch(current, changes), id, holdTurn, (view, unchangedView) => {
        // Validated asynchronously, the change may find a newer view (a pull answered meanwhile):
        // it is made on that one, as the stored change will be, not on the copy it was checked on;
        // and under the id it is shown under now (its create's answer may have renamed it).
        const shown = this.#shownId(id);
        const latest = mirror.entities.get(shown) as Rec | undefined;
        if (!latest) throw new ValidationError([{ field: this.#def.key, message: 'no entity with this id' }], { resource: this.#def.name, id: shown });
        // What the schema made of each changed field (a transform, a default) is what is queued and
        // sent, and so is a field it derived anew from them (a transform of the whole entity):
        // left out, the stored view, and the server, would keep its old value. A field the entity
        // lacks (cached before the schema had it) is only the schema's default: the server's stays.
        const applied: Rec = {};
        for (const field of Object.keys(changes)) if (!deepEqual(view[field], current[field])) applied[field] = view[field];
        const derived = Object.keys(view).filter(
          (field) => !(field in changes) && field in current && view[field] !== undefined && !deepEqual(view[field], current[field]),
        );
        // A field the schema makes anew of the entity as it was too (a nested key it strips or
        // defaults in a record cached under an older schema) is no part of the change: sent, it
        // would overwrite the server's with this copy.
        const before = derived.length ? unchangedView() : null;
        for (const field of derived) if (before === null || !deepEqual(view[field], before[field])) applied[field] = view[field];
        // Named again, as a create's: an entity it refers to may have been renamed meanwhile.
        this.#currentReferences(applied);
        const unsendable = Object.keys(applied).filter((field) => applied[field] === undefined);
        if (unsendable.length) {
          // JSON has no undefined: the request would leave the field out, the server would keep
          // its value, and its answer would bring the value back.
          const message = 'cannot be cleared with undefined, which a request cannot carry: set it to null (in a schema that allows null)';
          throw new ValidationError(unsendable.map((field) => ({ field, message })), { resource: this.#def.name, id: shown });
        }
        if (Object.keys(applied).length === 0) return this.#unchanged(shown, latest, asked(Object.keys(changes)), options, stored);
        this.#assertSendable(applied, shown);
        // Shown as it is stored: the changes on the view, not the whole output (which may hold a
        // default for a field the record lacks, never sent, or leave out one it keeps).
        return this.#commit(shown, applyPatch(latest, applied), { op: 'update', patch: applied }, options, stored);
      }, current);
    }) as Promise<T>;
  }

  delete(key: EntityKey, options: WriteOptions = {}): Promise<void> {
    return this.#write('delete()', (mirror, _holdTurn, stored) => {
      checkWriteOptions(options, 'delete()');
      const id = this.#id(key, 'delete()');
      if (!mirror.entities.has(id)) throw new ValidationError([{ field: this.#def.key, message: 'no entity with this id' }], { resource: this.#def.name, id });
      return this.#commit(id, undefined, { op: 'delete' }, options, stored);
    }).then(() => undefined);
  }

  /**
   * A write, counted as unstored from its call until `write` calls `stored` (its change is
   * committed, or there is none) or it settles.
   */
  #write<R>(what: string, write: (mirror: ResourceMirror<object>, holdTurn: HoldTurn, stored: () => void) => Promise<R>): Promise<R> {
    let stored!: () => void;
    const storing = new Promise<void>((resolve) => (stored = resolve));
    this.#calledAt.set(stored, this.#host.discards);
    this.#unstored.add(storing);
    void storing.then(() => this.#unstored.delete(storing));
    const result = this.#whenReady(what, (mirror, holdTurn) => write(mirror, holdTurn, stored));
    void result.then(stored, stored);
    return result;
  }

  /**
   * Runs a write once the resource is loaded and the writes queued ahead of it have shown their
   * changes: in the same call when nothing waits, so the change reaches live queries before the
   * caller's next line. Thrown errors become rejections.
   */
  #whenReady<R>(what: string, write: (mirror: ResourceMirror<object>, holdTurn: HoldTurn) => Promise<R>): Promise<R> {
    try {
      this.#host.assertOpen(what);
      const mirror = this.#host.mirror(this.#def);
      // The client's turn settles once the last write waiting for its resource's load or an async
      // validation, or queued behind one, has shown its change or been refused (null when none
      // is). Writes made meanwhile, to any resource, queue behind it, so each is made on the view
      // the one before left, in call order.
      const { current } = this.#host.writeTurn;
      if (current !== null || !mirror.flags.hydrated) return this.#afterTurn(current, what, write);
      return write(mirror, this.#queueTurn);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Runs a write once `ahead` settles and its resource is loaded; the writes made meanwhile queue behind this one. */
  #afterTurn<R>(ahead: Promise<void> | null, what: string, write: (mirror: ResourceMirror<object>, holdTurn: HoldTurn) => Promise<R>): Promise<R> {
    const pass = this.#queueTurn();
    const loaded = this.#host.hydrate(this.#def);
    const ready = Promise.all([ahead, loaded.catch(() => undefined)]).then(() => undefined);
    // Once the client closes, assertOpen refuses it: an async validation that never answers holds it until then.
    const readyOrClosed = orClosed(ready, this.#host.lifetime).catch(() => undefined);
    return readyOrClosed.then(async () => {
      let held = false;
      try {
        this.#host.assertOpen(what);
        // A load that failed refuses the write.
        await loaded;
        return write(this.#host.mirror(this.#def), () => {
          held = true;
          return pass;
        });
      } finally {
        if (!held) pass();
      }
    });
  }

  /** Makes a new turn the last: the function returned passes it. */
  readonly #queueTurn = (): (() => void) => {
    let pass!: () => void;
    const turn = new Promise<void>((resolve) => (pass = resolve));
    const shared = this.#host.writeTurn;
    shared.current = turn;
    return () => {
      pass();
      // The last turn passed: no write waits, the next one runs in its call.
      if (shared.current === turn) shared.current = null;
    };
  };

  /**
   * The value with each `references` field naming its entity by the id it has now: a temporary
   * id the server renamed would name, stored and sent, an entity no change will ever create.
   */
  #currentReferences(value: Rec): Rec {
    for (const [field, r] of Object.entries(this.#def.references)) {
      const current = renameIds(value[field], (id) => (typeof id === 'string' ? this.#host.currentReference(r, id) : id));
      if (current !== value[field]) value[field] = current;
    }
    return value;
  }

  #newId(): string {
    const id = uuid(this.#host.env.random);
    return this.#def.ids === 'server' ? TEMP_ID_PREFIX + id : id;
  }

  /**
   * Validates synchronously when the schema does, so a sync schema keeps the write in one call.
   * An async validation holds the turn until `then` has shown the change (or it was refused).
   */
  #validated<R>(candidate: Rec, id: string, holdTurn: HoldTurn, then: (value: Rec, alongside: () => Rec | null) => Promise<R>, alongside?: Rec): Promise<R> {
    const schema = this.#def.schema as StandardSchemaV1<unknown, Rec>;
    // `alongside`'s output, run only when `then` asks; null when refused, and from an async schema,
    // which is not asked again (its validations are the app's, and they hold the writes after it).
    const outputOf = () => {
      const result = alongside && validate(schema, alongside, this.#def.version);
      return result === undefined || result instanceof Promise || !result.ok ? null : result.value;
    };
    const finish = (result: Validation<Rec>, other: () => Rec | null) => {
      if (!result.ok) throw new ValidationError(result.issues, { resource: this.#def.name, id });
      return then(result.value, other);
    };
    const checked = validate(schema, candidate, this.#def.version);
    if (!(checked instanceof Promise)) return finish(checked, outputOf);
    const pass = holdTurn();
    // A validation that never answers would hold the write, and a flush() waiting for it, past close().
    return orClosed(checked, this.#host.lifetime).then(
      (result) => {
        try {
          return finish(result, () => null);
        } finally {
          pass();
        }
      },
      (error: unknown) => {
        pass();
        throw error;
      },
    );
  }

  /** What the schema let through must also be storable and sendable as it is, checked before any transaction. */
  #assertSendable(value: Rec, id: string): void {
    const issue = unsendableField(value);
    if (issue) throw new ValidationError([issue], { resource: this.#def.name, id });
  }

  /**
   * Shows the change at once, then commits it with its outbox entry. A failed commit rolls the
   * mirror back to what is stored.
   */
  async #commit(id: string, view: Rec | undefined, op: PendingOp, options: WriteOptions, stored: () => void): Promise<Rec | undefined> {
    const host = this.#host;
    const def = this.#def;
    // Called before a clear({ discardPending: true }) that went ahead while it waited (its load, an
    // async validation): discarded with the rest, never stored in the fresh database.
    if (this.#calledAt.get(stored) !== host.discards) throw new PendingMutationsError(1, { by: 'cleared', resource: def.name, id });
    const mirror = host.mirror(def);
    const before = mirror.entities.get(id);
    const wasPending = mirror.isPending(id);
    // What this tab believes is stored, unless another write to the entity is still committing.
    const cached = this.isWriting(id) ? undefined : before === undefined ? null : (mirror.stored(id, before) as Rec);
    if (!this.isWriting(id)) this.#storedView.set(id, { view: before, pending: wasPending });
    this.#writing.set(id, (this.#writing.get(id) ?? 0) + 1);
    mirror.set(id, view, true);
    let change: ViewChange & { cancelled: number | null };
    const writing = host.store.write(def, id, op, (): NewEntry => this.#freshEntry(id, op), cached);
    this.#committing.set(id, writing);
    try {
      change = await writing;
    } catch (error) {
      this.#release(id, writing);
      // Not `before`: a write ahead of this one, failed too, may have shown it.
      const stored = this.#storedView.get(id);
      if (!this.isWriting(id) && stored) {
        this.#storedView.delete(id);
        mirror.set(id, stored.view, stored.pending);
      }
      // Refused for what storage holds (another tab's change this tab has not heard of): the
      // view is brought to that, rather than left on the copy the write was made on.
      if (error instanceof ValidationError) host.reread(def.name, id);
      throw error instanceof HarborSyncError ? error : new StorageError(String(error), { resource: def.name, id });
    }
    this.#release(id, writing);
    // Made under the server's id, the temporary one renamed while this write waited to be stored:
    // the entity is shown under that id, and nothing is left under the temporary one.
    const renamed = change.id !== id;
    if (renamed) {
      // Its get$() subscribers first, so they never see it missing (the rename's own answer moves them too, later).
      mirror.follow(id, change.id);
      host.applied(change);
    }
    if (this.isWriting(id)) {
      this.#storedView.set(id, renamed ? { view: undefined, pending: false } : { view: change.view ?? undefined, pending: host.store.outbox.isPending(def.name, id) });
    } else {
      this.#storedView.delete(id);
      host.applied(renamed ? { r: def.name, id, view: null } : change);
    }
    // A change never sent, cancelled by this one (a create by a delete, an update set back to the
    // server's entity): its waits end as this write's, with the entity as stored (none, deleted).
    if (change.cancelled !== null) host.settled(change.cancelled, { value: change.view });
    const last = host.store.outbox.entriesOf(def.name, change.id).at(-1);
    // Nothing queued: a change that cancelled one never sent.
    if (last) host.emit({ type: 'enqueued', at: host.env.clock.now(), resource: def.name, id: change.id, op: op.op, seq: last.seq });
    host.written(def.name, change.id);
    stored();
    if (options.wait === 'server' && last) return (await host.waitFor(last.seq, options.signal)) ?? undefined;
    // The view as stored: made again on what storage held should this tab's copy have been stale
    // (a pull or another tab's change committed first), or on what writes still committing stored
    // (without the change of one that failed), and so shown. The object shown, when it is that.
    const shown = mirror.entities.get(change.id) as Rec | undefined;
    const asShown = change.view === null ? undefined : (mirror.shown(change.id, change.view) as Rec);
    return shown !== undefined && deepEqual(shown, asShown) ? shown : asShown;
  }

  /**
   * An update that changes nothing: its `values` are shown already. A write of the entity still
   * committing may be what shows them: the update resolves once it is stored, and fails with it
   * should its failure take them out of the view. Waiting for the server, it waits for the
   * entity's pending changes, which hold its values: the last one shown; with none, the view is
   * the server's entity.
   */
  async #unchanged(id: string, shown: Rec, values: Rec, options: WriteOptions, stored: () => void): Promise<Rec | undefined> {
    let current = shown;
    const committing = this.#committing.get(id);
    if (committing) {
      const failure = await committing.then(
        () => null,
        (error: unknown) => error,
      );
      const view = this.#host.mirror(this.#def).entities.get(id) as Rec | undefined;
      if (failure !== null && !Object.keys(values).every((field) => view !== undefined && deepEqual(view[field], values[field]))) {
        throw failure instanceof HarborSyncError ? failure : new StorageError(String(failure), { resource: this.#def.name, id });
      }
      // The view as that write stored it: made again on a newer version should its copy have been stale.
      if (view !== undefined) current = view;
    }
    stored();
    if (options.wait !== 'server') return current;
    const last = this.#host.store.outbox.entriesOf(this.#def.name, id).filter((e) => !isRolledBack(e)).at(-1);
    if (!last) return current;
    return (await this.#host.waitFor(last.seq, options.signal)) ?? undefined;
  }

  #release(id: string, writing: Promise<unknown>): void {
    if (this.#committing.get(id) === writing) this.#committing.delete(id);
    const n = (this.#writing.get(id) ?? 1) - 1;
    if (n <= 0) this.#writing.delete(id);
    else this.#writing.set(id, n);
  }

  #freshEntry(id: string, op: PendingOp): NewEntry {
    const now = this.#host.env.clock.now();
    return {
      r: this.#def.name,
      id,
      op: op.op,
      payload: op.op === 'create' ? op.value : op.op === 'update' ? op.patch : null,
      baseVersion: null,
      key: uuid(this.#host.env.random),
      rekeys: 0,
      frozen: false,
      attempts: 0,
      firstFailureAt: null,
      nextAttemptAt: 0,
      changedAt: now,
      state: 'queued',
      conflict: null,
      failure: null,
      origin: this.#host.origin,
    };
  }
}
