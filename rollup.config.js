// One rollup run for every file in dist/ (DESIGN section 6, STYLE 4.6):
// - ESM `.js` and CJS `.cjs` for `harborsync`, `harborsync/react` and `harborsync/vue`, with the
//   runtime dependencies and the frameworks external so an app shares one copy of each (but ky in
//   the CJS build, an ES module only); the adapters reach the core only through the client they
//   are given, so no core code is duplicated;
// - bundled `.d.ts` / `.d.cts`, the adapters' types importing the core's from `./index.js`/`.cjs`;
// - `harborsync.umd.js` and `.umd.min.js`: everything inlined, `window.HarborSync`, no eval, no `process`;
//   a plain script (iife), not a UMD wrapper, which on a page with an AMD loader (RequireJS) or a
//   CommonJS `module` hands the API to that instead and never sets `window.HarborSync`; set on
//   `globalThis` too, as a top-level `var` is not global when the file runs as a module or wrapped.
import { fileURLToPath } from 'node:url';
import nodeResolve from '@rollup/plugin-node-resolve';
import replace from '@rollup/plugin-replace';
import terser from '@rollup/plugin-terser';
import { defineConfig } from 'rollup';
import { dts } from 'rollup-plugin-dts';
import esbuild from 'rollup-plugin-esbuild';

const EXTERNAL = ['idb', 'rxjs', 'ky', 'zod', 'react', 'vue'];
/** A bare import of a dependency or one of its subpaths (`rxjs/operators`, `react/jsx-runtime`). */
const external = (id) => EXTERNAL.some((name) => id === name || id.startsWith(`${name}/`));

const CORE = fileURLToPath(new URL('src/index.ts', import.meta.url));
const SCRIPT_ENTRY = fileURLToPath(new URL('src/umd.ts', import.meta.url));
const ADAPTERS = { react: 'src/react.ts', vue: 'src/vue.ts' };

/** React server components need the directive at the top of the file; rollup drops it from sources. */
const banner = (chunk) => (chunk.name === 'react' ? "'use client';" : '');

/** The script-tag build's API on the page's global object, wherever its `var` lands. */
const SCRIPT_GLOBAL = 'globalThis.HarborSync = HarborSync;';

/**
 * What `HarborSync.z` leaves out of zod: the locales (37 KB gzip, more than the rest of zod's
 * schema API), JSON Schema conversion, `compile` (which needs `new Function`) and the internals.
 * Everything a page needs to define a schema stays.
 */
const ZOD_LEFT_OUT = new Set(['locales', 'toJSONSchema', 'fromJSONSchema', 'compile', 'withParser', 'ZodCompileAsyncError', 'ZodCompileUnsupportedError', 'core', 'util', 'regexes', 'z', 'default']);

/** Serves the script entry's `import * as z from 'zod'` as a module that re-exports the rest of zod. */
function zodForScripts() {
  const id = '\0harborsync:zod';
  return {
    name: 'harborsync-zod-for-scripts',
    resolveId: (source, importer) => (source === 'zod' && importer === SCRIPT_ENTRY ? id : null),
    async load(loading) {
      if (loading !== id) return null;
      const names = Object.keys(await import('zod')).filter((name) => !ZOD_LEFT_OUT.has(name));
      return `export { ${names.join(', ')} } from 'zod';`;
    },
  };
}

/** zod's own comment placement and import cycles are not ours to fix; anything else is reported. */
function onwarn(warning, warn) {
  const inDependency = (warning.id ?? warning.ids?.[0] ?? '').includes('node_modules');
  if (inDependency && (warning.code === 'INVALID_ANNOTATION' || warning.code === 'CIRCULAR_DEPENDENCY')) return;
  warn(warning);
}

const typescript = () => esbuild({ target: 'es2022', sourceMap: true });

export default defineConfig([
  {
    input: { index: 'src/index.ts', ...ADAPTERS },
    external,
    plugins: [typescript()],
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name].js', banner, sourcemap: true },
  },
  {
    input: { index: 'src/index.ts', ...ADAPTERS },
    // ky is an ES module only, which a CommonJS loader without require(esm) (Jest, Node before
    // 20.19) cannot load: the CJS build carries its own copy, as it holds no state an app shares.
    external: (id) => id !== 'ky' && !id.startsWith('ky/') && external(id),
    plugins: [nodeResolve(), typescript()],
    output: { dir: 'dist', format: 'cjs', entryFileNames: '[name].cjs', chunkFileNames: 'chunks/[name].cjs', banner, sourcemap: true },
  },
  {
    input: { index: 'src/index.ts' },
    external,
    plugins: [dts()],
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts' },
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.cts' },
    ],
  },
  {
    // The adapters' types import the core's declarations instead of copying them, so a
    // `SyncClient` from `harborsync` is the same type as the one `harborsync/react` takes.
    input: ADAPTERS,
    external: (id) => external(id) || id === CORE,
    plugins: [dts()],
    output: [
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', paths: { [CORE]: './index.js' } },
      { dir: 'dist', format: 'es', entryFileNames: '[name].d.cts', paths: { [CORE]: './index.cjs' } },
    ],
  },
  {
    input: 'src/umd.ts',
    onwarn,
    plugins: [
      zodForScripts(),
      replace({ preventAssignment: true, values: { 'process.env.NODE_ENV': JSON.stringify('production') } }),
      // zod's JIT paths (and its `new Function` probe) become dead code that terser removes, as
      // `z.config({ jitless: true })` makes them at run time; the longer key is matched first.
      replace({
        include: /node_modules[\\/]zod[\\/]/,
        preventAssignment: true,
        values: { 'core.globalConfig.jitless': 'true', 'globalConfig.jitless': 'true' },
      }),
      nodeResolve({ browser: true, exportConditions: ['es2015'] }),
      typescript(),
    ],
    output: [
      { file: 'dist/harborsync.umd.js', format: 'iife', name: 'HarborSync', footer: SCRIPT_GLOBAL, sourcemap: true },
      {
        file: 'dist/harborsync.umd.min.js',
        format: 'iife',
        name: 'HarborSync',
        footer: SCRIPT_GLOBAL,
        sourcemap: true,
        plugins: [terser({ ecma: 2020 })],
      },
    ],
  },
]);
