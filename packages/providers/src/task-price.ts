import { formatAmount, parseAmount } from "@aitasks/db";
import { z } from "zod";
import type { MicroUsdPerMillion, ModelPrice, TokenUsage } from "./pricing.js";

/** USD per 1M tokens, exact decimal strings (e.g. "0.15", "0.195"). */
export interface PerMillion {
  input: string;
  cachedInput: string;
  output: string;
}

/** What a task was costed (provider price) and sold at, frozen when it was accepted. */
export interface TaskPrice {
  cost: PerMillion;
  sale: PerMillion;
}

/**
 * Prompt tokens a chat call adds around the prompt's own: the template's role and separator
 * tokens. For one user message that is 7 on OpenAI (3 per message, 1 for the role, 3 priming the
 * reply: https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken) and 3 on Mistral
 * (BOS, [INST], [/INST]). 32 leaves more than four times that, and costs nothing worth counting:
 * 32 tokens of the dearest input in the table are $0.00008.
 */
export const CHAT_OVERHEAD_TOKENS = 32;

const MICRO = 1_000_000n;

/**
 * markup: a decimal string ≥ 1 with at most 6 decimals (PRICE_MARKUP).
 * sale = model.sell ?? cost × markup (exact, up to 12 decimals).
 */
export function taskPrice(price: ModelPrice, markup: string): TaskPrice {
  // A pricing table's entries live as long as the process: each is priced once per markup.
  let byMarkup = taskPrices.get(price);
  if (!byMarkup) {
    byMarkup = new Map();
    taskPrices.set(price, byMarkup);
  }
  let priced = byMarkup.get(markup);
  if (!priced) {
    priced = computeTaskPrice(price, markup);
    byMarkup.set(markup, priced);
  }
  return priced;
}
const taskPrices = new WeakMap<ModelPrice, Map<string, TaskPrice>>();

function computeTaskPrice(price: ModelPrice, markup: string): TaskPrice {
  const factor = parseMarkup(markup);
  const cost = costPerMillion(price);
  return {
    // Micro-dollars times a factor in millionths is pico-dollars: exact, 12 decimals at most.
    cost: perMillion(cost, MICRO),
    sale: price.sell ? perMillion(price.sell, MICRO) : perMillion(cost, factor),
  };
}

/**
 * Exact provider cost in pico-USD (bigint, 1e-12 USD):
 * (prompt − cached) × input + cached × cachedInput + completion × output.
 * Exact because cost prices are whole micro-dollars per million tokens (at most 6 decimals).
 */
export function costOf(price: TaskPrice, usage: TokenUsage): bigint {
  return picoUsd(price.cost, usage);
}

/** Sale price in pico-USD, the same formula on `sale`, rounded UP to the pico-dollar (cost × markup can have up to 18 decimals). */
export function saleOf(price: TaskPrice, usage: TokenUsage): bigint {
  return picoUsd(price.sale, usage);
}

/**
 * A true upper bound of a call's usage: input ≤ the prompt's UTF-8 byte length + CHAT_OVERHEAD_TOKENS
 * (a byte-level BPE token covers at least one byte; the overhead covers the chat template's role and
 * separator tokens), output ≤ maxOutputTokens, nothing cached. Priced by `saleOf`, it bounds the sale
 * of any usage the call can report, since a cached price is never above its input price.
 */
export function usageBound(prompt: string, maxOutputTokens: number): TokenUsage {
  if (!Number.isSafeInteger(maxOutputTokens) || maxOutputTokens < 1) {
    throw new RangeError(`maxOutputTokens must be a positive integer, not ${maxOutputTokens}`);
  }
  return {
    promptTokens: Buffer.byteLength(prompt, "utf8") + CHAT_OVERHEAD_TOKENS,
    completionTokens: maxOutputTokens,
    cachedTokens: 0,
    reasoningTokens: 0,
  };
}

/** The exact cost in USD as a decimal string with 12 places, ready for a `numeric` column. */
export function costUsd(price: ModelPrice, usage: TokenUsage): string {
  return formatAmount(picoUsd(perMillion(costPerMillion(price), MICRO), usage));
}

const usdPerMillion = (decimals: number) =>
  z
    .string()
    .regex(
      new RegExp(`^\\d+(\\.\\d{1,${decimals}})?$`),
      `must be a non-negative USD amount with at most ${decimals} decimals`,
    );

const perMillionJson = (decimals: number) =>
  z
    .strictObject({
      input: usdPerMillion(decimals),
      cachedInput: usdPerMillion(decimals),
      output: usdPerMillion(decimals),
    })
    .refine((p) => parseAmount(p.cachedInput) <= parseAmount(p.input), {
      path: ["cachedInput"],
      message: "must not be above input",
      // Zod runs an object's refinements after field issues too; compare only well-formed amounts.
      when: (payload) => payload.issues.length === 0,
    });

/** A TaskPrice as stored (a jsonb column): cost prices in whole micro-dollars, sale prices up to 12 decimals. */
const TaskPriceJson = z.strictObject({
  cost: perMillionJson(6),
  sale: perMillionJson(12),
}) satisfies z.ZodType<TaskPrice>;

/** Reads a TaskPrice back from JSON; throws, naming the first bad field, on anything else. */
export function readTaskPrice(json: unknown): TaskPrice {
  const parsed = TaskPriceJson.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`not a task price: ${first?.path.join(".") || "(root)"}: ${first?.message}`);
  }
  return parsed.data;
}

function parseMarkup(markup: string): bigint {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(markup);
  const factor = match ? BigInt(match[1] ?? "0") * MICRO + BigInt((match[2] ?? "").padEnd(6, "0")) : 0n;
  if (factor < MICRO) {
    throw new RangeError(`the price markup must be a decimal ≥ 1 with at most 6 decimals, not "${markup}"`);
  }
  return factor;
}

function costPerMillion(price: ModelPrice): MicroUsdPerMillion {
  return {
    input: price.inputMicroUsdPerMillion,
    cachedInput: price.cachedInputMicroUsdPerMillion,
    output: price.outputMicroUsdPerMillion,
  };
}

/** Micro-dollar prices times `scale` (millionths) as pico-dollars, written as USD decimal strings. */
function perMillion(micro: MicroUsdPerMillion, scale: bigint): PerMillion {
  return {
    input: usd(micro.input * scale),
    cachedInput: usd(micro.cachedInput * scale),
    output: usd(micro.output * scale),
  };
}

/** "0.150000000000" → "0.15", "2.000000000000" → "2". */
const usd = (pico: bigint): string => formatAmount(pico).replace(/\.?0+$/, "");

function picoUsd(price: PerMillion, usage: TokenUsage): bigint {
  const { promptTokens, completionTokens, cachedTokens } = usage;
  if (![promptTokens, completionTokens, cachedTokens].every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new RangeError(`token counts must be non-negative integers: ${JSON.stringify(usage)}`);
  }
  if (cachedTokens > promptTokens) {
    throw new RangeError(`cached tokens (${cachedTokens}) exceed prompt tokens (${promptTokens})`);
  }
  // Tokens × pico-dollars per million tokens = millionths of a pico-dollar; round up once, at the end.
  const scaled =
    BigInt(promptTokens - cachedTokens) * parseAmount(price.input) +
    BigInt(cachedTokens) * parseAmount(price.cachedInput) +
    BigInt(completionTokens) * parseAmount(price.output);
  return (scaled + MICRO - 1n) / MICRO;
}
