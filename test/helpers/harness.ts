import { IDBFactory } from 'fake-indexeddb';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { createTestBackend, type RunningServer } from '../../server/index.mjs';
import { BehaviorSubject } from 'rxjs';
import { z } from 'zod';
import { createSyncClient, defineResource, type SyncClient, type SyncClientOptions, type SyncEvent, type SyncStatus } from '../../src/index.js';
import { ManualClock, seededRandom, settle } from './manual-clock.js';

export const todoSchema = z.object({ id: z.string(), title: z.string(), done: z.boolean(), version: z.number().int() });
export type Todo = z.infer<typeof todoSchema>;
export const todos = defineResource({ name: 'todos', schema: todoSchema, delta: true });
export const notes = defineResource({
  name: 'notes',
  schema: z.object({ id: z.string(), text: z.string(), version: z.number().int() }),
});

/** Every request a client makes, as "METHOD /path?query". */
export function recordingFetch(inner: typeof fetch = fetch) {
  const calls: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    calls.push(`${request.method} ${url.pathname}${url.search}`);
    return inner(request);
  };
  return { fetch: wrapped, calls };
}

/**
 * A session whose token the test expires: `refreshToken()` is counted and hands the good token
 * back only once `release()` is called (so every request refused meanwhile shares the one
 * refresh); `sent` records each request with its answer's status, idempotency key and body.
 */
export function expiringSession(goodToken = 'demo-alice') {
  let token = goodToken;
  let refreshes = 0;
  let release = () => undefined as void;
  const refreshed = new Promise<void>((resolve) => (release = resolve));
  const sent: Array<{ method: string; status: number; key: string | null; body: string }> = [];
  const recording: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const body = await request.clone().text();
    const answer = await fetch(request);
    sent.push({ method: request.method, status: answer.status, key: request.headers.get('Idempotency-Key'), body });
    return answer;
  };
  return {
    sent,
    refreshes: () => refreshes,
    expire: () => void (token = 'expired'),
    release: () => release(),
    options: {
      auth: {
        getToken: () => token,
        refreshToken: async () => {
          refreshes++;
          await refreshed;
          return (token = goodToken);
        },
      },
      fetch: recording,
    },
  };
}

let nextSeed = 1;

export interface Device {
  client: SyncClient;
  clock: ManualClock;
  online: BehaviorSubject<boolean>;
  events: SyncEvent[];
  indexedDB: IDBFactory;
  calls: string[];
  reopen(overrides?: Partial<SyncClientOptions>): Device;
}

/** A client on its own IndexedDB, with a manual clock, a seeded random and an online switch. */
export function device(apiUrl: string, overrides: Partial<SyncClientOptions> = {}, indexedDB = new IDBFactory(), clock = new ManualClock()): Device {
  const online = new BehaviorSubject(true);
  const recorded = recordingFetch(overrides.fetch ?? fetch);
  const client = createSyncClient({
    baseUrl: apiUrl,
    resources: [todos, notes],
    auth: { getToken: () => 'demo-alice' },
    indexedDB,
    now: clock.now,
    setTimer: clock.setTimer,
    // A seed per device: two devices must never draw the same ids or idempotency keys.
    random: seededRandom(nextSeed++),
    online,
    locks: null,
    BroadcastChannel: null,
    ...overrides,
    fetch: recorded.fetch,
  });
  const events: SyncEvent[] = [];
  client.events$.subscribe((e) => events.push(e));
  return {
    client,
    clock,
    online,
    events,
    indexedDB,
    calls: recorded.calls,
    reopen: (more = {}) => device(apiUrl, { ...overrides, ...more }, indexedDB, clock),
  };
}

/** Waits (bounded) until `check` holds, letting real IO and the manual clock's due timers run. */
/** The status a device's client holds now (status$ replays its current value at once). */
export function currentStatus(d: Device): SyncStatus {
  let value: SyncStatus | undefined;
  d.client.status$.subscribe((s) => (value = s)).unsubscribe();
  return value!;
}

export async function until(check: () => boolean | Promise<boolean>, what = 'condition', rounds = 400): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await check()) return;
    await settle(2);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** What a promise settled with, once it has: bounded, so one that never settles fails the test. */
export async function outcomeOf<T>(promise: Promise<T>, what = 'the promise to settle'): Promise<{ value: T } | { error: unknown }> {
  let outcome: { value: T } | { error: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  await until(() => outcome !== undefined, what);
  return outcome!;
}

/**
 * Closes test devices after letting each one send what it can: close() abandons a request in
 * flight, which would otherwise land on the server after the next test's reset.
 */
export async function closeDevices(devices: Device[]): Promise<void> {
  await Promise.all(
    devices.splice(0).map(async (d) => {
      await d.client.flush().catch(() => undefined);
      await d.client.close();
    }),
  );
}

/**
 * One reference server for a test file: started before its tests, reset between them, closed
 * after; `make` builds devices on it, and `kept` takes one made otherwise (a `reopen()`): both are
 * flushed and closed after each test.
 */
export function referenceServer(options?: Parameters<ReturnType<typeof createTestBackend>['start']>[0]) {
  const backend = createTestBackend();
  const devices: Device[] = [];
  const suite = {
    backend,
    server: undefined as unknown as RunningServer,
    make: (...args: Parameters<typeof device>): Device => suite.kept(device(...args)),
    kept: (d: Device): Device => {
      devices.push(d);
      return d;
    },
  };
  beforeAll(async () => {
    suite.server = await backend.start(options);
  });
  afterAll(() => backend.close());
  beforeEach(() => backend.reset());
  afterEach(() => closeDevices(devices));
  return suite;
}

/**
 * A fetch whose answers, while held, wait once the server has computed them: a request in flight
 * is answered before a change the test makes next, and arrives after it. `which` picks the
 * requests held (all by default).
 */
export function heldAnswers(which: (request: Request) => boolean = () => true) {
  let gate: Promise<void> | null = null;
  let open = () => undefined as void;
  let computed = 0;
  const held: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const answer = await fetch(request);
    if (gate && which(request)) {
      computed++;
      await gate;
    }
    return answer;
  };
  const hold = () => void (gate = new Promise<void>((resolve) => (open = resolve)));
  const release = () => {
    gate = null;
    open();
  };
  return {
    fetch: held,
    hold,
    release,
    /**
     * Starts `request` with its answer held once the server computed it, and moves `clock` on a
     * millisecond: what the test does next comes after the request. `landed()` lets the answer
     * go and waits for the request.
     */
    async heldRequest(request: () => Promise<unknown>, clock: Pick<ManualClock, 'jump'>): Promise<{ landed: () => Promise<void> }> {
      hold();
      const before = computed;
      const running = request();
      await until(() => computed > before, 'the answer computed');
      clock.jump(1);
      return { landed: async () => (release(), void (await running)) };
    },
  };
}

/** `heldAnswers` for the reads only (lists, delta and on-demand pages): writes go through. */
export const heldListAnswers = () => heldAnswers((request) => request.method === 'GET');

/** `device`, with every device made kept in `open`, for the file's afterEach to close. */
export function trackedDevices(): { open: Device[]; make: (...args: Parameters<typeof device>) => Device } {
  const open: Device[] = [];
  return {
    open,
    make: (...args) => {
      const d = device(...args);
      open.push(d);
      return d;
    },
  };
}
