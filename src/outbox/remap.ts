import { TEMP_ID_PREFIX } from '../internal/ids.js';
import type { ResourceDefinition } from '../types.js';

type Rec = Record<string, unknown>;

/** A resource whose `references` point at another resource, and the fields that do. */
export interface Referrer {
  r: string;
  fields: string[];
}

/** Every resource holding ids of `target` in some of its fields. */
export function referrersOf(definitions: Iterable<ResourceDefinition<object>>, target: string): Referrer[] {
  const out: Referrer[] = [];
  for (const def of definitions) {
    const fields = Object.entries(def.references)
      .filter(([, r]) => r === target)
      .map(([field]) => field);
    if (fields.length) out.push({ r: def.name, fields });
  }
  return out;
}

/** `value` with `from` replaced by `to` in `fields`; the same object when nothing changed. */
export function replaceReferences<V extends Rec | null>(value: V, fields: readonly string[], from: string, to: string): V {
  if (value === null) return value;
  let out: Rec | null = null;
  for (const field of fields) {
    if (value[field] === from) {
      out ??= { ...value };
      out[field] = to;
    }
  }
  return (out ?? value) as V;
}

/** True while a payload still points at an entity the server has not named yet. */
export function waitsForId(payload: Rec | null, fields: readonly string[]): boolean {
  if (payload === null) return false;
  return fields.some((field) => {
    const v = payload[field];
    return typeof v === 'string' && v.startsWith(TEMP_ID_PREFIX);
  });
}
