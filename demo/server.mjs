// The demo: builds what it needs and starts the reference server serving it.
//
//   const demo = await startDemo({ port: 0 });   // in-memory database, site in a fresh demo/.build/site-0-XXXXXX
//   demo.url                                     // http://127.0.0.1:PORT/
//   await demo.close();
//
// Building: the SDK's dist/ (rollup) when it is missing or older than src/; the React and Vue
// apps with esbuild ('harborsync', 'harborsync/react' and 'harborsync/vue' resolve to dist/'s ESM
// builds, as they would from node_modules); the legacy page and the shared files are copied as
// they are. Everything lands in one folder the server serves at '/'.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { startServer } from '../server/index.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO = join(ROOT, 'demo');
const DIST = join(ROOT, 'dist');
const BUILD = join(DEMO, '.build');
/** What the demo takes from dist/: the adapters' ESM builds and the script-tag build. */
const DIST_OUTPUTS = ['index.js', 'react.js', 'vue.js', 'harborsync.umd.min.js'];

export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = join(ROOT, 'server', '.data', 'demo');

/**
 * @typedef {object} DemoOptions
 * @property {number} [port] default 0 (the OS picks one); the CLI passes PORT or 8787
 * @property {string} [host] default 127.0.0.1
 * @property {string} [dataDir] PGlite folder; default: in memory (the CLI passes server/.data/demo)
 * @property {string} [databaseUrl] a Postgres server instead of PGlite
 * @property {string} [outDir] where the site is assembled; default demo/.build/site-<port>, or with
 *   port 0 a fresh demo/.build/site-0-XXXXXX that close() removes
 * @property {'if-stale' | 'if-missing' | 'never'} [sdk] when to run rollup for dist/; default 'if-stale'
 * @property {boolean} [log] one line per request
 * @property {(message: string) => void} [report] progress lines (default: none)
 */

/**
 * Builds the site and starts the server. Resolves once it listens.
 * @param {DemoOptions} [options]
 */
export async function startDemo(options = {}) {
  const { port = 0, host = '127.0.0.1', sdk = 'if-stale', report = () => {} } = options;
  // A folder per port: a demo started beside a running one (PORT=8788) leaves that one's site alone.
  // Port 0 names no port until it listens: each such demo gets a folder of its own, for its lifetime.
  const ownFolder = options.outDir === undefined && port === 0;
  if (ownFolder) mkdirSync(BUILD, { recursive: true });
  const outDir = options.outDir ?? (ownFolder ? mkdtempSync(join(BUILD, 'site-0-')) : join(BUILD, `site-${port}`));
  const removeOwnFolder = () => {
    if (ownFolder) rmSync(outDir, { recursive: true, force: true });
  };
  let sdkBuilt, version, server;
  try {
    // Before building: a demo already running on this port serves the folder a build would replace.
    if (port !== 0) await assertPortFree(port, host);
    sdkBuilt = ensureSdk(sdk, report);
    const started = performance.now();
    version = await buildSite(outDir);
    report(`demo apps bundled in ${Math.round(performance.now() - started)} ms (${relative(ROOT, outDir) || outDir})`);
    report(options.databaseUrl ? 'starting the reference server on Postgres' : options.dataDir ? `starting the reference server (PGlite in ${relative(ROOT, options.dataDir) || options.dataDir}; the first start takes a few seconds)` : 'starting the reference server (PGlite in memory)');
    server = await startServer({
      port,
      host,
      dataDir: options.dataDir,
      databaseUrl: options.databaseUrl,
      staticDir: outDir,
      log: options.log ?? false,
    });
  } catch (error) {
    // Made up for this demo, the folder would be left behind: nothing closes a demo that never started.
    removeOwnFolder();
    throw error;
  }
  return {
    url: server.url,
    apiUrl: server.apiUrl,
    port: server.port,
    admin: server.admin,
    /** Whether this start ran rollup. */
    sdkBuilt,
    /** The site's build hash (also the service worker's cache name). */
    version,
    /** The folder the site was built in. */
    siteDir: outDir,
    close: async () => {
      await server.close();
      removeOwnFolder();
    },
  };
}

/**
 * Rejects with the listen error (EADDRINUSE) when `port` is taken.
 * @param {number} port
 * @param {string} host
 */
function assertPortFree(port, host) {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(port, host, () => probe.close(() => resolve(undefined)));
  });
}

/**
 * Runs rollup when dist/ lacks what the demo serves, or (with 'if-stale') when a source file is
 * newer than the oldest of those outputs. Returns whether it built.
 * @param {'if-stale' | 'if-missing' | 'never'} mode
 * @param {(message: string) => void} report
 */
export function ensureSdk(mode, report = () => {}) {
  if (mode === 'never') return false;
  const outputs = DIST_OUTPUTS.map((file) => join(DIST, file));
  const missing = outputs.filter((file) => !existsSync(file));
  let reason = missing.length ? `${relative(ROOT, missing[0])} is missing` : '';
  if (!reason && mode === 'if-stale') {
    const builtAt = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
    const newer = sourceFiles().find((file) => statSync(file).mtimeMs > builtAt);
    if (newer) reason = `${relative(ROOT, newer)} changed since the last build`;
  }
  if (!reason) return false;
  report(`building the SDK (${reason}): rollup -c`);
  const started = performance.now();
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', '--silent'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  report(`SDK built in ${(Math.round(performance.now() - started) / 1000).toFixed(1)} s`);
  return true;
}

/** What dist/ is built from: src/ without the tests, the rollup config and the package manifest. */
function sourceFiles() {
  const files = [join(ROOT, 'rollup.config.js'), join(ROOT, 'package.json')];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name)) files.push(path);
    }
  };
  walk(join(ROOT, 'src'));
  return files.filter((file) => existsSync(file));
}

/**
 * Assembles the site in `outDir`:
 *   index.html, shared/*, legacy/*        copied from demo/
 *   react/index.html, react/app.js        the React app, bundled
 *   vue/index.html, vue/app.js            the Vue app, bundled
 *   harborsync.umd.min.js                 from dist/, for the legacy page
 *   sw.js                                 the service worker that lets the pages load offline
 * @param {string} outDir
 * @returns {Promise<string>} the build's version hash
 */
export async function buildSite(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  cpSync(join(DEMO, 'index.html'), join(outDir, 'index.html'));
  for (const folder of ['shared', 'legacy']) {
    cpSync(join(DEMO, folder), join(outDir, folder), { recursive: true, filter: (source) => !source.endsWith('.d.ts') });
  }
  for (const app of ['react', 'vue']) cpSync(join(DEMO, app, 'index.html'), join(outDir, app, 'index.html'));
  for (const file of ['harborsync.umd.min.js', 'harborsync.umd.min.js.map']) {
    if (existsSync(join(DIST, file))) cpSync(join(DIST, file), join(outDir, file));
  }
  rmSync(join(outDir, 'shared', 'sw.js'));

  await build({
    entryPoints: { 'react/app': join(DEMO, 'react', 'main.tsx'), 'vue/app': join(DEMO, 'vue', 'main.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'silent',
    define: {
      'process.env.NODE_ENV': '"production"',
      __VUE_OPTIONS_API__: 'false',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    },
    plugins: [harborsyncFromDist(), classicKit()],
  });

  // The service worker caches the site under a name that changes with every build.
  const assets = listFiles(outDir).filter((file) => !file.endsWith('.map'));
  const hash = createHash('sha256');
  for (const file of assets.sort()) hash.update(file).update(readFileSync(join(outDir, file)));
  const version = hash.digest('hex').slice(0, 12);
  const pages = assets.map((file) => `/${file.replace(/(^|\/)index\.html$/, '$1')}`);
  const worker = readFileSync(join(DEMO, 'shared', 'sw.js'), 'utf8')
    .replace("'__VERSION__'", JSON.stringify(version))
    .replace('[/* __ASSETS__ */]', JSON.stringify(pages));
  writeFileSync(join(outDir, 'sw.js'), worker);
  return version;
}

/** `harborsync` and its subpaths resolve to dist/'s ESM builds, as an installed package would. */
function harborsyncFromDist() {
  return {
    name: 'harborsync-from-dist',
    /** @param {import('esbuild').PluginBuild} plugin */
    setup(plugin) {
      plugin.onResolve({ filter: /^harborsync(\/(react|vue))?$/ }, (args) => {
        const entry = args.path === 'harborsync' ? 'index' : args.path.slice('harborsync/'.length);
        return { path: join(DIST, `${entry}.js`) };
      });
    },
  };
}

/**
 * demo/shared/kit.js is a classic script (the legacy page loads it with a <script> tag) that ends
 * in `module.exports = kit` when there is a `module`. The package is "type": "module", so a
 * bundler reads .js files as ES modules: give it a `module` and a default export.
 */
function classicKit() {
  const kit = join(DEMO, 'shared', 'kit.js');
  return {
    name: 'classic-kit',
    /** @param {import('esbuild').PluginBuild} plugin */
    setup(plugin) {
      plugin.onLoad({ filter: /[\\/]shared[\\/]kit\.js$/ }, (args) => {
        if (args.path !== kit) return undefined;
        const source = readFileSync(kit, 'utf8');
        return { contents: `var module = { exports: {} };\n${source}\nexport default module.exports;\n`, loader: 'js' };
      });
    },
  };
}

/** @param {string} dir @returns {string[]} paths relative to dir, with '/' */
function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
}
