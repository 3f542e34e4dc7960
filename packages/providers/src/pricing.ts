import { readFileSync } from "node:fs";
import { z } from "zod";

export const PROVIDER_NAMES = ["openai", "mistral"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * A model's price in whole micro-dollars per million tokens. With that unit the cost of a call,
 * `tokens × price`, is an integer number of pico-dollars: exact, with no rounding anywhere.
 */
export interface ModelPrice {
  /** Undefined for a model added by PRICING_FILE without a provider: either provider may use it. */
  provider: ProviderName | undefined;
  inputMicroUsdPerMillion: bigint;
  outputMicroUsdPerMillion: bigint;
}
export type PricingTable = ReadonlyMap<string, ModelPrice>;

// USD per 1M tokens, from the providers' public price lists (standard tier).
const BUILT_IN: Record<string, [ProviderName, string, string]> = {
  "gpt-4o-mini": ["openai", "0.15", "0.60"],
  "gpt-4o": ["openai", "2.50", "10.00"],
  "gpt-4.1": ["openai", "2.00", "8.00"],
  "gpt-4.1-mini": ["openai", "0.40", "1.60"],
  "gpt-4.1-nano": ["openai", "0.10", "0.40"],
  "gpt-5": ["openai", "1.25", "10.00"],
  "gpt-5-mini": ["openai", "0.25", "2.00"],
  "gpt-5-nano": ["openai", "0.05", "0.40"],
  "o4-mini": ["openai", "1.10", "4.40"],
  o3: ["openai", "2.00", "8.00"],
  "gpt-3.5-turbo": ["openai", "0.50", "1.50"],
  "mistral-small-latest": ["mistral", "0.10", "0.30"],
  "mistral-medium-latest": ["mistral", "0.40", "2.00"],
  "mistral-large-latest": ["mistral", "2.00", "6.00"],
  "magistral-medium-latest": ["mistral", "2.00", "5.00"],
  "codestral-latest": ["mistral", "0.30", "0.90"],
  "ministral-8b-latest": ["mistral", "0.10", "0.10"],
  "ministral-3b-latest": ["mistral", "0.04", "0.04"],
  "open-mistral-nemo": ["mistral", "0.15", "0.15"],
};

const usdPerMillion = z
  .union([z.number(), z.string()])
  .transform(String)
  .pipe(z.string().regex(/^\d{1,9}(\.\d{1,6})?$/, "must be a non-negative USD amount with at most 6 decimals"))
  .transform(toMicroUsd);

export const PricingFile = z.record(
  z.string().min(1),
  z.object({ input: usdPerMillion, output: usdPerMillion, provider: z.enum(PROVIDER_NAMES).optional() }),
);

function toMicroUsd(decimal: string): bigint {
  const [whole = "0", fraction = ""] = decimal.split(".");
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
}

/** The built-in prices, with the entries of `overrides` (the PRICING_FILE shape) merged over them. */
export function buildPricing(overrides: unknown = {}): PricingTable {
  const table = new Map<string, ModelPrice>();
  for (const [model, [provider, input, output]] of Object.entries(BUILT_IN)) {
    table.set(model, {
      provider,
      inputMicroUsdPerMillion: toMicroUsd(input),
      outputMicroUsdPerMillion: toMicroUsd(output),
    });
  }
  const parsed = PricingFile.safeParse(overrides);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`${first?.path.join(".") || "(root)"}: ${first?.message}`);
  }
  for (const [model, price] of Object.entries(parsed.data)) {
    table.set(model, {
      provider: price.provider ?? table.get(model)?.provider,
      inputMicroUsdPerMillion: price.input,
      outputMicroUsdPerMillion: price.output,
    });
  }
  return table;
}

export function readPricingFile(path: string | undefined): PricingTable {
  if (!path) return buildPricing();
  let contents: unknown;
  try {
    contents = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`PRICING_FILE: cannot read ${path} as JSON (${(error as Error).message})`);
  }
  try {
    return buildPricing(contents);
  } catch (error) {
    throw new Error(`PRICING_FILE: ${(error as Error).message}`);
  }
}

export function findPrice(pricing: PricingTable, provider: ProviderName, model: string): ModelPrice | undefined {
  const price = pricing.get(model);
  return price && (price.provider === undefined || price.provider === provider) ? price : undefined;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/** The exact cost in USD as a decimal string with 12 places, ready for a `numeric` column. */
export function costUsd(price: ModelPrice, usage: TokenUsage): string {
  const picoUsd =
    BigInt(usage.promptTokens) * price.inputMicroUsdPerMillion +
    BigInt(usage.completionTokens) * price.outputMicroUsdPerMillion;
  const digits = picoUsd.toString().padStart(13, "0");
  return `${digits.slice(0, -12)}.${digits.slice(-12)}`;
}
