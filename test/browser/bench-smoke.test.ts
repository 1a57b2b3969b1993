// `npm run bench -- --smoke` end to end, so the benchmark cannot rot unseen: every row of every
// scenario (harborsync, the raw IndexedDB baseline and the peers) runs in real Chromium and the
// results are written. Behaviour only: no figure is judged here, only that each row ran and the
// drain sent what it had to.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** `--smoke` sends this many updates in the drain (scripts/bench.mjs). */
const SMOKE_WRITES = 50;

interface Row {
  runs: number;
  errors: number;
}
interface Results {
  options: { smoke: boolean };
  summary: Record<string, Record<string, Row>>;
  targets: Array<{ name: string; value: string }>;
  runs: Record<string, Record<string, Array<Record<string, unknown>>>>;
}

let out: string;
let exit: { code: number; output: string };
let parsed: Results | undefined;
/** results.json as the run wrote it, read once. */
const results = (): Results => (parsed ??= JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: the benchmark smoke run cannot run.`);
  out = mkdtempSync(join(tmpdir(), 'harborsync-bench-smoke-'));
  exit = await new Promise((resolve) => {
    execFile(
      process.execPath,
      ['scripts/bench.mjs', '--smoke', '--out', out],
      { cwd: root, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}, 320_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('npm run bench -- --smoke', () => {
  it('exits 0 and writes results.md and results.json', () => {
    expect(exit.code, exit.output).toBe(0);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/## Targets[\s\S]*## Results/);
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  });

  it('runs every row of every scenario without an error', () => {
    const { options, summary } = results();
    expect(options.smoke).toBe(true);
    expect(Object.keys(summary).sort()).toEqual(['drain', 'durable', 'hydrate', 'ingest', 'on-demand', 'reaction', 'takeover']);
    const failed = Object.entries(summary).flatMap(([scenario, rows]) =>
      Object.entries(rows)
        .filter(([, row]) => row.runs !== 1 || row.errors !== 0)
        .map(([id]) => `${scenario}/${id}`),
    );
    expect(failed).toEqual([]);
    // harborsync and at least one other subject in each (takeover is harborsync's alone).
    for (const [scenario, rows] of Object.entries(summary)) {
      if (scenario === 'takeover') continue;
      expect(Object.keys(rows).some((id) => id.startsWith('harborsync'))).toBe(true);
      expect(Object.keys(rows).length).toBeGreaterThan(1);
    }
  });

  it('drains every queued update, one request each, and coalesces repeats into one request per entity', () => {
    const { drain } = results().runs;
    expect(drain!['raw-seq']![0]!['requests']).toBe(SMOKE_WRITES);
    expect(drain!['harborsync-seq']![0]!['requests']).toBe(SMOKE_WRITES);
    expect(drain!['harborsync']![0]!['requests']).toBe(SMOKE_WRITES);
    expect(drain!['harborsync-coalesce']![0]!['requests']).toBeLessThanOrEqual(10);
  });

  it('hands the queue to the other page when its leader closes or crashes, with and without Web Locks', () => {
    const { takeover } = results().runs;
    expect(Object.keys(takeover!).sort()).toEqual(['channel', 'channel-crash', 'locks', 'locks-crash']);
    for (const [row, runs] of Object.entries(takeover!)) {
      const samples = runs[0]!['samples'] as number[];
      expect(samples.length, row).toBe(1);
      // The follower led after the leader went: a time since the close, bounded by the trial's wait.
      for (const ms of samples) expect(ms, row).toBeGreaterThanOrEqual(0);
    }
  });

  it('reports a figure for every target of the benchmark issue', () => {
    const { targets } = results();
    const names = targets.map((t) => t.name);
    for (const name of ['ingest', 'hydrate', 'memory', 'reaction median', 'reaction p95', 'reaction scaling', 'durable writes', 'drain', 'drain, concurrent', 'drain, coalescing', 'takeover, Web Locks, closed', 'takeover, election, closed']) {
      expect(names).toContain(name);
    }
    for (const target of targets) expect(target.value, target.name).toMatch(/\d/);
  });
});
