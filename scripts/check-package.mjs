// `npm run check:package`: the package as npm would publish it, checked the way TanStack does
// (`publint --strict && attw --pack`). attw's node16 profile: every entry and condition must
// resolve with correct types under node16 (CJS and ESM) and bundler resolution; node10, which
// cannot see subpath exports, is not a target. Builds first when dist/ is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
const run = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status === 0;

if (!existsSync(`${root}dist/index.js`) && !run('npm', ['run', 'build'])) process.exit(1);

const checks = [
  ['publint --strict', () => run(bin('publint'), ['--strict'])],
  ['attw --pack --profile node16', () => run(bin('attw'), ['--pack', '.', '--profile', 'node16'])],
];
const failed = checks.filter(([, check]) => !check()).map(([name]) => name);
if (failed.length > 0) {
  console.error(`check:package failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log('check:package: publint and attw found no problems');
