import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  boundedDeadline,
  failingForMs,
  longestRetryDelayMs,
  parseRetryAfter,
  retryingSince,
  RETRY_AFTER_CEILING_MS,
  retryDelay,
} from './backoff.js';

const options = { baseDelayMs: 1000, maxDelayMs: 60_000 };
const unitRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const anyNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, Number.MIN_VALUE, 1e308, 2 ** 53),
);
const isDelay = (ms: number): boolean => Number.isInteger(ms) && ms >= 0 && ms <= 2_147_483_647;

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

describe('backoffDelay', () => {
  it('is full jitter over base * 2^(attempt-1), capped', () => {
    expect(backoffDelay(1, 0.5, options)).toBe(500);
    expect(backoffDelay(2, 0.5, options)).toBe(1000);
    expect(backoffDelay(3, 0.999, options)).toBe(3996);
    expect(backoffDelay(7, 0.5, options)).toBe(30_000); // 64 s capped to 60 s
    expect(backoffDelay(100, 0.5, options)).toBe(30_000);
    expect(backoffDelay(5, 0, options)).toBe(0);
  });

  it('law: exactly the formula for in-range inputs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        unitRandom,
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (attempt, random, baseDelayMs, maxDelayMs) => {
          const expected = Math.floor(random * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
          expect(backoffDelay(attempt, random, { baseDelayMs, maxDelayMs })).toBe(expected);
        },
      ),
    );
  });

  it('law: 0 <= delay <= maxDelayMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 5000 }), unitRandom, fc.nat(), fc.nat(), (attempt, random, base, max) => {
        const delay = backoffDelay(attempt, random, { baseDelayMs: base, maxDelayMs: max });
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(max);
      }),
    );
  });

  it('law: never NaN, negative, fractional or beyond a timer for absurd inputs', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, anyNumber, (attempt, random, baseDelayMs, maxDelayMs) => {
        expect(isDelay(backoffDelay(attempt, random, { baseDelayMs, maxDelayMs }))).toBe(true);
      }),
    );
    expect(backoffDelay(Infinity, 0.5, options)).toBe(30_000);
    expect(backoffDelay(1e9, 0.5, { baseDelayMs: 0, maxDelayMs: 60_000 })).toBe(0); // not 0 * Infinity
    expect(backoffDelay(2000, 0.999, { baseDelayMs: 1e300, maxDelayMs: Infinity })).toBe(Math.floor(0.999 * 2_147_483_647));
    expect(backoffDelay(NaN, 0.5, options)).toBe(500);
    expect(backoffDelay(1, NaN, options)).toBe(0);
  });

  it('law: reaches maxDelayMs for every base once the attempts are many, and floors fractional attempts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2_147_483_647 }), (base, max) => {
        expect(backoffDelay(40, 1 - 2 ** -52, { baseDelayMs: base, maxDelayMs: max })).toBe(Math.floor((1 - 2 ** -52) * max));
      }),
    );
    expect(backoffDelay(2.9, 0.5, options)).toBe(backoffDelay(2, 0.5, options));
  });

  it('grows monotonically with the attempt for a fixed random', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), unitRandom, (attempt, random) => {
        expect(backoffDelay(attempt + 1, random, options)).toBeGreaterThanOrEqual(backoffDelay(attempt, random, options));
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 5 ', NOW)).toBe(5000);
    expect(parseRetryAfter('3600', NOW)).toBe(RETRY_AFTER_CEILING_MS);
    expect(parseRetryAfter('3601', NOW)).toBe(RETRY_AFTER_CEILING_MS);
    expect(parseRetryAfter('9'.repeat(400), NOW)).toBe(RETRY_AFTER_CEILING_MS);
  });

  it('is null when absent, negative or garbage', () => {
    for (const value of [null, undefined, '', '  ', '-1', '1.5', '1e3', '+5', '0x10', 'soon', 'x 1', '5 s', 'Infinity', 'NaN']) {
      expect(parseRetryAfter(value, NOW), String(value)).toBeNull();
    }
  });

  it('reads the three HTTP-date forms against now', () => {
    expect(parseRetryAfter('Mon, 15 Jan 2024 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Monday, 15-Jan-24 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Mon Jan 15 12:00:10 2024', NOW)).toBe(10_000);
    expect(parseRetryAfter('Mon Jan  1 00:00:00 2024', NOW)).toBe(0);
    expect(parseRetryAfter('mon, 15 jan 2024 12:00:30 gmt', NOW)).toBe(30_000); // case-insensitive
  });

  it('gives 0 for a past date and caps a far one', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Fri, 15 Jan 2100 12:00:00 GMT', NOW)).toBe(RETRY_AFTER_CEILING_MS);
  });

  it('places RFC 850 two-digit years within 50 years ahead of now', () => {
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(0); // 1994, not 2094
    expect(parseRetryAfter('Tuesday, 15-Jan-74 12:00:00 GMT', NOW)).toBe(RETRY_AFTER_CEILING_MS); // 2074
  });

  it('accepts a leap second, which is always 23:59:60 UTC', () => {
    const now = Date.UTC(2016, 11, 31, 23, 59, 0);
    expect(parseRetryAfter('Sat, 31 Dec 2016 23:59:60 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Saturday, 31-Dec-16 23:59:60 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Sat Dec 31 23:59:60 2016', now)).toBe(60_000);
  });

  it('rejects malformed and impossible dates', () => {
    for (const value of [
      'Mon, 31 Feb 2024 12:00:00 GMT',
      'Mon, 15 Jan 2024 24:00:00 GMT',
      'Mon, 15 Jan 2024 12:60:00 GMT',
      'Mon, 15 Jan 2024 12:00:00 UTC',
      'Mon, 15 Jan 2024 12:00:00',
      'Mon, 5 Jan 2024 12:00:00 GMT',
      'Mon, 15 Foo 2024 12:00:00 GMT',
      '2024-01-15T12:00:30Z',
      'Mon Jan 15 12:00:10 2024 GMT',
      'x Mon, 15 Jan 2024 12:00:30 GMT',
      'Mon, 15 Jan 2024 12:00:30 GMT x',
      'Mon, 15 Jan 2024 2:00:30 GMT',
      'Mon, 15 Jan 24 12:00:30 GMT',
    ]) {
      expect(parseRetryAfter(value, NOW), value).toBeNull();
    }
  });

  it('measures a date against the server Date header when it parses, cancelling clock skew', () => {
    const skewedNow = NOW + 10 * 60_000; // the client clock runs 10 minutes fast
    const retryAt = 'Mon, 15 Jan 2024 12:00:30 GMT';
    const serverDate = 'Mon, 15 Jan 2024 12:00:00 GMT';
    expect(parseRetryAfter(retryAt, skewedNow)).toBe(0);
    expect(parseRetryAfter(retryAt, skewedNow, serverDate)).toBe(30_000);
    expect(parseRetryAfter(retryAt, skewedNow, 'Sunday, 15-Jan-24 11:59:00 GMT')).toBe(90_000);
    expect(parseRetryAfter(retryAt, NOW, 'garbage')).toBe(30_000); // falls back to now
    expect(parseRetryAfter(retryAt, NOW, null)).toBe(30_000);
    expect(parseRetryAfter('30', skewedNow, serverDate)).toBe(30_000); // seconds need no reference
  });

  it('is null rather than NaN when now is not a number and no server date helps', () => {
    expect(parseRetryAfter('Mon, 15 Jan 2024 12:00:30 GMT', NaN)).toBeNull();
    expect(parseRetryAfter('Mon, 15 Jan 2024 12:00:30 GMT', NaN, 'Mon, 15 Jan 2024 12:00:00 GMT')).toBe(30_000);
  });

  it('law: seconds round-trip up to the ceiling', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), (seconds) => {
        expect(parseRetryAfter(String(seconds), NOW)).toBe(Math.min(seconds * 1000, RETRY_AFTER_CEILING_MS));
      }),
    );
  });

  it('law: an IMF-fixdate written by toUTCString parses back to its delay', () => {
    fc.assert(
      fc.property(fc.integer({ min: -86_400, max: 7200 }), (seconds) => {
        const header = new Date(NOW + seconds * 1000).toUTCString();
        expect(parseRetryAfter(header, NOW)).toBe(Math.min(Math.max(seconds * 1000, 0), RETRY_AFTER_CEILING_MS));
      }),
    );
  });

  it('law: never NaN or negative; null or within [0, ceiling] for any string', () => {
    fc.assert(
      fc.property(fc.string(), anyNumber, fc.option(fc.string(), { nil: undefined }), (value, now, serverDate) => {
        const ms = parseRetryAfter(value, now, serverDate);
        if (ms !== null) expect(ms >= 0 && ms <= RETRY_AFTER_CEILING_MS).toBe(true);
      }),
    );
  });
});

describe('retryDelay', () => {
  it('uses Retry-After when it asks for longer than the backoff, clamped to [0, ceiling]', () => {
    const backoff = backoffDelay(1, 0.5, options);
    expect(retryDelay(1, 0.5, options, 5000)).toBe(5000);
    expect(retryDelay(1, 0.5, options, 10 * RETRY_AFTER_CEILING_MS)).toBe(RETRY_AFTER_CEILING_MS);
    expect(retryDelay(1, 0.5, options, Infinity)).toBe(RETRY_AFTER_CEILING_MS);
    expect(retryDelay(1, 0.5, options, backoff + 0.2)).toBe(backoff + 1);
    // 0, a past date, a negative value: never a re-send at once (a retry storm), the backoff instead.
    expect(retryDelay(1, 0.5, options, 0)).toBe(backoff);
    expect(retryDelay(1, 0.5, options, -5)).toBe(backoff);
    expect(backoff).toBeGreaterThan(0);
  });

  it('falls back to backoff without Retry-After', () => {
    expect(retryDelay(2, 0.5, options, null)).toBe(1000);
    expect(retryDelay(2, 0.5, options, NaN)).toBe(1000);
    expect(retryDelay(2, 0.5, options, undefined as unknown as null)).toBe(1000);
  });

  it('law: never sooner than Retry-After nor than the backoff; Retry-After may go above maxDelayMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), unitRandom, fc.nat({ max: RETRY_AFTER_CEILING_MS }), (attempt, random, after) => {
        expect(retryDelay(attempt, random, options, after)).toBe(Math.max(after, backoffDelay(attempt, random, options)));
      }),
    );
  });

  it('law: without Retry-After it is backoffDelay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), unitRandom, (attempt, random) => {
        expect(retryDelay(attempt, random, options, null)).toBe(backoffDelay(attempt, random, options));
      }),
    );
  });

  it('law: never NaN or negative for any inputs', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, anyNumber, fc.option(anyNumber, { nil: null }), (a, r, b, m, after) => {
        expect(isDelay(retryDelay(a, r, { baseDelayMs: b, maxDelayMs: m }, after))).toBe(true);
      }),
    );
  });
});

describe('retryingSince', () => {
  const MIN = 60_000;

  it('keeps the first failure while the entry was retried on time, a request\'s time late at most', () => {
    expect(retryingSince(null, 0, NOW, 30_000)).toBe(NOW);
    expect(retryingSince(NOW - 10 * MIN, NOW - 30_000, NOW, 30_000)).toBe(NOW - 10 * MIN);
    // Sent before its deadline (coming online): nothing to move.
    expect(retryingSince(NOW - 10 * MIN, NOW + MIN, NOW, 30_000)).toBe(NOW - 10 * MIN);
  });

  it('moves it on by the time the entry stayed due beyond that: offline, closed, asleep, a clock that jumped forward', () => {
    const day = 24 * 60 * MIN;
    expect(retryingSince(NOW - day - 10 * MIN, NOW - day, NOW, 30_000)).toBe(NOW - 10 * MIN - 30_000);
  });

  it('is never after now: a clock stepped back restarts the count', () => {
    expect(retryingSince(NOW + 60 * MIN, NOW + 61 * MIN, NOW, 30_000)).toBe(NOW);
  });
});

describe('deadlines across clock steps', () => {
  const DAY = 86_400_000;

  it('longestRetryDelayMs bounds every retryDelay', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, anyNumber, fc.option(anyNumber, { nil: null }), (a, r, b, m, after) => {
        const o = { baseDelayMs: b, maxDelayMs: m };
        expect(retryDelay(a, r, o, after)).toBeLessThanOrEqual(longestRetryDelayMs(o));
      }),
    );
    expect(longestRetryDelayMs(options)).toBe(RETRY_AFTER_CEILING_MS);
    expect(longestRetryDelayMs({ baseDelayMs: 1000, maxDelayMs: 2 * RETRY_AFTER_CEILING_MS })).toBe(2 * RETRY_AFTER_CEILING_MS);
  });

  it('boundedDeadline keeps a deadline set by this clock, and re-anchors one set before a step back', () => {
    expect(boundedDeadline(NOW + 5000, NOW, 60_000)).toBe(NOW + 5000);
    expect(boundedDeadline(NOW - 5000, NOW, 60_000)).toBe(NOW - 5000); // past: due now
    expect(boundedDeadline(NOW + 2 * DAY, NOW, 60_000)).toBe(NOW + 60_000);
    expect(boundedDeadline(NaN, NOW, 60_000)).toBe(NOW + 60_000);
    expect(boundedDeadline(Infinity, NOW, 60_000)).toBe(NOW + 60_000);
  });

  it('law: a deadline `set + delay` read after any step is never more than the longest delay away, and unchanged without a step back', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10 * DAY }), fc.integer({ min: -30 * DAY, max: 30 * DAY }), fc.nat({ max: DAY }), (delay, step, longest) => {
        fc.pre(delay <= longest);
        const at = NOW + delay;
        const now = NOW + step;
        const bounded = boundedDeadline(at, now, longest);
        expect(bounded - now).toBeLessThanOrEqual(longest);
        if (step >= 0) expect(bounded).toBe(at);
        // Re-anchored once, it stays put: reading it again later does not push it on.
        expect(boundedDeadline(bounded, now + 1, longest)).toBe(bounded);
      }),
    );
  });

  it('failingForMs: the age, but never negative nor more than (attempts - 1) longest waits', () => {
    expect(failingForMs(NOW + 5000, NOW, 3, options)).toBe(5000);
    expect(failingForMs(NOW - DAY, NOW, 3, options)).toBe(0); // the clock stepped back
    expect(failingForMs(NOW + 25 * 3_600_000, NOW, 2, options)).toBe(RETRY_AFTER_CEILING_MS); // stepped forward
    expect(failingForMs(NOW + DAY, NOW, 1, options)).toBe(0);
    expect(failingForMs(NOW + 25 * 3_600_000, NOW, 30, options)).toBe(25 * 3_600_000); // 29 hourly waits could
  });

  it('law: 0 <= failingForMs <= min(age, (attempts - 1) * longest), never NaN', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, fc.integer({ min: -5, max: 10_000 }), (now, first, attempts) => {
        const age = failingForMs(now, first, attempts, options);
        expect(age).toBeGreaterThanOrEqual(0);
        expect(age).toBeLessThanOrEqual(Math.max(attempts - 1, 0) * longestRetryDelayMs(options));
        if (now - first >= 0) expect(age).toBeLessThanOrEqual(now - first);
      }),
    );
  });
});
