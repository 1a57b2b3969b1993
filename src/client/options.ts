/** createSyncClient's options, checked and with their defaults filled in. */
import { strategyProblem } from '../conflict/resolve.js';
import { refuseUnknownOptions } from '../internal/known-options.js';
import type { ConflictStrategy, ResourceDefinition, SyncClientOptions } from '../types.js';

type Rec = Record<string, unknown>;
type Def = ResourceDefinition<object>;

const DEFAULTS = {
  namespace: 'default',
  staleTimeMs: 30_000,
  sendDelayMs: 0,
  timeoutMs: 30_000,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  maxAttempts: 10,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxInFlight: 1,
};

const CLIENT_OPTIONS = [
  'baseUrl', 'resources', 'namespace', 'auth', 'conflicts', 'retry', 'staleTimeMs', 'sendDelayMs', 'maxInFlight', 'timeoutMs', 'maxAnswerBytes', 'transport',
  'indexedDB', 'fetch', 'now', 'random', 'online', 'suspended', 'foreground', 'locks', 'BroadcastChannel', 'localStorage', 'storageManager', 'setTimer',
];

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

export interface ResolvedOptions {
  /** The resources by name. */
  readonly defs: Map<string, Def>;
  readonly namespace: string;
  /** baseUrl made absolute against the page. */
  readonly baseUrl: string;
  readonly staleTimeMs: number;
  readonly sendDelayMs: number;
  readonly timeoutMs: number;
  readonly conflicts: ConflictStrategy<Rec>;
  readonly retry: { readonly baseDelayMs: number; readonly maxDelayMs: number; readonly maxAttempts: number; readonly maxAgeMs: number };
  readonly maxInFlight: number;
}

/**
 * Checks `options` (each wrong one is a TypeError naming it) and fills in the defaults. `baseHref`
 * is the page's address, which a relative baseUrl resolves against.
 */
export function resolveOptions(options: SyncClientOptions, baseHref: string | undefined): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new TypeError('createSyncClient: options are required');
  refuseUnknownOptions('createSyncClient: ', options, CLIENT_OPTIONS);
  // A URL paths cannot resolve under ("localhost:8787/api" has the scheme "localhost:") would make
  // every request fail, the writes retried for ever.
  // Outside a page (a Node test), '/api' has nothing to resolve against: said so, rather than
  // refused with a message that offers it as an example.
  if (baseHref === undefined && typeof options.baseUrl === 'string' && !URL.canParse(options.baseUrl) && URL.canParse(options.baseUrl, 'http://localhost/')) {
    throw new TypeError(
      `createSyncClient: baseUrl ${JSON.stringify(options.baseUrl)} is relative, and there is no page here to resolve it against: give an absolute URL ('http://localhost:8787/api')`,
    );
  }
  if (typeof options.baseUrl !== 'string' || !URL.canParse(options.baseUrl, baseHref) || !URL.canParse('./', new URL(options.baseUrl, baseHref))) {
    throw new TypeError(
      `createSyncClient: baseUrl must be an absolute URL, or relative to the page (like '/api'), got ${JSON.stringify(options.baseUrl)}`,
    );
  }
  // fetch refuses every request to such a URL, with an error quoting it (the password on events$).
  const { username, password } = new URL(options.baseUrl, baseHref);
  if (username !== '' || password !== '') {
    throw new TypeError('createSyncClient: baseUrl must not hold credentials (user:password@), which fetch refuses to send');
  }
  if (!Array.isArray(options.resources) || options.resources.length === 0) {
    throw new TypeError('createSyncClient: resources must list at least one defineResource() definition');
  }
  const defs = new Map<string, Def>();
  for (const [i, def] of (options.resources as unknown[] as Def[]).entries()) {
    // defineResource() returns a frozen definition with these; anything else fails later, naming nothing.
    if (!def || typeof def !== 'object' || typeof def.name !== 'string' || typeof def.key !== 'string' || typeof def.path !== 'string' || !def.schema) {
      throw new TypeError(`createSyncClient: resources[${i}] is not a defineResource() definition, got ${typeof def === 'object' ? JSON.stringify(def) : String(def)}`);
    }
    if (defs.has(def.name)) throw new TypeError(`createSyncClient: resource "${def.name}" is listed twice`);
    defs.set(def.name, def);
  }
  const ns = options.namespace ?? DEFAULTS.namespace;
  if (typeof ns !== 'string' || ns.length === 0) throw new TypeError('createSyncClient: namespace must be a non-empty string');
  // `harborsync:{ns}:election` is the election channel of the namespace before the suffix.
  if (ns.endsWith(':election')) throw new TypeError(`createSyncClient: namespace must not end with ":election" (another namespace's channel has that name), got ${JSON.stringify(ns)}`);
  const staleTimeMs = options.staleTimeMs;
  if (staleTimeMs !== undefined && !(typeof staleTimeMs === 'number' && staleTimeMs >= 0)) {
    throw new TypeError(`createSyncClient: staleTimeMs must be a non-negative number, got ${String(staleTimeMs)}`);
  }
  // Waited for with timers, which fire at once past the longest wait they hold: a timeout would
  // end every request at once, a send delay or a backoff spin the outbox loop every millisecond.
  const retry = options.retry ?? {};
  if (typeof retry !== 'object') throw new TypeError(`createSyncClient: retry must be an object, got ${String(retry)}`);
  refuseUnknownOptions('createSyncClient: retry.', retry, ['baseDelayMs', 'maxDelayMs', 'maxAttempts', 'maxAgeMs']);
  const waits = { sendDelayMs: options.sendDelayMs, timeoutMs: options.timeoutMs, 'retry.baseDelayMs': retry.baseDelayMs, 'retry.maxDelayMs': retry.maxDelayMs };
  for (const [key, v] of Object.entries(waits)) {
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= MAX_TIMER_MS)) {
      throw new TypeError(`createSyncClient: ${key} must be a number of milliseconds from 0 to ${MAX_TIMER_MS} (the longest a timer waits), got ${String(v)}`);
    }
  }
  if (retry.maxAttempts !== undefined && !(Number.isInteger(retry.maxAttempts) && retry.maxAttempts >= 1)) {
    throw new TypeError(`createSyncClient: retry.maxAttempts must be a whole number of at least 1, got ${String(retry.maxAttempts)}`);
  }
  // Only compared with how long an entry has been failing: Infinity is "never by age".
  if (retry.maxAgeMs !== undefined && !(typeof retry.maxAgeMs === 'number' && retry.maxAgeMs >= 0)) {
    throw new TypeError(`createSyncClient: retry.maxAgeMs must be a non-negative number, got ${String(retry.maxAgeMs)}`);
  }
  checkHooks(options, defs);
  const problem = options.conflicts === undefined ? null : strategyProblem(options.conflicts);
  if (problem) throw new TypeError(`createSyncClient: ${problem}`);
  const { maxInFlight, maxAnswerBytes } = options;
  if (maxAnswerBytes !== undefined && !(Number.isInteger(maxAnswerBytes) && maxAnswerBytes >= 1)) {
    throw new TypeError(`createSyncClient: maxAnswerBytes must be a whole number of at least 1, got ${String(maxAnswerBytes)}`);
  }
  if (maxInFlight !== undefined && !(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
    throw new TypeError(`createSyncClient: maxInFlight must be a whole number of at least 1, got ${String(maxInFlight)}`);
  }
  return Object.freeze({
    defs,
    namespace: ns,
    baseUrl: new URL(options.baseUrl, baseHref).href,
    staleTimeMs: staleTimeMs ?? DEFAULTS.staleTimeMs,
    sendDelayMs: options.sendDelayMs ?? DEFAULTS.sendDelayMs,
    timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
    conflicts: (options.conflicts ?? 'merge') as ConflictStrategy<Rec>,
    retry: Object.freeze({
      baseDelayMs: retry.baseDelayMs ?? DEFAULTS.baseDelayMs,
      maxDelayMs: retry.maxDelayMs ?? DEFAULTS.maxDelayMs,
      maxAttempts: retry.maxAttempts ?? DEFAULTS.maxAttempts,
      maxAgeMs: retry.maxAgeMs ?? DEFAULTS.maxAgeMs,
    }),
    maxInFlight: maxInFlight ?? DEFAULTS.maxInFlight,
  });
}

const isFunction = (value: unknown) => typeof value === 'function';
const hasMethod = (value: unknown, method: string) => typeof value === 'object' && value !== null && isFunction((value as Rec)[method]);

/**
 * The options that are functions, or objects of them: a page without TypeScript that gets one
 * wrong would otherwise fail at its first request or pull (a wrong `auth` as a lasting 401 pause).
 */
function checkHooks(options: SyncClientOptions, defs: Map<string, Def>): void {
  const wrong = (what: string, want: string, got: unknown) =>
    new TypeError(`createSyncClient: ${what} must be ${want}, got ${typeof got === 'function' ? 'a function' : typeof got === 'object' && got ? 'an object' : String(got)}`);
  const { auth, transport } = options;
  if (auth !== undefined) {
    if (!hasMethod(auth, 'getToken')) throw wrong('auth', 'an object with a getToken() function (and optionally refreshToken(), namespaceOf())', auth);
    refuseUnknownOptions('createSyncClient: auth.', auth, ['getToken', 'refreshToken', 'namespaceOf']);
    for (const hook of ['refreshToken', 'namespaceOf'] as const) {
      if (auth[hook] !== undefined && !isFunction(auth[hook])) throw wrong(`auth.${hook}`, 'a function', auth[hook]);
    }
  }
  if (transport !== undefined) {
    const defsList = [...defs.values()];
    const calls = ['list', 'one', 'create', 'update', 'remove'];
    if (defsList.some((def) => def.delta)) calls.push('delta');
    if (defsList.some((def) => def.load === 'on-demand')) calls.push('query');
    for (const call of calls) {
      if (!hasMethod(transport, call)) throw wrong(`transport.${call}`, 'a function', typeof transport === 'object' && transport ? (transport as unknown as Rec)[call] : transport);
    }
  }
  for (const seam of ['fetch', 'now', 'random', 'setTimer'] as const) {
    if (options[seam] !== undefined && !isFunction(options[seam])) throw wrong(seam, 'a function', options[seam]);
  }
  for (const seam of ['online', 'suspended', 'foreground'] as const) {
    if (options[seam] !== undefined && !hasMethod(options[seam], 'subscribe')) throw wrong(seam, 'an Observable', options[seam]);
  }
  if (options.indexedDB !== undefined && !hasMethod(options.indexedDB, 'open')) throw wrong('indexedDB', 'an IDBFactory', options.indexedDB);
  if (options.locks != null && !hasMethod(options.locks, 'request')) throw wrong('locks', 'a LockManager or null', options.locks);
  if (options.BroadcastChannel != null && !isFunction(options.BroadcastChannel)) throw wrong('BroadcastChannel', 'a BroadcastChannel constructor or null', options.BroadcastChannel);
}
