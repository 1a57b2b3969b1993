import { ClosedError, HarborSyncError, HttpError, NetworkError, SchemaError } from '../errors.js';
import { isOlderVersion } from '../internal/versions.js';
import { parseRetryAfter, retryDelay, type BackoffOptions } from '../outbox/backoff.js';
import { classifyStatus } from '../transport/classify.js';
import type { LocalStore, ViewChange } from '../store/local-store.js';
import type { ResourceMirror } from '../store/mirror.js';
import type { ResourceDefinition, SyncEvent, Transport } from '../types.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

export interface PullHost {
  store: LocalStore;
  transport: Transport;
  now(): number;
  parse(def: Def, value: unknown, id: string | undefined): Rec | undefined | Promise<Rec | undefined>;
  applied(changes: readonly ViewChange[]): void;
  emit(event: SyncEvent): void;
  /**
   * The delta cursor this tab's views are known to reflect (undefined: none known, read the stored
   * one). A tab pulls from it, not from the stored cursor another tab may have moved unheard.
   */
  knownCursor(def: Def): string | null | undefined;
  /** A commit moved the stored cursor from `from` to `to`, with the changes `applied` was just given. */
  movedCursor(def: Def, from: string | null, to: string | null): void;
  /** The pull failed with `error` (a 401 the refresh did not cure pauses sync as unauthorized). */
  readFailed(error: Error): void;
  /** Another pull of the resource follows this one at once (a refresh() made during it): its views stay fetching. */
  followed(def: Def): boolean;
  /**
   * Settles once the creates of the resource out now (this tab's, or in a follower the leader's)
   * have their answers stored (undefined: none out). An answer read meanwhile waits for it: it may hold an entity the
   * server made of one, which would otherwise show beside its temporary self until then.
   */
  createsStored(def: Def): Promise<void> | undefined;
}

/** Pages of one delta pull, at most; a server that never says "no more" cannot loop us forever. */
const MAX_DELTA_PAGES = 10_000;

/** Retries of a pull the client made itself that failed for a passing reason (TanStack Query's default). */
export const PULL_RETRIES = 3;

/**
 * How long to wait before pulling again after a pull the client made itself failed (pure): the
 * outbox's backoff (and the server's `Retry-After`) for `attempt` (1: the first retry), up to
 * PULL_RETRIES; null when not to. Only a passing failure is retried: no answer (a timeout
 * included) or a status the outbox retries; a 409 to a read is no idempotency key still at work.
 * A 4xx is about the request (a 401 pauses sync) and an answer the client cannot read comes back
 * the same: asked again at the next trigger, not in a loop.
 */
export function pullRetryDelay(error: unknown, attempt: number, random: number, options: BackoffOptions, now: number): number | null {
  if (attempt > PULL_RETRIES) return null;
  if (error instanceof NetworkError) return retryDelay(attempt, random, options, null);
  if (!(error instanceof HttpError) || error.status === 409 || classifyStatus(error.status, 'update', null, () => false) !== 'retry') return null;
  return retryDelay(attempt, random, options, parseRetryAfter(error.retryAfter, now, error.serverDate));
}

export const cursorKey = (r: string) => `cursor:${r}`;
export const syncedAtKey = (r: string) => `syncedAt:${r}`;

/** The items that pass the schema, and the ids of those that do not (each reported as a `schemaError`). */
export async function parseAll(host: Pick<PullHost, 'parse'>, def: Def, items: readonly unknown[]): Promise<{ valid: Rec[]; invalidIds: string[] }> {
  const valid: Rec[] = [];
  const invalidIds: string[] = [];
  for (const item of items) {
    const checked = host.parse(def, item, undefined);
    const parsed = checked instanceof Promise ? await checked : checked;
    if (parsed) valid.push(parsed);
    else if (typeof item === 'object' && item !== null) {
      const id = (item as Rec)[def.key];
      if (typeof id === 'string' || typeof id === 'number') invalidIds.push(String(id));
    }
  }
  return { valid, invalidIds };
}

/**
 * One copy per id of what one answer names, by a fixed rule, and what the rule set aside. Among
 * copies of one id the newest version wins, compared as everywhere (`isOlderVersion`): on equal
 * or unordered versions, the later copy. An id both in `items` and in `deleted` is deleted: a
 * feed that lists a change and a deletion of one entity most often saw it changed and then
 * deleted, and a deletion carries no version to say otherwise.
 */
export function oneCopyPerId(
  def: Def,
  items: readonly Rec[],
  deleted: readonly string[] = [],
): { items: readonly Rec[]; deleted: readonly string[]; notes: SchemaError[] } {
  const byId = new Map<string, Rec>();
  let copies: Map<string, number> | undefined;
  for (const item of items) {
    const id = String(item[def.key]);
    const kept = byId.get(id);
    if (kept) {
      copies ??= new Map();
      copies.set(id, (copies.get(id) ?? 1) + 1);
      if (isOlderVersion(item[def.version], kept[def.version])) continue;
    }
    byId.set(id, item);
  }
  const notes: SchemaError[] = [];
  const note = (id: string, message: string) => notes.push(new SchemaError([{ field: '', message }], { resource: def.name, id }));
  for (const [id, count] of copies ?? []) {
    note(id, `named ${count} times in one answer: the copy of version ${String(byId.get(id)![def.version])} is kept`);
  }
  const gone = new Set(deleted);
  let contradicted = false;
  for (const id of gone) {
    if (!byId.delete(id)) continue;
    contradicted = true;
    note(id, 'named both in items and in deleted of one answer: deleted');
  }
  // The common answer names each id once: it goes on as it came.
  return {
    items: copies || contradicted ? [...byId.values()] : items,
    deleted: gone.size === deleted.length ? deleted : [...gone],
    notes,
  };
}

/** `oneCopyPerId`, with what it set aside reported on events$. */
export function oneCopyEach(
  host: Pick<PullHost, 'emit' | 'now'>,
  def: Def,
  items: readonly Rec[],
  deleted?: readonly string[],
): { items: readonly Rec[]; deleted: readonly string[] } {
  const answer = oneCopyPerId(def, items, deleted);
  for (const error of answer.notes) host.emit({ type: 'schemaError', at: host.now(), resource: def.name, id: error.id, error });
  return answer;
}

/**
 * Called as a request is made: tells whether a time is strictly after it and not after the clock
 * when asked. The same millisecond counts as before (which came first is unknown, and before is
 * what holds without the rule); a clock that stepped back makes a time ahead of it count for
 * nothing rather than for ever. A clock that reads earlier than the request stepped back while it
 * was out: what was answered before the step carries times after the request, and what was
 * answered since times before it, so both count as after it (the answer undoes nothing confirmed
 * meanwhile; the next request is exact).
 */
export function afterThisRequest(host: { now(): number }): (at: number) => boolean {
  const requestedAt = host.now();
  return (at) => {
    const now = host.now();
    return now < requestedAt ? at > requestedAt || at <= now : at > requestedAt && at <= now;
  };
}

function shapeError(def: Def, detail: string): SchemaError {
  return new SchemaError([{ field: '', message: detail }], { resource: def.name });
}

/**
 * The server refused the delta cursor it was sent: 410 (expired, or not issued by this database,
 * as after a reset) or 400 (not one it can read). Only a request that carried a cursor counts:
 * a 400 to the first `?since=` is about the request, not the cursor.
 */
function isCursorRejected(error: unknown, cursor: string | null): boolean {
  return cursor !== null && cursor !== '' && error instanceof HttpError && (error.status === 410 || error.status === 400);
}

/**
 * The whole list, authoritative: cached entities missing from it, with no pending change, go.
 * `dropped.key` (a delta resource's cursor key) is deleted in the same transaction, so the next
 * pull starts the feed afresh; the items it delivers again are harmless.
 */
async function pullList(
  host: PullHost,
  def: Def,
  at: number,
  mirror: ResourceMirror<object>,
  dropped?: { key: string; cursor: string | null },
): Promise<{ count: number; removed: number; discarded: boolean }> {
  const answeredSinceRequest = afterThisRequest(host);
  const deletions = host.store.deletions;
  const answer = await host.transport.list(def);
  if (!Array.isArray(answer)) throw shapeError(def, 'the list answer is not an array');
  const parsed = await parseAll(host, def, answer);
  await host.createsStored(def);
  const { items } = oneCopyEach(host, def, parsed.valid);
  const result = await host.store.applyPull(def, items, {
    authoritative: true,
    shown: new Set(mirror.entities.keys()),
    keep: parsed.invalidIds,
    answeredSinceRequest,
    meta: { [syncedAtKey(def.name)]: at },
    deletions,
    ...(dropped === undefined ? {} : { cursor: { key: dropped.key, value: null } }),
  });
  if (result.discarded) return { count: 0, removed: 0, discarded: true };
  host.applied(result.changes);
  if (dropped && !result.cursorHeld) host.movedCursor(def, dropped.cursor, null);
  return { count: items.length, removed: result.removed, discarded: false };
}

/**
 * Pulls one resource: the whole list (authoritative) or the delta since the stored cursor. Each
 * answer commits in one transaction; the cursor moves only with the items it covers. A cursor
 * the server rejects is replaced by the whole list.
 */
export async function pull(host: PullHost, def: Def, mirror: ResourceMirror<object>): Promise<{ stored: boolean }> {
  mirror.setFlags({ isFetching: true });
  const deletions = host.store.deletions;
  try {
    const at = host.now();
    let count = 0;
    let removed = 0;
    // Requested before the local data was deleted (clear(), a logout): not brought back.
    let discarded = false;
    if (def.delta) {
      // The stored one read first: opening the database may find it deleted behind the app's back,
      // and the cursor known here forgotten with it.
      const first = (await host.store.getMeta<string>(cursorKey(def.name))) ?? null;
      const known = host.knownCursor(def);
      let cursor = known !== undefined ? known : first;
      let held = false;
      // A feed that says it has more but names a cursor it named before would be asked forever.
      const named = new Set<string | null>([cursor]);
      for (let page = 0; page < MAX_DELTA_PAGES; page++) {
        let answer: Rec | null;
        const answeredSinceRequest = afterThisRequest(host);
        const deletions = host.store.deletions;
        const stored = (await host.store.getMeta<string>(cursorKey(def.name))) ?? null;
        try {
          answer = (await host.transport.delta(def, cursor)) as Rec | null;
        } catch (error) {
          if (!isCursorRejected(error, cursor)) throw error;
          const listed = await pullList(host, def, at, mirror, { key: cursorKey(def.name), cursor });
          count += listed.count;
          removed += listed.removed;
          discarded = listed.discarded;
          break;
        }
        if (typeof answer !== 'object' || answer === null || !Array.isArray(answer['items'])) {
          throw shapeError(def, 'the delta answer is not { items, deleted, cursor }');
        }
        const next = answer['cursor'];
        if (typeof next !== 'string') throw shapeError(def, 'the delta answer has no string cursor');
        // A deletion it cannot read (a tombstone object, null) would be skipped and the cursor moved
        // past it: the entity shown for good. Refused, the cursor stays and the feed is asked again.
        const gone: unknown = answer['deleted'] ?? [];
        if (!Array.isArray(gone) || !gone.every((id) => typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))) {
          throw shapeError(def, 'the delta answer\'s deleted must be an array of ids (strings or numbers)');
        }
        const { valid } = await parseAll(host, def, answer['items']);
        await host.createsStored(def);
        const { items, deleted } = oneCopyEach(host, def, valid, gone.map(String));
        // The cursor is stored with the page, unless the page (or one before it) deletes an
        // entity whose change may be at the server: then it stays, and the next pull names the
        // deletion again once that change's answer is in (the feed carries no tombstone version
        // to order them by). The pages after it are still read: a change parked for days must
        // not stop the feed, only make each pull start from the held cursor.
        // Synced only once the feed is read to its end: a pull that fails on a later page leaves
        // the resource stale, so a reload pulls again instead of serving half a feed as fresh.
        const last = answer['hasMore'] !== true || page === MAX_DELTA_PAGES - 1;
        const result = await host.store.applyPull(def, items, {
          authoritative: false,
          deleted,
          answeredSinceRequest,
          meta: last ? { [syncedAtKey(def.name)]: at } : {},
          cursor: held ? undefined : { key: cursorKey(def.name), value: next },
          storedCursor: { key: cursorKey(def.name), value: stored },
          deletions,
        });
        if ((discarded = result.discarded)) break;
        // Another tab stored a page answered after this one: asked again, the page is as new.
        if (result.cursorMoved) continue;
        held ||= result.cursorHeld;
        host.applied(result.changes);
        if (!held) host.movedCursor(def, cursor, next);
        count += items.length;
        removed += result.removed;
        cursor = next;
        if (answer['hasMore'] !== true) break;
        if (named.has(next)) throw shapeError(def, `the delta answer says hasMore but names cursor ${JSON.stringify(next)} again`);
        named.add(next);
      }
    } else {
      ({ count, removed, discarded } = await pullList(host, def, at, mirror));
    }
    if (discarded) {
      mirror.setFlags({ isFetching: host.followed(def) });
      return { stored: false };
    }
    mirror.setFlags({ isFetching: host.followed(def), error: null, lastSyncedAt: at });
    host.emit({ type: 'pulled', at, resource: def.name, count, removed });
    return { stored: true };
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    // Abandoned by close(): nothing failed, and the views keep their last state.
    if (failure instanceof ClosedError) throw failure;
    // Requested before the local data was deleted (a logout's clear()): its failure, a 401 to the
    // token of the session that ended, says nothing of the data or session shown now.
    if (host.store.deletions !== deletions) {
      mirror.setFlags({ isFetching: host.followed(def) });
      throw failure;
    }
    mirror.setFlags({ isFetching: host.followed(def), error: failure });
    if (failure instanceof HarborSyncError) host.emit({ type: 'error', at: host.now(), resource: def.name, error: failure });
    host.readFailed(failure);
    throw failure;
  }
}
