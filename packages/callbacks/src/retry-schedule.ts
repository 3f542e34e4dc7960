/** The longest wait between two attempts: with the defaults, 12 attempts span about 22.5 hours. */
const MAX_CALLBACK_RETRY_DELAY_MS = 6 * 3600_000;

/**
 * How long to wait after attempt `attempt` (1 = the first) failed: `baseMs` × 3^(attempt − 1),
 * capped at six hours. With CALLBACK_RETRY_BASE_MS 5000: 5 s, 15 s, 45 s, 2¼ min, 6¾ min, 20¼ min,
 * about 1 h, about 3 h, then 6 h.
 */
export function callbackRetryDelay(baseMs: number, attempt: number): number {
  return Math.min(MAX_CALLBACK_RETRY_DELAY_MS, baseMs * 3 ** Math.max(0, attempt - 1));
}
