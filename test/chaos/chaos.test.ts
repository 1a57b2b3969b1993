/**
 * The short chaos suite in `npm test` (RELIABILITY.md G2): 25 walks, a fixed list of seeds plus one
 * random seed, printed, two harsher walks, two on-demand walks and six with server-named ids. The long suite is `npm run chaos -- --runs 200` (scripts/chaos.mjs).
 * CHAOS_RUNS adds runs after the fixed seeds; CHAOS_SEED replaces the random one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, formatResult, passed, runChaos, startChaosBackend, type ChaosBackend, type ChaosResult } from './chaos.js';

// A fixed spread of seeds. Every bug the walk found is pinned by a deterministic scenario in
// regressions.test.ts: a seed names a walk only for one version of the engine.
const FIXED = [1, 2, 5, 6, 7, 8, 18, 24, 25, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41];
const random = process.env['CHAOS_SEED'] ? Number(process.env['CHAOS_SEED']) : Math.floor(Math.random() * 2 ** 31);
const extra = Number(process.env['CHAOS_RUNS'] ?? 0);
const seeds = [...FIXED, random, ...Array.from({ length: extra }, (_, i) => random + 1 + i)];

let backend: ChaosBackend;
beforeAll(async () => {
  backend = await startChaosBackend();
});
afterAll(() => backend?.close());

/** Prints the run's figures (and, failing, its report), and requires nothing lost, duplicated or diverged. */
function expectClean(seed: number, result: ChaosResult): void {
  console.log(`chaos ${formatResult(result)}`);
  if (!passed(result)) console.log(describeFailure(result));
  expect(result.problems, `seed ${seed}: see the report above`).toEqual([]);
  expect(result).toMatchObject({ duplicates: 0, lost: 0, keyMisuse: 0, converged: true });
}

describe('chaos: several devices, faults, crashes; nothing lost, nothing applied twice, all converge', () => {
  it.each(seeds)('seed %i', async (seed) => {
    const result = await runChaos(backend, { seed });
    expectClean(seed, result);
  }, 120_000);

  // Longer walks, more tabs, twice the faults: how a stale write redone after later ones was found
  // (`npm run chaos -- --commands 200 --tabs 3 --faults 2`).
  it.each([842220851, random])('harsher: 200 commands, up to 3 tabs a device, twice the faults, seed %i', async (seed) => {
    const result = await runChaos(backend, { seed, commands: 200, tabs: 3, faultScale: 2 });
    expectClean(seed, result);
  }, 120_000);

  // load: 'on-demand' with cacheLimit 4: live queries per tab, evictions, hints between tabs
  // (`npm run chaos -- --on-demand`); every live query must show what the server answers for it.
  it.each([1017, 2001])('on demand: live queries, cacheLimit 4, up to 3 tabs, seed %i', async (seed) => {
    const result = await runChaos(backend, { seed, onDemand: true, tabs: 3 });
    expectClean(seed, result);
  }, 120_000);

  it('test the test: with faults off and one device, every write is applied', async () => {
    const result = await runChaos(backend, { seed: 7, devices: 1, faultScale: 0, serverFaults: false, commands: 30 });
    expect(result.problems).toEqual([]);
    expect(result.faults).toBe(result.crashes);
    expect(result.applied).toBeGreaterThan(0);
  }, 120_000);
});

// ids: 'server' (`npm run chaos -- --server-ids`): creates go out under temporary ids, re-keyed in
// every tab when the answer comes; a create whose answer is lost leaves an entity known under two ids.
describe('chaos with server-named ids', () => {
  let serverIdsBackend: ChaosBackend;
  beforeAll(async () => {
    serverIdsBackend = await startChaosBackend({ serverIds: true });
  });
  afterAll(() => serverIdsBackend?.close());

  it.each([30000, 30001])('seed %i', async (seed) => {
    expectClean(seed, await runChaos(serverIdsBackend, { seed }));
  }, 120_000);

  it('on demand, up to 3 tabs, seed 8313', async () => {
    expectClean(8313, await runChaos(serverIdsBackend, { seed: 8313, onDemand: true, tabs: 3 }));
  }, 120_000);

  // Found an update made after a delete sent under the other id, queued before it, which the delete removed.
  it('harsher: 200 commands, up to 3 tabs a device, twice the faults, seed 60075', async () => {
    expectClean(60075, await runChaos(serverIdsBackend, { seed: 60075, commands: 200, tabs: 3, faultScale: 2 }));
  }, 120_000);

  // Found tabs left showing what a tab that died before telling had removed or renamed.
  it('harsher, whole-list pulls, seed 110000', async () => {
    expectClean(110000, await runChaos(serverIdsBackend, { seed: 110000, commands: 200, tabs: 3, faultScale: 2, fullPulls: true }));
  }, 120_000);

  it('harsher, on demand, seed 70036', async () => {
    expectClean(70036, await runChaos(serverIdsBackend, { seed: 70036, commands: 200, tabs: 3, faultScale: 2, onDemand: true }));
  }, 120_000);
});
