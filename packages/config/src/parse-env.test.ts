import { describe, expect, it } from "vitest";
import { ApiEnv, ConfigError, parseEnv, WorkerEnv } from "./index.js";

describe("parseEnv", () => {
  it("applies the documented defaults", () => {
    const config = parseEnv(WorkerEnv, {});
    expect(config).toMatchObject({
      DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:5432/postgres",
      REDIS_URL: "redis://127.0.0.1:6379",
      QUEUE_PREFIX: "bull",
      OPENAI_MODEL: "gpt-4o-mini",
      MISTRAL_MODEL: "mistral-small-latest",
      WORKER_CONCURRENCY: 20,
      TASK_MAX_ATTEMPTS: 3,
      PROVIDER_TIMEOUT_MS: 60_000,
      LOG_LEVEL: "info",
    });
    expect(parseEnv(ApiEnv, {})).toMatchObject({ PORT: 5000, HOST: "0.0.0.0" });
  });

  it("names every bad variable", () => {
    const parse = () =>
      parseEnv(WorkerEnv, { PORT: "x", WORKER_CONCURRENCY: "0", REDIS_URL: "http://x", LOG_LEVEL: "loud" });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/WORKER_CONCURRENCY/);
    expect(parse).toThrow(/REDIS_URL/);
    expect(parse).toThrow(/LOG_LEVEL/);
    expect(() => parseEnv(ApiEnv, { PORT: "70000" })).toThrow(/PORT/);
  });

  it("reads the billing variables, and refuses any that does not parse, naming it", () => {
    const admin = { ADMIN_API_KEY: "admin-key-0123456789" };
    const defaults = parseEnv(ApiEnv, {});
    expect(defaults).toMatchObject({ BILLING_MODE: "open", PRICE_MARKUP: "1", DEFAULT_MAX_OUTPUT_TOKENS: 1024 });
    expect(defaults.SUBSCRIPTION_CREDIT_USD).toBeUndefined();
    expect(
      parseEnv(ApiEnv, { ...admin, BILLING_MODE: "prepaid", PRICE_MARKUP: "1.25", SUBSCRIPTION_CREDIT_USD: "9.99" }),
    ).toMatchObject({ BILLING_MODE: "prepaid", PRICE_MARKUP: "1.25", SUBSCRIPTION_CREDIT_USD: "9.99" });
    for (const [variable, value] of [
      ["BILLING_MODE", "free"],
      ["PRICE_MARKUP", "0.9"],
      ["PRICE_MARKUP", "1.0000001"],
      ["PRICE_MARKUP", "abc"],
      ["PRICE_MARKUP", "-2"],
      ["SUBSCRIPTION_CREDIT_USD", "-5"],
      ["SUBSCRIPTION_CREDIT_USD", "1e3"],
      ["DEFAULT_MAX_OUTPUT_TOKENS", "0"],
      ["DEFAULT_MAX_OUTPUT_TOKENS", "1.5"],
    ]) {
      expect(() => parseEnv(ApiEnv, { ...admin, [variable!]: value }), `${variable}=${value}`).toThrow(
        new RegExp(`^invalid configuration:\\n  ${variable}: `),
      );
    }
    // Open mode would let anyone grant themselves credit.
    expect(() => parseEnv(ApiEnv, { BILLING_MODE: "prepaid" })).toThrow(/BILLING_MODE: prepaid needs ADMIN_API_KEY/);
  });

  it("accepts a Redis Cluster hash tag as queue prefix and treats empty values as unset", () => {
    const config = parseEnv(WorkerEnv, { QUEUE_PREFIX: "{ai}", OPENAI_API_KEY: "", WORKER_CONCURRENCY: "250" });
    expect(config.QUEUE_PREFIX).toBe("{ai}");
    expect(config.OPENAI_API_KEY).toBeUndefined();
    expect(config.WORKER_CONCURRENCY).toBe(250);
    expect(() => parseEnv(WorkerEnv, { QUEUE_PREFIX: "a:b" })).toThrow(/QUEUE_PREFIX/);
  });

  it("takes any currency, with the micro-payment amount in its smallest unit (tens for three-decimal ones)", () => {
    expect(parseEnv(ApiEnv, { CURRENCY: "jpy", MICRO_PAYMENT_AMOUNT_CENTS: "150" })).toMatchObject({ CURRENCY: "jpy" });
    expect(parseEnv(ApiEnv, { CURRENCY: "kwd", MICRO_PAYMENT_AMOUNT_CENTS: "1000" })).toMatchObject({
      CURRENCY: "kwd",
    });
    expect(() => parseEnv(ApiEnv, { CURRENCY: "kwd", MICRO_PAYMENT_AMOUNT_CENTS: "1005" })).toThrow(
      /MICRO_PAYMENT_AMOUNT_CENTS: must be a multiple of 10/,
    );
    expect(() => parseEnv(ApiEnv, { CURRENCY: "US$" })).toThrow(/CURRENCY/);
  });

  it("reads the callback variables, with their defaults, and refuses a secret that is not whsec_ + base64", () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    for (const schema of [ApiEnv, WorkerEnv]) {
      expect(parseEnv(schema, {})).toMatchObject({
        CALLBACK_MAX_ATTEMPTS: 12,
        CALLBACK_RETRY_BASE_MS: 5000,
        CALLBACK_ALLOW_PRIVATE_NETWORKS: false,
      });
      expect(parseEnv(schema, {}).CALLBACK_SIGNING_SECRET).toBeUndefined();
      expect(
        parseEnv(schema, {
          CALLBACK_SIGNING_SECRET: secret,
          CALLBACK_MAX_ATTEMPTS: "3",
          CALLBACK_RETRY_BASE_MS: "50",
          CALLBACK_ALLOW_PRIVATE_NETWORKS: "true",
        }),
      ).toMatchObject({
        CALLBACK_SIGNING_SECRET: secret,
        CALLBACK_MAX_ATTEMPTS: 3,
        CALLBACK_RETRY_BASE_MS: 50,
        CALLBACK_ALLOW_PRIVATE_NETWORKS: true,
      });
    }
    expect(parseEnv(WorkerEnv, {}).CALLBACK_TIMEOUT_MS).toBe(10_000);
    for (const [variable, value] of [
      ["CALLBACK_SIGNING_SECRET", Buffer.alloc(32).toString("base64")],
      ["CALLBACK_SIGNING_SECRET", "whsec_not base64!"],
      ["CALLBACK_SIGNING_SECRET", `whsec_${Buffer.alloc(8).toString("base64")}`],
      ["CALLBACK_SIGNING_SECRET", `whsec_${Buffer.alloc(100).toString("base64")}`],
      ["CALLBACK_MAX_ATTEMPTS", "0"],
      ["CALLBACK_MAX_ATTEMPTS", "101"],
      ["CALLBACK_RETRY_BASE_MS", "0"],
      ["CALLBACK_RETRY_BASE_MS", "fast"],
      ["CALLBACK_ALLOW_PRIVATE_NETWORKS", "yes"],
      ["CALLBACK_ALLOW_PRIVATE_NETWORKS", "1"],
      ["REDIS_ALLOW_EVICTION", "yes"],
    ]) {
      expect(() => parseEnv(WorkerEnv, { [variable!]: value }), `${variable}=${value}`).toThrow(
        new RegExp(`^invalid configuration:\\n  ${variable}: `),
      );
    }
    expect(() => parseEnv(WorkerEnv, { CALLBACK_TIMEOUT_MS: "0" })).toThrow(/CALLBACK_TIMEOUT_MS/);
  });
});
