#!/usr/bin/env node
// `npm run mutants`: the harness catches planted bugs (RELIABILITY.md G10). Each mutant is one way
// sync engines are known to lose or duplicate changes, planted in a copy of the working tree's
// src/; the short suite (the unit, integration and chaos suites of `npm test`, in Node, the
// chaos walks' random seed fixed) must fail on every one. The unmutated copy runs first: a suite
// failing without a bug would "catch" every mutant. Exit 1 when a mutant survives, or when the
// text a mutant replaces is no longer in the source (the list must follow the code).
//
//   npm run mutants                      the baseline, then every mutant (10-30 minutes)
//   npm run mutants -- --only M2,M7      some of them
//   npm run mutants -- --no-baseline     skip the unmutated run
//   npm run mutants -- --chaos-only      only the chaos walks judge (G10's short suite on its own)
//   npm run mutants -- --list            what each mutant plants, and where (exit 1 when one's text is gone)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { helpWhenAsked } from './usage.mjs';

helpWhenAsked(import.meta.url);

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Drops the entry from the outbox, as a buggy engine would: the change never reaches the server. */
const DROP_ENTRY =
  'return void (await host.store.rewrite(def, entry.id, ({ base, entries }) => ({ base, entries: entries.filter((e) => e.seq !== entry.seq) })));';

/**
 * The planted bugs: RELIABILITY.md G10's M1-M9. `find` must occur in `file` (every occurrence is
 * replaced). M5 is planted as this design's form of the bug: the queue belongs to the namespace,
 * so one namespace's client sending another's entries means databases shared across namespaces.
 */
const MUTANTS = [
  {
    id: 'M1',
    what: 'a new idempotency key on every request (a retry after a lost answer is applied again)',
    file: 'src/transport/rest.ts',
    find: "'Idempotency-Key': key",
    replace: "'Idempotency-Key': `${key}~${Math.random().toString(36).slice(2)}`",
  },
  {
    id: 'M2',
    what: 'the entry is deleted on a retryable failure (5xx, 429) instead of backing off',
    file: 'src/outbox/replay.ts',
    find: 'return this.#retry(def, entry, error, retryAfter);',
    replace: DROP_ENTRY,
  },
  {
    id: 'M3',
    what: 'a change coalesces into an entry already frozen for sending (its key then stands for two bodies)',
    file: 'src/store/local-write.ts',
    find: "last && !last.frozen && last.state === 'queued' && referenced < last.seq ? coalesce(",
    replace: "last && last.state === 'queued' && referenced < last.seq ? coalesce(",
  },
  {
    id: 'M4',
    what: 'updates and deletes are sent without If-Match (a stale change overwrites a newer one)',
    file: 'src/transport/rest.ts',
    find: ", 'If-Match': ifMatch(def, id, version)",
    replace: '',
  },
  {
    id: 'M5',
    what: "every namespace shares one database (one user's queue is sent by another's client)",
    file: 'src/store/db.ts',
    find: 'export const dbName = (namespace: string) => `harborsync:${namespace}`;',
    replace: "export const dbName = (namespace: string) => 'harborsync:' + String(namespace.length > 0);",
  },
  {
    id: 'M6',
    what: "the delta cursor is stored before the page's items (a page that fails to commit is skipped for good)",
    file: 'src/sync/pull.ts',
    find: "        const { valid } = await parseAll(host, def, answer['items']);",
    replace:
      "        await host.store.applyPull(def, [], { authoritative: false, deleted: [], meta: {}, cursor: { key: cursorKey(def.name), value: next } });\n" +
      "        const { valid } = await parseAll(host, def, answer['items']);",
  },
  {
    id: 'M7',
    what: "a 412 whose current entity is this change's own earlier write is taken as a conflict and re-applied",
    file: 'src/outbox/replay.ts',
    find: '    if (remoteMatchesIntent(entry, answer, ignore)) return this.#succeed(def, entry, answer);\n',
    replace: '',
  },
  {
    id: 'M8',
    what: 'patches are merged with Object.assign (a __proto__ key in a payload reaches a prototype)',
    file: 'src/internal/plain.ts',
    find: '    if (hasOwn(patch, key) && !isForbiddenKey(key)) result[key] = patch[key];',
    replace: '    if (hasOwn(patch, key)) Object.assign(result, { [key]: patch[key] });',
  },
  {
    id: 'M9',
    what: 'an entry older than maxAgeMs is discarded when it fails again, instead of parked in failed$',
    file: 'src/outbox/replay.ts',
    find: '    const firstFailureAt = retryingSince(entry.firstFailureAt, entry.nextAttemptAt, now, host.options.timeoutMs);\n',
    replace:
      '    const firstFailureAt = retryingSince(entry.firstFailureAt, entry.nextAttemptAt, now, host.options.timeoutMs);\n' +
      `    if (now - entry.changedAt >= host.options.maxAgeMs) ${DROP_ENTRY}\n`,
  },
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    'chaos-only': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});

const wanted = values.only === undefined ? MUTANTS : values.only.split(',').map((id) => {
  const mutant = MUTANTS.find((m) => m.id === id.trim());
  if (!mutant) {
    console.error(`--only: unknown mutant "${id}" (one of ${MUTANTS.map((m) => m.id).join(', ')})`);
    process.exit(2);
  }
  return mutant;
});

// Every anchor is checked before anything runs (and by --list, which the test suite runs): a
// stale list fails at once, not after minutes.
const sources = new Map();
const stale = wanted.filter((m) => {
  if (!sources.has(m.file)) sources.set(m.file, readFileSync(join(root, m.file), 'utf8'));
  return !sources.get(m.file).includes(m.find);
});
for (const m of stale) console.error(`${m.id}: its text is no longer in ${m.file}; update scripts/mutants.mjs to the source:\n  ${m.find}`);

if (values.list) {
  for (const m of wanted) console.log(`${m.id}  ${m.file}  ${m.what}`);
  process.exit(stale.length ? 1 : 0);
}
if (stale.length) process.exit(1);

// A copy of what the suites read; src/, test/ and server/ are copied, so that test imports resolve
// to the mutated source, and the installed packages are linked.
const copy = mkdtempSync(join(tmpdir(), 'harborsync-mutants-'));
for (const path of ['src', 'test', 'server', 'vitest.config.ts', 'tsconfig.json', 'package.json']) {
  cpSync(join(root, path), join(copy, path), { recursive: true });
}
for (const path of ['node_modules', 'compat']) {
  if (existsSync(join(root, path))) symlinkSync(join(root, path), join(copy, path));
}
const cleanUp = () => rmSync(copy, { recursive: true, force: true });
process.on('SIGINT', () => {
  cleanUp();
  process.exit(130);
});

/**
 * The short suite in three runs, quickest first, stopping at the first that fails: the unit tests,
 * the integration tests, the chaos walks. The first failing test's name, or null when all pass.
 */
const PHASES = values['chaos-only'] ? [['test/chaos/']] : [['src/'], ['test/integration/'], ['test/chaos/']];

function runSuite(label) {
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  for (const [i, files] of PHASES.entries()) {
    const report = join(copy, `report-${label}-${i}.json`);
    const result = spawnSync(
      'npx',
      ['vitest', 'run', '--project', 'node', '--bail', '1', '--reporter=json', `--outputFile=${report}`, ...files],
      { cwd: copy, env: { ...process.env, CHAOS_SEED: '3' }, encoding: 'utf8', timeout: 15 * 60_000, maxBuffer: 256 * 1024 * 1024 },
    );
    if (result.error) return { failed: `the suite did not finish: ${result.error.message}`, seconds: seconds() };
    if (!existsSync(report)) return { failed: `no report (exit ${result.status}): ${(result.stderr || result.stdout).slice(-400)}`, seconds: seconds() };
    const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
    for (const file of testResults) {
      const name = file.name.replace(`${copy}/`, '');
      const test = file.assertionResults.find((t) => t.status === 'failed');
      if (test) return { failed: `${name} > ${test.fullName}`, seconds: seconds() };
      if (file.status === 'failed') return { failed: `${name}: ${file.message.split('\n')[0]}`, seconds: seconds() };
    }
    if (result.status !== 0) return { failed: `${files.join(' ')}: exit ${result.status} (an unhandled error?)`, seconds: seconds() };
  }
  return { failed: null, seconds: seconds() };
}

let survived = 0;
try {
  if (!values['no-baseline']) {
    process.stdout.write('baseline (nothing planted) ... ');
    const { failed, seconds } = runSuite('baseline');
    if (failed) {
      console.log(`FAILS in ${seconds} s: ${failed}\nThe suite must pass unmutated before mutants can say anything.`);
      process.exitCode = 1;
    } else console.log(`passes in ${seconds} s`);
  }
  if (process.exitCode !== 1) {
    for (const m of wanted) {
      const path = join(copy, m.file);
      const original = sources.get(m.file);
      writeFileSync(path, original.split(m.find).join(m.replace));
      process.stdout.write(`${m.id} ${m.what} ... `);
      const { failed, seconds } = runSuite(m.id);
      writeFileSync(path, original);
      if (failed) console.log(`caught in ${seconds} s by ${failed}`);
      else {
        survived++;
        console.log(`SURVIVED (${seconds} s): no test failed`);
      }
    }
    console.log(`\n${wanted.length - survived} of ${wanted.length} mutants caught`);
    if (survived) process.exitCode = 1;
  }
} finally {
  cleanUp();
}
