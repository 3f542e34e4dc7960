import OpenAI from "openai";
import {
  type ChatProvider,
  canceledCall,
  isRetryableStatus,
  ProviderError,
  parseRetryAfter,
  requireUsage,
} from "./chat-provider.js";

export interface OpenAIProviderOptions {
  apiKey: string;
  /** Includes `/v1`, as the SDK expects. */
  baseURL?: string | undefined;
  timeoutMs: number;
}

export function createOpenAIProvider(options: OpenAIProviderOptions): ChatProvider {
  // The queue retries with backoff; SDK retries on top would multiply the attempts.
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    timeout: options.timeoutMs,
    maxRetries: 0,
  });
  return {
    async complete({ model, prompt, maxOutputTokens, signal }) {
      let response: OpenAI.Chat.Completions.ChatCompletion;
      try {
        response = await client.chat.completions.create(
          {
            model,
            messages: [{ role: "user", content: prompt }],
            // `max_tokens` is deprecated and refused by reasoning models; this one bounds reasoning and
            // visible output together on every current model.
            ...(maxOutputTokens === undefined ? {} : { max_completion_tokens: maxOutputTokens }),
          },
          signal ? { signal } : undefined,
        );
      } catch (error) {
        if (signal?.aborted) throw canceledCall("OpenAI", error);
        throw toProviderError(error, options.timeoutMs);
      }
      const choice = response.choices?.[0];
      if (!choice) throw new ProviderError("OpenAI returned no choices", true);
      const usage = requireUsage("OpenAI", response.usage?.prompt_tokens, response.usage?.completion_tokens, {
        cachedTokens: response.usage?.prompt_tokens_details?.cached_tokens,
        reasoningTokens: response.usage?.completion_tokens_details?.reasoning_tokens,
      });
      return { text: choice.message?.content ?? "", usage };
    },
  };
}

function toProviderError(error: unknown, timeoutMs: number): ProviderError {
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new ProviderError(`OpenAI did not answer within ${timeoutMs} ms`, true, undefined, { cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new ProviderError(
      `cannot reach OpenAI: ${error.cause instanceof Error ? error.cause.message : error.message}`,
      true,
      undefined,
      { cause: error },
    );
  }
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const retryAfterMs = parseRetryAfter(error.headers?.get("retry-after"));
    return new ProviderError(
      `OpenAI returned ${error.status}: ${error.message}`,
      isRetryableStatus(error.status),
      retryAfterMs,
      { cause: error },
    );
  }
  // A body that is not the JSON we asked for: a proxy or the vendor glitched; another try may well work.
  return new ProviderError(`OpenAI sent an unreadable response: ${(error as Error).message}`, true, undefined, {
    cause: error,
  });
}
