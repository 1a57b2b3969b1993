import { isRename } from '../internal/ids.js';
import type { OutboxEntry } from '../outbox/entry.js';
import { entityKey } from '../outbox/outbox-memory.js';
import { idsIn } from '../outbox/remap.js';

/** A temporary id the server renamed, and when (the client's clock). */
export interface StoredRename {
  r: string;
  from: string;
  /** The server's id as its answer wrote it. */
  to: string | number;
  at: number;
}

/**
 * How long a rename is kept once no queued row names its temporary id: a tab that had not heard
 * of it when it wrote hears of it within moments (the tab channel), or reads it with the outbox.
 */
export const RENAMES_KEPT_MS = 7 * 24 * 60 * 60 * 1000;
const RENAME_PREFIX = 'renamed:';
export const renameKey = (r: string, from: string) => `${RENAME_PREFIX}${entityKey(r, from)}`;

const isStoredRename = (value: unknown): value is StoredRename => isRename(value) && typeof (value as Partial<StoredRename>).at === 'number';

/** The renames in `meta`, a corrupted row skipped: it costs a mapping, never the outbox's load. */
export async function storedRenames(
  meta: { getAll(query?: IDBKeyRange | null): Promise<unknown[]>; getAllKeys(query?: IDBKeyRange | null): Promise<IDBValidKey[]> },
  KeyRange: typeof IDBKeyRange | undefined,
): Promise<StoredRename[]> {
  if (KeyRange) return (await meta.getAll(KeyRange.bound(RENAME_PREFIX, `${RENAME_PREFIX}\uffff`))).filter(isStoredRename);
  const [keys, values] = await Promise.all([meta.getAllKeys(), meta.getAll()]);
  return values.filter((value, i) => String(keys[i]).startsWith(RENAME_PREFIX) && isStoredRename(value)) as StoredRename[];
}

/** Every id a queued row names: its entity's, and any string in its payload or in an array there (a reference). */
function namedIds(entries: Iterable<OutboxEntry>): Set<string> {
  const named = new Set<string>();
  for (const entry of entries) {
    named.add(entry.id);
    for (const value of Object.values(entry.payload ?? {})) for (const id of idsIn(value)) if (typeof id === 'string') named.add(id);
  }
  return named;
}

/**
 * The keys of the renames that may be forgotten: older than RENAMES_KEPT_MS (either way: the
 * clock may have stepped back), from a temporary id no row of `queued` names.
 */
export function forgettableRenames(renames: readonly StoredRename[], queued: Iterable<OutboxEntry>, now: number): string[] {
  const old = renames.filter((rename) => Math.abs(now - rename.at) > RENAMES_KEPT_MS);
  if (old.length === 0) return [];
  const named = namedIds(queued);
  return old.filter((rename) => !named.has(rename.from)).map((rename) => renameKey(rename.r, rename.from));
}
