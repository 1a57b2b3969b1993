// A consumer app (test/types/consumer/) compiled with tsc against the built declarations, imported
// by package name under node16 (ESM and, from require.cts, CJS) and bundler resolution: the entity
// type flows from the zod schema into query$, writes, hooks and composables, and the
// `@ts-expect-error` lines prove wrong types fail (an unused one is itself an error). The README's
// TypeScript snippets are compiled with it, each a module of its own, so one the API has moved
// away from fails here.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../package/build.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sources = fileURLToPath(new URL('consumer', import.meta.url));
const LINKED = ['harborsync', 'zod', 'react', 'vue', 'rxjs', '@types/react', 'vitest', 'fake-indexeddb'];
const SETTINGS = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
};

let app: string;

/**
 * The names README snippets take from the text around them (the quick start's resource and
 * client, the app's own functions), declared for every snippet; one that defines a name itself
 * shadows it.
 */
const README_CONTEXT = `import { z } from 'zod';
import { createSyncClient, defineResource, type ConflictChoice } from 'harborsync';
import type { Component } from 'vue';

const contextDefine = defineResource;
const contextTodos = defineResource({
  name: 'todos',
  schema: z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() }),
});
const contextClient = createSyncClient({ baseUrl: '/api', resources: [contextTodos] });
const contextHandle = contextClient.resource(contextTodos);
type Todo = z.output<typeof contextTodos.schema>;
const contextProjectSchema = z.object({ id: z.string(), name: z.string(), version: z.number().int() });
const contextTaskSchema = z.object({ id: z.string(), title: z.string(), projectId: z.string(), version: z.number().int() });
const contextOrderSchema = z.object({ id: z.string(), status: z.string(), createdAt: z.string(), version: z.number().int() });

declare global {
  const todos: typeof contextTodos;
  const client: typeof contextClient;
  const h: typeof contextHandle;
  const id: string;
  const session: { token: string };
  const root: HTMLElement;
  const App: Component;
  const defineResource: typeof contextDefine;
  const projectSchema: typeof contextProjectSchema;
  const taskSchema: typeof contextTaskSchema;
  const orderSchema: typeof contextOrderSchema;
  function render(todos: readonly Todo[], pendingIds?: ReadonlySet<string>): void;
  function showBadge(pending: number, online: boolean): void;
  function createRoot(container: Element): { render(children: unknown): void };
  function showDialog(base: unknown, local: unknown, remote: unknown, fields: readonly string[], choose: (choice: ConflictChoice<object>) => void): void;
}
`;

/** The README's TypeScript snippets: ts and tsx blocks, and the script of the Vue component. */
function readmeSnippets(): Array<{ code: string; ext: string }> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```(ts|tsx|vue)\n([\s\S]*?)^```$/gm)];
  return blocks.map(([, lang, body]) => {
    if (lang !== 'vue') return { code: body!, ext: lang! };
    const script = /<script setup lang="ts">\n([\s\S]*?)<\/script>/.exec(body!);
    if (!script) throw new Error('the README\'s Vue snippet has no <script setup lang="ts">');
    return { code: script[1]!, ext: 'ts' };
  });
}

beforeAll(() => {
  ensureBuilt();
  app = mkdtempSync(join(tmpdir(), 'harborsync-types-'));
  for (const name of LINKED) {
    const link = join(app, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(name === 'harborsync' ? root : join(root, 'node_modules', name), link, 'dir');
  }
  for (const file of readdirSync(sources)) {
    // The sources opt out of the repository's own typecheck, which runs without dist/.
    const text = readFileSync(join(sources, file), 'utf8').replace(/^\/\/ @ts-nocheck.*\n/, '');
    writeFileSync(join(app, file), text);
  }
  const snippets = readmeSnippets();
  if (snippets.length < 8) throw new Error(`only ${snippets.length} TypeScript snippets found in the README`);
  snippets.forEach(({ code, ext }, i) => writeFileSync(join(app, `readme-${i + 1}.${ext}`), `${code}export {};\n`));
  writeFileSync(join(app, 'readme-context.ts'), README_CONTEXT);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  for (const [name, resolution] of Object.entries(SETTINGS)) {
    const compilerOptions = {
      ...resolution,
      target: 'es2022',
      lib: ['es2022', 'dom'],
      jsx: 'react-jsx',
      strict: true,
      noEmit: true,
      types: [],
      // Checking the dependencies' declarations too triples the time; ours are used, so checked, here.
      skipLibCheck: true,
    };
    writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, include: ['*.ts', '*.tsx', '*.cts'] }));
  }
});

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe.concurrent('types as a consumer sees them', () => {
  it.each(Object.keys(SETTINGS))('compile under %s resolution', { timeout: 120_000 }, async (name) => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, [tsc, '-p', `tsconfig.${name}.json`, '--pretty', 'false'], { cwd: app }, (_error, stdout, stderr) =>
        resolve(stdout + stderr),
      );
    });
    expect(output).toBe('');
  });
});
