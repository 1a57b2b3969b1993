/**
 * One HTTP exchange's bounds, apart from the wire protocol: a deadline over the whole exchange and
 * a body read that stops at a size limit.
 */
import { whenAborted } from '../internal/abort.js';

/** No answer, or no end to its body, within the transport's timeoutMs. */
export class RequestTimeoutError extends Error {
  override name = 'TimeoutError';
}

export type SetTimer = (callback: () => void, ms: number) => () => void;

export const globalTimer: SetTimer = (callback, ms) => {
  const handle = setTimeout(callback, ms);
  return () => clearTimeout(handle);
};

/**
 * One exchange's time budget, from sending the request to the last byte of its answer: a body
 * that stalls after its headers is as lost as an answer that never came, and a write waiting on
 * it holds its request slot. `signal` aborts the fetch (a real one stops reading the body too) on
 * the caller's abort (the client's close) or the timeout, whichever comes first; `within` settles
 * a step by then even if a fetch ignores its signal. `end` must run however the exchange ends: it
 * cancels the timer and the caller's listener.
 */
export function startDeadline(timeoutMs: number, setTimer: SetTimer, caller: AbortSignal | undefined, what: string) {
  const controller = new AbortController();
  let stop!: (reason: unknown) => void;
  const stopped = new Promise<never>((_, reject) => (stop = reject));
  // Raced by each step in turn; it may settle while no step is waiting on it.
  stopped.catch(() => undefined);
  const abort = (reason: unknown) => {
    stop(reason);
    controller.abort(reason);
  };
  const onCallerAbort = () => abort(caller!.reason);
  const cancelTimer = setTimer(() => abort(new RequestTimeoutError(`Request timed out: ${what}`)), timeoutMs);
  let unlisten = (): void => undefined;
  const end = () => {
    cancelTimer();
    unlisten();
  };
  if (caller?.aborted) onCallerAbort();
  else if (caller) unlisten = whenAborted(caller, onCallerAbort);
  return {
    signal: controller.signal,
    /** Whether the caller ended the exchange (not the timeout): its reason is what the step threw. */
    get byCaller() {
      return caller?.aborted === true;
    },
    within: <T>(step: Promise<T>): Promise<T> => Promise.race([step, stopped]),
    end,
  };
}

/**
 * The body as text, or null once it passes `limit` bytes: the rest is never read, so an
 * oversized answer costs at most `limit` of memory (a declared Content-Length past it, none).
 * Counted as it arrives, since a compressed answer's Content-Length is not its decoded size.
 */
export async function readText(response: Response, limit: number, within: <T>(step: Promise<T>) => Promise<T>): Promise<string | null> {
  const body = response.body;
  if (!body) return '';
  const declared = Number(response.headers.get('Content-Length') ?? 0);
  const reader = body.getReader();
  // Every way out that leaves the body unread releases it (a stalled one included).
  const release = () => void reader.cancel().catch(() => undefined);
  if (declared > limit) return (release(), null);
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await within(reader.read());
      if (done) break;
      size += value.byteLength;
      if (size > limit) return (release(), null);
      parts.push(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    release();
    throw error;
  }
  parts.push(decoder.decode());
  return parts.join('');
}
