// A consumer app (test/types/consumer/) compiled with tsc against the built declarations, imported
// by package name under node16 (ESM and, from require.cts, CJS) and bundler resolution: the entity
// type flows from the zod schema into query$, writes, hooks and composables, and the
// `@ts-expect-error` lines prove wrong types fail (an unused one is itself an error).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../package/build.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sources = fileURLToPath(new URL('consumer', import.meta.url));
const LINKED = ['harborsync', 'zod', 'react', 'vue', 'rxjs', '@types/react'];
const SETTINGS = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
};

let app: string;

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
