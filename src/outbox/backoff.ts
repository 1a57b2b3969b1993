/**
 * How long to wait before re-sending (pure): exponential backoff with full jitter, capped, and
 * the server's `Retry-After` when it gives one (DESIGN §2). Time and randomness come in as
 * arguments. Every result is a finite, non-negative integer of milliseconds, whatever the input:
 * a NaN or an Infinity here would become a timer that fires at once, a retry storm.
 */

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The longest `Retry-After` honoured: a server asking for more still gets retried hourly. */
export const RETRY_AFTER_CEILING_MS = 3_600_000;

// setTimeout fires at once for delays above 2^31 - 1 ms (about 24.8 days), so nothing exceeds it.
const MAX_DELAY_MS = 2_147_483_647;

/** Options sanitised: NaN and negatives become 0, huge values (Infinity too) the timer maximum. */
function boundedMs(ms: number): number {
  return ms > 0 ? Math.min(ms, MAX_DELAY_MS) : 0;
}

/**
 * Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"):
 * `floor(random * min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)))`, attempt 1 being the first
 * retry. Fractional attempts are floored; attempts below 1 count as 1.
 */
export function backoffDelay(attempt: number, random: number, options: BackoffOptions): number {
  const base = boundedMs(options.baseDelayMs);
  const max = boundedMs(options.maxDelayMs);
  // Capping the exponent keeps 2 ** e finite, so base * 2 ** e is never Infinity or NaN (0 * Inf).
  const exponent = attempt > 1 ? Math.min(Math.floor(attempt) - 1, 1000) : 0;
  const cap = Math.min(max, base * 2 ** exponent);
  const r = random > 0 ? Math.min(random, 1) : 0;
  return Math.floor(r * cap);
}

/**
 * The delay to use: the backoff, or the server's `Retry-After` (clamped to [0, ceiling]) when it
 * asks for longer. Never earlier than asked, and never sooner than the backoff: a `Retry-After` of
 * 0 or a date already past (a skewed server) would otherwise re-send at once, attempt after
 * attempt, until the change is parked.
 */
export function retryDelay(
  attempt: number,
  random: number,
  options: BackoffOptions,
  retryAfterMs: number | null,
): number {
  const backoff = backoffDelay(attempt, random, options);
  if (typeof retryAfterMs !== 'number' || Number.isNaN(retryAfterMs)) return backoff;
  return Math.max(Math.ceil(Math.min(Math.max(retryAfterMs, 0), RETRY_AFTER_CEILING_MS)), backoff);
}

/**
 * The longest wait `retryDelay` can give: the backoff's cap or the longest `Retry-After` honoured,
 * whichever is longer. A deadline further ahead than this was set before the clock stepped back.
 */
export function longestRetryDelayMs(options: BackoffOptions): number {
  return Math.max(boundedMs(options.maxDelayMs), RETRY_AFTER_CEILING_MS);
}

/**
 * A deadline kept as wall-clock time (`nextAttemptAt`), read at `now`. The clock can step back
 * (NTP, the user) after it was set; a deadline then lies further ahead than any wait given, and
 * waiting for it would sleep for the size of the step. Such a deadline (or a NaN one) is due
 * `longestMs` from now instead: a wait stays within the longest one ever given. A step forward
 * only makes deadlines due early, which is harmless.
 */
export function boundedDeadline(at: number, now: number, longestMs: number): number {
  return at - now <= longestMs ? at : now + longestMs;
}

/**
 * How long an entry has kept failing, for the `maxAgeMs` park rule: `now - firstFailureAt`,
 * counted only while attempts accumulate. Never below 0 (the clock stepped back), nor above what
 * the waits between its `attempts` failures could add up to, `(attempts - 1)` times the longest
 * wait: a clock that jumped forward, or hours offline or closed between two attempts, is no time
 * spent retrying, so an entry is never parked by age after a couple of attempts.
 */
export function failingForMs(now: number, firstFailureAt: number, attempts: number, options: BackoffOptions): number {
  const waits = attempts > 1 ? Math.floor(attempts) - 1 : 0;
  const age = now - firstFailureAt;
  return age > 0 ? Math.min(age, waits * longestRetryDelayMs(options)) : 0;
}

/**
 * When an entry that fails again at `now` first failed, for the `maxAgeMs` park rule
 * (failingForMs): moved on by the time it stayed due past its last deadline (`nextAttemptAt`)
 * beyond a request's time (`requestMs`). Offline, paused, closed or asleep, or a clock that
 * jumped forward, it was not retrying: that time would otherwise count against it, and a night
 * offline park a change on its first failure after. Never after `now`: a clock stepped back
 * restarts the count.
 */
export function retryingSince(firstFailureAt: number | null, nextAttemptAt: number, now: number, requestMs: number): number {
  if (firstFailureAt === null) return now;
  const idle = now - nextAttemptAt - requestMs;
  return Math.min(idle > 0 ? firstFailureAt + idle : firstFailureAt, now);
}

/**
 * `Retry-After` in milliseconds, or null when absent or invalid. Either delay-seconds (digits
 * only) or an HTTP-date. A date is measured against `serverDate` (the response's `Date` header)
 * when that parses, so a client clock that is off does not stretch or cut the wait; else
 * against `now`. A past date gives 0; everything is capped at RETRY_AFTER_CEILING_MS.
 */
export function parseRetryAfter(value: string | null | undefined, now: number, serverDate?: string | null): number | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, RETRY_AFTER_CEILING_MS);
  const at = parseHttpDate(text, now);
  if (at === null) return null;
  const reference = (typeof serverDate === 'string' ? parseHttpDate(serverDate.trim(), now) : null) ?? now;
  if (!Number.isFinite(reference)) return null;
  return Math.min(Math.max(at - reference, 0), RETRY_AFTER_CEILING_MS);
}

// ---------------------------------------------------------------------------------------------
// HTTP-date (RFC 9110 §5.6.7). Parsed by hand because Date.parse accepts garbage ("x 1" is a
// date in V8) and differs between engines. Recipients must accept all three forms.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC_850 = new RegExp(`^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`, 'i');
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, 'i');

/** Epoch milliseconds of an HTTP-date, or null. `now` places RFC 850's two-digit years. */
function parseHttpDate(text: string, now: number): number | null {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = ASCTIME.exec(text);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  m = RFC_850.exec(text);
  if (m) return utc(fullYear(Number(m[3]), now), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  return null;
}

/** A two-digit year more than 50 years ahead of `now` means the previous century (RFC 9110). */
function fullYear(twoDigits: number, now: number): number {
  const year = 2000 + twoDigits;
  const current = new Date(Number.isFinite(now) ? now : 0).getUTCFullYear();
  return year > current + 50 ? year - 100 : year;
}

function utc(year: number, month: string, day: number, hh: string, mm: string, ss: string): number | null {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  const [h, min, s] = [Number(hh), Number(mm), Number(ss)];
  if (h > 23 || min > 59 || s > 60) return null; // 60: a leap second
  const ms = Date.UTC(year, monthIndex, day, h, min, s);
  // Date.UTC rolls 31 Feb over into March; a real date survives the round trip. Checked without
  // the seconds: a leap second (23:59:60) rolls over into the next day, and is still valid.
  return new Date(ms - s * 1000).getUTCDate() === day ? ms : null;
}
