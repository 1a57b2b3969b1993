// The fault switch of one server instance (GET/POST /admin/faults). It lives
// in memory on purpose: it is a test control, not data, and two instances on
// one database can misbehave differently (drop on A, answer the retry on B).
//
// A trigger is either a probability per request (0..1, drawn from a PRNG
// seeded by `seed`, so a run is reproducible) or `{ count: n }`: the next n
// matching requests, then off. Counts make tests deterministic.

import { HttpError } from './http-error.mjs';

/**
 * @typedef {number | { count: number }} Trigger
 * @typedef {{ rate?: number, count?: number }} TriggerFields fires always when neither is set
 * @typedef {object} FaultSettings
 * @property {boolean} offline destroy the socket of every API request
 * @property {number} latencyMs delay before every API request is handled
 * @property {Trigger} errorRate answer API requests with `errorStatus`
 * @property {number} errorStatus
 * @property {(TriggerFields & { retryAfter?: string }) | null} rateLimit answer 429 with Retry-After (default "1")
 * @property {Trigger} dropBeforeApply destroy the socket of a write before applying it
 * @property {Trigger} dropAfterApply apply and commit a write, then destroy the socket instead of answering
 * @property {boolean} unauthorized answer every API request 401
 * @property {(TriggerFields & { status: number, match?: string }) | null} failStatus answer writes whose body contains `match` with `status`
 * @property {number} seed of the PRNG behind probabilities; setting it restarts the sequence
 *
 * @typedef {object} FaultPlan what the faults decided for one API request
 * @property {{ status: number, headers: Record<string, string>, body: unknown } | null} response answer this instead
 * @property {boolean} dropBeforeApply
 * @property {boolean} dropAfterApply
 */

/** @type {FaultSettings} */
const DEFAULTS = Object.freeze({
  offline: false,
  latencyMs: 0,
  errorRate: 0,
  errorStatus: 503,
  rateLimit: null,
  dropBeforeApply: 0,
  dropAfterApply: 0,
  unauthorized: false,
  failStatus: null,
  seed: 1,
});

/** Checks one field of a POST /admin/faults body; returns an error message or ''. */
const VALIDATORS = /** @type {Record<keyof FaultSettings, (value: any) => string>} */ ({
  offline: (value) => (typeof value === 'boolean' ? '' : 'a boolean'),
  unauthorized: (value) => (typeof value === 'boolean' ? '' : 'a boolean'),
  latencyMs: (value) => (isNumberIn(value, 0, 60_000) ? '' : 'a number of milliseconds from 0 to 60000'),
  errorStatus: (value) => (isStatus(value) ? '' : 'an HTTP status from 400 to 599'),
  seed: (value) => (Number.isInteger(value) ? '' : 'an integer'),
  errorRate: checkTrigger,
  dropBeforeApply: checkTrigger,
  dropAfterApply: checkTrigger,
  rateLimit: (value) =>
    isObject(value) && checkTriggerFields(value) && optional(value.retryAfter, (v) => typeof v === 'string')
      ? ''
      : 'an object { rate?: 0..1, count?: n, retryAfter?: string }',
  failStatus: (value) =>
    isObject(value) &&
    checkTriggerFields(value) &&
    isStatus(value.status) &&
    optional(value.match, (v) => typeof v === 'string')
      ? ''
      : 'an object { status: 400..599, match?: string, rate?: 0..1, count?: n }',
});

export function createFaults() {
  /** @type {FaultSettings} */
  let settings = { ...DEFAULTS };
  let random = mulberry32(settings.seed);

  /**
   * Whether a trigger fires for this request; consumes one of a count.
   * @param {Trigger | TriggerFields} trigger
   */
  const fire = (trigger) => {
    /** @type {TriggerFields} */
    const fields = typeof trigger === 'number' ? { rate: trigger } : trigger;
    if (fields.count !== undefined) {
      if (fields.count <= 0) return false;
      fields.count -= 1;
      return true;
    }
    const rate = fields.rate ?? 1;
    return rate >= 1 || (rate > 0 && random() < rate);
  };

  return {
    /** A copy of the current settings (counts show what is left). */
    snapshot() {
      return structuredClone(settings);
    },

    /**
     * Merges fields into the settings; `null` resets a field to its default.
     * @param {Record<string, unknown>} patch
     */
    update(patch) {
      if (!isObject(patch)) throw new HttpError(400, 'faults must be a JSON object');
      const next = { ...settings };
      for (const [field, value] of Object.entries(patch)) {
        if (!Object.hasOwn(VALIDATORS, field)) throw new HttpError(400, `unknown fault field ${field}`);
        const key = /** @type {keyof FaultSettings} */ (field);
        const problem = value === null ? '' : VALIDATORS[key](value);
        if (problem) throw new HttpError(400, `fault field ${field} must be ${problem}`);
        Object.assign(next, { [key]: value === null ? DEFAULTS[key] : structuredClone(value) });
      }
      settings = next;
      if ('seed' in patch) random = mulberry32(settings.seed);
      return this.snapshot();
    },

    clear() {
      settings = { ...DEFAULTS };
      random = mulberry32(settings.seed);
    },

    /** The live settings, read on every request. @returns {Readonly<FaultSettings>} */
    get current() {
      return settings;
    },

    /**
     * Decides the faults of one authenticated API request, in a fixed order;
     * the first fault that answers stops the others (and keeps their counts).
     * @param {{ isWrite: boolean, body: string }} request
     * @returns {FaultPlan}
     */
    plan({ isWrite, body }) {
      const none = { response: null, dropBeforeApply: false, dropAfterApply: false };
      const { rateLimit, failStatus } = settings;
      if (rateLimit && fire(rateLimit)) {
        const headers = { 'Retry-After': rateLimit.retryAfter ?? '1' };
        return { ...none, response: { status: 429, headers, body: { error: 'injected fault: rate limited' } } };
      }
      if (fire(settings.errorRate)) {
        const status = settings.errorStatus;
        return { ...none, response: { status, headers: {}, body: { error: `injected fault: ${status}` } } };
      }
      if (!isWrite) return none;
      if (failStatus && body.includes(failStatus.match ?? '') && fire(failStatus)) {
        const status = failStatus.status;
        return { ...none, response: { status, headers: {}, body: { error: `injected fault: ${status}` } } };
      }
      if (fire(settings.dropBeforeApply)) return { ...none, dropBeforeApply: true };
      return { ...none, dropAfterApply: fire(settings.dropAfterApply) };
    },
  };
}

/** @param {unknown} value */
function checkTrigger(value) {
  return isNumberIn(value, 0, 1) || (isObject(value) && Object.keys(value).length === 1 && isCount(value.count))
    ? ''
    : 'a probability 0..1 or { count: n }';
}

/** @param {Record<string, unknown>} value */
function checkTriggerFields(value) {
  return optional(value.rate, (v) => isNumberIn(v, 0, 1)) && optional(value.count, isCount);
}

/**
 * @param {unknown} value
 * @param {(value: unknown) => boolean} check
 */
function optional(value, check) {
  return value === undefined || check(value);
}

/** @param {unknown} value @returns {value is Record<string, any>} */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** @param {unknown} value @param {number} min @param {number} max */
function isNumberIn(value, min, max) {
  return typeof value === 'number' && value >= min && value <= max;
}

/** @param {unknown} value */
function isCount(value) {
  return Number.isInteger(value) && /** @type {number} */ (value) >= 0;
}

/** @param {unknown} value */
function isStatus(value) {
  return Number.isInteger(value) && /** @type {number} */ (value) >= 400 && /** @type {number} */ (value) <= 599;
}

/**
 * A small seeded PRNG (mulberry32): same seed, same sequence.
 * @param {number} seed
 */
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
