import type { Observable } from 'rxjs';
import type { StandardSchemaV1 } from './internal/standard-schema.js';
import type { HarborSyncError, SchemaError } from './errors.js';

/** An entity's identity: a non-empty string (at most 1,024 characters) or a finite number. */
export type EntityKey = string | number;

/** Any entity: a plain object. */
export type Entity = Record<string, unknown>;

/** An equality object (every listed field equal) or a predicate run on the client. */
export type Where<T> = { readonly [K in keyof T]?: T[K] } | ((entity: T) => boolean);

export type SortDirection = 'asc' | 'desc';
/**
 * A field of `T`: of any member, for a union (a discriminated one). `keyof T` too, for code generic
 * over `T`: a field its constraint names fits it, not the conditional type (left unresolved there).
 */
type FieldOf<T> = (keyof T & string) | (T extends unknown ? keyof T & string : never);
export type OrderBy<T> = FieldOf<T> | ReadonlyArray<FieldOf<T> | readonly [FieldOf<T>, SortDirection]>;

/** What a live query shows: filter, order (ties broken by key), and at most `limit` rows. */
export interface Query<T> {
  where?: Where<T>;
  orderBy?: OrderBy<T>;
  limit?: number;
}

export type Status = 'loading' | 'success' | 'error';

export interface QueryState<T> {
  /** Server state with pending local changes applied. */
  data: T[];
  /** `loading`: nothing cached and the first fetch in flight. */
  status: Status;
  error: Error | null;
  isFetching: boolean;
  /** Ids of the rows shown with local changes the server has not confirmed, and of rows shown then deleted here, not confirmed yet; as strings: a number key as `String(key)`. */
  pendingIds: ReadonlySet<string>;
  /** When a pull of this resource (on demand: a page) was last stored; a confirmed write does not count. */
  lastSyncedAt: number | null;
  /** More rows match than `limit` shows: in the cache, or, for an on-demand resource, on the server. */
  hasMore: boolean;
}

export interface EntityState<T> {
  data: T | undefined;
  status: Status;
  error: Error | null;
  isFetching: boolean;
  pending: boolean;
}

export interface SyncStatus {
  /** What the `online` source says (by default `navigator.onLine` and the window's `online`/`offline` events). */
  online: boolean;
  /**
   * This tab replays the outbox: it holds the namespace's Web Lock or, where Web Locks are
   * missing, won the tabs' election over BroadcastChannel. Without BroadcastChannel every tab
   * leads (true in each); idempotency keys keep a change sent by two tabs applied once.
   */
  leader: boolean;
  /** This tab has outbox requests out now (pulls do not count). */
  syncing: boolean;
  /** Outbox entries not yet confirmed, parked ones aside (changes coalesced into one entry count once). */
  pending: number;
  /** Entries in `failed$`. */
  failed: number;
  /** Entries in `conflicts$`. */
  conflicts: number;
  /** Why nothing is sent: `'manual'` (`pause()`), `'unauthorized'` (a refused session, until `resume()`), `'offline'`; the first that holds. */
  paused: 'offline' | 'unauthorized' | 'manual' | null;
  /** When the earliest retry's wait ends (the clock's milliseconds); null when none waits. */
  nextRetryAt: number | null;
  /** When the server last confirmed data this client holds: a pull or an on-demand page stored, here or (for a resource loaded) before. */
  lastSyncedAt: number | null;
  /**
   * The last error met: a failed attempt, the `401` that paused replay, a storage failure. It
   * stays after later successes until another replaces it: show it beside `pending`, `paused` or
   * `failed`, not alone.
   */
  lastError: Error | null;
}

export type ConflictChoice<T> = 'local' | 'remote' | { value: Partial<T> };

export interface Conflict<T = Entity> {
  resource: string;
  id: string;
  /** The server state the change was made on (null for a create). */
  base: T | null;
  /** The local view (null: deleted locally), with the changes made to the entity since the conflict came. */
  local: T | null;
  /**
   * The server's current state (null: deleted on the server): the newest the device heard of. A
   * later pull that brings a newer one makes `conflicts$` emit this conflict again with it.
   */
  remote: T | null;
  /** Fields changed on both sides, differently (dotted paths for nested objects). */
  fields: string[];
  /**
   * Decides, on what is stored when it runs (the newest `remote`). `{ value }` is applied on the
   * merged entity, and the result is checked with the resource's schema like any write: if it
   * fails, this rejects with `ValidationError` naming the field, and nothing changes (the conflict
   * stays in `conflicts$`). A decision that finds the conflict changed under it (a write to the
   * entity, or a pull) is made again on what is stored; after three such tries this rejects with
   * `ConflictError`, nothing decided, and `conflicts$` holds the conflict as it is now. Once the
   * conflict is decided (here or in another tab), this does nothing, even when the change it sent
   * again meets a new conflict: that one is a new `Conflict` in `conflicts$`.
   *
   * @example
   * await conflict.resolve({ value: { title: `${conflict.local?.title} / ${conflict.remote?.title}` } });
   */
  resolve(choice: ConflictChoice<T>): Promise<void>;
}

export type MutationOp = 'create' | 'update' | 'delete';

export interface FailedMutation {
  resource: string;
  id: string;
  op: MutationOp;
  /** What the change sends: the entity of a create, the changed fields of an update; null for a delete. */
  payload: unknown;
  /** Why it was parked; `status` and `body` are the last answer's, when an answer parked it. */
  error: { status?: number; message: string; body?: unknown };
  /** Send it again (a fresh attempt count, the same logical change). */
  retry(): Promise<void>;
  /**
   * Drop it: the local view loses its change (the server state, with the entity's later changes
   * still queued on it). The changes made since on a create the server never had go with it.
   */
  discard(): Promise<void>;
}

/** What a conflict resolver function sees. */
export interface ConflictContext<T = Entity> {
  resource: string;
  id: string;
  op: MutationOp;
  base: T | null;
  local: T | null;
  remote: T | null;
  fields: string[];
}

export type ConflictDecision<T> = 'local' | 'remote' | { value: Partial<T> } | 'manual';

/**
 * A resolver function; declared as a method so a resource's typed resolver fits the client's list.
 * A `{ value }` it returns that fails the schema is never sent: the conflict goes to `conflicts$`
 * (as under `'manual'`) and an `error` event carries the `ValidationError`. One that throws (or
 * rejects) decides nothing the same way, the `error` event carrying a `ConflictError` with what it threw.
 */
export type ConflictResolver<T = Entity> = {
  bivariance(context: ConflictContext<T>): ConflictDecision<T> | Promise<ConflictDecision<T>>;
}['bivariance'];

export type ConflictStrategy<T = Entity> = 'merge' | 'server-wins' | 'client-wins' | 'manual' | ConflictResolver<T>;

/** A typed log of what the client does, for devtools and for telling the user. */
export type SyncEvent =
  /** A local change is stored; `seq` is the outbox entry carrying it (a new one, or the unsent one it coalesced into). */
  | { type: 'enqueued'; at: number; resource: string; id: string; op: MutationOp; seq: number }
  | { type: 'sent'; at: number; resource: string; id: string; op: MutationOp; seq: number; attempt: number }
  | { type: 'succeeded'; at: number; resource: string; id: string; op: MutationOp; seq: number }
  | {
      type: 'retrying';
      at: number;
      resource: string;
      id: string;
      op: MutationOp;
      seq: number;
      attempt: number;
      delayMs: number;
      error: HarborSyncError;
    }
  | { type: 'failed'; at: number; resource: string; id: string; op: MutationOp; seq: number; error: HarborSyncError }
  | { type: 'rolledBack'; at: number; resource: string; id: string }
  | { type: 'conflict'; at: number; resource: string; id: string; fields: string[] }
  | {
      type: 'resolved';
      at: number;
      resource: string;
      id: string;
      strategy: string;
      choice: 'local' | 'remote' | 'value' | 'merged';
      /** The values the resolution overwrote, by field: what the losing side had. */
      overwritten: Record<string, { local: unknown; remote: unknown }>;
    }
  | { type: 'pulled'; at: number; resource: string; count: number; removed: number }
  | { type: 'schemaError'; at: number; resource: string; id: string | undefined; error: SchemaError }
  | { type: 'idRemapped'; at: number; resource: string; from: string; to: string }
  | { type: 'paused'; at: number; reason: 'offline' | 'unauthorized' | 'manual' }
  | { type: 'resumed'; at: number }
  | { type: 'leader'; at: number; leader: boolean }
  | { type: 'storageError'; at: number; error: HarborSyncError }
  | { type: 'error'; at: number; resource: string | undefined; error: HarborSyncError };

export interface WriteOptions {
  /**
   * 'local' (default): resolve once durable locally. 'server': resolve with the server's confirmed
   * entity; reject with the error that put the change in `failed$` (`HttpError` for a refusal), or
   * with `ConflictError` if it ends in `conflicts$` (a later decision does not revive the wait).
   *
   * A change that never gets an answer of its own settles with the change that carries it:
   * - merged into an earlier unsent change of the entity: that change's answer (an update merged
   *   into a delete resolves with `undefined`);
   * - queued behind a change that met a conflict: it waits for the decision (automatic, or
   *   `resolve()`); folded into the re-sent change, it gets that one's answer; dropped by the
   *   decision (`'server-wins'`, `resolve('remote')`), the server's entity;
   * - a create cancelled by a `delete()` before it was sent: `undefined`, as the delete resolves;
   * - discarded by `clear({ discardPending: true })` in any tab: rejects with
   *   `PendingMutationsError` (`discarded: 'cleared'`; `'evicted'` when the browser deleted the
   *   database); `close()`: rejects with `ClosedError`; another tab's upgrade of the database:
   *   rejects with the `StorageError` it reported (the change goes on in that tab).
   *
   * An update that changes nothing waits for the entity's last pending change shown, which holds
   * its values (through `conflicts$` or `failed$` until decided, retried or discarded: then the
   * server's entity), or resolves at once when nothing is pending.
   *
   * The wait is kept in the tab that wrote, whichever tab sends or decides.
   *
   * @example
   * const saved = await h.update(id, { paid: true }, { wait: 'server', signal: AbortSignal.timeout(10_000) });
   */
  wait?: 'local' | 'server';
  /**
   * Stops the wait only; the change goes on. The wait rejects, as `fetch` does, with the signal's
   * reason when that is a `DOMException` (a `TimeoutError` from `AbortSignal.timeout()`), else with
   * an `AbortError`.
   */
  signal?: AbortSignal;
}

/**
 * The per-resource handle from `client.resource()`; `K` and `V` name its key and version fields,
 * `I` is what its schema takes (`create` accepts it: a field with a default may be left out).
 */
export interface ResourceHandle<T extends object, K extends string = 'id', V extends string = 'version', I extends object = T> {
  readonly name: string;
  /** One entity, live: the cached copy, then each change; a resource loaded whole is pulled when stale (on demand, only queries fetch). */
  get$(id: EntityKey): Observable<EntityState<T>>;
  /** A live query: what the cache holds at once, then each change; a stale resource is pulled (on demand: the query's page is fetched). */
  query$(query?: Query<T>): Observable<QueryState<T>>;
  /** The local view of one entity, once the cache is loaded; no request (`refresh()` for the server's). */
  get(id: EntityKey): Promise<T | undefined>;
  /** The local view's rows for `query`, once the cache is loaded; no request (`refresh()` for the server's). */
  list(query?: Query<T>): Promise<T[]>;
  /** Stores the entity and queues it; resolves with the entity as stored (its key generated when absent: a temporary one with `ids: 'server'`). */
  create(value: CreateInput<I, K, V>, options?: WriteOptions): Promise<T>;
  /**
   * Changes the given fields: base + patch must pass the schema, and what the schema makes of each
   * changed field (and any field it derives anew from them) is kept and sent. A field is cleared with `null` (in a schema that allows it):
   * a request cannot carry `undefined`, so a field set to `undefined` is refused with a
   * `ValidationError` naming it.
   */
  update(id: EntityKey, patch: Partial<T>, options?: WriteOptions): Promise<T>;
  delete(id: EntityKey, options?: WriteOptions): Promise<void>;
  /**
   * Pull this resource from the server now. Resolves with what the server held at the call or
   * later: a pull already in flight, sent before it, is followed by one more.
   */
  refresh(): Promise<void>;
}

/** A field name as given, or `fallback` where the type only says it is some string. */
type FieldName<F extends string, Fallback extends string> = string extends F ? Fallback : F;

/**
 * What `create` accepts: the schema's input `T`, with the key (`K`) and version (`V`) fields
 * optional; of a union (a discriminated one), any one member so.
 */
export type CreateInput<T, K extends string = 'id', V extends string = 'version'> = T extends unknown
  ? Omit<T, FieldName<K, 'id'> | FieldName<V, 'version'>> & Partial<Pick<T, Extract<keyof T, FieldName<K, 'id'> | FieldName<V, 'version'>>>>
  : never;

/** The query in a form an on-demand request is built from. */
export interface PushedQuery {
  where: Record<string, string | number | boolean | null>;
  orderBy: Array<readonly [string, SortDirection]>;
  limit: number;
  cursor: string | null;
}

export interface ResourceOptions<S extends StandardSchemaV1<unknown, object>, K extends string = string, V extends string = string> {
  /** Unique; also the default path `/{name}`. */
  name: string;
  schema: S;
  /** The identity field. Default `'id'`. */
  key?: K;
  /** The server-maintained version field. Default `'version'`. */
  version?: V;
  /** Relative to `baseUrl`. Default `'/{name}'`. */
  path?: string;
  /** The server serves `GET ?since=<cursor>`. Default false. */
  delta?: boolean;
  /** Overrides the client's strategy for this resource. */
  conflicts?: ConflictStrategy<StandardSchemaV1.InferOutput<S>>;
  /** 'server': `create()` uses a temporary id until the server names the real one. Default 'client'. */
  ids?: 'client' | 'server';
  /** Fields holding other resources' ids (one, or an array of them), rewritten when those ids are remapped. */
  references?: Record<string, string>;
  /** 'on-demand': `query$` fetches only what it shows. Default 'all'. */
  load?: 'all' | 'on-demand';
  /**
   * On-demand: the most entities kept beyond what live queries show and pending changes hold;
   * past it, the least recently shown of those are evicted. Default 50,000.
   */
  cacheLimit?: number;
  /** On-demand: another query dialect for the request's search parameters. */
  toSearchParams?: (query: PushedQuery) => URLSearchParams;
}

/**
 * A resource definition from `defineResource`: frozen, shareable between clients. `K` and `V` name
 * its key and version fields, `I` is what its schema takes (`unknown` when not known: the entity type
 * stands for it, and a definition of any input fits where its entity type does).
 */
export interface ResourceDefinition<T extends object = Entity, K extends string = string, V extends string = string, I = unknown> {
  readonly name: string;
  readonly schema: StandardSchemaV1<unknown, T>;
  readonly key: K;
  readonly version: V;
  readonly path: string;
  readonly delta: boolean;
  readonly conflicts: ConflictStrategy<T> | undefined;
  readonly ids: 'client' | 'server';
  readonly references: Readonly<Record<string, string>>;
  readonly load: 'all' | 'on-demand';
  readonly cacheLimit: number;
  readonly toSearchParams: ((query: PushedQuery) => URLSearchParams) | undefined;
  /** Type-only markers so the entity and input types flow from the definition. */
  readonly __entity?: T;
  readonly __input?: I;
}

/** The entity type a schema produces. */
export type InferEntity<S extends StandardSchemaV1<unknown, object>> =
  StandardSchemaV1.InferOutput<S> extends infer T extends object ? T : never;

/** What a schema takes, where it says (an object); else the entity type. */
export type InferInput<S extends StandardSchemaV1<unknown, object>> =
  StandardSchemaV1.InferInput<S> extends infer I extends object ? I : InferEntity<S>;

/** `I` when it is known (an object), else `T`. */
export type KnownInput<T extends object, I> = I extends object ? I : T;

export type EntityOf<R> = R extends ResourceDefinition<infer T> ? T : never;

/**
 * The bearer token for requests to `baseUrl`'s origin (never stored in IndexedDB).
 *
 * @example
 * auth: {
 *   getToken: () => session.accessToken,
 *   refreshToken: async () => (session.accessToken = await renewAccessToken()),
 * }
 */
export interface AuthOptions {
  /**
   * Called before each request; null or undefined sends no `Authorization`. Throwing (no session)
   * sends nothing and pauses replay (`paused: 'unauthorized'`) until `resume()`, with
   * `status$.lastError` a 401 `HttpError` whose `cause` is what it threw; nothing is dropped or parked.
   * No answer within `timeoutMs` fails the request as a `NetworkError` (a write is retried).
   */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Called once on a `401` (one call shared by every request refused at once), then the request
   * is retried once; a second `401` pauses replay (`paused: 'unauthorized'`) until `resume()`.
   * A token it returns is used for the retry and, while `getToken()` still returns the refused
   * token, for every later request until `clear()` (a logout) ends the session; once `getToken()`
   * returns another, that one is used. Returning
   * nothing means `getToken()` now returns the new token. Throwing (the session is over) pauses
   * replay the same way, with `status$.lastError` a 401 `HttpError` whose `cause` is what it threw;
   * nothing is dropped or parked. No answer within `timeoutMs` fails the refused requests as
   * `NetworkError`s (writes are retried), and the next refused request calls it again.
   */
  refreshToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * The namespace whose data a token's user owns (say `'user-' + subjectOf(token)`). Given, no
   * request goes out with a token of another namespace's user (a refresh that signed in someone
   * else, another tab's account switch): it is not sent, and replay pauses (`paused:
   * 'unauthorized'`) with `status$.lastError` a 401 `HttpError` naming both namespaces, until the
   * right user is signed in again and `resume()` is called. Nothing is dropped or parked.
   */
  namespaceOf?: (token: string) => string;
}

/**
 * How writes are retried; `baseDelayMs` and `maxDelayMs` also time the retries of a pull the
 * client made itself (a subscriber's load, reconnecting, the foreground, an on-demand page) that
 * got no answer, a `429` or a passing `5xx`: up to 3, while the resource is shown, online and not
 * paused as unauthorized (`refresh()` is not retried: it rejects).
 */
export interface RetryOptions {
  /** The first retry's delay ceiling; each next one doubles it (full jitter). Default 1,000. */
  baseDelayMs?: number;
  /** The longest delay between two attempts (a `Retry-After` may ask for more, up to 1 h). Default 60,000. */
  maxDelayMs?: number;
  /**
   * Failed attempts (retryable answers, or conflicts in a row) before an entry is parked in
   * `failed$`. Default 10. The attempt coming online makes, should it get no answer, is not counted.
   */
  maxAttempts?: number;
  /**
   * Time spent retrying before an entry is parked in `failed$`. Default 24 h. Counted from the
   * first failure, but only while attempts accumulate: time an entry stays due past its wait by
   * more than `timeoutMs` (offline, paused, closed or asleep) does not count, nor more than the
   * longest wait (the larger of `maxDelayMs` and the 1 h `Retry-After` ceiling) per attempt, so
   * neither does a clock that jumped forward; a clock stepped back restarts the count.
   */
  maxAgeMs?: number;
}

/**
 * The calls a transport makes: DESIGN section 2's six (list, delta, one, create, update, remove)
 * and `query` for on-demand resources. The default is REST over ky. Each resolves with what the
 * REST call's `2xx` body would hold (parsed with the schema), and rejects as the REST transport
 * does: an `HttpError` with the status the server would send (`409`/`412` with the current entity
 * as `body`, `404` for gone, `410` or `400` for a cursor it no longer knows), a `NetworkError` for
 * no answer.
 *
 * Each call's last argument, `signal`, is aborted by `close()` (its `reason` a `ClosedError`):
 * the call's answer will be dropped, so stop the request (pass it to `fetch`); whatever the call
 * rejects with once it is aborted is taken as that `ClosedError`. A write's is aborted too when
 * the namespace's data is deleted (`clear()`, in any tab): its change went with it, so it must not
 * go out again (after a `401`, with the token of whoever signed in since). A call that
 * ignores it holds nothing up: `close()` and the calls waiting on it settle at once, and a
 * write among them is sent again, under its key, by the next client.
 */
export interface Transport {
  /** Every entity of the resource, as an array. */
  list(resource: ResourceDefinition<object>, signal?: AbortSignal): Promise<unknown>;
  /** `{ items, deleted, cursor, hasMore? }` since `cursor` (null: from the start). */
  delta(resource: ResourceDefinition<object>, cursor: string | null, signal?: AbortSignal): Promise<unknown>;
  /** The entity as the server holds it (null, or a 404, when it is gone). */
  one(resource: ResourceDefinition<object>, id: string, signal?: AbortSignal): Promise<unknown>;
  /** `{ items, cursor }` for an on-demand query (cursor null: no more). */
  query(resource: ResourceDefinition<object>, query: PushedQuery, signal?: AbortSignal): Promise<unknown>;
  /** The entity as created, with its version (and the id the server named, with `ids: 'server'`). */
  create(resource: ResourceDefinition<object>, body: Entity, idempotencyKey: string, signal?: AbortSignal): Promise<unknown>;
  /** The entity as updated; `version` is what `If-Match` carries. */
  update(
    resource: ResourceDefinition<object>,
    id: string,
    patch: Entity,
    version: unknown,
    idempotencyKey: string,
    signal?: AbortSignal,
  ): Promise<unknown>;
  /** Anything (the answer is not read). */
  remove(resource: ResourceDefinition<object>, id: string, version: unknown, idempotencyKey: string, signal?: AbortSignal): Promise<unknown>;
}

export interface LockManagerLike {
  request<R>(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<R>): Promise<R>;
}

export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

/** The part of `localStorage` the client uses. */
export interface LocalStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of `navigator.storage` (StorageManager) the client uses. */
export interface StorageManagerLike {
  persist?(): Promise<boolean>;
}

export interface SyncClientOptions {
  baseUrl: string;
  resources: ReadonlyArray<ResourceDefinition<object>>;
  /** One IndexedDB database per namespace: `harborsync:{namespace}`. Default 'default'. */
  namespace?: string;
  auth?: AuthOptions;
  /** Default 'merge'. */
  conflicts?: ConflictStrategy;
  retry?: RetryOptions;
  /** A new subscriber to cached data older than this refetches. Default 30,000. */
  staleTimeMs?: number;
  /** Wait this long after an entity's last change before sending it. Default 0; at most 2,147,483,647 (a timer's longest wait). */
  sendDelayMs?: number;
  /**
   * Outbox requests in flight at once, each to a different entity. Default 1: one request at a
   * time, in global order, so the server applies changes in the order they were made (DESIGN's
   * promise; a server with constraints across entities, such as unique names, needs it). More
   * sends independent entities concurrently: they start in global order but may be applied out of
   * it. One entity's changes are always sent one at a time, in order, and a change naming another
   * entity in a `references` field waits for that entity's earlier changes.
   */
  maxInFlight?: number;
  /**
   * A request whose whole answer, headers and body, has not arrived after this long is a network
   * error (a write is then re-sent with its key). Default 30,000; at most 2,147,483,647 (a timer's longest wait).
   */
  timeoutMs?: number;
  /**
   * The REST transport refuses an answer whose body passes this many bytes, while reading it:
   * a pull rejects with a `SchemaError` saying so, a write is retried (then parked). Default
   * 33,554,432 (32 MiB); an answer is held in memory whole, so raise it with care.
   */
  maxAnswerBytes?: number;
  /** Replace the REST transport (GraphQL, RPC, another REST shape); each call gets a signal `close()` aborts (see {@link Transport}). */
  transport?: Transport;
  // Injection seams (tests and non-browser hosts).
  /** Default: the global `indexedDB`. */
  indexedDB?: IDBFactory;
  /**
   * Default: the global `fetch`. It is called with a `Request` whose `cache` is `'no-store'`: pass
   * that on, so the browser's HTTP cache never answers for the server.
   */
  fetch?: typeof globalThis.fetch;
  /** The clock for retries, staleness and times shown. Default: `Date.now`. */
  now?: () => number;
  /** What generated ids, idempotency keys and backoff jitter draw from. Default: `Math.random`. */
  random?: () => number;
  /** Whether the network is up. Default: `navigator.onLine` and the window's `online`/`offline` events. */
  online?: Observable<boolean>;
  /**
   * True while the page is frozen, in the back/forward cache, or unloading: it gives leadership
   * up meanwhile. Defaults to the document's freeze/resume and the window's pagehide/pageshow events.
   */
  suspended?: Observable<boolean>;
  /**
   * Emits each time the page comes back to the foreground: the tab reads the outbox again from
   * IndexedDB (another tab's hint may have been lost) and, at most once per `staleTimeMs`, what it
   * shows; the leader sends what fell due meanwhile; a shown resource pulled longer than
   * `staleTimeMs` ago is pulled again (an on-demand query's stale pages fetched again), as for a new subscriber.
   * Defaults to the document's visibilitychange event (to visible).
   */
  foreground?: Observable<void>;
  /** Default: `navigator.locks`; null: none, and the tabs elect the one that sends over BroadcastChannel. */
  locks?: LockManagerLike | null;
  /** Default: the global `BroadcastChannel`; null: none, and every tab sends, seeing the others' changes only when it reads again. */
  BroadcastChannel?: (new (name: string) => BroadcastChannelLike) | null;
  /**
   * Where the client notes that this origin has the namespace's database, so that a database
   * found missing at start (evicted by the browser, deleted with the site's data) is reported as
   * a `storageError` instead of starting silently empty. Default: `localStorage` where it works,
   * unless `indexedDB` gives another factory than the page's (the page's note does not speak for
   * another store); null: no note, and no such report.
   */
  localStorage?: LocalStorageLike | null;
  /**
   * Default: `navigator.storage`. Its `persist()` is requested once, when the database is
   * created; a refusal or a failure changes nothing. null: never requested.
   */
  storageManager?: StorageManagerLike | null;
  /** Timer seam; defaults to the global setTimeout. */
  setTimer?: (callback: () => void, ms: number) => () => void;
}

export interface ClearOptions {
  /**
   * Discard the changes not yet sent instead of refusing. A write called before clear() and not
   * stored yet (waiting for its resource's load or an async validation) is discarded too: it
   * rejects with `PendingMutationsError` (`discarded: 'cleared'`), whatever its `wait`.
   */
  discardPending?: boolean;
}

export interface SyncClient {
  /** The handle of one of this client's resources, by its definition (typed) or its name; a `TypeError` for any other, a `ClosedError` after `close()`. */
  resource<T extends object, K extends string = 'id', V extends string = 'version', I = unknown>(
    definition: ResourceDefinition<T, K, V, I>,
  ): ResourceHandle<T, K, V, KnownInput<T, I>>;
  resource(name: string): ResourceHandle<Entity>;
  /** Replays the current status to each subscriber, then every change. */
  readonly status$: Observable<SyncStatus>;
  /** Conflicts awaiting a decision, oldest first; replays the current list. */
  readonly conflicts$: Observable<Conflict[]>;
  /** Changes parked (refused, retried to the bound, or unsendable), oldest first; replays the current list. */
  readonly failed$: Observable<FailedMutation[]>;
  /** What the client does, as it happens: not replayed, so subscribe before the calls to watch. */
  readonly events$: Observable<SyncEvent>;
  /**
   * Send what can be sent now (`sendDelayMs` skipped), with the writes called before it that are
   * still being stored; resolves when nothing more can be. In a tab
   * that does not send (another tab leads), it asks the leader to send at once and resolves when
   * the changes queued at the call are confirmed, parked (`conflicts$`, `failed$`) or waiting for
   * a retry; should no other tab say anything for `timeoutMs` (a frozen leader), it resolves then.
   * Rejects with `ClosedError` when `close()` comes first: what it waited for was not sent.
   */
  flush(): Promise<void>;
  /**
   * Holds back sending (`status$.paused: 'manual'`) in every open tab of the namespace, whichever
   * one sends, until `resume()` in any of them. A tab opened later starts unpaused.
   */
  pause(): void;
  /** Ends a `pause()`, or the pause a `401` caused (sign in first), in every open tab; sends at once. */
  resume(): void;
  /**
   * Delete this namespace's local data (logout), in every tab. Rejects with
   * `PendingMutationsError` while changes are unsent, a write still being stored included:
   * `flush()` first, or pass `{ discardPending: true }`.
   */
  clear(options?: ClearOptions): Promise<void>;
  /**
   * Releases the database connection, the tab channels, the leadership and the timers, and aborts
   * the signal every transport call gets (the REST transport's requests out stop; their changes
   * stay queued for the next client). Every later
   * call throws (`resource()`, `pause()`, `resume()`, `get$()`, `query$()`) or rejects (the rest) with
   * `ClosedError`, as do the `{ wait: 'server' }` writes still waiting. Every observable of the
   * client (`status$`, `conflicts$`, `failed$`, `events$`, each `get$()` and `query$()`) completes,
   * with nothing after; one subscribed after `close()` replays its last value, if it replays one
   * (all but `events$`), and completes.
   */
  close(): Promise<void>;
}
