// `npm run size`: what harborsync costs an app, minified and gzipped, against the budgets.
//  core  dist/index.js bundled the way an app's bundler would ship it: idb, rxjs and ky resolved,
//        bundled and tree-shaken, terser-minified; zod left out (the app brings its own).
//  umd   dist/harborsync.umd.min.js as a page loads it (everything inlined, zod's schema API too).
// Builds first when dist/ is missing. Prints the figures either way; exits 1 over budget.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import { rollup } from 'rollup';
import { helpWhenAsked } from './usage.mjs';

helpWhenAsked(import.meta.url);

const KB = 1024;
const BUDGETS = { core: 20 * KB, umd: 48 * KB };

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file) => `${root}dist/${file}`;

if (!existsSync(dist('index.js')) || !existsSync(dist('harborsync.umd.min.js'))) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const gzipped = (code) => gzipSync(code, { level: 9 }).length;

async function coreAsShipped() {
  const bundle = await rollup({
    input: dist('index.js'),
    external: (id) => id === 'zod' || id.startsWith('zod/'),
    plugins: [nodeResolve({ browser: true })],
    onwarn: () => {},
  });
  const { output } = await bundle.generate({ format: 'es', plugins: [terser({ ecma: 2020, module: true })] });
  await bundle.close();
  const [chunk] = output;
  return { code: chunk.code, shares: shares(chunk.modules) };
}

/** Each package's part of the tree-shaken code before minifying: where to look when over budget. */
function shares(modules) {
  const bytes = {};
  for (const [id, { renderedLength }] of Object.entries(modules)) {
    const name = id.includes('node_modules') ? id.split(/node_modules[\\/]/).at(-1).split(/[\\/]/)[0] : 'harborsync';
    bytes[name] = (bytes[name] ?? 0) + renderedLength;
  }
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  return Object.entries(bytes)
    .sort(([, a], [, b]) => b - a)
    .map(([name, size]) => `${name} ${Math.round((100 * size) / total)}%`)
    .join(', ');
}

const core = await coreAsShipped();
const rows = [
  { name: 'core', what: `dist/index.js + idb, rxjs, ky (zod external): ${core.shares}`, code: core.code },
  { name: 'umd', what: 'dist/harborsync.umd.min.js', code: readFileSync(dist('harborsync.umd.min.js'), 'utf8') },
];

let over = false;
for (const { name, what, code } of rows) {
  const size = gzipped(code);
  const budget = BUDGETS[name];
  const fits = size <= budget;
  over ||= !fits;
  console.log(
    `${fits ? 'ok  ' : 'OVER'} ${name.padEnd(5)} ${(size / KB).toFixed(2).padStart(6)} KB gzip` +
      ` (${size} B; ${(code.length / KB).toFixed(1)} KB min) budget ${budget / KB} KB  ${what}`,
  );
}
process.exit(over ? 1 : 0);
