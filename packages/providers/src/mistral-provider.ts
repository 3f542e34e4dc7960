import type { MistralCore } from "@mistralai/mistralai/core.js";
import {
  type ChatProvider,
  canceledCall,
  errorKindOfStatus,
  isRetryableStatus,
  noChoiceAnswer,
  ProviderError,
  parseRetryAfter,
  readUsage,
  requireUsage,
} from "./chat-provider.js";

export interface MistralProviderOptions {
  apiKey: string;
  /** Without `/v1`: the SDK adds it. */
  serverURL?: string | undefined;
  timeoutMs: number;
}

/**
 * The SDK, loaded on the first Mistral call. Its root module builds the schemas of the whole
 * Mistral API when imported: about 150 MB of memory in every process (measured with
 * `npm run bench`), Mistral configured or not. The chat call's standalone function and the error
 * classes are all this provider needs.
 */
type MistralSdk = {
  core: typeof import("@mistralai/mistralai/core.js");
  chat: typeof import("@mistralai/mistralai/funcs/chatComplete.js");
  chatStream: typeof import("@mistralai/mistralai/funcs/chatStream.js");
  errors: typeof import("@mistralai/mistralai/models/errors");
};
let sdk: Promise<MistralSdk> | undefined;
const loadSdk = () =>
  (sdk ??= Promise.all([
    import("@mistralai/mistralai/core.js"),
    import("@mistralai/mistralai/funcs/chatComplete.js"),
    import("@mistralai/mistralai/funcs/chatStream.js"),
    import("@mistralai/mistralai/models/errors"),
  ]).then(([core, chat, chatStream, errors]) => ({ core, chat, chatStream, errors })));

export function createMistralProvider(options: MistralProviderOptions): ChatProvider {
  let client: Promise<{ sdk: MistralSdk; core: MistralCore }> | undefined;
  const connect = () =>
    (client ??= loadSdk().then((loaded) => ({
      sdk: loaded,
      // No SDK retries: the queue owns retrying.
      core: new loaded.core.MistralCore({
        apiKey: options.apiKey,
        serverURL: options.serverURL,
        timeoutMs: options.timeoutMs,
        retryConfig: { strategy: "none" },
      }),
    })));
  return {
    async complete({ model, prompt, maxOutputTokens, signal, onDelta }) {
      const { sdk: loaded, core } = await connect();
      // The SDK's own timeout yields to a signal it is given, so a cancelable call carries both.
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const failure = (error: unknown) => {
        if (signal?.aborted) return canceledCall("Mistral", error);
        if (timeout.aborted) {
          return new ProviderError(`Mistral did not answer within ${options.timeoutMs} ms`, true, undefined, {
            cause: error,
            kind: "timeout",
          });
        }
        return toProviderError(loaded.errors, error, options.timeoutMs);
      };
      const body = {
        model,
        messages: [{ role: "user" as const, content: prompt }],
        ...(maxOutputTokens === undefined ? {} : { maxTokens: maxOutputTokens }),
      };
      if (onDelta) {
        try {
          // The timeout bounds the whole stream, as it bounds a whole answer otherwise.
          const opened = await loaded.chatStream.chatStream(core, body, {
            signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          });
          if (!opened.ok) throw opened.error;
          let text = "";
          let usage: Record<string, unknown> | undefined;
          let choices = 0;
          for await (const event of opened.value) {
            choices += event.data.choices?.length ?? 0;
            const piece = contentText(event.data.choices?.[0]?.delta?.content);
            if (piece) {
              text += piece;
              onDelta(piece);
            }
            if (event.data.usage) usage = event.data.usage as unknown as Record<string, unknown>;
          }
          if (choices === 0) throw noChoiceAnswer("Mistral", usageOf(usage));
          return { text, usage: usageOf(usage) ?? requireUsage("Mistral", undefined, undefined) };
        } catch (error) {
          throw error instanceof ProviderError && !signal?.aborted ? error : failure(error);
        }
      }
      let result: Awaited<ReturnType<MistralSdk["chat"]["chatComplete"]>>;
      try {
        result = await loaded.chat.chatComplete(
          core,
          body,
          signal ? { signal: AbortSignal.any([signal, timeout]) } : undefined,
        );
      } catch (error) {
        throw failure(error);
      }
      // The standalone function returns its errors instead of throwing them.
      if (!result.ok) throw failure(result.error);
      const response = result.value;
      const usage = usageOf(response.usage as unknown as Record<string, unknown> | undefined);
      const choice = response.choices?.[0];
      if (!choice) throw noChoiceAnswer("Mistral", usage);
      return {
        text: contentText(choice.message?.content),
        usage: usage ?? requireUsage("Mistral", undefined, undefined),
      };
    },
  };
}

/**
 * The SDK's usage (camelCase totals) as ours. The SDK (2.7) declares no cached or reasoning counts on
 * a chat completion's usage, but its schema keeps unknown keys as they came, in snake_case. Mistral
 * reports prompt-cache hits under `prompt_tokens_details.cached_tokens`
 * (https://docs.mistral.ai/studio-api/conversations/advanced/prompt-caching) and reasoning under
 * `completion_tokens_details.reasoning_tokens`. A count we miss is 0: the dearer reading.
 */
function usageOf(usage: Record<string, unknown> | undefined) {
  const field = (value: unknown, key: string) =>
    value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  return readUsage(usage?.promptTokens as number | undefined, usage?.completionTokens as number | undefined, {
    cachedTokens: field(usage?.prompt_tokens_details, "cached_tokens"),
    reasoningTokens: field(usage?.completion_tokens_details, "reasoning_tokens"),
  });
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

function toProviderError(errors: MistralSdk["errors"], error: unknown, timeoutMs: number): ProviderError {
  const { MistralError, ResponseValidationError } = errors;
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
      { ...cause, kind: errorKindOfStatus(error.statusCode) },
    );
  }
  const name = (error as Error | undefined)?.name;
  if (name === "RequestTimeoutError") {
    return new ProviderError(`Mistral did not answer within ${timeoutMs} ms`, true, undefined, {
      ...cause,
      kind: "timeout",
    });
  }
  if (name === "ConnectionError") {
    return new ProviderError(`cannot reach Mistral: ${(error as Error).message}`, true, undefined, {
      ...cause,
      kind: "connection",
    });
  }
  return new ProviderError(`Mistral call failed: ${(error as Error).message}`, true, undefined, cause);
}
