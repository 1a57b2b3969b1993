/** A random RFC 4122 version-4 UUID drawn from the injected `random` (tests make it reproducible). */
export function uuid(random: () => number): string {
  const hex: string[] = [];
  for (let i = 0; i < 32; i++) {
    let nibble = Math.floor(random() * 16) & 15;
    if (i === 12) nibble = 4;
    if (i === 16) nibble = (nibble & 3) | 8;
    hex.push(nibble.toString(16));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export const MAX_ID_LENGTH = 1024;

/** A UTF-16 surrogate not in a pair: with the u flag a pair is one code point, outside this category. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Any surrogate code unit: a test an order of magnitude cheaper, so most ids skip the one above (hydrate and pulls check each record's). */
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * The string form an entity's key is stored and indexed under; undefined when it is not a valid id.
 * "." and ".." are refused: as a URL path segment the parser removes them (even percent-encoded),
 * so `DELETE {path}/.` would address the collection itself. So is a string holding a lone
 * surrogate: encodeURIComponent throws on it, so no request could ever name the entity.
 */
export function normalizeId(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const valid = value.length > 0 && value.length <= MAX_ID_LENGTH && value !== '.' && value !== '..' && !(SURROGATE.test(value) && LONE_SURROGATE.test(value));
    return valid ? value : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export const TEMP_ID_PREFIX = 'tmp:';

/**
 * A rename (stored, or told by another tab) naming its resource and two valid ids. One naming none
 * (corrupted, or another release's: say '') would send the references to the entity naming nothing.
 */
export function isRename(value: unknown): value is { r: string; from: string; to: string | number } {
  const rename = value as { r?: unknown; from?: unknown; to?: unknown } | null;
  return typeof rename?.r === 'string' && typeof rename.from === 'string' && normalizeId(rename.from) !== undefined && normalizeId(rename.to) !== undefined;
}
