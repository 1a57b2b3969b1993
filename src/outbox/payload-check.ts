import type { FieldIssue } from '../errors.js';
import { validate } from '../internal/schema.js';
import type { ResourceDefinition } from '../types.js';
import type { OutboxEntry } from './entry.js';

type Def = ResourceDefinition<object>;

/**
 * What the resource's schema refuses in the fields a queued change carries: a change queued under
 * an older schema (a release of the app since replaced) may no longer pass the current one. A
 * create carries the whole entity, checked as its write was (its version may be missing); an
 * update carries the fields it changes, and only the issues naming one of them count: the rest
 * of the entity is the server's. Nothing to check in a delete.
 */
export function payloadIssues(def: Def, entry: Pick<OutboxEntry, 'op' | 'payload'>): FieldIssue[] | Promise<FieldIssue[]> {
  const { op, payload } = entry;
  if (op === 'delete' || payload === null) return [];
  const checked = validate(def.schema, payload, op === 'create' ? def.version : null);
  const carried = Object.keys(payload);
  const judge = (result: Awaited<typeof checked>): FieldIssue[] => {
    if (result.ok) return [];
    if (op === 'create') return result.issues;
    return result.issues.filter(({ field }) => carried.some((key) => field === key || field.startsWith(`${key}.`)));
  };
  return checked instanceof Promise ? checked.then(judge) : judge(checked);
}
