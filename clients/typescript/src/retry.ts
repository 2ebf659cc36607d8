/**
 * Retries of 429 (rate limited) and 503 (temporarily unavailable), honouring `Retry-After`. Nothing else is
 * retried: not other 4xx, not 500, not network errors (a POST may have reached the server).
 */
import { abortError, parseRetryAfter, throwIfAborted } from "./problems.js";

/** How 429 and 503 responses are retried. */
export interface RetryOptions {
  /** Retries after the first attempt (default 3; 0 turns retries off). */
  maxRetries?: number;
  /** A `Retry-After` longer than this (seconds) is not waited for: the 429/503 surfaces at once (default 60). */
  maxDelaySeconds?: number;
  /** Wait when the response has no `Retry-After`: this, doubled per retry (seconds, default 1). */
  fallbackDelaySeconds?: number;
}

/** The statuses that are retried. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** A fetch function as the client uses it. */
export type FetchLike = (input: Request) => Promise<Response>;

/**
 * Resolve after `ms` milliseconds, or reject with an AbortError as soon as `signal` aborts.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Call `send` until its response is not a 429/503, retries run out, or the `Retry-After` is too long.
 * The last response is returned as is (the caller turns it into a `ProblemError`).
 * @param send starts one attempt; called again for every retry, so it must rebuild a consumed body.
 */
export async function sendWithRetries(
  send: () => Promise<Response>,
  options: RetryOptions = {},
  signal?: AbortSignal,
): Promise<Response> {
  const maxRetries = options.maxRetries ?? 3;
  const maxDelay = options.maxDelaySeconds ?? 60;
  const fallback = options.fallbackDelaySeconds ?? 1;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    const response = await send();
    if (!RETRYABLE_STATUSES.has(response.status) || attempt >= maxRetries) return response;
    const delay = parseRetryAfter(response.headers.get("Retry-After")) ?? fallback * 2 ** attempt;
    if (delay > maxDelay) return response;
    await response.body?.cancel().catch(() => undefined);
    await sleep(delay * 1000, signal);
  }
}

/**
 * Wrap a fetch function so that every request is retried on 429/503 (see `sendWithRetries`); the request's own
 * signal aborts the wait.
 */
export function retryingFetch(fetchFn: FetchLike, options: RetryOptions = {}): FetchLike {
  return (request) => sendWithRetries(() => fetchFn(request.clone()), options, request.signal);
}
