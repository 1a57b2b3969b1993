import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const OUTPUTS = ['index.js', 'react.d.cts', 'vue.d.cts', 'harborsync.umd.min.js'];

/**
 * Builds dist/ when it is missing (`npm test` builds before the suites; a lone `vitest run` may
 * not have). Test files run in parallel, so one builds under a lock folder and the others wait.
 */
export function ensureBuilt(): void {
  const built = () => OUTPUTS.every((file) => existsSync(join(root, 'dist', file)));
  if (built()) return;
  const lock = join(root, 'node_modules', '.harborsync-build-lock');
  try {
    mkdirSync(lock);
  } catch {
    const deadline = Date.now() + 120_000;
    while (existsSync(lock) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    if (!built()) throw new Error('dist/ is missing and the build another test file started did not produce it');
    return;
  }
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', '--silent'], {
      cwd: root,
      stdio: 'inherit',
    });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
