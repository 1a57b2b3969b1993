import type { CompiledQuery } from '../store/query.js';
import type { PushedQuery, SortDirection } from '../types.js';

/**
 * The part of a query the server can run: an equality `where` (values as the strings the default
 * dialect sends, a valid Date as its ISO text), the order, and a page. A predicate `where` is never sent: it filters on the client.
 */
export function pushDown(
  compiled: CompiledQuery<object>,
  keyField: string,
  limit: number,
  cursor: string | null,
): PushedQuery {
  const where: PushedQuery['where'] = {};
  for (const [field, value] of Object.entries(compiled.equality ?? {})) {
    if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      where[field] = value;
    } else if (value instanceof Date && value.getTime() === value.getTime()) {
      where[field] = value.toJSON(); // the text a request carries it as, and the server stores
    }
  }
  // The order runs up to the key: ordered by the key itself (either way), it is sent as it is;
  // otherwise the key ascending breaks ties, as compare() does.
  const orderBy: Array<readonly [string, SortDirection]> = [...compiled.order];
  if (!orderBy.some(([field]) => field === keyField)) orderBy.push([keyField, 'asc'] as const);
  return { where, orderBy, limit, cursor };
}

/**
 * The range of the sort order one page covers: after `after` (exclusive; null from the start)
 * up to `last` (inclusive; null to the end when the server has no more). Inside it, the server's
 * answer is authoritative for entities matching the filter.
 */
export interface PageScope<T> {
  after: T | null;
  last: T | null;
}

export function inScope<T>(entity: T, scope: PageScope<T>, compiled: Pick<CompiledQuery<T>, 'matches' | 'compare'>): boolean {
  if (!compiled.matches(entity)) return false;
  if (scope.after !== null && compiled.compare(entity, scope.after) <= 0) return false;
  if (scope.last !== null && compiled.compare(entity, scope.last) > 0) return false;
  return true;
}

/**
 * Entities to evict so that at most `cacheLimit` of the candidates (those no live query shows
 * and no pending change holds) stay; the least recently shown first.
 */
export function pickEvictions(candidates: ReadonlyArray<{ id: string; lastShown: number }>, cacheLimit: number): string[] {
  const excess = candidates.length - cacheLimit;
  if (excess <= 0) return [];
  return [...candidates]
    .sort((a, b) => a.lastShown - b.lastShown || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, excess)
    .map((c) => c.id);
}
