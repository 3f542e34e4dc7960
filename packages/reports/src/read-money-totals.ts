import { type Executor, parseAmount } from "@aitasks/db";
import { sql } from "drizzle-orm";
import { REPORTING_CURRENCY } from "./get-report.js";

// One statement, one round trip, amounts as text (exact). Provider calls carry their task's
// provider and model (migration 0009): no join with the tasks. The ledger is append-only, so each sum
// only grows: income is split into what came in (positive rows) and what went back out (negative
// rows: refunds, disputes), each a sum that never shrinks.
const totalsQuery = sql`
  select 'api_cost' as total, provider::text as provider, model, null as category,
    sum(amount_usd)::text as amount, '0' as reversed
  from ledger_entries
  where category = 'api_cost' and currency = ${REPORTING_CURRENCY} and provider is not null
  group by provider, model
  union all
  select 'income', null, null, category::text,
    coalesce(sum(amount_usd) filter (where amount_usd > 0), 0)::text,
    coalesce(-sum(amount_usd) filter (where amount_usd < 0), 0)::text
  from ledger_entries where kind = 'income' and currency = ${REPORTING_CURRENCY}
  group by category
  union all
  select 'charged', null, null, null, coalesce(sum(charged_usd), 0)::text, '0'
  from tasks where status = 'completed'`;

export interface MoneyTotals {
  /** Every provider call's cost as booked (`api_cost`), by the provider and model of its task. */
  apiCost: { provider: string; model: string; amount: bigint }[];
  /** What completed tasks charged their users (prepaid billing; 0 in open billing). */
  charged: bigint;
  /** Income by category: received (positive rows) and reversed (negative rows, as a positive amount). */
  income: { category: string; received: bigint; reversed: bigint }[];
}

/**
 * The ledger's running totals since the beginning, in the reporting currency, exact (pico-USD):
 * what Prometheus counters of money are read from at each scrape. Sums over the whole ledger: a
 * scan each time, cheap up to a few million rows.
 */
export async function readMoneyTotals(db: Executor): Promise<MoneyTotals> {
  const rows = await db.execute<{
    total: string;
    provider: string | null;
    model: string | null;
    category: string | null;
    amount: string;
    reversed: string;
  }>(totalsQuery);
  const totals: MoneyTotals = { apiCost: [], charged: 0n, income: [] };
  for (const row of rows) {
    if (row.total === "api_cost") {
      totals.apiCost.push({ provider: row.provider!, model: row.model!, amount: parseAmount(row.amount) });
    } else if (row.total === "income") {
      totals.income.push({
        category: row.category!,
        received: parseAmount(row.amount),
        reversed: parseAmount(row.reversed),
      });
    } else {
      totals.charged = parseAmount(row.amount);
    }
  }
  return totals;
}
