import type { Providers } from "./chat-provider.js";
import { unconfiguredProvider } from "./chat-provider.js";
import { createMistralProvider } from "./mistral-provider.js";
import { createOpenAIProvider } from "./openai-provider.js";

export * from "./chat-provider.js";
export * from "./mistral-provider.js";
export * from "./openai-provider.js";
export * from "./pricing.js";
export * from "./task-price.js";

export interface ProvidersConfig {
  openai: { apiKey?: string | undefined; baseURL?: string | undefined };
  mistral: { apiKey?: string | undefined; serverURL?: string | undefined };
  timeoutMs: number;
}

export function createProviders(config: ProvidersConfig): Providers {
  const { openai, mistral, timeoutMs } = config;
  return {
    openai: openai.apiKey
      ? createOpenAIProvider({ apiKey: openai.apiKey, baseURL: openai.baseURL, timeoutMs })
      : unconfiguredProvider("OPENAI_API_KEY"),
    mistral: mistral.apiKey
      ? createMistralProvider({ apiKey: mistral.apiKey, serverURL: mistral.serverURL, timeoutMs })
      : unconfiguredProvider("MISTRAL_API_KEY"),
  };
}
