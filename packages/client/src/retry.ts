import { ApiError } from "./api-error.js";

/** How a submission is tried again. Every field has a default; `retry: false` turns retrying off. */
export interface RetryOptions {
  /** Attempts in all, the first one included (default 5). */
  maxAttempts?: number;
  /** The wait before the first retry without `Retry-After`; it doubles at each retry (default 250 ms). */
  baseDelayMs?: number;
  /** The longest wait between attempts without `Retry-After` (default 8 s). */
  maxDelayMs?: number;
  /** The longest `Retry-After` honoured; an answer asking for more is thrown at once (default 60 s). */
  maxRetryAfterMs?: number;
  /** Called before each retry, with the error of the attempt that failed and the wait chosen. */
  onRetry?: (retry: { attempt: number; delayMs: number; error: unknown }) => void;
}

const DEFAULTS = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 60_000 };

/** A failure of the connection or of one attempt's own timeout, rather than an answer or the caller's abort. */
export function isTransportError(error: unknown): boolean {
  // fetch rejects with a TypeError when no answer came (Node's undici and browsers alike).
  if (error instanceof TypeError) return true;
  return error instanceof Error && error.name === "TimeoutError";
}

/**
 * Whether a submission that failed so may be sent again with the same Idempotency-Key. The API keeps
 * no answer of a 5xx or 429, so the retry runs afresh, and answers 409 IDEMPOTENCY_KEY_IN_FLIGHT
 * while the first request still runs. A 5xx that names a `task_id` (a `?wait` whose task failed)
 * is a result, kept and replayed: sending it again would only replay it. NOT_CONFIGURED will not
 * change by waiting.
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return isTransportError(error);
  if (error.status === 409) return error.code === "IDEMPOTENCY_KEY_IN_FLIGHT";
  if (error.status === 429) return true;
  return error.status >= 500 && error.body.task_id === undefined && error.code !== "NOT_CONFIGURED";
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails in a way that retrying cannot mend, or has run
 * `maxAttempts` times. The wait is the answer's `Retry-After` when it has one, otherwise an
 * exponential backoff with jitter (half fixed, half random), so that many clients cut off at once
 * do not come back at once.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: RetryOptions = {},
  signal?: AbortSignal,
): Promise<T> {
  const { maxAttempts, baseDelayMs, maxDelayMs, maxRetryAfterMs } = { ...DEFAULTS, ...options };
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= maxAttempts || signal?.aborted || !isRetryable(error)) throw error;
      const retryAfterMs = error instanceof ApiError ? error.retryAfterMs : undefined;
      if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs) throw error;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
      const delayMs = retryAfterMs ?? Math.round(backoff / 2 + (Math.random() * backoff) / 2);
      options.onRetry?.({ attempt: n, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
