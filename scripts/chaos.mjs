#!/usr/bin/env node
// `npm run chaos -- --runs 200`: the long chaos suite (RELIABILITY.md G1).
//
// Bundles test/chaos/chaos.ts (and the SDK sources it imports) with esbuild into
// node_modules/.cache/harborsync-chaos/, then runs the engine directly: one line per run with
// ops, faults, applied, duplicates, lost. Exit code 1 when any run fails; its seed, problems and
// command path are printed.
//
//   --runs N        runs (default 200)
//   --seed S        first seed (default: random, printed); run i uses S + i
//   --devices K     devices per run (default 3)
//   --tabs T        tabs per device at most (default 2; 1 = no Web Locks hand-over, no broadcast)
//   --commands C    commands per run (default 30..80 drawn from the seed)
//   --faults X      multiply every fault probability (default 1; 0 = no faults)
//   --no-server-faults   faults only at the devices' network edge (more reproducible)
//   --server-ids    the server names new entities (ids: 'server'): creates go out under
//                   temporary ids, re-keyed in every tab when the answer comes
//   --full-pulls    pulls re-read the whole list instead of following the delta feed
//   --on-demand     the resource is load: 'on-demand' with cacheLimit 4: each tab holds 1-3
//                   live queries (where done, order by title or id, limit 3-10) the walk
//                   changes; after heal each must show what the server answers for it
//   --trace         print every command as it runs
//   --keep-going    do not stop at the first failing run
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { helpWhenAsked } from './usage.mjs';

helpWhenAsked(import.meta.url);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string' },
    devices: { type: 'string' },
    tabs: { type: 'string' },
    commands: { type: 'string' },
    faults: { type: 'string' },
    'no-server-faults': { type: 'boolean', default: false },
    'server-ids': { type: 'boolean', default: false },
    'full-pulls': { type: 'boolean', default: false },
    'on-demand': { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
  },
});

const int = (name, text) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${text}`);
    process.exit(2);
  }
  return n;
};
const runs = int('runs', values.runs);
const firstSeed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed);
const faultScale = values.faults === undefined ? 1 : Number(values.faults);

const outdir = resolve(root, 'node_modules/.cache/harborsync-chaos');
mkdirSync(outdir, { recursive: true });
const outfile = resolve(outdir, 'chaos.mjs');
const serverEntry = resolve(root, 'server/index.mjs');
await build({
  entryPoints: [resolve(root, 'test/chaos/chaos.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  plugins: [
    {
      // The reference server reads its migrations next to its own file: import it in place.
      name: 'server-in-place',
      setup(b) {
        b.onResolve({ filter: /server\/index\.mjs$/ }, () => ({ path: pathToFileURL(serverEntry).href, external: true }));
      },
    },
  ],
});
const chaos = await import(pathToFileURL(outfile).href);

console.log(
  `chaos: ${runs} runs from seed ${firstSeed}${values['no-server-faults'] ? ' (edge faults only)' : ''}${values['server-ids'] ? ' (ids named by the server)' : ''}${values['full-pulls'] ? ' (whole-list pulls)' : ''}${values['on-demand'] ? ' (on-demand queries)' : ''}`,
);
const backend = await chaos.startChaosBackend({ serverIds: values['server-ids'] });
const failures = [];
const totals = { ops: 0, writes: 0, faults: 0, crashes: 0, applied: 0, duplicates: 0, lost: 0, keyMisuse: 0, converged: 0 };
const started = performance.now();
try {
  for (let i = 0; i < runs; i++) {
    const result = await chaos.runChaos(backend, {
      seed: (firstSeed + i) >>> 0,
      devices: values.devices === undefined ? undefined : int('devices', values.devices),
      tabs: values.tabs === undefined ? undefined : int('tabs', values.tabs),
      commands: values.commands === undefined ? undefined : int('commands', values.commands),
      faultScale,
      serverFaults: !values['no-server-faults'],
      fullPulls: values['full-pulls'],
      onDemand: values['on-demand'],
      trace: values.trace ? (line) => console.log(`    ${line}`) : undefined,
    });
    const ok = chaos.passed(result);
    console.log(`run ${String(i + 1).padStart(3)}/${runs} ${ok ? 'ok  ' : 'FAIL'} ${chaos.formatResult(result)}`);
    for (const key of Object.keys(totals)) totals[key] += key === 'converged' ? (result.converged ? 1 : 0) : result[key];
    if (!ok) {
      failures.push(result);
      console.log(chaos.describeFailure(result));
      const log = resolve(outdir, `seed-${result.seed}.log`);
      writeFileSync(log, [chaos.describeFailure(result), '', 'all device events:', ...result.events, '', 'ledger:', ...result.ledger].join('\n'));
      console.log(`  full log: ${log}`);
      if (!values['keep-going']) break;
    }
  }
} finally {
  await backend.close();
}
const done = failures.length ? totals.converged + failures.length : runs;
console.log(
  `\nchaos: ${done} runs in ${((performance.now() - started) / 1000).toFixed(0)} s: ops=${totals.ops} writes=${totals.writes} ` +
    `faults=${totals.faults} crashes=${totals.crashes} applied=${totals.applied} duplicates=${totals.duplicates} lost=${totals.lost} ` +
    `keyMisuse=${totals.keyMisuse} converged=${totals.converged}/${done}; failing seeds: ${failures.map((f) => f.seed).join(', ') || 'none'}`,
);
process.exit(failures.length ? 1 : 0);
