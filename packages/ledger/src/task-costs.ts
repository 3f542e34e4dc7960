import type { Executor } from "@aitasks/db";
import { sql } from "drizzle-orm";

// What a task's provider calls cost us (`api_cost`, in `ledger_entries`) and what a completed task
// charges its user. The task runner describes what happened (a call's usage, priced at the task's
// frozen prices; the answer it completes the task with); these statements decide what is booked.
// The charge's credit entry and the hold's release are booked by `tasks_settle_hold`
// (sql/tasks_settle_hold.sql), in the completing statement's transaction.

/** One provider call's usage, priced: which call (its run), and what it cost. */
export interface ProviderUsage {
  taskId: number;
  /**
   * The run that made the call (its lease owner). The cost is booked once per run, whichever run
   * books it: a run that finds another run's kept answer books it under that run's id.
   */
  runId: string;
  /** USD, exact (a numeric's text), at the task's frozen cost prices. */
  cost: string;
}

/** The token counts stored on a completed task. */
export interface TaskTokens {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** A provider's answer that completes its task. */
export interface TaskCompletion extends ProviderUsage {
  /** The lease of the run completing the task: the task completes only while it holds it. */
  leaseOwner: string;
  output: string;
  tokens: TaskTokens;
  /** USD, exact: the sale price of the usage, at the task's frozen sale prices. */
  sale: string;
}

const bookCost = (usage: ProviderUsage) => sql`
  insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, task_id, run_id, provider, model)
  select 'expense', 'api_cost', ${usage.cost}::numeric, now(), user_id, id, ${usage.runId}, provider, model
  from tasks where id = ${usage.taskId}
  on conflict (category, task_id, run_id) do nothing`;

/**
 * Books a provider call that reported usage as its run's `api_cost` (the provider bills it,
 * whatever became of the answer): once per run, so a booking repeated after a lost reply, or by
 * another run, books nothing more. Returns whether this call booked it.
 */
export async function bookProviderUsage(db: Executor, usage: ProviderUsage): Promise<boolean> {
  const booked = await db.execute(sql`${bookCost(usage)} returning 1`);
  return booked.length > 0;
}

/**
 * Completes a task with a provider's answer and charges it, in one statement with the call's
 * `api_cost` (`bookProviderUsage`'s rule: the cost is booked whether or not the task completes).
 * The task completes only if it is `processing` under `leaseOwner`'s lease: a run that lost its
 * lease, or a task canceled meanwhile, is not completed (`completed` undefined). Its charge is the
 * sale price, never more than its hold: the hold is the price the user agreed to, and the output
 * limit sent to the provider keeps the usage within it (a provider that overran it is not billed
 * to the user). An open-billing task (no hold) is charged nothing. A task submitted with a user key
 * spends its sale price, within the same bound, of that key's budget (`key_spent_usd`).
 */
export async function completeAndCharge(
  db: Executor,
  completion: TaskCompletion,
): Promise<{
  completed: { callbackUrl: string | null; totalSeconds: number } | undefined;
  costBooked: boolean;
}> {
  const { tokens } = completion;
  const [row] = await db.execute<{
    cost_booked: number;
    id: string | null;
    callback_url: string | null;
    total_seconds: number | null;
  }>(sql`
    with done as (
      update tasks set status = 'completed', output = ${completion.output},
        prompt_tokens = ${tokens.promptTokens}, completion_tokens = ${tokens.completionTokens},
        tokens_used = ${tokens.promptTokens + tokens.completionTokens}, cached_tokens = ${tokens.cachedTokens},
        reasoning_tokens = ${tokens.reasoningTokens}, cost_usd = ${completion.cost}::numeric,
        charged_usd = case when hold_usd is null then null else least(${completion.sale}::numeric, hold_usd) end,
        key_spent_usd = case when api_key_id is null then null
          else least(${completion.sale}::numeric, coalesce(key_hold_usd, ${completion.sale}::numeric)) end,
        error = null, completed_at = now(), updated_at = now(), lease_expires_at = now()
      where id = ${completion.taskId} and status = 'processing' and lease_owner = ${completion.leaseOwner}
      returning id, callback_url, extract(epoch from completed_at - created_at)::float8 as total_seconds
    ), cost as (
      ${bookCost(completion)}
      returning 1
    )
    select (select count(*) from cost)::int as cost_booked, done.id, done.callback_url, done.total_seconds
    from (values (1)) as one (x) left join done on true`);
  return {
    completed:
      row?.id == null ? undefined : { callbackUrl: row.callback_url, totalSeconds: row.total_seconds as number },
    costBooked: (row?.cost_booked ?? 0) > 0,
  };
}
