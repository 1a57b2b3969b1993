/**
 * Versions as entity-tags for `If-Match`, and back (pure, DESIGN §2: "quoted as an ETag").
 *
 * An entity-tag is `[W/]"<etagc>*"` with etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3): it
 * has no escape mechanism, and fetch rejects header values outside Latin-1. A string version
 * holding a quote, a backslash, a space, a control or a non-ASCII character is therefore
 * percent-encoded (UTF-8), with `%` itself encoded so the form stays unambiguous.
 */

const ENTITY_TAG = /^"[\x21\x23-\x7e]*"$/;
const WEAK_TAG = /^W\/"[\x21\x23-\x7e]*"$/;
const SAFE = /^[\x21\x23\x24\x26-\x5b\x5d-\x7e]*$/; // etagc minus '%' and '\', ASCII only

/**
 * The `If-Match` value for a version: a finite number or a bigint → `"3"`; a string → quoted
 * (percent-encoded where needed), or as it is when it already is a strong entity-tag (a server
 * that uses ETags as versions). Throws a TypeError for a weak tag and for anything else: a write
 * without a precondition would silently overwrite other people's changes.
 */
export function toIfMatch(version: unknown): string {
  if (typeof version === 'number' && Number.isFinite(version)) return `"${String(version)}"`;
  if (typeof version === 'bigint') return `"${version.toString()}"`;
  if (typeof version === 'string') {
    if (ENTITY_TAG.test(version)) return version;
    // If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches, so every write
    // sent with one would be a conflict.
    if (WEAK_TAG.test(version)) throw new TypeError(`a weak entity-tag (${version}) never matches If-Match, which compares strongly: the server must version entities with strong tags`);
    return `"${SAFE.test(version) ? version : encodeUnsafe(version)}"`;
  }
  const shown = typeof version === 'number' ? String(version) : version === null ? 'null' : typeof version;
  throw new TypeError(`harborsync: a version must be a finite number or a string to send in If-Match, received ${shown}`);
}

function encodeUnsafe(text: string): string {
  let out = '';
  for (const char of text) out += SAFE.test(char) ? char : percentEncode(char.codePointAt(0)!);
  return out;
}

/** %XX per UTF-8 byte, by hand: no TextEncoder (a platform global) in a pure module. */
function percentEncode(cp: number): string {
  const bytes =
    cp < 0x80
      ? [cp]
      : cp < 0x800
        ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
        : cp < 0x10000
          ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
          : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
  return bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}
