import { formatAmount } from "@aitasks/db";
import type { PricingTable } from "@aitasks/providers";
import { Counter, type Registry } from "prom-client";
import { modelLabel } from "./labels.js";
import { withTimeout } from "./registry.js";
import type { SourceStatus } from "./sources.js";

/** The ledger's totals, exact (pico-USD), as `readMoneyTotals` of @aitasks/reports returns them. */
export interface MoneyTotals {
  apiCost: { provider: string; model: string; amount: bigint }[];
  charged: bigint;
  income: { category: string; received: bigint; reversed: bigint }[];
}

const dollars = (pico: bigint) => Number(formatAmount(pico));

/**
 * The money counters, read from Postgres at each scrape: the ledger's own sums, so they equal it
 * exactly (as doubles), survive restarts, and are the same in every API process (aggregate them
 * with `max`, never `sum`). The ledger is append-only and each sum only adds amounts of one sign,
 * so none ever goes down; refunds and disputes that withdrew income are their own counter,
 * `aitasks_income_reversed_usd_total`. A read that fails or times out keeps the last values (a
 * counter that vanished or dropped to 0 would read as a reset), the postgres source then at 0.
 */
export function registerMoneyMetrics(
  registry: Registry,
  sources: SourceStatus,
  readTotals: () => Promise<MoneyTotals>,
  { pricing, timeoutMs }: { pricing: PricingTable; timeoutMs: number },
) {
  // The counters' collects run together in one scrape: they share one read.
  let reading: Promise<MoneyTotals | undefined> | undefined;
  const read = () => {
    reading ??= sources
      .track("postgres", withTimeout(readTotals(), timeoutMs, "reading the ledger's totals"))
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  new Counter({
    name: "aitasks_api_cost_usd_total",
    help: "Provider cost booked in the ledger (api_cost), USD, by provider and model (priced models; others as `other`)",
    labelNames: ["provider", "model"] as const,
    registers: [registry],
    async collect() {
      const totals = await read();
      if (!totals) return;
      const byLabel = new Map<string, { provider: string; model: string; amount: bigint }>();
      for (const { provider, model, amount } of totals.apiCost) {
        const label = modelLabel(pricing, provider, model);
        const key = `${provider}\n${label}`;
        const entry = byLabel.get(key) ?? { provider, model: label, amount: 0n };
        entry.amount += amount;
        byLabel.set(key, entry);
      }
      this.reset();
      for (const { provider, model, amount } of byLabel.values()) this.inc({ provider, model }, dollars(amount));
    },
  });
  new Counter({
    name: "aitasks_charged_usd_total",
    help: "What completed tasks charged their users' credit (prepaid billing), USD",
    registers: [registry],
    async collect() {
      const totals = await read();
      if (!totals) return;
      this.reset();
      this.inc(dollars(totals.charged));
    },
  });
  new Counter({
    name: "aitasks_income_usd_total",
    help: "Income received (positive income rows of the ledger), USD, by category",
    labelNames: ["category"] as const,
    registers: [registry],
    async collect() {
      const totals = await read();
      if (!totals) return;
      this.reset();
      for (const { category, received } of totals.income) this.inc({ category }, dollars(received));
    },
  });
  new Counter({
    name: "aitasks_income_reversed_usd_total",
    help: "Income given back (negative income rows: refunds, disputes), USD as a positive amount, by category",
    labelNames: ["category"] as const,
    registers: [registry],
    async collect() {
      const totals = await read();
      if (!totals) return;
      this.reset();
      for (const { category, reversed } of totals.income) this.inc({ category }, dollars(reversed));
    },
  });
}
