#!/usr/bin/env node
// npm run conformance -- http://127.0.0.1:8787/api [--resource todos] [--token demo-alice]
// Prints PASS/FAIL per check and a summary; exits 1 when a check fails, 2 on bad arguments.

import { parseArgs } from 'node:util';

import { runConformance } from './checks.mjs';

const USAGE = 'usage: npm run conformance -- <api url> [--resource todos] [--token demo-alice]';

function readArguments() {
  try {
    const { positionals, values } = parseArgs({
      allowPositionals: true,
      options: { resource: { type: 'string', default: 'todos' }, token: { type: 'string', default: 'demo-alice' } },
    });
    const [apiUrl, ...extra] = positionals;
    if (apiUrl && extra.length === 0 && URL.canParse(apiUrl)) {
      return { apiUrl, resource: values.resource, token: values.token };
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
  }
  console.error(USAGE);
  return process.exit(2);
}

const results = await runConformance(readArguments());
for (const result of results) {
  console.log(result.ok ? `PASS ${result.name}` : `FAIL ${result.name}: expected ${result.expected}, got ${result.actual}`);
}
const failed = results.filter((result) => !result.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
