// Types of server/index.mjs, for the SDK's TypeScript tests:
//   import { startServer, createTestBackend } from '../../server/index.mjs';

/** A todo-like entity as the server stores and serves it. */
export type Entity = Record<string, unknown> & { id: string | number; version: number };

export interface Queryable {
  /** Runs one statement and returns its rows. */
  query(sql: string, params?: unknown[]): Promise<any[]>;
  /** Runs several statements without parameters. */
  exec(sql: string): Promise<void>;
}

/** The database adapter shared by PGlite and Postgres; pass it to several servers as `database`. */
export interface Database extends Queryable {
  readonly kind: 'pglite' | 'pg';
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface ResourceOption {
  name: string;
  /** Answer `GET /api/{name}?since=` with the delta feed. */
  delta?: boolean;
}

export interface ServerOptions {
  /** Default 0: the OS picks a free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default `[{ name: 'todos', delta: true }]`. */
  resources?: ResourceOption[];
  /** Assign ids '1', '2', ... on create and ignore ids clients send. */
  serverIds?: boolean;
  /** Bearer token → user. Default `DEFAULT_TOKENS`. */
  tokens?: Record<string, string>;
  /** An open database to share; `close()` leaves it open. */
  database?: Database;
  /** PGlite folder, when neither `database` nor `databaseUrl` is given (default: in memory). */
  dataDir?: string;
  /** Postgres connection URL. */
  databaseUrl?: string;
  /** Serve this folder's files at '/'. */
  staticDir?: string;
  /** Print one line per request. */
  log?: boolean;
}

/** A probability per request (0..1) or the next `count` matching requests. */
export type Trigger = number | { count: number };
export interface TriggerFields {
  rate?: number;
  count?: number;
}

export interface FaultSettings {
  /** Destroy the socket of every API request. */
  offline: boolean;
  /** Delay before each API request is handled. */
  latencyMs: number;
  /** Answer API requests with `errorStatus`. */
  errorRate: Trigger;
  /** Default 503. */
  errorStatus: number;
  /** Answer 429 with `Retry-After: retryAfter` (default "1"); fires every time when neither rate nor count is set. */
  rateLimit: (TriggerFields & { retryAfter?: string }) | null;
  /** Destroy the socket of a write before applying it. */
  dropBeforeApply: Trigger;
  /** Apply and commit a write, then destroy the socket instead of answering. */
  dropAfterApply: Trigger;
  /** Answer every API request 401. */
  unauthorized: boolean;
  /** Answer writes whose raw body contains `match` with `status`; every time when neither rate nor count is set. */
  failStatus: (TriggerFields & { status: number; match?: string }) | null;
  /** Seed of the PRNG behind probabilities; setting it restarts the sequence. Default 1. */
  seed: number;
}

/** `null` resets a field to its default. */
export type FaultPatch = { [K in keyof FaultSettings]?: FaultSettings[K] | null };

export interface LedgerEntry {
  seq: number;
  /** ISO timestamp. */
  at: string;
  resource: string;
  entityId: string | null;
  op: 'create' | 'update' | 'delete' | 'seed';
  idempotencyKey: string | null;
  versionBefore: number | null;
  versionAfter: number | null;
  /** The request body: created fields, the patch; null for a delete. */
  body: unknown;
  user: string;
}

/** A change made as another user: a patch or delete of `id` (7 and '7' name one entity, as in the API's paths), or a create, whose id is checked as the API checks it. */
export type AdminEdit =
  | { resource: string; id: string | number; patch: Record<string, unknown> }
  | { resource: string; id: string | number; delete: true }
  | { resource: string; create: Record<string, unknown> };

export interface AdminClient {
  /** Reads the fault settings, or merges `patch` into them. */
  faults(patch?: FaultPatch): Promise<FaultSettings>;
  ledger(resource?: string): Promise<LedgerEntry[]>;
  /** Writes as user 'mallory', bumping the version; answers like the API (404 and 409 included). */
  edit(edit: AdminEdit): Promise<{ status: number; body: unknown }>;
  /** Inserts `count` rows `{ id, title: 'Todo 000001', done, version: 1 }` with ids from the server id counter. */
  seed(resource: string, count: number): Promise<{ inserted: number; first: string; last: string }>;
  /** Empties every table and clears this server's faults. */
  reset(): Promise<void>;
}

export interface RunningServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** `http://127.0.0.1:PORT/api` */
  apiUrl: string;
  port: number;
  db: Database;
  admin: AdminClient;
  /** Stops listening, cuts open connections, waits for running requests; closes the database it opened. */
  close(): Promise<void>;
}

export const DEFAULT_TOKENS: Readonly<Record<string, string>>;

export function startServer(options?: ServerOptions): Promise<RunningServer>;

/** Opens and migrates a database: Postgres at `databaseUrl`, else PGlite in `dataDir`, else PGlite in memory. */
export function openDatabase(options?: { databaseUrl?: string; dataDir?: string }): Promise<Database>;

/** Empties every table and restarts ids, cursors and the ledger sequence. */
export function resetDatabase(db: Queryable): Promise<void>;

export function createAdminClient(baseUrl: string, fetchImpl?: typeof fetch): AdminClient;

export interface TestBackend {
  /** The shared in-memory database, opened on first use. */
  db(): Promise<Database>;
  /** Starts a server on the shared database. */
  start(options?: Omit<ServerOptions, 'database' | 'dataDir' | 'databaseUrl'>): Promise<RunningServer>;
  /** Empties the database and clears every running server's faults. */
  reset(): Promise<void>;
  ledger(resource?: string): Promise<LedgerEntry[]>;
  /** Closes every server, then the database. */
  close(): Promise<void>;
}

/** One lazily opened in-memory database shared by every server it starts (one per test file). */
export function createTestBackend(): TestBackend;
