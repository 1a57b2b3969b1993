import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The version of a dev dependency the root package.json pins: what a suite runs on unless its
 * vitest project aliases an older copy in (and says which, in an environment variable).
 */
export function pinned(name: string): string {
  // A path, not a URL: the DOM environments of some suites replace the global URL.
  const manifest = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const version = manifest.devDependencies[name];
  if (!version) throw new Error(`package.json pins no ${name}`);
  return version;
}
