// Types of demo/server.mjs, for test/browser/demo.test.ts.
import type { AdminClient } from '../server/index.mjs';

export const DEFAULT_PORT: number;
export const DEFAULT_DATA_DIR: string;

export interface DemoOptions {
  /** Default 0: the OS picks a free port (the CLI passes PORT or 8787). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** PGlite folder; default: in memory (the CLI passes server/.data/demo). */
  dataDir?: string;
  /** A Postgres server instead of PGlite. */
  databaseUrl?: string;
  /** Where the site is assembled; default demo/.build/site-<port>, or with port 0 a fresh demo/.build/site-0-XXXXXX that close() removes. */
  outDir?: string;
  /** When to run rollup for dist/: 'if-stale' (default), 'if-missing' or 'never'. */
  sdk?: 'if-stale' | 'if-missing' | 'never';
  /** One line per request. */
  log?: boolean;
  /** Progress lines. */
  report?: (message: string) => void;
}

export interface RunningDemo {
  /** `http://127.0.0.1:PORT/`: the index; the apps are at legacy/, react/ and vue/. */
  url: string;
  /** `http://127.0.0.1:PORT/api` */
  apiUrl: string;
  port: number;
  admin: AdminClient;
  /** Whether this start ran rollup. */
  sdkBuilt: boolean;
  /** The site's build hash (the service worker's cache name). */
  version: string;
  /** The folder the site was built in. */
  siteDir: string;
  close(): Promise<void>;
}

/** Builds the site (and dist/ when needed) and starts the reference server serving it. */
export function startDemo(options?: DemoOptions): Promise<RunningDemo>;

/** Runs rollup when dist/ lacks what the demo serves or (with 'if-stale') is older than src/. */
export function ensureSdk(mode: 'if-stale' | 'if-missing' | 'never', report?: (message: string) => void): boolean;

/** Assembles the site in `outDir`; resolves with its version hash. */
export function buildSite(outDir: string): Promise<string>;
