#!/usr/bin/env node
// `npm test`: build the package, then run the Node suites (unit, integration, server, adapters,
// package checks, chaos) and the real-Chromium suites. Browser suites fail loudly when Chromium
// is missing. Ends with one summary line: "harborsync: N passed, M failed".
//   CHROMIUM_PATH  the Chromium the browser suites drive (default /usr/bin/chromium)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helpWhenAsked } from './usage.mjs';

helpWhenAsked(import.meta.url);

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const reports = mkdtempSync(join(tmpdir(), 'harborsync-test-'));
const totals = { passed: 0, failed: 0 };

function run(title, command, args) {
  console.log(`\n=== ${title}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: process.env });
  return result.status === 0;
}

function vitest(title, args) {
  const report = join(reports, `${title.replace(/\W+/g, '-')}.json`);
  const ok = run(title, 'npx', ['vitest', 'run', ...args, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]);
  if (existsSync(report)) {
    const { numPassedTests, numFailedTests } = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += numPassedTests;
    totals.failed += numFailedTests;
  }
  return ok;
}

function finish(ok, reason) {
  rmSync(reports, { recursive: true, force: true });
  if (!ok) console.error(`\n${reason}`);
  console.log(`\nharborsync: ${totals.passed} passed, ${totals.failed} failed`);
  process.exit(ok ? 0 : 1);
}

if (!run('build', 'npx', ['rollup', '-c', '--silent'])) finish(false, 'The build failed.');
if (!run('typecheck', 'npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'])) finish(false, 'The type check failed.');
const nodeOk = vitest('node suites', []);
if (!existsSync(chromium)) {
  finish(
    false,
    `!!! Chromium not found at ${chromium}: the real-browser suites cannot run.\n` +
      `!!! Install it with: apt-get update && apt-get install -y chromium  (or set CHROMIUM_PATH)`,
  );
}
const browserOk = vitest('browser suites', ['--config', 'vitest.browser.config.ts']);
finish(nodeOk && browserOk, 'Some suites failed (see above).');
