import OpenAI from "openai";
import {
  type ChatProvider,
  type Completion,
  canceledCall,
  errorKindOfStatus,
  isRetryableStatus,
  noChoiceAnswer,
  ProviderError,
  parseRetryAfter,
  readUsage,
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
    async complete({ model, prompt, maxOutputTokens, signal, onDelta }) {
      const body = {
        model,
        messages: [{ role: "user" as const, content: prompt }],
        // `max_tokens` is deprecated and refused by reasoning models; this one bounds reasoning and
        // visible output together on every current model.
        ...(maxOutputTokens === undefined ? {} : { max_completion_tokens: maxOutputTokens }),
      };
      const requestOptions = signal ? { signal } : undefined;
      const failure = (error: unknown) =>
        signal?.aborted ? canceledCall("OpenAI", error) : toProviderError(error, options.timeoutMs);
      if (onDelta) {
        // The SDK's timeout ends once the answer's headers arrive; a stream that then stalls is
        // bounded by this one, over the whole stream as over a whole answer otherwise.
        const timeout = AbortSignal.timeout(options.timeoutMs);
        try {
          return await streamed(
            client,
            body,
            { signal: signal ? AbortSignal.any([signal, timeout]) : timeout },
            onDelta,
          );
        } catch (error) {
          if (signal?.aborted) throw canceledCall("OpenAI", error);
          if (timeout.aborted) {
            throw new ProviderError(`OpenAI did not answer within ${options.timeoutMs} ms`, true, undefined, {
              cause: error,
              kind: "timeout",
            });
          }
          throw error instanceof ProviderError ? error : failure(error);
        }
      }
      let response: OpenAI.Chat.Completions.ChatCompletion;
      try {
        response = await client.chat.completions.create(body, requestOptions);
      } catch (error) {
        throw failure(error);
      }
      const usage = usageOf(response.usage);
      const choice = response.choices?.[0];
      if (!choice) throw noChoiceAnswer("OpenAI", usage);
      return { text: choice.message?.content ?? "", usage: usage ?? requireUsage("OpenAI", undefined, undefined) };
    },
  };
}

/**
 * The streamed call: each chunk's text goes to `onDelta` as it arrives. The usage comes in a last
 * chunk of its own, which OpenAI sends only when asked (`include_usage`).
 */
async function streamed(
  client: OpenAI,
  body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming,
  requestOptions: { signal: AbortSignal },
  onDelta: (text: string) => void,
): Promise<Completion> {
  const stream = await client.chat.completions.create(
    { ...body, stream: true, stream_options: { include_usage: true } },
    requestOptions,
  );
  let text = "";
  let usage: OpenAI.CompletionUsage | undefined;
  // The usage chunk has no choice of its own: a stream with no other chunk answered nothing.
  let choices = 0;
  for await (const chunk of stream) {
    choices += chunk.choices?.length ?? 0;
    const piece = chunk.choices?.[0]?.delta?.content;
    if (piece) {
      text += piece;
      onDelta(piece);
    }
    if (chunk.usage) usage = chunk.usage;
  }
  if (choices === 0) throw noChoiceAnswer("OpenAI", usageOf(usage));
  return { text, usage: usageOf(usage) ?? requireUsage("OpenAI", undefined, undefined) };
}

function usageOf(usage: OpenAI.CompletionUsage | null | undefined) {
  return readUsage(usage?.prompt_tokens, usage?.completion_tokens, {
    cachedTokens: usage?.prompt_tokens_details?.cached_tokens,
    reasoningTokens: usage?.completion_tokens_details?.reasoning_tokens,
  });
}

function toProviderError(error: unknown, timeoutMs: number): ProviderError {
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new ProviderError(`OpenAI did not answer within ${timeoutMs} ms`, true, undefined, {
      cause: error,
      kind: "timeout",
    });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new ProviderError(
      `cannot reach OpenAI: ${error.cause instanceof Error ? error.cause.message : error.message}`,
      true,
      undefined,
      { cause: error, kind: "connection" },
    );
  }
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const retryAfterMs = parseRetryAfter(error.headers?.get("retry-after"));
    return new ProviderError(
      `OpenAI returned ${error.status}: ${error.message}`,
      isRetryableStatus(error.status),
      retryAfterMs,
      { cause: error, kind: errorKindOfStatus(error.status) },
    );
  }
  // A body that is not the JSON we asked for: a proxy or the vendor glitched; another try may well work.
  return new ProviderError(`OpenAI sent an unreadable response: ${(error as Error).message}`, true, undefined, {
    cause: error,
  });
}
