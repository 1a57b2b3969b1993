import { HarborSyncError, HttpError, SchemaError } from '../errors.js';
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
}

/** Pages of one delta pull, at most; a server that never says "no more" cannot loop us forever. */
const MAX_DELTA_PAGES = 10_000;

export const cursorKey = (r: string) => `cursor:${r}`;
export const syncedAtKey = (r: string) => `syncedAt:${r}`;

async function parseAll(host: PullHost, def: Def, items: readonly unknown[]): Promise<{ valid: Rec[]; invalidIds: string[] }> {
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
 * `dropCursor` (a delta resource's cursor key) is deleted in the same transaction, so the next
 * pull starts the feed afresh; the items it delivers again are harmless.
 */
async function pullList(host: PullHost, def: Def, at: number, dropCursor?: string): Promise<{ count: number; removed: number }> {
  const answer = await host.transport.list(def);
  if (!Array.isArray(answer)) throw shapeError(def, 'the list answer is not an array');
  const { valid, invalidIds } = await parseAll(host, def, answer);
  const result = await host.store.applyPull(def, valid, {
    authoritative: true,
    keep: invalidIds,
    meta: { [syncedAtKey(def.name)]: at },
    ...(dropCursor === undefined ? {} : { cursor: { key: dropCursor, value: null } }),
  });
  host.applied(result.changes);
  return { count: valid.length, removed: result.removed };
}

/**
 * Pulls one resource: the whole list (authoritative) or the delta since the stored cursor. Each
 * answer commits in one transaction; the cursor moves only with the items it covers. A cursor
 * the server rejects is replaced by the whole list.
 */
export async function pull(host: PullHost, def: Def, mirror: ResourceMirror<object>): Promise<void> {
  mirror.setFlags({ isFetching: true });
  try {
    const at = host.now();
    let count = 0;
    let removed = 0;
    if (def.delta) {
      let cursor = (await host.store.getMeta<string>(cursorKey(def.name))) ?? null;
      let held = false;
      for (let page = 0; page < MAX_DELTA_PAGES; page++) {
        let answer: Rec | null;
        try {
          answer = (await host.transport.delta(def, cursor)) as Rec | null;
        } catch (error) {
          if (!isCursorRejected(error, cursor)) throw error;
          const listed = await pullList(host, def, at, cursorKey(def.name));
          count += listed.count;
          removed += listed.removed;
          break;
        }
        if (typeof answer !== 'object' || answer === null || !Array.isArray(answer['items'])) {
          throw shapeError(def, 'the delta answer is not { items, deleted, cursor }');
        }
        const deleted = Array.isArray(answer['deleted']) ? answer['deleted'].map(String) : [];
        const next = answer['cursor'];
        if (typeof next !== 'string') throw shapeError(def, 'the delta answer has no string cursor');
        const { valid } = await parseAll(host, def, answer['items']);
        // The cursor is stored with the page, unless the page (or one before it) deletes an
        // entity whose change may be at the server: then it stays, and the next pull names the
        // deletion again once that change's answer is in (the feed carries no tombstone version
        // to order them by). The pages after it are still read: a change parked for days must
        // not stop the feed, only make each pull start from the held cursor.
        const result = await host.store.applyPull(def, valid, {
          authoritative: false,
          deleted,
          meta: { [syncedAtKey(def.name)]: at },
          cursor: held ? undefined : { key: cursorKey(def.name), value: next },
        });
        held ||= result.cursorHeld;
        host.applied(result.changes);
        count += valid.length;
        removed += result.removed;
        cursor = next;
        if (answer['hasMore'] !== true) break;
      }
    } else {
      ({ count, removed } = await pullList(host, def, at));
    }
    mirror.setFlags({ isFetching: false, error: null, lastSyncedAt: at });
    host.emit({ type: 'pulled', at, resource: def.name, count, removed });
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    mirror.setFlags({ isFetching: false, error: failure });
    if (failure instanceof HarborSyncError) host.emit({ type: 'error', at: host.now(), resource: def.name, error: failure });
    throw failure;
  }
}
