import { describe, expect, it } from "vitest";
import { buildPricing, DEFAULT_MAX_OUTPUT_TOKENS, findPrice, type TokenUsage } from "./pricing.js";
import { costUsd } from "./task-price.js";

const usage = (promptTokens: number, completionTokens: number, cachedTokens = 0, reasoningTokens = 0): TokenUsage => ({
  promptTokens,
  completionTokens,
  cachedTokens,
  reasoningTokens,
});

describe("pricing", () => {
  it("computes exact costs, with no floating-point drift", () => {
    const pricing = buildPricing();
    const price = findPrice(pricing, "openai", "gpt-4o-mini");
    expect(price).toBeDefined();
    // 20 × $0.15/M + 130 × $0.60/M = $0.000003 + $0.000078
    expect(costUsd(price!, usage(20, 130))).toBe("0.000081000000");
    expect(costUsd(price!, usage(1, 0))).toBe("0.000000150000");
    expect(costUsd(price!, usage(0, 0))).toBe("0.000000000000");
    expect(costUsd(price!, usage(10_000_000, 1_000_000))).toBe("2.100000000000");
  });

  it("prices cached tokens at the cached price and reasoning tokens as output", () => {
    const price = findPrice(buildPricing(), "openai", "gpt-4o-mini")!;
    expect(price.cachedInputMicroUsdPerMillion).toBe(75_000n);
    // 600 uncached × $0.15/M + 400 cached × $0.075/M + 500 output × $0.60/M
    expect(costUsd(price, usage(1000, 500, 400, 100))).toBe("0.000420000000");
    expect(costUsd(price, usage(1000, 500, 400, 0))).toBe("0.000420000000");
    expect(costUsd(price, usage(1_000_000, 0, 1_000_000))).toBe("0.075000000000");
  });

  it("refuses usage it cannot price", () => {
    const price = findPrice(buildPricing(), "openai", "gpt-4o-mini")!;
    expect(() => costUsd(price, usage(10, 0, 11))).toThrow(/cached tokens \(11\) exceed/);
    expect(() => costUsd(price, usage(-1, 0))).toThrow(/non-negative integers/);
    expect(() => costUsd(price, usage(1.5, 0))).toThrow(/non-negative integers/);
  });

  it("has the built-in cached prices and output limits", () => {
    const pricing = buildPricing();
    const cached = (model: string) => pricing.get(model)?.cachedInputMicroUsdPerMillion;
    expect(cached("gpt-4o")).toBe(1_250_000n);
    expect(cached("gpt-4.1-nano")).toBe(25_000n);
    expect(cached("gpt-5-nano")).toBe(5_000n);
    expect(cached("o4-mini")).toBe(275_000n);
    // No cached price: cached tokens cost the input price.
    expect(cached("gpt-3.5-turbo")).toBe(500_000n);
    expect(cached("mistral-small-latest")).toBe(100_000n);
    expect(pricing.get("gpt-4o-mini")?.maxOutputTokens).toBe(16_384);
    expect(pricing.get("gpt-4.1-mini")?.maxOutputTokens).toBe(32_768);
    expect(pricing.get("gpt-5")?.maxOutputTokens).toBe(128_000);
    expect(pricing.get("o3")?.maxOutputTokens).toBe(100_000);
    expect(pricing.get("gpt-3.5-turbo")?.maxOutputTokens).toBe(4_096);
    expect(pricing.get("codestral-latest")?.maxOutputTokens).toBe(32_768);
    for (const [model, price] of pricing) {
      expect(price.cachedInputMicroUsdPerMillion, model).toBeLessThanOrEqual(price.inputMicroUsdPerMillion);
      expect(price.sell, model).toBeUndefined();
    }
  });

  it("keeps models to their provider", () => {
    const pricing = buildPricing();
    expect(findPrice(pricing, "mistral", "mistral-small-latest")).toBeDefined();
    expect(findPrice(pricing, "openai", "mistral-small-latest")).toBeUndefined();
    expect(findPrice(pricing, "openai", "no-such-model")).toBeUndefined();
  });

  it("merges a pricing file over the built-in prices", () => {
    const pricing = buildPricing({
      "gpt-4o-mini": { input: 1, output: "2.5" },
      "my-local-model": { input: 0.000001, output: 0 },
      "my-mistral": { input: 3, output: 4, provider: "mistral" },
    });
    const overridden = findPrice(pricing, "openai", "gpt-4o-mini")!;
    expect(costUsd(overridden, usage(1_000_000, 1_000_000))).toBe("3.500000000000");
    expect(findPrice(pricing, "mistral", "my-local-model")).toBeDefined();
    expect(findPrice(pricing, "openai", "my-local-model")).toBeDefined();
    expect(findPrice(pricing, "openai", "my-mistral")).toBeUndefined();
  });

  it("reads cached prices, output limits and sale prices from the file", () => {
    const pricing = buildPricing({
      "my-model": {
        input: "2",
        cached_input: "0.5",
        output: 8,
        max_output_tokens: 4000,
        sell: { input: 3, cached_input: "0.75", output: "12.000001" },
      },
      "my-sold-model": { input: 1, output: 2, sell: { input: 1.5, output: 3 } },
      "my-plain-model": { input: 1, output: 2 },
    });
    expect(pricing.get("my-model")).toEqual({
      provider: undefined,
      inputMicroUsdPerMillion: 2_000_000n,
      cachedInputMicroUsdPerMillion: 500_000n,
      outputMicroUsdPerMillion: 8_000_000n,
      maxOutputTokens: 4000,
      sell: { input: 3_000_000n, cachedInput: 750_000n, output: 12_000_001n },
    });
    // Without a cached price, cached tokens cost (and sell at) the input price.
    expect(pricing.get("my-sold-model")?.cachedInputMicroUsdPerMillion).toBe(1_000_000n);
    expect(pricing.get("my-sold-model")?.sell).toEqual({
      input: 1_500_000n,
      cachedInput: 1_500_000n,
      output: 3_000_000n,
    });
    expect(pricing.get("my-plain-model")).toMatchObject({
      cachedInputMicroUsdPerMillion: 1_000_000n,
      maxOutputTokens: DEFAULT_MAX_OUTPUT_TOKENS,
      sell: undefined,
    });
    expect(DEFAULT_MAX_OUTPUT_TOKENS).toBe(16_384);
  });

  it("an override keeps the built-in provider and output limit, but not the built-in cached price", () => {
    const pricing = buildPricing({
      "gpt-5": { input: "0.10", output: 1 },
      o3: { input: 2, cached_input: "0.4", output: 8, max_output_tokens: 50_000 },
    });
    expect(pricing.get("gpt-5")).toEqual({
      provider: "openai",
      inputMicroUsdPerMillion: 100_000n,
      // The built-in $0.125 would be above this input price.
      cachedInputMicroUsdPerMillion: 100_000n,
      outputMicroUsdPerMillion: 1_000_000n,
      maxOutputTokens: 128_000,
      sell: undefined,
    });
    expect(pricing.get("o3")).toMatchObject({ cachedInputMicroUsdPerMillion: 400_000n, maxOutputTokens: 50_000 });
  });

  it("rejects prices it cannot represent exactly", () => {
    expect(() => buildPricing({ m: { input: 0.0000001, output: 1 } })).toThrow(/m\.input/);
    expect(() => buildPricing({ m: { input: -1, output: 1 } })).toThrow(/at most 6 decimals/);
    expect(() => buildPricing({ m: { input: 1 } })).toThrow(/m\.output/);
    expect(() => buildPricing({ m: { input: 1, cached_input: "0.0000001", output: 1 } })).toThrow(/m\.cached_input/);
    expect(() => buildPricing({ m: { input: 1, output: 1, sell: { input: 1 } } })).toThrow(/m\.sell\.output/);
    expect(() => buildPricing({ m: { input: 1, output: 1, sell: { input: "x", output: 1 } } })).toThrow(
      /m\.sell\.input: must be a non-negative USD amount/,
    );
  });

  it("refuses a cached price above the input price", () => {
    expect(() => buildPricing({ m: { input: 1, cached_input: "1.000001", output: 1 } })).toThrow(
      "m.cached_input: must not be above input",
    );
    expect(() => buildPricing({ m: { input: 1, output: 1, sell: { input: 2, cached_input: 3, output: 2 } } })).toThrow(
      "m.sell.cached_input: must not be above input",
    );
    // Equal is fine: no discount.
    expect(buildPricing({ m: { input: 1, cached_input: 1, output: 1 } }).get("m")?.cachedInputMicroUsdPerMillion).toBe(
      1_000_000n,
    );
  });

  it("refuses an output limit that is not an integer from 1 to 10,000,000", () => {
    for (const bad of [0, -1, 1.5, 10_000_001, "100"]) {
      expect(() => buildPricing({ m: { input: 1, output: 1, max_output_tokens: bad } }), String(bad)).toThrow(
        /^m\.max_output_tokens: /,
      );
    }
    expect(buildPricing({ m: { input: 1, output: 1, max_output_tokens: 10_000_000 } }).get("m")?.maxOutputTokens).toBe(
      10_000_000,
    );
  });
});
