import { describe, expect, it } from "vitest";
import { buildPricing, costUsd, findPrice } from "./pricing.js";

describe("pricing", () => {
  it("computes exact costs, with no floating-point drift", () => {
    const pricing = buildPricing();
    const price = findPrice(pricing, "openai", "gpt-4o-mini");
    expect(price).toBeDefined();
    // 20 × $0.15/M + 130 × $0.60/M = $0.000003 + $0.000078
    expect(costUsd(price!, { promptTokens: 20, completionTokens: 130 })).toBe("0.000081000000");
    expect(costUsd(price!, { promptTokens: 1, completionTokens: 0 })).toBe("0.000000150000");
    expect(costUsd(price!, { promptTokens: 0, completionTokens: 0 })).toBe("0.000000000000");
    expect(costUsd(price!, { promptTokens: 10_000_000, completionTokens: 1_000_000 })).toBe("2.100000000000");
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
    expect(costUsd(overridden, { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBe("3.500000000000");
    expect(findPrice(pricing, "mistral", "my-local-model")).toBeDefined();
    expect(findPrice(pricing, "openai", "my-local-model")).toBeDefined();
    expect(findPrice(pricing, "openai", "my-mistral")).toBeUndefined();
  });

  it("rejects prices it cannot represent exactly", () => {
    expect(() => buildPricing({ m: { input: 0.0000001, output: 1 } })).toThrow(/m\.input/);
    expect(() => buildPricing({ m: { input: -1, output: 1 } })).toThrow(/at most 6 decimals/);
    expect(() => buildPricing({ m: { input: 1 } })).toThrow(/m\.output/);
  });
});
