import { type SQL, sql } from "drizzle-orm";

/**
 * The hold a prepaid submission takes on its user's credit, as a statement to compose with the
 * task's insert (a CTE), so the hold and the task are stored together or not at all: `amount`
 * (USD, a numeric's text) is added to the user's `held` only where the available credit
 * (`balance - held`) covers it, and the user's id is returned when it was. Concurrent submissions
 * queue on the balance row and each re-checks the condition against the row as the one before
 * left it, so together they never hold more than the balance. `alsoWhere` adds a condition on the
 * same row (alias `b`), such as a quota of unfinished tasks. The hold is released, and a completed
 * task charged, by `tasks_settle_hold` (sql/tasks_settle_hold.sql) when the task finishes.
 */
export function takeCreditHold(userId: SQL, amount: string, alsoWhere?: SQL): SQL {
  return sql`update credit_balances b set held = b.held + ${amount}::numeric
    where b.user_id = ${userId} and b.balance - b.held >= ${amount}::numeric${alsoWhere ? sql` and ${alsoWhere}` : sql``}
    returning b.user_id`;
}
