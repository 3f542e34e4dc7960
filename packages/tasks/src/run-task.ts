import { type Database, preparedPerDatabase, tasks } from "@aitasks/db";
import { AppError } from "@aitasks/errors";
import { costUsd, findPrice, type PricingTable, type Providers } from "@aitasks/providers";
import { and, eq, inArray, sql } from "drizzle-orm";

export interface RunTaskDeps {
  db: Database;
  providers: Providers;
  pricing: PricingTable;
  /**
   * Runs of one task allowed before it is failed for good. Provider retries use up to
   * TASK_MAX_ATTEMPTS; the rest absorbs runs lost to crashed workers.
   */
  maxRuns: number;
  /** Told after a task reached `completed` or `failed` (and the change is committed). */
  onFinished: (taskId: number) => Promise<void>;
}

export type RunOutcome =
  | { outcome: "completed" }
  | { outcome: "failed"; error: string }
  /** Another run already finished it (at-least-once delivery): nothing was called or booked. */
  | { outcome: "skipped" };

/** The claim: `pending` or `processing` (a run lost with its worker) becomes `processing`, one more attempt. */
const claimQuery = preparedPerDatabase((db) =>
  db
    .update(tasks)
    .set({
      status: "processing",
      attempts: sql`${tasks.attempts} + 1`,
      startedAt: sql`coalesce(${tasks.startedAt}, now())`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(tasks.id, sql.placeholder("taskId")), inArray(tasks.status, ["pending", "processing"])))
    .returning({ provider: tasks.provider, model: tasks.model, input: tasks.input, attempts: tasks.attempts })
    .prepare("claim_task"),
);

/**
 * Runs one task: claims it, calls its provider, and records the answer with its cost. Safe to run
 * twice for the same task: the state changes are compare-and-swap, and the completion and its
 * `api_cost` ledger row are one statement, with the ledger's unique key as a second guard.
 *
 * A retryable provider error is rethrown (the queue retries with backoff) unless `finalAttempt`.
 */
export async function runTask(
  deps: RunTaskDeps,
  taskId: number,
  { finalAttempt }: { finalAttempt: boolean },
): Promise<RunOutcome> {
  const { db } = deps;
  const [task] = await claimQuery(db).execute({ taskId });
  if (!task) return { outcome: "skipped" };

  if (task.attempts > deps.maxRuns) {
    return fail(deps, taskId, `gave up after ${deps.maxRuns} runs: the worker running this task stopped each time`);
  }
  const price = findPrice(deps.pricing, task.provider, task.model);
  if (!price) return fail(deps, taskId, `model "${task.model}" has no price: add it to PRICING_FILE`);

  let completion: Awaited<ReturnType<Providers["openai"]["complete"]>>;
  try {
    completion = await deps.providers[task.provider].complete({ model: task.model, prompt: task.input });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const retryable = !(error instanceof AppError) || error.retryable;
    if (retryable && !finalAttempt) {
      await db
        .update(tasks)
        .set({ error: message, updatedAt: sql`now()` })
        .where(and(eq(tasks.id, taskId), eq(tasks.status, "processing")));
      throw error;
    }
    return fail(deps, taskId, message);
  }

  const { promptTokens, completionTokens } = completion.usage;
  const cost = costUsd(price, completion.usage);
  const booked = await db.execute(sql`
    with done as (
      update tasks set status = 'completed', output = ${completion.text}, prompt_tokens = ${promptTokens},
        completion_tokens = ${completionTokens}, tokens_used = ${promptTokens + completionTokens},
        cost_usd = ${cost}, error = null, completed_at = now(), updated_at = now()
      where id = ${taskId} and status = 'processing'
      returning id, user_id, cost_usd, completed_at
    )
    insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, task_id)
    select 'expense', 'api_cost', cost_usd, completed_at, user_id, id from done
    on conflict (category, task_id) do nothing
    returning id`);
  if (booked.length === 0) return { outcome: "skipped" };
  await deps.onFinished(taskId);
  return { outcome: "completed" };
}

async function fail(deps: RunTaskDeps, taskId: number, error: string): Promise<RunOutcome> {
  const updated = await deps.db
    .update(tasks)
    .set({ status: "failed", error, completedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(tasks.id, taskId), eq(tasks.status, "processing")))
    .returning({ id: tasks.id });
  if (updated.length === 0) return { outcome: "skipped" };
  await deps.onFinished(taskId);
  return { outcome: "failed", error };
}
