import type { WriteTx } from './transaction.js';

/** An entity an answer deleted: when (the client's clock), and the version the delete was made on. */
export interface AnsweredDeletion {
  at: number;
  version: unknown;
}

/** The meta key of the entities of `r` deleted by answers to queued changes: Map<id, AnsweredDeletion>. */
const deletionsKey = (r: string) => `deletedAt:${r}`;

export async function deletionsOf(tx: WriteTx, r: string): Promise<Map<string, AnsweredDeletion>> {
  const stored: unknown = await tx.objectStore('meta').get(deletionsKey(r));
  const deletions = new Map<string, AnsweredDeletion>();
  if (!(stored instanceof Map)) return deletions;
  // Checked as read: a corrupted row costs the guard, never the pull.
  for (const [id, value] of stored as Map<unknown, Partial<AnsweredDeletion> | null>) {
    if (typeof id === 'string' && typeof value?.at === 'number') deletions.set(id, { at: value.at, version: value.version });
  }
  return deletions;
}

/**
 * Entities answers deleted, remembered by resource for as long as a list requested before may
 * take: such a list may still hold them, and must not bring them back. Older ones, and ones far
 * ahead of `at` (the clock stepped back), are forgotten on the way.
 */
export async function rememberDeletions(tx: WriteTx, deleted: ReadonlyArray<{ r: string; id: string; version: unknown }>, at: number, keepMs: number): Promise<void> {
  const meta = tx.objectStore('meta');
  for (const r of new Set(deleted.map((d) => d.r))) {
    const known = await deletionsOf(tx, r);
    // Another tab may commit a time read a little after this one's first: "ahead" is by more than keepMs.
    const kept = new Map([...known].filter(([, d]) => Math.abs(d.at - at) <= keepMs));
    for (const d of deleted) if (d.r === r) kept.set(d.id, { at, version: d.version });
    await meta.put(kept, deletionsKey(r));
  }
}

/**
 * A copy an answer holds of an entity deleted at `version`: the entity before the deletion (its
 * version no newer), or created again since (newer, or another version where they do not compare).
 */
export function isBeforeDeletion(copy: unknown, version: unknown): boolean {
  return typeof copy === 'number' && typeof version === 'number' ? copy <= version : Object.is(copy, version);
}
