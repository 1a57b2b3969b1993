// What the real-browser suites share: Debian's Chromium through playwright-core, launched the same
// way everywhere, and a site folder holding a page plus the built script-tag SDK.
import { copyFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { ensureBuilt } from '../package/build.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const UMD = fileURLToPath(new URL('../../dist/harborsync.umd.min.js', import.meta.url));

/**
 * Launches Chromium; without it the suite fails loudly rather than passing by skipping.
 * `backForwardCache`: keeps the back/forward cache on, which playwright-core turns off by default.
 */
export function launchChromium({ backForwardCache = false } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the real-browser suite cannot run. ` +
        'Install it with `apt-get update && apt-get install -y chromium`, or set CHROMIUM_PATH.',
    );
  }
  const ignoreDefaultArgs = backForwardCache ? ['--disable-back-forward-cache'] : [];
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, ignoreDefaultArgs, timeout: 30_000 });
}

/** A fresh folder with the files of `pageDir` and the built `harborsync.umd.min.js`, to serve. */
export function scriptTagSite(pageDir: string, name: string): string {
  ensureBuilt();
  const site = mkdtempSync(join(tmpdir(), `harborsync-${name}-`));
  for (const file of readdirSync(pageDir)) copyFileSync(join(pageDir, file), join(site, file));
  copyFileSync(UMD, join(site, 'harborsync.umd.min.js'));
  return site;
}
