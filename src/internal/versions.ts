/** Server versions are ordered when both are numbers; otherwise a different one counts as newer. */
export function isOlderVersion(candidate: unknown, cached: unknown): boolean {
  return typeof candidate === 'number' && typeof cached === 'number' && candidate < cached;
}
