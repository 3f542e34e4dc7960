import { type FakeChatServer, startFakeChatServer } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatProvider } from "./chat-provider.js";
import { createMistralProvider } from "./mistral-provider.js";
import { createOpenAIProvider } from "./openai-provider.js";
import { buildPricing, type ModelPrice, type TokenUsage } from "./pricing.js";
import {
  CHAT_OVERHEAD_TOKENS,
  costOf,
  readTaskPrice,
  saleOf,
  type TaskPrice,
  taskPrice,
  usageBound,
} from "./task-price.js";

const pricing = buildPricing({
  "sold-model": { input: 1, cached_input: "0.25", output: 2, sell: { input: "1.5", output: 3 } },
});
const model = (name: string): ModelPrice => {
  const price = pricing.get(name);
  if (!price) throw new Error(`no price for ${name}`);
  return price;
};
const usage = (promptTokens: number, completionTokens: number, cachedTokens = 0, reasoningTokens = 0): TokenUsage => ({
  promptTokens,
  completionTokens,
  cachedTokens,
  reasoningTokens,
});

describe("taskPrice", () => {
  it("freezes the cost and the cost times the markup, exactly", () => {
    expect(taskPrice(model("gpt-4o-mini"), "1.333333")).toEqual({
      cost: { input: "0.15", cachedInput: "0.075", output: "0.6" },
      sale: { input: "0.19999995", cachedInput: "0.099999975", output: "0.7999998" },
    });
    expect(taskPrice(model("gpt-4o-mini"), "1.3").sale).toEqual({
      input: "0.195",
      cachedInput: "0.0975",
      output: "0.78",
    });
    expect(taskPrice(model("gpt-4o"), "2")).toEqual({
      cost: { input: "2.5", cachedInput: "1.25", output: "10" },
      sale: { input: "5", cachedInput: "2.5", output: "20" },
    });
  });

  it("sells at cost with a markup of 1", () => {
    const price = taskPrice(model("o3"), "1");
    expect(price.sale).toEqual(price.cost);
    expect(taskPrice(model("o3"), "1.000000").sale).toEqual(price.cost);
  });

  it("uses the model's own sale prices over the markup", () => {
    expect(taskPrice(model("sold-model"), "10")).toEqual({
      cost: { input: "1", cachedInput: "0.25", output: "2" },
      sale: { input: "1.5", cachedInput: "1.5", output: "3" },
    });
  });

  it("refuses a markup below 1 or with more than 6 decimals", () => {
    for (const bad of ["0.999999", "0", "1.0000001", "-1", "1e3", " 1", "1.", ".5", "", "abc"]) {
      expect(() => taskPrice(model("gpt-4o-mini"), bad), bad).toThrow(/markup must be a decimal ≥ 1/);
    }
    // Checked even when the model's sale prices make it unused: a bad setting should not wait for another model.
    expect(() => taskPrice(model("sold-model"), "0.5")).toThrow(/markup/);
  });
});

describe("costOf and saleOf", () => {
  const gpt4oMini = taskPrice(model("gpt-4o-mini"), "1.333333");

  it("price uncached input, cached input and output (reasoning included) at their own prices", () => {
    // 600 × 0.15 + 400 × 0.075 + 500 × 0.60 micro-dollars
    expect(costOf(gpt4oMini, usage(1000, 500, 400, 100))).toBe(420_000_000n);
    // 600 × 0.19999995 + 400 × 0.099999975 + 500 × 0.7999998, which is 420,000,000 × 1.333333
    expect(saleOf(gpt4oMini, usage(1000, 500, 400, 100))).toBe(559_999_860n);
    // Reasoning tokens are already in the completion tokens.
    expect(saleOf(gpt4oMini, usage(1000, 500, 400, 0))).toBe(559_999_860n);
    expect(costOf(gpt4oMini, usage(0, 0))).toBe(0n);
    expect(saleOf(gpt4oMini, usage(0, 0))).toBe(0n);
  });

  it("round the sale up to the pico-dollar, once per call", () => {
    expect(costOf(gpt4oMini, usage(1, 0))).toBe(150_000n);
    // 199,999.95 pico-dollars
    expect(saleOf(gpt4oMini, usage(1, 0))).toBe(200_000n);
    // 3 × 99,999.975 = 299,999.925
    expect(saleOf(gpt4oMini, usage(3, 0, 3))).toBe(300_000n);
    // 150,000.15 + 600,000.6 = 750,000.75 → 750,001 (rounding each term would give 750,002)
    expect(saleOf(taskPrice(model("gpt-4o-mini"), "1.000001"), usage(1, 1))).toBe(750_001n);
    // 20 × 0.7999998 = 15.999996 micro-dollars, exact
    expect(saleOf(gpt4oMini, usage(0, 20))).toBe(15_999_996n);
  });

  it("refuse usage that cannot be priced", () => {
    expect(() => costOf(gpt4oMini, usage(1, 0, 2))).toThrow(/cached tokens \(2\) exceed prompt tokens \(1\)/);
    expect(() => saleOf(gpt4oMini, usage(1, -1))).toThrow(/non-negative integers/);
  });

  it("work on a price read back from JSON", () => {
    const stored = readTaskPrice(JSON.parse(JSON.stringify(gpt4oMini)));
    expect(stored).toEqual(gpt4oMini);
    expect(saleOf(stored, usage(1000, 500, 400))).toBe(559_999_860n);
  });
});

describe("readTaskPrice", () => {
  const valid: TaskPrice = {
    cost: { input: "0.15", cachedInput: "0.075", output: "0.6" },
    sale: { input: "0.199999950000", cachedInput: "0.1", output: "1" },
  };

  it("reads what taskPrice froze", () => {
    expect(readTaskPrice(valid)).toEqual(valid);
    for (const [name, price] of pricing) {
      const frozen = taskPrice(price, "1.234567");
      expect(readTaskPrice(JSON.parse(JSON.stringify(frozen))), name).toEqual(frozen);
    }
  });

  it("throws on anything else", () => {
    const cases: [unknown, RegExp][] = [
      [null, /\(root\)/],
      ["price", /\(root\)/],
      [{ cost: valid.cost }, /sale/],
      [{ ...valid, markup: "1.3" }, /\(root\)|markup/],
      [{ ...valid, cost: { ...valid.cost, input: 0.15 } }, /cost\.input/],
      [{ ...valid, cost: { ...valid.cost, input: "0.1500001" } }, /cost\.input: must be .* at most 6 decimals/],
      [{ ...valid, sale: { ...valid.sale, input: "0.1000000000001" } }, /sale\.input: must be .* at most 12 decimals/],
      [{ ...valid, sale: { ...valid.sale, output: "-1" } }, /sale\.output/],
      [{ ...valid, sale: { ...valid.sale, output: "1e3" } }, /sale\.output/],
      [{ ...valid, sale: { ...valid.sale, cachedInput: "0.2" } }, /sale\.cachedInput: must not be above input/],
      [{ ...valid, cost: { input: "1", output: "1" } }, /cost\.cachedInput/],
    ];
    for (const [json, message] of cases) {
      expect(() => readTaskPrice(json), JSON.stringify(json)).toThrow(message);
    }
  });
});

describe("usageBound", () => {
  it("counts the prompt's UTF-8 bytes plus the chat overhead, the max output, nothing cached", () => {
    expect(CHAT_OVERHEAD_TOKENS).toBe(32);
    expect(usageBound("hello", 100)).toEqual(usage(5 + 32, 100));
    expect(usageBound("", 1)).toEqual(usage(32, 1));
    expect(usageBound("héllo", 10).promptTokens).toBe(6 + 32);
    expect(usageBound("日本", 10).promptTokens).toBe(6 + 32);
    expect(usageBound("😀", 10).promptTokens).toBe(4 + 32);
  });

  it("refuses an output bound that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => usageBound("x", bad), String(bad)).toThrow(/maxOutputTokens must be a positive integer/);
    }
  });

  it("priced, bounds the cost and sale of any usage within it", () => {
    const bound = usageBound("a prompt of some length", 64);
    for (const [name, price] of pricing) {
      const frozen = taskPrice(price, "1.333333");
      const most = { cost: costOf(frozen, bound), sale: saleOf(frozen, bound) };
      for (const cached of [0, 1, bound.promptTokens]) {
        for (const actual of [usage(bound.promptTokens, 64, cached, 10), usage(cached, 0, cached)]) {
          expect(costOf(frozen, actual), name).toBeLessThanOrEqual(most.cost);
          expect(saleOf(frozen, actual), name).toBeLessThanOrEqual(most.sale);
        }
      }
    }
  });
});

describe("usageBound against the usage a provider reports", () => {
  let fake: FakeChatServer;
  beforeAll(async () => {
    fake = await startFakeChatServer();
  });
  afterAll(async () => {
    await fake?.close();
  });

  const providers: [string, string, () => ChatProvider][] = [
    [
      "OpenAI",
      "gpt-5-mini",
      () => createOpenAIProvider({ apiKey: "sk-test", baseURL: fake.openaiBaseURL, timeoutMs: 5_000 }),
    ],
    [
      "Mistral",
      "magistral-medium-latest",
      () => createMistralProvider({ apiKey: "sk-test", serverURL: fake.mistralServerURL, timeoutMs: 5_000 }),
    ],
  ];

  it.each(providers)("%s: the bound is never below the reported usage", async (_name, modelName, create) => {
    const provider = create();
    const frozen = taskPrice(model(modelName), "1.5");
    for (const prompt of ["", "x", "What is the capital of France?", "héllo wörld", "日本語のテキスト", "😀😀 emoji"]) {
      for (const maxOutputTokens of [1, 5, 1000]) {
        fake.setReply(() => ({ kind: "ok", cachedTokens: Math.floor(prompt.length / 2), reasoningTokens: 3 }));
        const { usage: reported } = await provider.complete({ model: modelName, prompt, maxOutputTokens });
        const bound = usageBound(prompt, maxOutputTokens);
        const label = `${JSON.stringify(prompt)} max ${maxOutputTokens}`;
        expect(reported.promptTokens, label).toBeLessThanOrEqual(bound.promptTokens);
        expect(reported.completionTokens, label).toBeLessThanOrEqual(bound.completionTokens);
        expect(costOf(frozen, reported), label).toBeLessThanOrEqual(costOf(frozen, bound));
        expect(saleOf(frozen, reported), label).toBeLessThanOrEqual(saleOf(frozen, bound));
      }
    }
  });
});
