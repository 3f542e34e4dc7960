import { UpstreamError } from "@aitasks/errors";
import type { ProviderName, TokenUsage } from "./pricing.js";

export interface CompletionRequest {
  model: string;
  prompt: string;
  /** Bounds the completion, reasoning included. Absent: the provider's own default applies. */
  maxOutputTokens?: number | undefined;
  /** Aborts the call (the task was canceled): it then fails with a ProviderError that is not retryable. */
  signal?: AbortSignal | undefined;
  /**
   * Given: the provider streams its answer and each piece of text is passed here as it arrives;
   * the completion's `text` is then their concatenation.
   */
  onDelta?: ((text: string) => void) | undefined;
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

/** What went wrong with a provider call, in a few words that metrics can count (a bounded set). */
export const PROVIDER_ERROR_KINDS = [
  "timeout",
  "rate_limited",
  "server_error",
  "client_error",
  "connection",
  "other",
] as const;
export type ProviderErrorKind = (typeof PROVIDER_ERROR_KINDS)[number];

/**
 * A provider call failed. `retryable` errors are retried by the queue, honouring `retryAfterMs`.
 * `usage` is what the provider reported for a call that answered without anything we can use: it
 * billed those tokens, so the run books them before the task is retried or failed.
 */
export class ProviderError extends UpstreamError {
  readonly kind: ProviderErrorKind;
  readonly usage: TokenUsage | undefined;

  constructor(
    message: string,
    retryable: boolean,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown; kind?: ProviderErrorKind; usage?: TokenUsage | undefined },
  ) {
    super(message, retryable, options);
    this.kind = options?.kind ?? "other";
    this.usage = options?.usage;
  }
}

/** HTTP statuses worth another try: the vendor is overloaded or briefly broken, not refusing us. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** The kind of a vendor's HTTP error status. */
export function errorKindOfStatus(status: number): ProviderErrorKind {
  if (status === 429) return "rate_limited";
  if (status === 408) return "timeout";
  if (status >= 500) return "server_error";
  return status >= 400 ? "client_error" : "other";
}

/** The kind of any error a provider call threw: a ProviderError's own, else `other`. */
export function providerErrorKind(error: unknown): ProviderErrorKind {
  return error instanceof ProviderError ? error.kind : "other";
}

/** `Retry-After` is either seconds or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Turns a provider's usage block into ours, or fails: a call we cannot price is never booked as free.
 * A detail count (cached prompt tokens, reasoning tokens) that is missing or does not fit within its
 * total counts as 0, which prices the call at the full input price: the higher one.
 */
export function requireUsage(
  vendor: string,
  promptTokens: number | null | undefined,
  completionTokens: number | null | undefined,
  details: { cachedTokens?: unknown; reasoningTokens?: unknown } = {},
): TokenUsage {
  const usage = readUsage(promptTokens, completionTokens, details);
  if (!usage) {
    throw new ProviderError(`${vendor} returned no token usage, so the cost of this task cannot be computed`, false);
  }
  return usage;
}

/** A provider's usage block as ours, or undefined when its totals are missing or not counts. */
export function readUsage(
  promptTokens: number | null | undefined,
  completionTokens: number | null | undefined,
  details: { cachedTokens?: unknown; reasoningTokens?: unknown } = {},
): TokenUsage | undefined {
  if (!isCount(promptTokens) || !isCount(completionTokens)) return undefined;
  const part = (count: unknown, total: number) => (isCount(count) && count <= total ? count : 0);
  return {
    promptTokens,
    completionTokens,
    cachedTokens: part(details.cachedTokens, promptTokens),
    reasoningTokens: part(details.reasoningTokens, completionTokens),
  };
}

/**
 * An answer without a choice (`"choices": []`), which OpenAI-compatible servers send when nothing
 * came out that they could return (a filter withheld it, a backend glitched), often with the usage
 * they bill for it. Another try may well answer; the usage goes with the error to be booked first.
 */
export const noChoiceAnswer = (vendor: string, usage: TokenUsage | undefined) =>
  new ProviderError(
    `${vendor} returned no choices${usage ? ` (it reported ${usage.promptTokens + usage.completionTokens} tokens of usage)` : ""}`,
    true,
    undefined,
    { usage },
  );

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** Stands in for a vendor whose API key is not set: every task sent to it fails at once, nothing crashes. */
export function unconfiguredProvider(variable: string): ChatProvider {
  return {
    complete: async () => {
      throw new ProviderError(`${variable} is not configured`, false, undefined, { kind: "client_error" });
    },
  };
}

/** What a call aborted by its `signal` fails with: the task was canceled, so there is nothing to retry. */
export const canceledCall = (vendor: string, cause: unknown) =>
  new ProviderError(`${vendor} call aborted: the task was canceled`, false, undefined, { cause });
