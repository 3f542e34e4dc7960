import { Mistral } from "@mistralai/mistralai";
import { MistralError, ResponseValidationError } from "@mistralai/mistralai/models/errors";
import { type ChatProvider, isRetryableStatus, ProviderError, parseRetryAfter, requireUsage } from "./chat-provider.js";

export interface MistralProviderOptions {
  apiKey: string;
  /** Without `/v1`: the SDK adds it. */
  serverURL?: string | undefined;
  timeoutMs: number;
}

export function createMistralProvider(options: MistralProviderOptions): ChatProvider {
  // No SDK retries: the queue owns retrying.
  const client = new Mistral({
    apiKey: options.apiKey,
    serverURL: options.serverURL,
    timeoutMs: options.timeoutMs,
    retryConfig: { strategy: "none" },
  });
  return {
    async complete({ model, prompt }) {
      let response: Awaited<ReturnType<typeof client.chat.complete>>;
      try {
        response = await client.chat.complete({ model, messages: [{ role: "user", content: prompt }] });
      } catch (error) {
        throw toProviderError(error, options.timeoutMs);
      }
      const choice = response.choices?.[0];
      if (!choice) throw new ProviderError("Mistral returned no choices", true);
      const usage = requireUsage("Mistral", response.usage?.promptTokens, response.usage?.completionTokens);
      return { text: contentText(choice.message?.content), usage };
    },
  };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((chunk) => (chunk && typeof chunk === "object" && "text" in chunk ? String(chunk.text) : ""))
      .join("");
  }
  return "";
}

function toProviderError(error: unknown, timeoutMs: number): ProviderError {
  const cause = { cause: error };
  if (error instanceof ResponseValidationError) {
    // The SDK's schema requires `usage`; its absence is our "no usage" failure, not a garbled body.
    const raw = error.rawValue as { usage?: unknown } | null | undefined;
    if (raw && typeof raw === "object" && raw.usage == null) requireUsage("Mistral", undefined, undefined);
    return new ProviderError(`Mistral sent an unreadable response: ${error.message}`, true, undefined, cause);
  }
  if (error instanceof MistralError) {
    const retryAfterMs = parseRetryAfter(error.headers?.get("retry-after"));
    const detail = error.body ? error.body.slice(0, 500) : error.message;
    return new ProviderError(
      `Mistral returned ${error.statusCode}: ${detail}`,
      isRetryableStatus(error.statusCode),
      retryAfterMs,
      cause,
    );
  }
  const name = (error as Error | undefined)?.name;
  if (name === "RequestTimeoutError") {
    return new ProviderError(`Mistral did not answer within ${timeoutMs} ms`, true, undefined, cause);
  }
  if (name === "ConnectionError") {
    return new ProviderError(`cannot reach Mistral: ${(error as Error).message}`, true, undefined, cause);
  }
  return new ProviderError(`Mistral call failed: ${(error as Error).message}`, true, undefined, cause);
}
