#!/usr/bin/env node
// npm run conformance -- http://127.0.0.1:8787/api [--resource todos] [--token demo-alice] [--server-ids]
// Prints PASS/FAIL per check and a summary; exits 1 when a check fails, 2 on bad arguments.

import { parseArgs } from 'node:util';

import { runConformance } from './checks.mjs';

const USAGE = 'usage: npm run conformance -- <api url> [--resource todos] [--token demo-alice] [--server-ids]';

function readArguments() {
  if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
    console.log(USAGE);
    return process.exit(0);
  }
  try {
    const { positionals, values } = parseArgs({
      allowPositionals: true,
      options: {
        resource: { type: 'string', default: 'todos' },
        token: { type: 'string', default: 'demo-alice' },
        // Creates without an id, as the client sends them with ids: 'server'.
        'server-ids': { type: 'boolean', default: false },
      },
    });
    const [apiUrl, ...extra] = positionals;
    if (apiUrl && extra.length === 0 && URL.canParse(apiUrl)) {
      return { apiUrl, resource: values.resource, token: values.token, serverIds: values['server-ids'] };
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
  }
  console.error(USAGE);
  return process.exit(2);
}

const options = readArguments();
// One clear line, not a FAIL per check, when nothing answers at that address.
try {
  await fetch(options.apiUrl, { signal: AbortSignal.timeout(15_000) });
} catch (error) {
  console.error(`Cannot reach ${options.apiUrl}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : error}`);
  process.exit(1);
}
const results = await runConformance(options);
for (const result of results) {
  console.log(result.ok ? `PASS ${result.name}` : `FAIL ${result.name}: expected ${result.expected}, got ${result.actual}`);
}
const failed = results.filter((result) => !result.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
