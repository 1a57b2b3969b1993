import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const OUTPUTS = ['index.js', 'react.d.cts', 'vue.d.cts', 'harborsync.umd.min.js'];

/** Newest modification time under `dir`. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** Every output exists and none is older than the sources. */
function upToDate(): boolean {
  const outputs = OUTPUTS.map((file) => join(root, 'dist', file));
  if (!outputs.every((file) => existsSync(file))) return false;
  return Math.min(...outputs.map((file) => statSync(file).mtimeMs)) >= newest(join(root, 'src'));
}

/**
 * Builds dist/ when it is missing or older than src/ (`npm test` builds before the suites; a lone
 * `vitest run` after editing src/ may not have), so no suite tests an older SDK than the sources.
 * Test files run in parallel, so one builds under a lock folder and the others wait for it.
 */
export function ensureBuilt(): void {
  if (upToDate()) return;
  const lock = join(root, 'node_modules', '.harborsync-build-lock');
  try {
    mkdirSync(lock);
  } catch {
    const deadline = Date.now() + 180_000;
    while (existsSync(lock) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    if (!upToDate()) throw new Error('dist/ is missing or stale and the build another test file started did not bring it up to date');
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
