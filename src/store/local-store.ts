import { unwrap } from 'idb';
import { ClosedError, PendingMutationsError, StorageError } from '../errors.js';
import { withNewerRemote } from '../conflict/resolve.js';
import type { PendingOp } from '../outbox/coalesce.js';
import { asEntry, foldView, isRolledBack, onServerState, type NewEntry, type OutboxEntry } from '../outbox/entry.js';
import { TEMP_ID_PREFIX } from '../internal/ids.js';
import { deepEqual } from '../internal/plain.js';
import { isOlderVersion } from '../internal/versions.js';
import { entityKey, OutboxMemory } from '../outbox/outbox-memory.js';
import { idsIn, mergeTwins, recreateAfterSentDelete, replaceReferences, type Referrer } from '../outbox/remap.js';
import type { Clock } from '../env.js';
import type { ResourceDefinition } from '../types.js';
import { databaseExists, dbName, deleteDatabase, isEntityRecord, openDatabase, recordsOf, toStorageError, type EntityRecord, type HarborDB, type StorageAt } from './db.js';
import { forgettableRenames, renameKey, storedRenames, type StoredRename } from './renames.js';
import { deletionsOf, isBeforeDeletion, rememberDeletions, type AnsweredDeletion } from './deletions.js';
import { hasServerVersion, isClean, issueWrite, readEntity, storedEntries, storedRecord, type Written } from './local-write.js';
import { attempt, Interrupted, readInterrupted, refuses, requested, type WriteTx } from './transaction.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

/** An entity whose local view a committed transaction changed. */
export interface ViewChange {
  r: string;
  id: string;
  view: Rec | null;
  /** A pull changed its queued entries too: a parked conflict took the newer server state. */
  outbox?: true;
  /** A pull found it as stored: nothing was written, and a view showing it already stays as it is. */
  unchanged?: true;
}

export interface StoreCallbacks {
  /** A newer tab upgrades the database: this store is unusable until the page reloads. */
  onLost(error: StorageError): void;
  /** Another tab deleted the database (its clear()): the local copy is gone; the next use reopens. */
  onDeleted(): void;
  onBlocked(): void;
  onCorrupt(r: string, id: string | undefined, detail: string): void;
  /**
   * A connection opened. `created`: there was no database and this open created it, empty, though
   * no deletion this store knows of (its own destroy(), another tab's clear()) explains that: a
   * first start, or the database deleted behind the app's back. `reopened`: this store had a
   * connection before (the browser closed it), so the database existed in this session.
   */
  onOpened(opened: { created: boolean; reopened: boolean }): void;
  /** The browser closed the connection and opening it again failed; the operation rejects with `error`. */
  onReopenFailed(error: StorageError): void;
}

export interface StoreOptions {
  /** Bounds an open that never answers (OPEN_TIMEOUT_MS). */
  setTimer: Clock['setTimer'];
  KeyRange?: typeof IDBKeyRange | undefined;
  /** How long a request may take: a list requested before a deletion may hold it until then. */
  requestTimeoutMs: number;
  /** The client's clock: how old a stored rename is. */
  now: Clock['now'];
}

/**
 * Every IndexedDB transaction of a client: local writes with their outbox entries, server
 * answers, pulls, and reads. Each method is one transaction; the in-memory outbox copy is
 * updated only after that transaction committed.
 *
 * Connections the browser closes (iOS suspending a page, a storage process that crashed) are
 * opened again, once per operation: a transaction that could not start or that was aborted stored
 * nothing and is run again on the new connection; one that may have committed never is.
 */
export class LocalStore {
  readonly outbox = new OutboxMemory();
  /**
   * Temporary ids the server renamed, by entityKey(r, from): the server's id, as its answer wrote
   * it (a number stays one, for the fields referring to it). Stored with the rename (renameKey)
   * and read with the outbox, so a row a tab stored naming the temporary id before it heard of
   * the rename is sent under the server's id, after a reload too.
   */
  readonly renames = new Map<string, string | number>();
  /**
   * The renames this client stored itself, from its own creates' answers: a local write under
   * such a temporary id, issued before the rename was stored, is made under the server's id.
   */
  readonly #renamedHere = new Map<string, string>();
  #db: HarborDB | null = null;
  /** Set by close() or a newer tab's upgrade: every later use rejects with it. */
  #lost: StorageError | ClosedError | null = null;
  #opening: Promise<HarborDB> | null = null;
  #connecting: Promise<HarborDB> | null = null;
  /** Cancels an open still under way when close() is called. */
  readonly #closing = new AbortController();
  /** A connection was open before: this open is a reopen, and a database it creates was deleted during the session. */
  #hadConnection = false;
  /** The database was deleted knowingly (destroy(), another tab's clear()): its re-creation is no surprise. */
  #expectCreation = false;
  /** Write transactions started and not yet settled: destroy() waits for them. */
  readonly #writesRunning = new Set<Promise<unknown>>();
  /** Settles once a destroy() under way has ended: the writes started meanwhile wait for it. */
  #destroying: Promise<void> | null = null;
  /** How many deletions of the database this store has known (its destroy(), another tab's clear()). */
  #deletions = 0;
  /**
   * How many deletions behind the app's back a reopen found. They count for the answers requested
   * before (`deletions`), not for a local write made on a copy from before: that change, made after
   * the database went, is kept (see write()), unlike one made across a clear() (a logout).
   */
  #evictions = 0;
  /** Connections that heard their database deleted: a transaction still running on one commits into the deleted database. */
  readonly #deleted = new WeakSet<HarborDB>();

  readonly #factory: IDBFactory | undefined;
  readonly #callbacks: StoreCallbacks;
  readonly #setTimer: Clock['setTimer'];
  readonly #KeyRange: typeof IDBKeyRange | undefined;
  readonly #now: Clock['now'];
  /** How long the deletions answers made are remembered: as long as a list requested before one may take. */
  readonly #rememberDeletionsMs: number;

  constructor(
    factory: IDBFactory | undefined,
    readonly namespace: string,
    callbacks: StoreCallbacks,
    options: StoreOptions,
  ) {
    this.#factory = factory;
    this.#callbacks = callbacks;
    this.#setTimer = options.setTimer;
    this.#KeyRange = options.KeyRange;
    this.#now = options.now;
    // The request's deadline, and as long again for reading, checking and storing its answer.
    this.#rememberDeletionsMs = 2 * options.requestTimeoutMs;
  }

  /** Opens the database and loads the outbox, once; forgets renames no row can name any more. */
  open(): Promise<HarborDB> {
    const opening = (this.#opening ??= this.#connect().then(async (db) => {
      let stale: string[];
      try {
        stale = await this.#loadOutbox(db);
      } catch (error) {
        if (!readInterrupted(db, error)) throw toStorageError(error, 'loading the outbox');
        // Closed by the browser before the first load: once more, on a connection that works.
        db = await this.#usable(db, 'loading the outbox');
        stale = await this.#loadOutbox(db).catch((again: unknown) => {
          throw toStorageError(again, 'loading the outbox');
        });
      }
      if (stale.length > 0) await this.#forgetRenames(db, stale);
      return db;
    }));
    // As in #connect: tried again by the next use, rather than its failure answering every use
    // until the page reloads (the open of the fresh database after a deletion too).
    opening.catch(() => {
      if (this.#opening === opening) this.#opening = null;
    });
    return opening;
  }

  /**
   * open(), for a caller that needs only the outbox loaded: a database known deleted queues
   * nothing, and is not created again for that (see #gone).
   */
  async outboxLoaded(): Promise<void> {
    const gone = this.#gone();
    if (!gone || !(await gone)) await this.open();
  }

  /**
   * Renames older than RENAMES_KEPT_MS that no queued row names: every tab has long heard of
   * them. Best effort: kept, they cost a little memory and are tried again at the next start.
   */
  async #forgetRenames(db: HarborDB, keys: readonly string[]): Promise<void> {
    try {
      const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
      const meta = unwrap(tx.store);
      for (const key of keys) meta.delete(key);
      await tx.done;
    } catch {
      // Kept: tried again at the next start.
    }
  }

  /** The connection alone, before the outbox is loaded: a first read need not wait for that. */
  #connect(): Promise<HarborDB> {
    const connecting = (this.#connecting ??= this.#openConnection());
    // A failed open is tried again by the next use that needs a connection.
    connecting.catch(() => {
      if (this.#connecting === connecting) this.#connecting = null;
    });
    return connecting;
  }

  async #openConnection(): Promise<HarborDB> {
    const opening = openDatabase(
      this.#factory,
      this.namespace,
      {
        onLost: (error) => {
          this.#lost = error;
          this.#db = null;
          this.#callbacks.onLost(error);
        },
        onClosed: () => {
          if (this.#db !== db) return;
          this.#db = null;
          this.#connecting = null;
        },
        onDeleted: () => {
          this.#deleted.add(db);
          if (this.#db !== db) return;
          this.#forget();
          this.outbox.replaceAll([]);
          this.#callbacks.onDeleted();
        },
        onBlocked: () => this.#callbacks.onBlocked(),
      },
      // Past every seq this tab has known, and the clock's milliseconds for what other tabs knew.
      { setTimer: this.#setTimer, signal: this.#closing.signal, firstSeq: Math.max(this.outbox.highestSeq + 1, Math.floor(this.#now())) },
    );
    // An open that close() gave up on rejects as every later use does (ClosedError): no storage failed.
    const { db, created } = await opening.catch((error: unknown) => {
      if (this.#lost) throw this.#lost;
      // Upgraded by a newer release of the app, perhaps while the browser had closed this store's
      // connection (no versionchange told it): it never opens again here, as after a versionchange.
      if (error instanceof StorageError && error.cause instanceof DOMException && error.cause.name === 'VersionError') {
        this.#lost = error;
        this.#callbacks.onLost(error);
      }
      throw error;
    });
    if (this.#lost) {
      // close() ran while the database was opening: let the connection go at once.
      db.close();
      throw this.#lost;
    }
    this.#db = db;
    const reopened = this.#hadConnection;
    const surprise = created && !this.#expectCreation;
    this.#hadConnection = true;
    this.#expectCreation = false;
    // Deleted while this session had it: what this tab holds of its outbox is gone with it, and an
    // answer requested before (a delta page from a cursor that went too) is not stored in this one.
    if (surprise && reopened) {
      this.#evictions++;
      this.outbox.replaceAll([]);
    }
    this.#callbacks.onOpened({ created: surprise, reopened });
    return db;
  }

  /** The deletions of the database known so far: an answer requested at one count is stored only at the same. */
  get deletions(): number {
    return this.#deletions + this.#evictions;
  }

  /**
   * Another tab deleted the database and said so, unheard by this store (the browser had closed
   * its connection): forgotten as a deletion heard is, so an answer requested before it is not
   * stored in the fresh database, and creating that one is no eviction.
   */
  deletedElsewhere(): void {
    this.#db?.close();
    this.#forget();
    this.outbox.replaceAll([]);
  }

  /** The connection is gone (deleted here or by another tab): the next use opens a fresh one. */
  #forget(): void {
    this.#deletions++;
    this.#db = null;
    this.#opening = null;
    this.#connecting = null;
    this.#expectCreation = true;
  }

  async #handle(what = 'using the database', at: StorageAt = {}): Promise<HarborDB> {
    if (this.#lost) throw this.#lost;
    await this.open();
    if (this.#lost) throw this.#lost;
    // Closed by the browser since: open it again.
    return this.#db ?? this.#usable(null, what, at);
  }

  /**
   * A connection to run an operation again on, after `db` refused or aborted its transaction:
   * `db` while it still works, else a new one (one open for all that found it closing). Should
   * that open fail, the failure is reported and thrown.
   */
  async #usable(db: HarborDB | null, what: string, at: StorageAt = {}): Promise<HarborDB> {
    if (this.#lost) throw this.#lost;
    if (db && this.#db === db) {
      if (!refuses(db)) return db;
      this.#db = null;
      this.#connecting = null;
      db.close();
    }
    try {
      return await this.#connect();
    } catch (error) {
      if (this.#lost) throw this.#lost;
      const failure = new StorageError(
        `${what} failed: the browser closed the connection to "${dbName(this.namespace)}" and opening it again failed (${error instanceof Error ? error.message : String(error)})`,
        { ...at, cause: error },
      );
      this.#callbacks.onReopenFailed(failure);
      throw failure;
    }
  }

  /** `reason`: what every later use rejects with (the client's ClosedError: a write under way as it closes is no storage failure). */
  close(reason: StorageError | ClosedError = new StorageError('the database connection is closed')): void {
    this.#lost ??= reason;
    this.#closing.abort(this.#lost);
    this.#db?.close();
    this.#db = null;
  }

  async #writeTx<R>(what: string, body: (tx: WriteTx) => Promise<R>, at: StorageAt = {}): Promise<R> {
    while (this.#destroying) await this.#destroying;
    const running = this.#runWriteTx(what, body, at);
    this.#writesRunning.add(running);
    void running.catch(() => undefined).finally(() => this.#writesRunning.delete(running));
    return running;
  }

  /** A write transaction, and whether it committed into a database another tab's clear() deleted meanwhile: its writes went with it. */
  async #writeTxLost<R>(what: string, body: (tx: WriteTx) => Promise<R>, at: StorageAt = {}): Promise<[R, boolean]> {
    let on: HarborDB | undefined;
    const result = await this.#writeTx(
      what,
      (tx) => {
        on = tx.db;
        return body(tx);
      },
      at,
    );
    return [result, this.#deleted.has(on!)];
  }

  async #runWriteTx<R>(what: string, body: (tx: WriteTx) => Promise<R>, at: StorageAt): Promise<R> {
    const db = await this.#handle(what, at);
    try {
      return await attempt(db, what, body, at);
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      // Aborted on a connection that still works: the writes issued after it have committed
      // already, so running it again would land it after them (an older change over a newer).
      if (this.#db === db && !refuses(db)) throw toStorageError(error.cause, what, at);
      // The browser closed the connection: nothing of it was stored, and the writes after it
      // failed alike and are run again in their order. Once more, on a connection that works.
      try {
        return await attempt(await this.#usable(db, what, at), what, body, at);
      } catch (again) {
        throw again instanceof Interrupted ? toStorageError(again.cause, what, at) : again;
      }
    }
  }

  /**
   * Whether the database is gone, so a read must not open it: one this store knows was deleted
   * (clear(), here or in another tab) holds nothing until a write creates it again, and a read that
   * created it would leave a logout's namespace behind. False at once, without a wait, otherwise.
   */
  #gone(): false | Promise<boolean> {
    if (!this.#expectCreation || this.#db || !this.#factory || this.#lost) return false;
    return databaseExists(this.#factory, this.namespace, this.#setTimer, this.#closing.signal).then((exists) => !exists);
  }

  /**
   * A read, run once more on a new connection should the browser have closed this one; what
   * IndexedDB fails it with is a StorageError. `missing`, where given, is the answer while the
   * database is deleted (see #gone).
   */
  async #read<T>(what: string, read: (db: HarborDB) => Promise<T>, missing?: () => T): Promise<T> {
    if (missing) {
      const gone = this.#gone();
      if (gone && (await gone)) return missing();
    }
    const db = await this.#handle(what);
    try {
      try {
        return await read(db);
      } catch (error) {
        if (!readInterrupted(db, error)) throw error;
        return await read(await this.#usable(db, what));
      }
    } catch (error) {
      throw toStorageError(error, what);
    }
  }

  /**
   * Deletes a failed entry by its seq alone: one of a resource this client does not define, or a
   * quarantined row that names no entity. A row that is no longer failed is left as it is.
   */
  async discardFailed(seq: number): Promise<boolean> {
    const deleted = await this.#writeTx('discarding a failed outbox entry', async (tx) => {
      const outbox = unwrap(tx.objectStore('outbox'));
      const row: unknown = await requested(outbox.get(seq));
      if (row === undefined || asEntry(row).state !== 'failed') return false;
      outbox.delete(seq);
      return true;
    });
    await this.reloadOutbox();
    return deleted;
  }

  async reloadOutbox(): Promise<void> {
    // A deleted database queues nothing: the outbox was emptied when it went.
    await this.#read('loading the outbox', (db) => this.#loadOutbox(db), () => undefined);
  }

  /** Loads the outbox and the stored renames; returns the renames' keys that may be forgotten. */
  async #loadOutbox(db: HarborDB): Promise<string[]> {
    const tx = db.transaction(['outbox', 'meta'], 'readonly');
    // Aborted as the browser closes the connection, it fails through its requests: not unhandled as well.
    tx.done.catch(() => undefined);
    const [entries, renames] = await Promise.all([tx.objectStore('outbox').getAll(), storedRenames(tx.objectStore('meta'), this.#KeyRange)]);
    // An entry unchanged since this tab last saw it keeps its object, so whoever compares by
    // identity (conflicts$, failed$) sees no change when another tab's hint makes us re-read.
    const known = (e: OutboxEntry) => {
      const before = this.outbox.get(e.seq);
      return before && deepEqual(before, e) ? before : e;
    };
    this.outbox.replaceAll(entries.filter((e: unknown) => typeof (e as { seq?: unknown } | null)?.seq === 'number').map(asEntry).map(known));
    const stored = new Set(renames.map((rename) => entityKey(rename.r, rename.from)));
    for (const rename of renames) {
      this.renames.set(entityKey(rename.r, rename.from), rename.to);
      // Its target named anew by this rename: a rename from it another tab dropped is gone here too.
      const next = entityKey(rename.r, String(rename.to));
      if (!stored.has(next)) this.renames.delete(next);
    }
    return forgettableRenames(renames, this.outbox.values(), this.#now());
  }

  /**
   * Reads one resource's records, skipping (and reporting) corrupted ones, and meta values, in
   * one transaction issued as soon as the database is open (the outbox loads meanwhile).
   */
  async loadResource(r: string, metaKeys: readonly string[] = []): Promise<{ records: EntityRecord[]; meta: unknown[] }> {
    if (this.#lost) throw this.#lost;
    const gone = this.#gone();
    if (gone && (await gone)) return { records: [], meta: metaKeys.map(() => undefined) };
    const read = (db: HarborDB) => {
      const tx = db.transaction(['entities', 'meta'], 'readonly');
      tx.done.catch(() => undefined);
      const meta = tx.objectStore('meta');
      // By primary-key range: one ordered scan of the store.
      return Promise.all([recordsOf(tx.objectStore('entities'), this.#KeyRange, r), Promise.all(metaKeys.map((key) => meta.get(key)))]);
    };
    let readOn: HarborDB | null = null;
    const early = this.#connect().then((db) => read((readOn = db)));
    early.catch(() => undefined);
    await this.#handle();
    const [raw, meta] = await early.catch((error: unknown) => {
      if (!readOn || !readInterrupted(readOn, error)) throw toStorageError(error, `loading ${r}`);
      // Opened above: the database exists.
      return this.#read(`loading ${r}`, read);
    });
    const records: EntityRecord[] = [];
    for (const record of raw) {
      if (isEntityRecord(record)) records.push(record);
      else {
        const id = typeof record === 'object' && record !== null && typeof (record as { id?: unknown }).id === 'string' ? (record as { id: string }).id : undefined;
        this.#callbacks.onCorrupt(r, id, 'a stored record has an unexpected shape and was skipped');
      }
    }
    return { records, meta };
  }

  loadRecords(r: string, ids: readonly string[]): Promise<Map<string, EntityRecord | undefined>> {
    return this.#read(`loading ${r}`, async (db) => {
      const tx = db.transaction('entities', 'readonly');
      tx.done.catch(() => undefined);
      const out = new Map<string, EntityRecord | undefined>();
      await Promise.all(
        ids.map(async (id) => {
          const record = await tx.store.get([r, id]);
          out.set(id, isEntityRecord(record) ? record : undefined);
        }),
      );
      await tx.done;
      return out;
    }, () => new Map(ids.map((id) => [id, undefined])));
  }

  /** One entity's record and its queued entries, read together: what a conflict decision works on. */
  loadEntity(r: string, id: string): Promise<{ record: EntityRecord | undefined; entries: OutboxEntry[] }> {
    return this.#read(`loading ${r}/${id}`, async (db) => {
      const tx = db.transaction(['entities', 'outbox'], 'readonly');
      tx.done.catch(() => undefined);
      const [record, entries] = await Promise.all([tx.objectStore('entities').get([r, id]), tx.objectStore('outbox').index('entity').getAll([r, id])]);
      await tx.done;
      return { record: isEntityRecord(record) ? record : undefined, entries: entries.map(asEntry) };
    }, () => ({ record: undefined, entries: [] }));
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    const read = (db: HarborDB) => {
      const tx = db.transaction('meta', 'readonly');
      tx.done.catch(() => undefined);
      return tx.store.get(key);
    };
    return (await this.#read(`reading "${key}"`, read, () => undefined)) as T | undefined;
  }

  /**
   * A local change and its outbox entry in ONE transaction: coalesced into the newest entry of the
   * entity when that was never sent, appended otherwise. The view is recomputed from what is
   * stored, so a pull committed meanwhile is not undone.
   *
   * `cached` is this tab's view of the entity (null: it has none), given when no other write to it
   * is under way. If this tab also knows of no queued change to it, the write assumes the stored
   * record is that view, unchanged, and issues its writes together with the read that checks the
   * assumption: one round trip instead of two. Should the read show otherwise (another tab wrote
   * or pulled, and its message has not arrived yet), the write is redone from what is stored in
   * the same transaction, which keeps its place ahead of this tab's later writes (a transaction
   * redone after an abort would queue behind them, and land after them).
   *
   * A change under a temporary id this tab's own answer renamed while the change waited for its
   * transaction is made under the server's id: the change carries the id it is stored under.
   */
  async write(def: Def, id: string, op: PendingOp, fresh: () => NewEntry, cached?: Rec | null): Promise<ViewChange & { cancelled: number | null }> {
    const r = def.name;
    const known = cached !== undefined && this.outbox.entriesOf(r, id).length === 0;
    // The database the tab's copy was read from: during a deletion (clear()), the one going.
    const copyFrom = this.#destroying === null ? this.#deletions : null;
    const referenced = this.#newestReferenced(def, op);
    let target = id;
    const [committed, lost] = await this.#writeTxLost('saving', async (tx) => {
      // A copy of a database deleted since is not what is stored: kept as the server version (the
      // fast path's fallback), a change made on it would bring what clear() deleted into the fresh one.
      const fast = known && copyFrom === this.#deletions;
      // Renamed here by a transaction that committed first, and whose end was heard before this
      // read answered. Another tab's renames stay refused: this tab showed a stale copy.
      const renamedHere = async (stored: EntityRecord | undefined): Promise<Written | null> => {
        const renamed = stored === undefined && op.op !== 'create' ? this.#renamedHere.get(entityKey(r, id)) : undefined;
        if (renamed === undefined) return null;
        target = renamed;
        const [storedRenamed, entriesRenamed] = await readEntity(tx, r, renamed);
        return issueWrite(tx, def, renamed, op, fresh, storedRenamed, entriesRenamed, referenced);
      };
      if (!fast) {
        const [stored, entries] = await readEntity(tx, r, id);
        return (await renamedHere(stored)) ?? issueWrite(tx, def, id, op, fresh, stored, entries, referenced);
      }
      const assumed: EntityRecord | undefined = cached === null ? undefined : { r, id, base: cached, view: cached };
      // The read first: the transaction runs its requests in order, so it sees the state before the writes.
      const read = storedRecord(tx, r, id);
      // Awaited below; should a write throw first (a value that cannot be stored), it must not be left unhandled.
      read.catch(() => undefined);
      const written = issueWrite(tx, def, id, op, fresh, assumed, [], referenced);
      const stored = await read;
      if (isClean(stored, cached)) {
        // The tab's copy does not carry when its base was answered; the record keeps it.
        if (stored?.settledAt !== undefined && written.record) unwrap(tx.objectStore('entities')).put({ ...written.record, settledAt: stored.settledAt });
        return written;
      }
      // Redone on what is stored: the entity's entries, less the one just added (the newest seq).
      const entries = await storedEntries(tx, r, id);
      unwrap(tx.objectStore('outbox')).delete(entries.pop()!.seq);
      // A temporary id whose rename committed after this tab's outbox dropped its entries: the
      // change is made under the server's id, and the record just put under the temporary one goes.
      const renamed = await renamedHere(stored);
      if (renamed) {
        unwrap(tx.objectStore('entities')).delete([r, id]);
        return renamed;
      }
      // Gone from storage since this tab last heard (another tab pulled its deletion, or evicted
      // it): the change is kept on the server version this tab showed, as if it had committed
      // first, and meets what the server holds (an update of a deleted entity is a conflict
      // with remote null, a delete of one a success). A copy with no server version (a create
      // not confirmed here, since renamed or cancelled) has nothing to send against.
      const shown = stored === undefined && hasServerVersion(cached, def) ? assumed : stored;
      return issueWrite(tx, def, id, op, fresh, shown, entries, referenced);
    }, { resource: r, id });
    // Another tab's clear() came while it ran: the change went with the deleted database.
    if (lost) throw new PendingMutationsError(1, { by: 'cleared', resource: r, id });
    const written = committed.read();
    this.outbox.setEntity(r, target, written.entries);
    return { r, id: target, view: written.view, cancelled: written.cancelled };
  }

  /**
   * The place in the queue of the newest queued change of an entity `op` names in a `references`
   * field (-1: none). A change naming an entity created after the entity's own queued entry is
   * not folded into that entry: sent in its place, it would reach the server before the entity
   * it names exists.
   */
  #newestReferenced(def: Def, op: PendingOp): number {
    const fields = op.op === 'create' ? op.value : op.op === 'update' ? op.patch : null;
    let newest = -1;
    if (!fields) return newest;
    for (const [field, r] of Object.entries(def.references)) {
      for (const value of idsIn(fields[field])) {
        if (typeof value !== 'string' && typeof value !== 'number') continue;
        for (const entry of this.outbox.entriesOf(r, String(value))) if (entry.state === 'queued') newest = Math.max(newest, entry.seq);
      }
    }
    return newest;
  }

  /**
   * Marks entries as sent-to-be, in one transaction, before their requests leave: from then on
   * a frozen entry's payload is what its idempotency key stands for and nothing coalesces into
   * it. Returns each entry as stored, or undefined when another tab already settled it.
   */
  async freeze(entries: readonly OutboxEntry[]): Promise<Array<OutboxEntry | undefined>> {
    const frozen = await this.#writeTx('marking queued changes as sent', (tx) => {
      const outbox = unwrap(tx.objectStore('outbox'));
      return Promise.all(
        entries.map(async (entry) => {
          const row: unknown = await requested(outbox.get(entry.seq));
          const stored = row === undefined ? undefined : asEntry(row);
          if (!stored || stored.frozen) return stored;
          const next = { ...stored, frozen: true };
          outbox.put(next);
          return next;
        }),
      );
    });
    for (const entry of frozen) if (entry) this.outbox.replaceEntry(entry);
    if (frozen.includes(undefined)) await this.reloadOutbox();
    return frozen;
  }

  /**
   * Server answers, in one transaction (answers that arrive together share its commit): each
   * entry leaves the queue in the transaction that stores its answer as the new base, and the
   * entity's later entries are rebased on it. An item is null when another tab already settled it.
   */
  async settleMany(items: ReadonlyArray<{ def: Def; entry: OutboxEntry; answer: Rec | null }>, at: number): Promise<Array<ViewChange | null>> {
    const what = items.length === 1 ? `storing the answer for ${items[0]!.entry.r}/${items[0]!.entry.id}` : `storing ${items.length} answers`;
    const [results, lost] = await this.#writeTxLost(what, async (tx) => {
      const settled = await Promise.all(items.map((item) => settleIn(tx, item.def, item.entry, item.answer, at)));
      const deleted = items.filter((_, i) => settled[i]?.deleted).map(({ def, entry }) => ({ r: def.name, id: entry.id, version: entry.baseVersion }));
      if (deleted.length > 0) await rememberDeletions(tx, deleted, at, this.#rememberDeletionsMs);
      return settled;
    });
    // Another tab's clear() came while it ran: stored in the deleted database, as if settled elsewhere.
    if (lost) return items.map(() => null);
    let settledElsewhere = false;
    const changes = results.map((result, i) => {
      const { def, entry } = items[i]!;
      if (!result) {
        settledElsewhere = true;
        return null;
      }
      this.outbox.setEntity(def.name, entry.id, result.rest);
      return { r: def.name, id: entry.id, view: result.view };
    });
    if (!settledElsewhere) return changes;
    await this.reloadOutbox();
    return this.#asStoredNow(changes);
  }

  /**
   * The answer to a create that named the entity's real id. ONE transaction settles the entry,
   * re-keys the entity and its queued entries, and rewrites every referencing field in other
   * resources' local views and queued payloads. A crash before it commits changes nothing: the
   * create is re-sent with its key and the server answers with the same id.
   */
  async settleRemapped(
    def: Def,
    entry: OutboxEntry,
    answer: Rec,
    to: string,
    referrers: readonly Referrer[],
    at: number,
  ): Promise<{ changes: ViewChange[]; dropped: number[]; folded: Array<{ seq: number; into: number }> } | null> {
    const r = def.name;
    const from = entry.id;
    // Referring fields hold the id as the server wrote it (42, not the key's string form '42').
    const named = answer[def.key] as string | number;
    const remapped = await this.#writeTx(`storing the new id of ${r}/${from}`, async (tx) => {
      const entities = tx.objectStore('entities');
      const outbox = tx.objectStore('outbox');
      if (!(await outbox.get(entry.seq))) return null;
      await outbox.delete(entry.seq);
      const rest = (await outbox.index('entity').getAll([r, from])).map(asEntry).filter((e) => e.seq !== entry.seq);
      // Known here under its server id too (a pull while the answer was lost): one entity, its
      // changes from both ids in outbox order, on the newer of the two states; the change made
      // last decides whether it stays and each field's value (mergeTwins).
      const known = await entities.get([r, to]);
      const already = (await outbox.index('entity').getAll([r, to])).map(asEntry);
      const base = known?.base && isOlderVersion(answer[def.version], known.base[def.version]) ? known.base : answer;
      const rekeyed = rest.map((e) => ({ ...onServerState(e, base, def.version), id: to }));
      const both = [...already, ...rekeyed].sort((a, b) => a.seq - b.seq);
      const twins = already.length && rekeyed.length ? mergeTwins(both, def.key) : null;
      const dropped = twins?.dropped ?? [];
      const folded = [...(twins?.folded ?? [])];
      // Stored anew behind the changes sent after them: their waits follow them to their new seq.
      const moved = new Map<number, number>();
      for (const { seq, ...entry } of twins?.moved ?? []) {
        await outbox.delete(seq);
        // No seq: the key generator numbers it, after every entry queued.
        const into = (await outbox.add(entry as OutboxEntry)) as number;
        moved.set(seq, into);
        folded.push({ seq, into });
      }
      const placed = (twins?.kept ?? both).map((e) => (moved.has(e.seq) ? { ...e, seq: moved.get(e.seq)! } : e));
      const kept = twins ? recreateAfterSentDelete(base, placed, def.version) : both;
      const before = new Map(already.map((e) => [e.seq, e]));
      // Those just added are stored already, unless recreateAfterSentDelete made one a create.
      const added = new Set(moved.values());
      for (const e of placed) if (added.has(e.seq)) before.set(e.seq, e);
      for (const e of kept) if (before.get(e.seq) !== e) await outbox.put(e);
      for (const e of dropped) await outbox.delete(e.seq);
      await entities.delete([r, from]);
      await tx.objectStore('meta').put({ r, from, to: named, at } satisfies StoredRename, renameKey(r, from));
      // `to` names this entity again (a create's replayed answer, after this device re-created the
      // entity once under it): a rename from it, made since, would take its writes to the other one.
      await tx.objectStore('meta').delete(renameKey(r, to));
      const view = foldView(base, kept);
      await entities.put(base === answer ? { r, id: to, base, view, settledAt: at } : { r, id: to, base, view });
      const changes: ViewChange[] = [
        { r, id: from, view: null },
        { r, id: to, view },
      ];
      for (const referrer of referrers) {
        for (const record of await recordsOf(entities, this.#KeyRange, referrer.r)) {
          const base = replaceReferences(record.base, referrer.fields, from, named);
          const local = replaceReferences(record.view, referrer.fields, from, named);
          if (base === record.base && local === record.view) continue;
          await entities.put({ ...record, base, view: local });
          changes.push({ r: referrer.r, id: record.id, view: local });
        }
      }
      if (referrers.length) {
        for (const queued of (await outbox.getAll()).map(asEntry)) {
          const referrer = referrers.find((x) => x.r === queued.r);
          if (!referrer) continue;
          const payload = replaceReferences(queued.payload, referrer.fields, from, named);
          if (payload !== queued.payload) await outbox.put({ ...queued, payload });
        }
      }
      return { changes, dropped: dropped.map((e) => e.seq), folded };
    });
    if (remapped) {
      this.renames.set(entityKey(r, from), named);
      this.#renamedHere.set(entityKey(r, from), to);
      this.renames.delete(entityKey(r, to));
      this.#renamedHere.delete(entityKey(r, to));
    }
    await this.reloadOutbox();
    return remapped && { ...remapped, changes: await this.#asStoredNow(remapped.changes) };
  }

  /**
   * Changes a transaction made, as stored now: read after an await in which a later transaction
   * (another answer, a pull) may have changed the same entities and had its views applied first,
   * so applying these does not take a view back.
   */
  async #asStoredNow<C extends ViewChange | null>(changes: C[]): Promise<C[]> {
    const ids = new Map<string, string[]>();
    for (const change of changes) {
      if (!change) continue;
      const list = ids.get(change.r);
      if (list) list.push(change.id);
      else ids.set(change.r, [change.id]);
    }
    const stored = new Map<string, Map<string, EntityRecord | undefined>>();
    for (const [r, list] of ids) stored.set(r, await this.loadRecords(r, list));
    return changes.map((change) => (change ? { ...change, view: stored.get(change.r)?.get(change.id)?.view ?? null } : change));
  }

  /**
   * Replaces an entity's queued entries (after a conflict decision or a failure) and its base.
   * `answered`: the decision stores the server's answer to a change sent against `version`, at
   * `at`. When that answer says the entity is gone and the stored base is still `version`, the
   * deletion is remembered as an answered one (see applyPull). A base stored since (a pull heard
   * of a newer version, perhaps the entity created again) leaves it unremembered: the answer may
   * be older than what is stored.
   */
  async rewrite(
    def: Def,
    id: string,
    change: (current: { base: Rec | null; entries: OutboxEntry[] }) => { base: Rec | null; entries: OutboxEntry[] },
    answered?: { at: number; version: unknown },
  ): Promise<ViewChange> {
    const r = def.name;
    const [{ entries, view }, lost] = await this.#writeTxLost('updating', async (tx) => {
      const entities = tx.objectStore('entities');
      const outbox = tx.objectStore('outbox');
      const record = (await entities.get([r, id])) ?? { r, id, base: null, view: null };
      const current = (await outbox.index('entity').getAll([r, id])).map(asEntry);
      const next = change({ base: record.base, entries: current });
      const keep = new Set(next.entries.map((e) => e.seq));
      for (const old of current) if (!keep.has(old.seq)) await outbox.delete(old.seq);
      for (const entry of next.entries) await outbox.put(entry);
      const view = foldView(next.base, next.entries);
      if (answered && next.base === null && record.base !== null && Object.is(record.base[def.version], answered.version)) {
        await rememberDeletions(tx, [{ r, id, version: answered.version }], answered.at, this.#rememberDeletionsMs);
      }
      // The state changes were made on goes once none made on it stays (a discard): kept, it would
      // be the `base` of a later change's conflict, older than what that change was made on, and
      // the merge would take that change for none.
      const madeOnOrigin = next.entries.some((e) => e.op !== 'create' && !Object.is(e.baseVersion, record.base?.[def.version]));
      if (next.base === null && next.entries.length === 0) await entities.delete([r, id]);
      // Bookkeeping (freezing, retry counts, parking) keeps what the record says of its base; a new base replaces it.
      else if (next.base === record.base) await entities.put({ r, id, base: next.base, view, ...aboutBase(record, madeOnOrigin) });
      else await entities.put({ r, id, base: next.base, view });
      return { entries: next.entries, view };
    }, { resource: r, id });
    if (lost) throw new PendingMutationsError(1, { by: 'cleared', resource: r, id });
    this.outbox.setEntity(r, id, entries);
    return { r, id, view };
  }

  /**
   * Server data for a resource in one transaction. `authoritative`: records missing from `items`
   * with no queued change are removed. Answers older than the cached version are ignored; pending
   * changes are re-applied on a newer base.
   */
  async applyPull(
    def: Def,
    items: readonly Rec[],
    options: {
      authoritative: boolean;
      /**
       * With `authoritative`: the ids this tab holds. One neither in the answer nor stored goes
       * from its views too: its removal was stored by another tab that closed before telling.
       */
      shown?: ReadonlySet<string>;
      deleted?: readonly string[];
      /**
       * Whether the stored copy of one of `deleted` is still gone by the caller's judgment, made on
       * its own copy: another version (an answer that committed since, or another tab's, stored it)
       * may have left what the caller's answer speaks for (its page's scope), and then stays.
       */
      stillGone?: (id: string, stored: Rec) => boolean;
      /** Ids the answer named but that failed the schema: their cached copy stays. */
      keep?: readonly string[];
      /** `deleted` leave this tab's cache (evicted), not the server. */
      evicting?: boolean;
      /**
       * Whether a change answered at `at` (the client's clock) was answered after the request,
       * so that the answer may have been computed before it landed. Such an entity is not
       * brought back by the answer when that change deleted it (unless the answer holds a newer
       * version: created again since), nor removed for the answer's silence (left out of a whole
       * list that does not restart a delta feed, or judged gone by the caller through
       * `stillGone`); a tombstone the server sent (`deleted` with no `stillGone`) still removes it.
       */
      answeredSinceRequest?: (at: number) => boolean;
      meta?: Record<string, unknown>;
      /**
       * `deletions` when the answer was requested: one requested before the data was deleted
       * (clear(), a logout) is not stored in the fresh database (`discarded`).
       */
      deletions?: number;
      /**
       * A delta cursor to store with the answer, unless the answer deletes an entity with a
       * change that may be at the server (sent, answer still to come, or parked after its answer
       * was lost): a deletion cannot be ordered against that answer, so the cursor stays before
       * it and the next pull names it again. So it does for a change the server refused: it
       * keeps the entity stored, which its discard() would leave shown, deleted nowhere else.
       * `null` deletes the stored cursor: the server rejected it, and this (authoritative)
       * answer replaces what it covered.
       */
      cursor?: { key: string; value: string | null };
      /**
       * The delta cursor stored when the answer was requested. Another pull (another tab's) that
       * stored another since was answered later: its page may delete an entity this older answer
       * holds, and its cursor, past that deletion, would never name it again. Then nothing is
       * stored (`cursorMoved`): the page is to be requested again.
       */
      storedCursor?: { key: string; value: string | null };
    },
  ): Promise<{ changes: ViewChange[]; removed: number; cursorHeld: boolean; unstored: string[]; discarded: boolean; cursorMoved?: boolean }> {
    const r = def.name;
    // Entities whose parked conflicts took the answer's state, set in memory once it committed.
    const reparked = new Map<string, OutboxEntry[]>();
    const result = await this.#writeTx('caching', async (tx) => {
      // Run again on a new connection should the browser close this one: what a first run found counts for nothing.
      reparked.clear();
      // Checked in the transaction: a deletion cannot come between it and the writes.
      if (options.deletions !== undefined && options.deletions !== this.deletions) {
        return { changes: [], removed: 0, cursorHeld: false, unstored: [], discarded: true };
      }
      const entities = tx.objectStore('entities');
      // An answer's puts (tens of thousands) go straight to the IDB store instead of through a
      // promise and two listeners each; a failed one aborts the transaction, which writeTx reports.
      const direct = unwrap(entities);
      const changes: ViewChange[] = [];
      let removed = 0;
      const unstored: string[] = [];
      // The reads issued together: the transaction waits for them once. The queued changes as
      // stored, not this tab's copy of them: another tab may have settled or added entries this
      // one has not heard of yet, and folding a stale copy stores a stale view.
      const { storedCursor } = options;
      const [records, rows, answeredDeletions, cursorNow] = await Promise.all([
        recordsOf(entities, this.#KeyRange, r),
        recordsOf(tx.objectStore('outbox').index('entity'), this.#KeyRange, r),
        options.answeredSinceRequest ? deletionsOf(tx, r) : new Map<string, AnsweredDeletion>(),
        storedCursor ? tx.objectStore('meta').get(storedCursor.key) : undefined,
      ]);
      if (storedCursor && (cursorNow ?? null) !== storedCursor.value) {
        return { changes: [], removed: 0, cursorHeld: false, unstored: [], discarded: false, cursorMoved: true };
      }
      const existing = new Map<string, EntityRecord>();
      for (const record of records) if (isEntityRecord(record)) existing.set(record.id, record);
      const queued = new Map<string, OutboxEntry[]>();
      for (const entry of rows.map(asEntry)) {
        const list = queued.get(entry.id);
        if (list) list.push(entry);
        else queued.set(entry.id, [entry]);
      }
      const entriesOf = (id: string): readonly OutboxEntry[] => queued.get(id) ?? [];
      // A parked conflict shows, and is decided on, the newest server state heard of: a decision
      // on an older one would store that older copy over this answer's, which the feed, moved on,
      // would not send again.
      const outbox = unwrap(tx.objectStore('outbox'));
      const repark = (id: string, remote: Rec | null, change: ViewChange) => {
        const entries = entriesOf(id);
        const next = entries.map((e) => withNewerRemote(e, remote, change.view, def.version));
        if (next.every((e, i) => e === entries[i])) return;
        next.forEach((e, i) => {
          if (e !== entries[i]) outbox.put(e);
        });
        reparked.set(id, next);
        change.outbox = true;
      };
      const since = options.answeredSinceRequest ?? (() => false);
      // A whole list restarting a delta feed (its cursor dropped) keeps nothing it leaves out: the
      // fresh feed names every live entity again, but perhaps no deletion.
      const keepsLeftOut = options.cursor?.value !== null;
      const settledSinceRequest = (record: EntityRecord | undefined) => keepsLeftOut && record?.settledAt !== undefined && since(record.settledAt);
      // Deleted here by an answer since the request, and the item the entity as it was before.
      const deletedSinceRequest = (id: string, item: Rec) => {
        const deletion = answeredDeletions.get(id);
        return deletion !== undefined && since(deletion.at) && isBeforeDeletion(item[def.version], deletion.version);
      };
      const seen = new Set<string>(options.keep ?? []);
      // Answered, but the stored copy stands: newer than the answer, or the answer failed the schema.
      const standing = [...(options.keep ?? [])];
      for (const item of items) {
        const id = String(item[def.key]);
        seen.add(id);
        const record = existing.get(id);
        if (record?.base && isOlderVersion(item[def.version], record.base[def.version])) {
          standing.push(id);
          continue;
        }
        // Gone at the server for this client (created again here, perhaps, and not sent yet).
        if ((!record || record.base === null) && deletedSinceRequest(id, item)) {
          if (record) standing.push(id);
          continue;
        }
        const entries = entriesOf(id);
        // The same version again: when it was answered here still holds.
        const answered = record?.settledAt !== undefined && Object.is(item[def.version], record.base?.[def.version]) ? { settledAt: record.settledAt } : {};
        if (entries.length === 0) {
          // What is stored already (a revalidation that found nothing new): not written again.
          if (isClean(record, item)) {
            changes.push({ r, id, view: item, unchanged: true });
            continue;
          }
          direct.put({ r, id, base: item, view: item, ...answered });
          changes.push({ r, id, view: item });
          continue;
        }
        const view = foldView(item, entries);
        const origin = record ? (record.origin !== undefined ? record.origin : record.base) : null;
        direct.put({ r, id, base: item, view, origin, ...answered });
        const change: ViewChange = { r, id, view };
        repark(id, item, change);
        changes.push(change);
      }
      const drop = (id: string) => {
        const entries = entriesOf(id);
        if (entries.length === 0) {
          direct.delete([r, id]);
          changes.push({ r, id, view: null });
          removed++;
        } else {
          // Deleted on the server under a pending change: the user's view stays until the change
          // meets the deletion (a conflict with remote null), never silently dropped. The base
          // stays too: it is what the pending changes apply to (a null base would fold them
          // away at the entry's next rewrite) and the conflict's `base`.
          const record = existing.get(id);
          const view = record?.view ?? foldView(null, entries);
          direct.put({ r, id, base: record?.base ?? null, view, ...(record ? aboutBase(record) : {}) });
          const change: ViewChange = { r, id, view };
          // Gone from the server: not from a cache, nor from an on-demand page's scope.
          if (!options.evicting && !options.stillGone) repark(id, null, change);
          changes.push(change);
        }
      };
      if (options.authoritative) {
        for (const [id, record] of existing) {
          if (seen.has(id)) continue;
          if (settledSinceRequest(record)) standing.push(id);
          else drop(id);
        }
        const { shown } = options;
        if (shown) {
          for (const id of shown) if (!seen.has(id) && !existing.has(id) && entriesOf(id).length === 0) changes.push({ r, id, view: null });
          // And one stored that it does not hold, which the answer leaves as stored (renamed here
          // from a temporary id by that tab, say): shown as stored.
          for (const id of standing) {
            const record = existing.get(id);
            if (record && !shown.has(id)) changes.push({ r, id, view: record.view });
          }
        }
      }
      const deletions = options.deleted ?? [];
      for (const id of deletions) {
        const record = existing.get(id);
        if (record?.base && options.stillGone && (settledSinceRequest(record) || !options.stillGone(id, record.base))) continue;
        if (record) drop(id);
        // Not stored here (evicted by another tab) yet perhaps shown: its views drop it too (listed
        // in `unstored`: the caller judged its own copy; another tab may show a newer one).
        else if (entriesOf(id).length === 0) {
          changes.push({ r, id, view: null });
          unstored.push(id);
        }
      }
      // Straight on the store too: a promise per request would reject, unhandled, when the transaction aborts.
      const meta = unwrap(tx.objectStore('meta'));
      for (const [key, value] of Object.entries(options.meta ?? {})) meta.put(value, key);
      // A create the server names, perhaps applied with its answer lost, may be any deleted id.
      const renaming =
        deletions.length > 0 && [...queued.values()].some((entries) => entries.some((e) => e.op === 'create' && e.id.startsWith(TEMP_ID_PREFIX) && mayBeAtServer(e)));
      const cursorHeld = renaming || deletions.some((id) => entriesOf(id).some((e) => mayBeAtServer(e) || isRolledBack(e)));
      if (options.cursor && !cursorHeld) {
        if (options.cursor.value === null) meta.delete(options.cursor.key);
        else meta.put(options.cursor.value, options.cursor.key);
      }
      return { changes, removed, cursorHeld, unstored, discarded: false };
    }, { resource: r });
    for (const [id, entries] of reparked) this.outbox.setEntity(r, id, entries);
    return result;
  }

  /**
   * Closes the connection and deletes the namespace's database; the next use opens a fresh one.
   * The writes started before are committed first, and the outbox read again: `check` sees every
   * change stored, and throws to keep the database. A write started meanwhile waits for the
   * deletion and goes to the fresh database (or to this one, kept): none is stored and then deleted.
   */
  async destroy(check: () => void): Promise<void> {
    while (this.#destroying) await this.#destroying;
    let ended!: () => void;
    this.#destroying = new Promise((resolve) => (ended = resolve));
    try {
      await Promise.allSettled([...this.#writesRunning]);
      await this.reloadOutbox();
      check();
      const db = await this.#handle();
      db.close();
      this.#forget();
      this.outbox.replaceAll([]);
      if (this.#factory) await deleteDatabase(this.#factory, this.namespace, () => this.#callbacks.onBlocked());
    } finally {
      this.#destroying = null;
      ended();
    }
  }
}

/**
 * A change a request may have carried with its answer still to come: frozen and queued, or
 * parked after retryable failures (its answer may have been lost; `retry()` re-sends it with its
 * key, and the server replays that answer).
 */
function mayBeAtServer(entry: OutboxEntry): boolean {
  return entry.frozen && (entry.state === 'queued' || (entry.state === 'failed' && !entry.failure?.rejected));
}

/**
 * What a record says of its base (kept while the base stays): the state changes were made on
 * (unless `keepOrigin` is false: none of them stays), the change it answers.
 */
function aboutBase(record: EntityRecord, keepOrigin = true): Pick<EntityRecord, 'origin' | 'settledAt'> {
  const about: Pick<EntityRecord, 'origin' | 'settledAt'> = {};
  if (record.origin !== undefined && keepOrigin) about.origin = record.origin;
  if (record.settledAt !== undefined) about.settledAt = record.settledAt;
  return about;
}

/** One answer inside settleMany's transaction; null when the entry is no longer stored. */
async function settleIn(
  tx: WriteTx,
  def: Def,
  entry: OutboxEntry,
  answer: Rec | null,
  at: number,
): Promise<{ rest: OutboxEntry[]; view: Rec | null; deleted: boolean } | null> {
  const r = def.name;
  // Straight on the IDB stores, as a local write: a drain stores one answer after another.
  const entities = unwrap(tx.objectStore('entities'));
  const outbox = unwrap(tx.objectStore('outbox'));
  // Both reads issued at once; the transaction waits once for them. The entry itself is among
  // its entity's queued entries, or no longer stored. Its key too: a database made since the
  // request left numbers its entries past the seqs its tab knew, not every tab's (firstSeq), so a
  // change made since may hold this seq.
  const [queued, stored] = await Promise.all([storedEntries(tx, r, entry.id), storedRecord(tx, r, entry.id)]);
  if (!queued.some((e) => e.seq === entry.seq && e.key === entry.key)) return null;
  const rest = queued.filter((e) => e.seq !== entry.seq);
  // A pull committed while the request was out may hold a newer state, which includes this
  // write: the answer must not take the entity back (the delta cursor has moved past it).
  const current = isEntityRecord(stored) ? stored : undefined;
  const storedBase = current?.base ?? null;
  const newer = answer !== null && storedBase !== null && isOlderVersion(answer[def.version], storedBase[def.version]);
  const base = newer ? storedBase : answer;
  outbox.delete(entry.seq);
  // Later changes made on the state this change was made on go out on the version answered: a
  // newer state a pull stored holds another writer's changes, which they must meet as a
  // conflict, never overwrite unseen. One made on that newer state (after the pull) keeps it.
  // After a deletion (possible only when one entity was known under two ids: a create whose
  // answer was lost, pulled under its server id meanwhile) they keep the version they were made
  // on: sent, they meet the deletion (an update is a conflict with remote null, a delete a
  // success), where no version could not be sent at all.
  const later = rest.map((e) => (newer && !Object.is(e.baseVersion, entry.baseVersion) ? e : onServerState(e, answer, def.version)));
  for (const [i, e] of later.entries()) if (e !== rest[i]) outbox.put(e);
  const view = foldView(base, later);
  if (base === null && later.length === 0) entities.delete([r, entry.id]);
  // A newer state a pull stored stays with what its record says of it. Changes still queued that
  // were not made on it (moved onto the answer, or made on a state between the two) meet it as a
  // conflict whose base is the answer: the newest state known that they were all made after.
  else if (newer) {
    const settledAt = current?.settledAt;
    const kept: EntityRecord = { r, id: entry.id, base, view, ...(settledAt !== undefined && { settledAt }) };
    const onStored = later.every((e) => e.op === 'create' || Object.is(e.baseVersion, storedBase[def.version]));
    entities.put(onStored ? kept : { ...kept, origin: answer });
  } else entities.put({ r, id: entry.id, base, view, settledAt: at });
  // Deleted at the server, even with a change queued after it (a create of the same id).
  return { rest: later, view, deleted: base === null };
}
