import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/mutants.mjs', import.meta.url));

describe('npm run mutants', () => {
  it('finds the text each planted bug replaces in the source: the list follows the code, or no mutant would run', () => {
    const listed = spawnSync(process.execPath, [script, '--list'], { encoding: 'utf8', timeout: 30_000 });
    expect(listed.stderr).toBe('');
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(9);
  });
});
