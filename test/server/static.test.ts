// Static files (the demo's site) when reading one fails after it was found: a file removed by a
// rebuild between stat and open, a read error. The answer is cut short; the server keeps running.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

import { createTestBackend, type RunningServer } from '../../server/index.mjs';

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    createReadStream: (path: string, options?: object) =>
      path.endsWith('vanished.js')
        ? new Readable({ read() { this.destroy(Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' })); } })
        : fs.createReadStream(path, options as never),
  };
});

const backend = createTestBackend();
let site: RunningServer;
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'harborsync-static-'));
  await writeFile(join(folder, 'index.html'), '<h1>demo</h1>');
  await writeFile(join(folder, 'vanished.js'), 'export {};');
  site = await backend.start({ staticDir: folder });
});

afterAll(async () => {
  await backend.close();
  await rm(folder, { recursive: true, force: true });
});

it('cuts the answer short when a file cannot be read, and keeps serving', async () => {
  await expect(fetch(`${site.url}vanished.js`).then((response) => response.text())).rejects.toThrow();
  expect(await (await fetch(site.url)).text()).toBe('<h1>demo</h1>');
});
