// The built package as an app meets it: `harborsync`, `harborsync/react` and `harborsync/vue`
// resolved by name through the exports map (a temp app whose node_modules/harborsync links to this
// repo), per condition; their top level free of effects; the script build free of eval and `process`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { rollup } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './build.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = (file: string) => join(root, 'dist', file);

const ENTRIES = {
  harborsync: { file: 'index', exports: ['createSyncClient', 'defineResource', 'HarborSyncError', 'isHarborSyncError'] },
  'harborsync/react': {
    file: 'react',
    exports: ['SyncProvider', 'useConflicts', 'useEntity', 'useFailed', 'useQuery', 'useSyncClient', 'useSyncStatus'],
  },
  'harborsync/vue': {
    file: 'vue',
    exports: ['harborSync', 'useConflicts', 'useEntity', 'useFailed', 'useQuery', 'useSyncClient', 'useSyncStatus'],
  },
} as const;
const SPECIFIERS = Object.keys(ENTRIES) as Array<keyof typeof ENTRIES>;

/** Platform state the library may read only when a client is created, never on import. */
const PLATFORM = [
  'window', 'self', 'document', 'navigator', 'location', 'indexedDB', 'localStorage', 'sessionStorage',
  'BroadcastChannel', 'addEventListener', 'removeEventListener', 'fetch', 'setTimeout', 'setInterval', 'crypto',
];

/** What the entries import; their own import-time effects (Vue sets globals) are not ours. */
const DEPENDENCIES = ['idb', 'ky', 'rxjs', 'zod', 'react', 'vue'];

let app: string;

/** Runs a script in the temp app's folder with a bare `node` (and `flags`) and returns its JSON output. */
function node(type: 'module' | 'commonjs', source: string, flags: readonly string[] = []): unknown {
  const out = execFileSync(process.execPath, [...flags, `--input-type=${type}`, '-e', source], {
    cwd: app,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '' },
  });
  return JSON.parse(out);
}

beforeAll(() => {
  ensureBuilt();
  app = mkdtempSync(join(tmpdir(), 'harborsync-app-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(root, join(app, 'node_modules', 'harborsync'), 'dir');
  // The app's own copies of the dependencies are the package's (one module instance each).
  for (const dependency of DEPENDENCIES) {
    symlinkSync(join(root, 'node_modules', dependency), join(app, 'node_modules', dependency), 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
});

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the built package', () => {
  it('has ESM, CJS and both kinds of declarations for every entry', () => {
    for (const { file } of Object.values(ENTRIES)) {
      for (const ext of ['.js', '.cjs', '.d.ts', '.d.cts']) expect(existsSync(dist(file + ext)), file + ext).toBe(true);
    }
  });

  // A CDN's bare package address (unpkg.com/harborsync, cdn.jsdelivr.net/npm/harborsync) serves
  // these fields' file to a <script> tag: the script build, never the CommonJS `main`.
  it('points the CDN fields at the script build', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect({ unpkg: manifest['unpkg'], jsdelivr: manifest['jsdelivr'] }).toEqual({ unpkg: './dist/harborsync.umd.min.js', jsdelivr: './dist/harborsync.umd.min.js' });
    expect(existsSync(dist('harborsync.umd.min.js'))).toBe(true);
  });

  it.each(SPECIFIERS)('resolves %s per condition, by package name', (specifier) => {
    const { file, exports } = ENTRIES[specifier];
    const imported = node(
      'module',
      `const m = await import(${JSON.stringify(specifier)});
       console.log(JSON.stringify({ url: import.meta.resolve(${JSON.stringify(specifier)}), keys: Object.keys(m) }));`,
    ) as { url: string; keys: string[] };
    const required = node(
      'commonjs',
      `const m = require(${JSON.stringify(specifier)});
       console.log(JSON.stringify({ path: require.resolve(${JSON.stringify(specifier)}), keys: Object.keys(m) }));`,
    ) as { path: string; keys: string[] };

    expect(fileURLToPath(imported.url)).toBe(dist(`${file}.js`));
    expect(required.path).toBe(dist(`${file}.cjs`));
    expect(imported.keys).toEqual(expect.arrayContaining([...exports]));
    expect(required.keys.sort()).toEqual(imported.keys.filter((key) => key !== 'default').sort());
  });

  // ky is an ES module only; a CommonJS loader that cannot require() one (Jest, Node before
  // 20.19; here Node's own with require(esm) turned off) must still load the CJS build.
  it.each([
    ['module', "await import('harborsync')", []],
    ['commonjs', "require('harborsync')", []],
    ['commonjs', "require('harborsync')", ['--no-experimental-require-module']],
  ] as const)('makes a client from the %s build, loaded by %s, its REST transport included (node flags %j)', (type, load, flags) => {
    const made = node(
      type,
      `(async () => {
         const { createSyncClient, defineResource } = ${load};
         // The factory with the IndexedDB classes as globals, which idb needs.
         await import(${JSON.stringify(pathToFileURL(join(root, 'node_modules', 'fake-indexeddb', 'auto', 'index.mjs')).href)});
         const schema = { '~standard': { version: 1, vendor: 'test', validate: (value) => ({ value }) } };
         const resources = [defineResource({ name: 'todos', schema })];
         const client = createSyncClient({ baseUrl: 'http://127.0.0.1:9/api', resources, localStorage: null, BroadcastChannel: null, locks: null });
         await client.close();
         console.log(JSON.stringify({ made: true }));
       })();`,
      flags,
    );
    expect(made).toEqual({ made: true });
  });

  it('keeps the core in one place: the adapters carry no copy of it', () => {
    const files = readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.c?js$/.test(f));
    const withCore = files.filter((f) => readFileSync(dist(f), 'utf8').includes('function createSyncClient('));
    expect(withCore.sort()).toEqual(['harborsync.umd.js', 'index.cjs', 'index.js']);
    expect(readFileSync(dist('react.js'), 'utf8').startsWith("'use client';")).toBe(true);
    expect(readFileSync(dist('react.cjs'), 'utf8').startsWith("'use client';")).toBe(true);
  });

  it.each(SPECIFIERS)('imports %s in bare Node without touching or adding a global (beyond its dependencies)', (specifier) => {
    const result = node(
      'module',
      `for (const dependency of ${JSON.stringify(DEPENDENCIES)}) await import(dependency);
       const touched = [];
       for (const name of ${JSON.stringify(PLATFORM)}) {
         const own = Object.getOwnPropertyDescriptor(globalThis, name);
         Object.defineProperty(globalThis, name, {
           configurable: true,
           get() { touched.push(name); return own?.get ? own.get.call(globalThis) : own?.value; },
           set() { touched.push(name + '='); },
         });
       }
       const before = new Set(Object.getOwnPropertyNames(globalThis));
       await import(${JSON.stringify(specifier)});
       const added = Object.getOwnPropertyNames(globalThis).filter((name) => !before.has(name));
       console.log(JSON.stringify({ touched, added }));`,
    );
    expect(result).toEqual({ touched: [], added: [] });
  });

  it.each(Object.values(ENTRIES).map(({ file }) => file))(
    'has no top-level side effects in dist/%s.js, so sideEffects: false is true',
    async (file) => {
      // Import the entry for its effects only, with every module's effects kept: nothing of ours may remain.
      const bundle = await rollup({
        input: 'entry',
        external: (id) => !id.startsWith(root) && id !== 'entry' && !id.startsWith('.'),
        treeshake: { moduleSideEffects: (_id, external) => !external },
        plugins: [
          {
            name: 'entry',
            resolveId: (id) => (id === 'entry' ? id : null),
            load: (id) => (id === 'entry' ? `import ${JSON.stringify(dist(`${file}.js`))};` : null),
          },
        ],
      });
      const { output } = await bundle.generate({ format: 'es' });
      await bundle.close();
      const code = output[0].code.replace(/^import\s+['"][^'"]+['"];\s*$/gm, '').trim();
      expect(code).toBe('');
    },
  );
});

describe('the script-tag build', () => {
  const min = () => readFileSync(dist('harborsync.umd.min.js'), 'utf8');
  const full = () => readFileSync(dist('harborsync.umd.js'), 'utf8');

  it('contains no eval, no new Function and no process.env', () => {
    for (const code of [min(), full()]) {
      expect(code).not.toMatch(/\bnew\s+Function\b/);
      expect(code).not.toMatch(/(^|[^\w$.])eval\s*\(/m);
      expect(code).not.toMatch(/\bprocess\.env\b/);
    }
  });

  /** What ky reads on load; the page has nothing else (no module system, no process). */
  const plainPage = (): Record<string, unknown> => ({
    TextEncoder, URL, URLSearchParams, AbortController, AbortSignal, Headers, Request, Response, ReadableStream, FormData, Blob,
  });

  it('defines HarborSync on a plain page with the core API and z', () => {
    const page = plainPage();
    runInNewContext(min(), page);
    const H = page['HarborSync'] as typeof import('../../src/umd.js');
    expect(Object.keys(H)).toEqual(expect.arrayContaining(['createSyncClient', 'defineResource', 'ValidationError', 'z']));
    const todos = H.defineResource({ name: 'todos', schema: H.z.object({ id: H.z.string(), done: H.z.boolean() }) });
    expect(todos.path).toBe('/todos');
    expect(H.z.string().safeParse(1).success).toBe(false);
  });

  it('defines HarborSync on a legacy page that also has an AMD loader (RequireJS) or a CommonJS module object', () => {
    // RequireJS's define(): an anonymous module from a plain script tag is an error there.
    const define = Object.assign(() => undefined, { amd: {} });
    const pages: Array<Record<string, unknown>> = [{ ...plainPage(), define }, { ...plainPage(), module: { exports: {} }, exports: {} }];
    for (const page of pages) {
      for (const code of [min(), full()]) {
        runInNewContext(code, page);
        const H = page['HarborSync'] as typeof import('../../src/umd.js') | undefined;
        expect(typeof H?.createSyncClient).toBe('function');
        delete page['HarborSync'];
      }
    }
  });

  it('defines HarborSync on the global object when the file runs wrapped in a function (a concatenating loader), where its var is not global', () => {
    for (const code of [min(), full()]) {
      const page = plainPage();
      runInNewContext(`(function () {\n${code}\n})();`, page);
      const H = page['HarborSync'] as typeof import('../../src/umd.js') | undefined;
      expect(typeof H?.createSyncClient).toBe('function');
    }
  });
});
