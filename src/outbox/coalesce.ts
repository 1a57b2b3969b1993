/**
 * The pending-operation model and how unsent changes to one entity merge (pure, DESIGN §3).
 *
 * Coalescing must never change what the server ends up holding: applying the coalesced entries
 * gives the same state as applying every change in order. That is why only UNSENT entries merge:
 * one a request may already have carried is frozen, and the caller never passes it as `prev`.
 */
import { applyPatch } from '../internal/plain.js';

type Rec = Record<string, unknown>;

export type PendingOp =
  | { op: 'create'; value: Record<string, unknown> }
  | { op: 'update'; patch: Record<string, unknown> }
  | { op: 'delete' };

export type Coalesced =
  /** Replace `prev` with `op`; `next` is absorbed. */
  | { kind: 'replace'; op: PendingOp }
  /** Drop `prev` and `next`: together they change nothing the server has seen. */
  | { kind: 'cancel' }
  /** Keep `prev` and queue `next` after it. */
  | { kind: 'append' };

/**
 * Merges `next` into `prev`, the newest unsent entry of the same entity.
 *
 * update+update → one update (later fields win); create+update → one create; create+delete →
 * cancel; update+delete → delete; delete+create → append (the delete must reach the server
 * first, or the create meets the old entity). Any other pair means the caller lost track of
 * whether the entity exists (update or delete after a delete, create after a create or update),
 * and throws.
 */
export function coalesce(prev: PendingOp, next: PendingOp): Coalesced {
  switch (prev.op) {
    case 'create':
      if (next.op === 'update') return { kind: 'replace', op: { op: 'create', value: applyPatch(prev.value, next.patch) } };
      if (next.op === 'delete') return { kind: 'cancel' };
      break;
    case 'update':
      if (next.op === 'update') return { kind: 'replace', op: { op: 'update', patch: applyPatch(prev.patch, next.patch) } };
      if (next.op === 'delete') return { kind: 'replace', op: { op: 'delete' } };
      break;
    case 'delete':
      if (next.op === 'create') return { kind: 'append' };
      break;
  }
  throw new Error(`harborsync: cannot queue ${next.op} after an unsent ${prev.op} of the same entity`);
}

/**
 * What an op does to the entity on the server: a create yields its value (a copy), an update its
 * patch applied (or nothing when the entity is absent: the server would answer 404), a delete
 * nothing.
 */
export function applyOp(entity: Rec | null, op: PendingOp): Rec | null {
  switch (op.op) {
    case 'create':
      return { ...op.value };
    case 'update':
      return entity === null ? null : applyPatch(entity, op.patch);
    case 'delete':
      return null;
  }
}
