import { adminKeyDigests } from "@aitasks/auth";
import { buildPricing } from "@aitasks/providers";
import { parsePrometheusText, sumOf } from "@aitasks/testing";
import { describe, expect, it } from "vitest";
import { createMetricsAccess } from "./access.js";
import { methodLabel, modelLabel, routeLabel } from "./labels.js";
import { type MoneyTotals, registerMoneyMetrics } from "./money-metrics.js";
import { registerQueueMetrics } from "./queue-metrics.js";
import { createMetricsRegistry } from "./registry.js";
import { createSourceStatus } from "./sources.js";

const pricing = buildPricing();
const scrape = async (registry: ReturnType<typeof createMetricsRegistry>) =>
  parsePrometheusText(await registry.metrics());

describe("labels", () => {
  it("are route templates with /api/v1 folded into /api, and one value for unmatched requests", () => {
    expect(routeLabel("/api/task/:id")).toBe("/api/task/:id");
    expect(routeLabel("/api/v1/task/:id/events")).toBe("/api/task/:id/events");
    expect(routeLabel("/metrics")).toBe("/metrics");
    expect(routeLabel(undefined)).toBe("unmatched");
    expect(methodLabel("GET")).toBe("GET");
    expect(methodLabel("PROPFIND")).toBe("other");
  });

  it("name only models the pricing table prices for that provider", () => {
    expect(modelLabel(pricing, "openai", "gpt-4o-mini")).toBe("gpt-4o-mini");
    expect(modelLabel(pricing, "mistral", "gpt-4o-mini")).toBe("other");
    expect(modelLabel(pricing, "openai", "my-own-fine-tune")).toBe("other");
  });
});

describe("createMetricsAccess", () => {
  const admin = "admin-key-0123456789";
  const token = "metrics-token-0123456789";

  it("lets anyone in when neither an admin key nor a token is configured", () => {
    const access = createMetricsAccess({ adminKeyDigests: [] });
    expect(access.open).toBe(true);
    expect(access.allows({})).toBe(true);
  });

  it("asks for the token or an admin key as soon as either is configured", () => {
    for (const access of [
      createMetricsAccess({ adminKeyDigests: adminKeyDigests([admin]), metricsToken: token }),
      createMetricsAccess({ adminKeyDigests: [], metricsToken: token }),
    ]) {
      expect(access.open).toBe(false);
      expect(access.allows({})).toBe(false);
      expect(access.allows({ authorization: `Bearer ${token}` })).toBe(true);
      expect(access.allows({ authorization: `bearer  ${token} ` })).toBe(true);
      expect(access.allows({ "x-api-key": token })).toBe(true);
      expect(access.allows({ authorization: `Bearer ${token}x` })).toBe(false);
      expect(access.allows({ authorization: token })).toBe(false);
      expect(access.allows({ authorization: "Bearer " })).toBe(false);
    }
    const withAdmin = createMetricsAccess({ adminKeyDigests: adminKeyDigests([admin]) });
    expect(withAdmin.allows({ authorization: `Bearer ${admin}` })).toBe(true);
    expect(withAdmin.allows({ authorization: `Bearer ${token}` })).toBe(false);
  });
});

describe("metrics read at scrape time", () => {
  it("answer at once without the queues' figures when Redis does not answer", async () => {
    const registry = createMetricsRegistry();
    const sources = createSourceStatus();
    registerQueueMetrics(registry, sources, () => new Promise(() => {}), { timeoutMs: 100 });
    sources.register(registry);
    const started = Date.now();
    const samples = await scrape(registry);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(samples.filter((s) => s.name === "aitasks_queue_jobs")).toEqual([]);
    expect(sumOf(samples, "aitasks_metrics_source_up", { source: "redis" })).toBe(0);
  });

  it("read the ledger once per scrape, fold unpriced models into `other`, and keep the last totals when it fails", async () => {
    const registry = createMetricsRegistry();
    const sources = createSourceStatus();
    let reads = 0;
    let next: MoneyTotals | Error = {
      apiCost: [
        { provider: "openai", model: "gpt-4o-mini", amount: 1_250_000_000_000n },
        { provider: "openai", model: "retired-a", amount: 1n },
        { provider: "openai", model: "retired-b", amount: 2n },
      ],
      charged: 3_000_000_000_001n,
      income: [{ category: "micro_payment", received: 12_340_000_000_000n, reversed: 2_500_000_000_000n }],
    };
    registerMoneyMetrics(
      registry,
      sources,
      async () => {
        reads++;
        if (next instanceof Error) throw next;
        return next;
      },
      { pricing, timeoutMs: 1000 },
    );
    sources.register(registry);
    const first = await scrape(registry);
    expect(reads).toBe(1);
    expect(sumOf(first, "aitasks_api_cost_usd_total", { model: "gpt-4o-mini" })).toBe(1.25);
    expect(sumOf(first, "aitasks_api_cost_usd_total", { model: "other" })).toBe(0.000000000003);
    expect(sumOf(first, "aitasks_charged_usd_total")).toBe(3.000000000001);
    expect(sumOf(first, "aitasks_income_usd_total", { category: "micro_payment" })).toBe(12.34);
    expect(sumOf(first, "aitasks_income_reversed_usd_total", { category: "micro_payment" })).toBe(2.5);
    expect(sumOf(first, "aitasks_metrics_source_up", { source: "postgres" })).toBe(1);

    next = new Error("database down");
    const second = await scrape(registry);
    expect(reads).toBe(2);
    for (const name of ["aitasks_api_cost_usd_total", "aitasks_charged_usd_total", "aitasks_income_usd_total"]) {
      expect(sumOf(second, name), name).toBe(sumOf(first, name));
    }
    expect(sumOf(second, "aitasks_metrics_source_up", { source: "postgres" })).toBe(0);
  });

  it("keep to their own registry: two registries in one process do not clash", async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry();
    registerQueueMetrics(a, createSourceStatus(), async () => [{ queue: "tasks", counts: { waiting: 3 } }], {
      timeoutMs: 100,
    });
    registerQueueMetrics(b, createSourceStatus(), async () => [{ queue: "tasks", counts: { waiting: 5 } }], {
      timeoutMs: 100,
    });
    expect(sumOf(await scrape(a), "aitasks_queue_jobs", { state: "waiting" })).toBe(3);
    expect(sumOf(await scrape(b), "aitasks_queue_jobs", { state: "waiting" })).toBe(5);
  });
});
