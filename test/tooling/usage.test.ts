import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = (name: string) => fileURLToPath(new URL(`../../scripts/${name}.mjs`, import.meta.url));

// `--help` prints the script's leading comment and exits at once: `npm test -- --help` must not
// run the suites, `npm run demo -- --help` must not start a server, `npm run size -- --help` must not build.
describe('the scripts answer --help', () => {
  it.each([
    ['test', '`npm test'],
    ['demo', '`npm run demo'],
    ['size', '`npm run size'],
    ['bench', '`npm run bench'],
    ['chaos', '`npm run chaos'],
    ['mutants', '`npm run mutants'],
  ])('%s prints its usage and exits 0, doing nothing else', (name, title) => {
    const answered = spawnSync(process.execPath, [script(name), '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(answered.stderr).toBe('');
    expect(answered.status).toBe(0);
    expect(answered.stdout.startsWith(title)).toBe(true);
    expect(answered.stdout).not.toMatch(/===|harborsync demo {2}http|KB gzip/);
  });
});
