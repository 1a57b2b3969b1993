#!/usr/bin/env node
// `npm test`: build the package, then run the Node suites (unit, integration, server, adapters,
// package checks) and the real-Chromium suites. Browser suites fail loudly when Chromium is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function run(title, command, args) {
  console.log(`\n=== ${title}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    console.error(`\n${title} failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status || 1);
  }
}

run('build', 'npx', ['rollup', '-c', '--silent']);
run('typecheck', 'npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']);
run('node suites', 'npx', ['vitest', 'run']);
if (!existsSync(chromium)) {
  console.error(
    `\n!!! Chromium not found at ${chromium}: the real-browser suites cannot run.\n` +
      `!!! Install it with: apt-get update && apt-get install -y chromium  (or set CHROMIUM_PATH)\n`,
  );
  process.exit(1);
}
run('browser suites', 'npx', ['vitest', 'run', '--config', 'vitest.browser.config.ts']);
