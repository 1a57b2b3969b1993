/**
 * Refuses a name that is no option. From JavaScript a misspelt one (`stalTimeMs`) would be ignored
 * without a word and its default taken; TypeScript refuses it in an object literal only.
 */
export function refuseUnknownOptions(prefix: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw new TypeError(`${prefix}${name} is not an option (${known.join(', ')})`);
  }
}
