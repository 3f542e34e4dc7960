import { type AccessContext, requireAdminKey } from "@aitasks/auth";
import { apiKeys, decimalAmount, type Executor, formatAmount, parseAmount } from "@aitasks/db";
import { KeyBudgetExceededError, NotFoundError } from "@aitasks/errors";
import { type SQL, sql } from "drizzle-orm";
import { z } from "zod";
import { MAX_CREDIT_USD } from "./admin-grants.js";

/**
 * A key's budget as clients set it: at most `amount` USD (to the micro-dollar, above 0) spent by
 * the key's tasks of one period: a UTC day, an ISO week (from Monday), a calendar month, or all time.
 */
export const KeyBudget = z.object(
  {
    amount: decimalAmount("budget.amount").refine(
      // Only an amount that passed the decimal rule is compared (the check runs after a failed one too).
      (amount) =>
        !/^\d{1,12}(\.\d{1,6})?$/.test(amount) ||
        (parseAmount(amount) > 0n && parseAmount(amount) <= parseAmount(String(MAX_CREDIT_USD))),
      `budget.amount must be above 0 and at most ${MAX_CREDIT_USD} (US dollars)`,
    ),
    period: z.enum(apiKeys.budgetPeriod.enumValues, {
      error: 'budget.period must be "day", "week", "month" or "total"',
    }),
  },
  { error: 'budget must be an object {"amount", "period"}, or null' },
);
export type KeyBudget = z.infer<typeof KeyBudget>;

/** A key's budget with what its current period has used, pico-USD. */
export interface KeyBudgetState {
  amount: bigint;
  period: KeyBudget["period"];
  /** Charged sale prices of the period's completed tasks. */
  spent: bigint;
  /** Holds of the period's unfinished tasks. */
  held: bigint;
}

/** When the current period of `period` began: UTC days, ISO weeks and calendar months; all time. */
const periodStart = (period: SQL) =>
  sql`case when ${period} = 'total' then '-infinity'::timestamptz else date_trunc(${period}::text, now(), 'UTC') end`;

/**
 * What the key's tasks created in the current period use of its budget: `spent`, the charged sale
 * prices of the completed ones (`key_spent_usd`, set by `completeAndCharge`), and `held`, the holds
 * of the unfinished ones. Failed and canceled tasks use nothing.
 */
const usedInPeriod = (keyId: SQL, period: SQL) => sql`
  select coalesce(sum(t.key_spent_usd) filter (where t.status = 'completed'), 0)::text as spent,
    coalesce(sum(t.key_hold_usd) filter (where t.status in ('pending', 'processing')), 0)::text as held
  from tasks t where t.api_key_id = ${keyId} and t.created_at >= ${periodStart(period)}`;

/**
 * Runs `store`, a submission's inserts needing `required` of the key's budget, only if the budget
 * covers it, in one transaction holding the key's row. Submissions with one key, from any API
 * process, take their turns on that row, and each sums the tasks stored by the ones before it (in
 * read committed, a statement's snapshot is taken after the lock is granted), so together they
 * never pass the budget. Nothing is stored when it would: `KeyBudgetExceededError`. A key without
 * a budget stores as it is.
 */
export async function withinKeyBudget<T>(
  db: Executor,
  keyId: number,
  required: bigint,
  store: (tx: Executor) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const [key] = await tx.execute<{ budget: string | null; period: string | null }>(sql`
      select budget_usd::text as budget, budget_period::text as period from api_keys where id = ${keyId} for update`);
    if (key?.budget != null) {
      const [used] = await tx.execute<{ spent: string; held: string }>(
        usedInPeriod(sql`${keyId}::bigint`, sql`${key.period}::text`),
      );
      const budget = parseAmount(key.budget);
      const spent = parseAmount(used!.spent) + parseAmount(used!.held);
      if (spent + required > budget) throw new KeyBudgetExceededError(budget, spent, required);
    }
    return store(tx);
  });
}

/** The budgets of `keyIds` that have one, with their current period's use. */
export async function keyBudgetsOf(db: Executor, keyIds: readonly number[]): Promise<Map<number, KeyBudgetState>> {
  if (keyIds.length === 0) return new Map();
  const rows = await db.execute<{
    id: string;
    amount: string;
    period: KeyBudget["period"];
    spent: string;
    held: string;
  }>(
    sql`
      select k.id::text, k.budget_usd::text as amount, k.budget_period as period, used.spent, used.held
      from api_keys k
      cross join lateral (${usedInPeriod(sql`k.id`, sql`k.budget_period::text`)}) used
      where k.id = any(${sql.param(keyIds.map(String))}::bigint[]) and k.budget_usd is not null`,
  );
  return new Map(
    rows.map((row) => [
      Number(row.id),
      {
        amount: parseAmount(row.amount),
        period: row.period,
        spent: parseAmount(row.spent),
        held: parseAmount(row.held),
      },
    ]),
  );
}

/**
 * An admin sets a key's budget, or removes it (null). Tasks already submitted with the key count
 * against the new budget in its current period; a budget below what they use refuses new ones.
 */
export async function setKeyBudget({ db, principal }: AccessContext, keyId: number, budget: KeyBudget | null) {
  requireAdminKey(principal);
  const updated = await db.execute(sql`
    update api_keys set budget_usd = ${budget ? formatAmount(parseAmount(budget.amount)) : null}::numeric,
      budget_period = ${budget?.period ?? null}::key_budget_period
    where id = ${keyId} returning id`);
  if (updated.length === 0) throw new NotFoundError(`API key ${keyId} not found`);
}
