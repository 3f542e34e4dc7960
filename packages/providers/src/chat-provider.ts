import { UpstreamError } from "@aitasks/errors";
import type { ProviderName, TokenUsage } from "./pricing.js";

export interface CompletionRequest {
  model: string;
  prompt: string;
}

export interface Completion {
  text: string;
  usage: TokenUsage;
}

/** The one thing the worker needs from an LLM vendor. Each SDK sits behind it. */
export interface ChatProvider {
  complete(request: CompletionRequest): Promise<Completion>;
}

export type Providers = Record<ProviderName, ChatProvider>;

/** A provider call failed. `retryable` errors are retried by the queue, honouring `retryAfterMs`. */
export class ProviderError extends UpstreamError {
  constructor(
    message: string,
    retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, retryable, options);
  }
}

/** HTTP statuses worth another try: the vendor is overloaded or briefly broken, not refusing us. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** `Retry-After` is either seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Turns a provider's usage block into ours, or fails: a call we cannot price is never booked as free. */
export function requireUsage(
  vendor: string,
  promptTokens: number | null | undefined,
  completionTokens: number | null | undefined,
): TokenUsage {
  if (!Number.isInteger(promptTokens) || !Number.isInteger(completionTokens)) {
    throw new ProviderError(`${vendor} returned no token usage, so the cost of this task cannot be computed`, false);
  }
  return { promptTokens: promptTokens as number, completionTokens: completionTokens as number };
}

/** Stands in for a vendor whose API key is not set: every task sent to it fails at once, nothing crashes. */
export function unconfiguredProvider(variable: string): ChatProvider {
  return {
    complete: async () => {
      throw new ProviderError(`${variable} is not configured`, false);
    },
  };
}
