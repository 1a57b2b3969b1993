// demo/server.mjs: two demos started side by side (`npm run demo`, then `PORT=8788 npm run demo`),
// or in one process on ports the OS picks.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemo } from '../../demo/server.mjs';
import type { RunningDemo } from '../../demo/server.mjs';

/** A port the OS has just handed out and taken back, for a demo that needs a fixed one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const running: RunningDemo[] = [];

afterEach(async () => {
  for (const demo of running.splice(0)) {
    await demo.close();
    rmSync(demo.siteDir, { recursive: true, force: true });
  }
});

describe('a second demo', () => {
  it.each([
    ['on another port', freePort],
    ['in the same process, both on ports the OS picks', async () => 0],
  ])('%s: it builds its site in its own folder, leaving the running one’s files in place', async (_, portOf) => {
    const first = await startDemo({ port: await portOf(), sdk: 'never' });
    running.push(first);
    const page = join(first.siteDir, 'legacy', 'index.html');
    const before = statSync(page);

    const second = await startDemo({ port: await portOf(), sdk: 'never' });
    running.push(second);
    expect(second.siteDir).not.toBe(first.siteDir);
    const after = statSync(page);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect((await fetch(`${first.url}legacy/`)).status).toBe(200);
  });
});

describe('a demo on a port the OS picks', () => {
  it('removes the site folder it made up when it closes', async () => {
    const demo = await startDemo({ port: 0, sdk: 'never' });
    await demo.close();
    expect(existsSync(demo.siteDir)).toBe(false);
  });

  it('removes the site folder it made up when it fails to start', async () => {
    const build = join(import.meta.dirname, '..', '..', 'demo', '.build');
    const ownFolders = () => (existsSync(build) ? readdirSync(build).filter((name) => name.startsWith('site-0-')) : []);
    const before = ownFolders();
    // An address no interface here holds (TEST-NET-1): the server cannot listen.
    await expect(startDemo({ port: 0, host: '192.0.2.1', sdk: 'never' })).rejects.toThrow();
    expect(ownFolders()).toEqual(before);
  });
});
