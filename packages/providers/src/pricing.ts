import { readFileSync } from "node:fs";
import { z } from "zod";

export const PROVIDER_NAMES = ["openai", "mistral"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** Micro-dollars per million tokens, the unit of every price in a `ModelPrice`. */
export interface MicroUsdPerMillion {
  input: bigint;
  cachedInput: bigint;
  output: bigint;
}

/**
 * A model's price in whole micro-dollars per million tokens. With that unit the cost of a call,
 * `tokens × price`, is an integer number of pico-dollars: exact, with no rounding anywhere.
 * Invariant (checked for the file, tested for the built-ins): a cached price is never above its
 * input price, so pricing every input token at the input price bounds any call from above.
 */
export interface ModelPrice {
  /** Undefined for a model added by PRICING_FILE without a provider: either provider may use it. */
  provider: ProviderName | undefined;
  inputMicroUsdPerMillion: bigint;
  /** Prompt tokens the provider served from its prompt cache; the input price when it has no such price. */
  cachedInputMicroUsdPerMillion: bigint;
  outputMicroUsdPerMillion: bigint;
  /** The largest output bound (`max_tokens`) a task may ask of this model. */
  maxOutputTokens: number;
  /** The model's own sale prices, when the file sets them; otherwise sales are the cost times the markup. */
  sell: MicroUsdPerMillion | undefined;
}
export type PricingTable = ReadonlyMap<string, ModelPrice>;

/** What a PRICING_FILE model gets when it names no `max_output_tokens` and overrides no built-in model. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 16_384;

interface BuiltIn {
  provider: ProviderName;
  input: string;
  cached?: string;
  output: string;
  maxOutput: number;
}

// USD per 1M tokens, from the providers' public price lists (standard tier), and each model's
// largest completion (`max_completion_tokens` / `max_tokens`) from the providers' model pages.
const BUILT_IN: Record<string, BuiltIn> = {
  "gpt-4o-mini": { provider: "openai", input: "0.15", cached: "0.075", output: "0.60", maxOutput: 16_384 },
  "gpt-4o": { provider: "openai", input: "2.50", cached: "1.25", output: "10.00", maxOutput: 16_384 },
  "gpt-4.1": { provider: "openai", input: "2.00", cached: "0.50", output: "8.00", maxOutput: 32_768 },
  "gpt-4.1-mini": { provider: "openai", input: "0.40", cached: "0.10", output: "1.60", maxOutput: 32_768 },
  "gpt-4.1-nano": { provider: "openai", input: "0.10", cached: "0.025", output: "0.40", maxOutput: 32_768 },
  "gpt-5": { provider: "openai", input: "1.25", cached: "0.125", output: "10.00", maxOutput: 128_000 },
  "gpt-5-mini": { provider: "openai", input: "0.25", cached: "0.025", output: "2.00", maxOutput: 128_000 },
  "gpt-5-nano": { provider: "openai", input: "0.05", cached: "0.005", output: "0.40", maxOutput: 128_000 },
  "o4-mini": { provider: "openai", input: "1.10", cached: "0.275", output: "4.40", maxOutput: 100_000 },
  o3: { provider: "openai", input: "2.00", cached: "0.50", output: "8.00", maxOutput: 100_000 },
  "gpt-3.5-turbo": { provider: "openai", input: "0.50", output: "1.50", maxOutput: 4_096 },
  "mistral-small-latest": { provider: "mistral", input: "0.10", output: "0.30", maxOutput: 32_768 },
  "mistral-medium-latest": { provider: "mistral", input: "0.40", output: "2.00", maxOutput: 32_768 },
  "mistral-large-latest": { provider: "mistral", input: "2.00", output: "6.00", maxOutput: 32_768 },
  "magistral-medium-latest": { provider: "mistral", input: "2.00", output: "5.00", maxOutput: 32_768 },
  "codestral-latest": { provider: "mistral", input: "0.30", output: "0.90", maxOutput: 32_768 },
  "ministral-8b-latest": { provider: "mistral", input: "0.10", output: "0.10", maxOutput: 32_768 },
  "ministral-3b-latest": { provider: "mistral", input: "0.04", output: "0.04", maxOutput: 32_768 },
  "open-mistral-nemo": { provider: "mistral", input: "0.15", output: "0.15", maxOutput: 32_768 },
};

const usdPerMillion = z
  .union([z.number(), z.string()])
  .transform(String)
  .pipe(z.string().regex(/^\d{1,9}(\.\d{1,6})?$/, "must be a non-negative USD amount with at most 6 decimals"))
  .transform(toMicroUsd);

/** `cached_input` may not exceed `input`: the hold on a task's credit prices all input at `input`. */
const notAboveInput = (entry: { input: bigint; cached_input?: bigint | undefined }, ctx: z.RefinementCtx) => {
  if (entry.cached_input !== undefined && entry.cached_input > entry.input) {
    ctx.addIssue({ code: "custom", path: ["cached_input"], message: "must not be above input" });
  }
};

const PricingFile = z.record(
  z.string().min(1),
  z
    .object({
      input: usdPerMillion,
      cached_input: usdPerMillion.optional(),
      output: usdPerMillion,
      provider: z.enum(PROVIDER_NAMES).optional(),
      max_output_tokens: z.number().int().min(1).max(10_000_000).optional(),
      sell: z
        .object({ input: usdPerMillion, cached_input: usdPerMillion.optional(), output: usdPerMillion })
        .superRefine(notAboveInput)
        .optional(),
    })
    .superRefine(notAboveInput),
);

function toMicroUsd(decimal: string): bigint {
  const [whole = "0", fraction = ""] = decimal.split(".");
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, "0"));
}

/** The built-in prices, with the entries of `overrides` (the PRICING_FILE shape) merged over them. */
export function buildPricing(overrides: unknown = {}): PricingTable {
  const table = new Map<string, ModelPrice>();
  for (const [model, { provider, input, cached, output, maxOutput }] of Object.entries(BUILT_IN)) {
    table.set(model, {
      provider,
      inputMicroUsdPerMillion: toMicroUsd(input),
      cachedInputMicroUsdPerMillion: toMicroUsd(cached ?? input),
      outputMicroUsdPerMillion: toMicroUsd(output),
      maxOutputTokens: maxOutput,
      sell: undefined,
    });
  }
  const parsed = PricingFile.safeParse(overrides);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`${first?.path.join(".") || "(root)"}: ${first?.message}`);
  }
  for (const [model, entry] of Object.entries(parsed.data)) {
    const builtIn = table.get(model);
    table.set(model, {
      // The provider and the output limit describe the model, so an override keeps the built-in ones
      // unless it names its own. The prices are a new price list taken whole: without `cached_input`
      // cached tokens cost the file's input price (a built-in cached price belongs to the built-in
      // input price and could even exceed the file's).
      provider: entry.provider ?? builtIn?.provider,
      inputMicroUsdPerMillion: entry.input,
      cachedInputMicroUsdPerMillion: entry.cached_input ?? entry.input,
      outputMicroUsdPerMillion: entry.output,
      maxOutputTokens: entry.max_output_tokens ?? builtIn?.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
      sell: entry.sell && {
        input: entry.sell.input,
        cachedInput: entry.sell.cached_input ?? entry.sell.input,
        output: entry.sell.output,
      },
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

/**
 * A call's token counts as the provider reports them. `cachedTokens` are part of `promptTokens`
 * (served from the provider's prompt cache, at the cached price); `reasoningTokens` are part of
 * `completionTokens` (hidden reasoning, billed as output).
 */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}
