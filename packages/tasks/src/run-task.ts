import { randomUUID } from "node:crypto";
import { type Database, formatAmount, preparedPerDatabase, tasks } from "@aitasks/db";
import { AppError } from "@aitasks/errors";
import { bookProviderUsage, completeAndCharge } from "@aitasks/ledger";
import {
  costOf,
  findPrice,
  type PricingTable,
  ProviderError,
  type ProviderName,
  type Providers,
  readTaskPrice,
  saleOf,
  type TaskPrice,
  type TokenUsage,
  taskPrice,
} from "@aitasks/providers";
import { and, eq, isNull, or, type SQL, sql } from "drizzle-orm";
import { type AnswerKeeper, type KeptAnswer, untilBooked } from "./kept-answer.js";

export interface RunTaskDeps {
  db: Database;
  providers: Providers;
  pricing: PricingTable;
  /**
   * Runs of one task allowed before it is failed for good. Provider retries use up to
   * TASK_MAX_ATTEMPTS; the rest absorbs runs lost to crashed workers.
   */
  maxRuns: number;
  /**
   * How long a run's hold on its task lasts without renewal; a live run renews it every third of
   * that while it calls the provider, so only a run that died or stopped (SIGSTOP, a long GC
   * pause) is taken over. The worker uses its job lock's duration.
   */
  leaseMs: number;
  /** Told after a run claimed the task (it is `processing`, committed); not awaited. */
  onStarted: (taskId: number) => Promise<void>;
  /**
   * Told after a task reached `completed` or `failed` (and the change is committed), with its
   * callback_url (the worker then queues the callback).
   */
  onFinished: (
    taskId: number,
    finished: { status: "completed" | "failed"; callbackUrl: string | null },
  ) => Promise<void>;
  /** Where a streamed task's output goes as it is written (`"stream": true`). */
  output: {
    append(taskId: number, run: number, text: string): void;
    /** Resolves once every piece appended so far is written. */
    flush(taskId: number, run: number): Promise<void>;
  };
  /** Told what runs do and how long things took (the worker's metrics); nothing when absent. */
  observer?: RunTaskObserver | undefined;
}

/** The task a run observation is about. */
export interface ObservedTask {
  provider: ProviderName;
  model: string;
}

/**
 * Plain callbacks, called synchronously and never awaited, so that what watches runs (a metrics
 * registry) stays out of the domain. Durations come from Postgres's clock where they start at the
 * task's creation, so workers' clocks play no part.
 */
export interface RunTaskObserver {
  /** A task's first run claimed it, `queuedSeconds` after the task was created. */
  firstClaimed?(task: ObservedTask, queuedSeconds: number): void;
  /** A provider call ended after `seconds`, with the error it threw if it failed (a canceled call is not told). */
  providerCalled?(task: ObservedTask, seconds: number, error?: unknown): void;
  /**
   * A provider call's usage was booked as its run's `api_cost` (committed), whether or not the task
   * completed; told by the run whose statement booked it (another run's kept answer included).
   */
  usageBooked?(task: ObservedTask, usage: TokenUsage): void;
  /** The task reached `completed` or `failed` (committed), `totalSeconds` after it was created. */
  finished?(task: ObservedTask, status: "completed" | "failed", totalSeconds: number): void;
}

export type RunOutcome =
  | { outcome: "completed" }
  | { outcome: "failed"; error: string }
  /**
   * Another run already finished it (at-least-once delivery), or it was canceled: nothing was
   * called or booked, or the call was aborted.
   */
  | { outcome: "skipped" }
  /** Another run holds the task until `until` (it may still be calling the provider): try again then. */
  | { outcome: "leased"; until: Date }
  /**
   * The provider failed in a way that may pass (429, 5xx, a timeout): the task stays `processing`
   * with the error shown, and this run's lease ends. The caller decides: another attempt later,
   * or `giveUp()` to fail the task (its queue's last attempt).
   */
  | { outcome: "retryable"; error: unknown; giveUp(): Promise<RunOutcome> };

export interface RunOptions {
  /** Aborts the provider call: the task was canceled. */
  signal?: AbortSignal | undefined;
  /** Where this run keeps its answer until it is booked, and finds an answer a previous run kept. */
  keeper?: AnswerKeeper | undefined;
  /**
   * Aborted when this run may no longer wait for Postgres to book its answer (its job's lock was
   * lost, the worker is closing): the answer stays kept for the next run. Absent: the run waits
   * until the booking lands.
   */
  stopBooking?: AbortSignal | undefined;
}

/**
 * The claim: `pending`, or `processing` whose lease has expired (a run lost with its worker),
 * becomes `processing` under a new lease, one more attempt.
 */
const claimQuery = preparedPerDatabase((db) =>
  db
    .update(tasks)
    .set({
      status: "processing",
      attempts: sql`${tasks.attempts} + 1`,
      startedAt: sql`coalesce(${tasks.startedAt}, now())`,
      updatedAt: sql`now()`,
      leaseOwner: sql`${sql.placeholder("owner")}::text`,
      leaseExpiresAt: sql`now() + ${sql.placeholder("leaseMs")}::int * interval '1 millisecond'`,
    })
    .where(
      and(
        eq(tasks.id, sql.placeholder("taskId")),
        or(
          eq(tasks.status, "pending"),
          and(eq(tasks.status, "processing"), or(isNull(tasks.leaseExpiresAt), sql`${tasks.leaseExpiresAt} <= now()`)),
        ),
      ),
    )
    .returning({
      provider: tasks.provider,
      model: tasks.model,
      input: tasks.input,
      attempts: tasks.attempts,
      maxOutputTokens: tasks.maxOutputTokens,
      price: tasks.price,
      stream: tasks.stream,
      // RETURNING sees the new row: from creation to the first run's start.
      queuedSeconds: sql<number>`extract(epoch from ${tasks.startedAt} - ${tasks.createdAt})::float8`,
    })
    .prepare("claim_task"),
);

/** Why a claim found nothing: finished or missing (skip), or held by a live run (wait for its lease). */
async function unclaimable(db: Database, taskId: number): Promise<RunOutcome> {
  const [task] = await db
    .select({ status: tasks.status, leaseExpiresAt: tasks.leaseExpiresAt })
    .from(tasks)
    .where(eq(tasks.id, taskId));
  if (task?.status === "processing" && task.leaseExpiresAt) return { outcome: "leased", until: task.leaseExpiresAt };
  return { outcome: "skipped" };
}

/**
 * Runs one task: claims it, calls its provider, and records the answer with its cost. Safe to run
 * twice for the same task: the claim takes a lease that a second run respects until it expires,
 * and only the lease's holder may finish the task (a run that lost its lease, paused past it, finds
 * its answer refused). Every call that returned usage is booked as an `api_cost` of its run, a
 * refused answer's and an answer without content's too (the provider bills them); the completion,
 * which alone charges the user, is the same statement (`completeAndCharge`). An answer is kept
 * (`options.keeper`) before it is booked, and its booking waits out a Postgres outage: a run that
 * finds an answer a previous run kept books it, and calls the provider only if it had no text.
 */
export async function runTask(deps: RunTaskDeps, taskId: number, options: RunOptions = {}): Promise<RunOutcome> {
  const { db, observer } = deps;
  const { signal, keeper } = options;
  const kept = keeper?.kept;
  const owner = randomUUID();
  const [task] = await claimQuery(db).execute({ taskId, owner, leaseMs: deps.leaseMs });
  if (!task) {
    // Whatever became of the task since (finished by a run whose reply was lost, canceled), the
    // kept call was billed.
    if (kept) await bookKeptUsage(deps, options, taskId, kept);
    return unclaimable(db, taskId);
  }
  const held = and(eq(tasks.id, taskId), eq(tasks.status, "processing"), eq(tasks.leaseOwner, owner));
  const observed: ObservedTask = { provider: task.provider, model: task.model };
  const run: Run = { taskId, owner, observed, held };
  if (task.attempts === 1) observer?.firstClaimed?.(observed, task.queuedSeconds);
  const price = frozenPrice(deps.pricing, task);

  if (kept && price) {
    if (kept.text !== null) return complete(deps, options, run, price, { ...kept, text: kept.text });
    await bookUsage(deps, options, run, price, kept);
  }
  if (task.attempts > deps.maxRuns) {
    return fail(deps, run, `gave up after ${deps.maxRuns} runs: the worker running this task stopped each time`);
  }
  if (!price) return fail(deps, run, `model "${task.model}" has no price: add it to PRICING_FILE`);

  // Not awaited: event streams hear of it, but the call need not wait for the announcement.
  void deps.onStarted(taskId);
  let completion: Awaited<ReturnType<Providers["openai"]["complete"]>>;
  const attempt = task.attempts;
  const renewal = setInterval(() => {
    db.update(tasks)
      .set({ leaseExpiresAt: sql`now() + ${deps.leaseMs}::int * interval '1 millisecond'` })
      .where(held)
      .catch(() => {});
  }, deps.leaseMs / 3);
  const calledAt = performance.now();
  try {
    completion = await deps.providers[task.provider].complete({
      model: task.model,
      prompt: task.input,
      ...(task.maxOutputTokens ? { maxOutputTokens: task.maxOutputTokens } : {}),
      signal,
      ...(task.stream ? { onDelta: (text: string) => deps.output.append(taskId, attempt, text) } : {}),
    });
    // Every piece is out before the completion: a stream sees the whole text before the final status.
    if (task.stream) await deps.output.flush(taskId, attempt);
    observer?.providerCalled?.(observed, (performance.now() - calledAt) / 1000);
  } catch (error) {
    // Canceled while the provider answered: the row already says so, and its hold is released.
    if (signal?.aborted) return { outcome: "skipped" };
    observer?.providerCalled?.(observed, (performance.now() - calledAt) / 1000, error);
    // An answer without content that reported usage: billed, so booked before the task is retried or failed.
    if (error instanceof ProviderError && error.usage) {
      const answer: KeptAnswer = { runId: owner, text: null, usage: error.usage };
      await keeper?.keep(answer);
      await bookUsage(deps, options, run, price, answer);
    }
    const message = error instanceof Error ? error.message : String(error);
    const retryable = !(error instanceof AppError) || error.retryable;
    if (!retryable) return fail(deps, run, message);
    // The lease ends with this run: the retry, a new run, need not wait for it to expire. It stays
    // this run's, so that giving up fails the task only if no other run has taken it since.
    await db.update(tasks).set({ error: message, updatedAt: sql`now()`, leaseExpiresAt: sql`now()` }).where(held);
    return { outcome: "retryable", error, giveUp: () => fail(deps, run, message) };
  } finally {
    clearInterval(renewal);
  }

  const answer = { runId: owner, text: completion.text, usage: completion.usage };
  await keeper?.keep(answer);
  return complete(deps, options, run, price, answer);
}

/** A claimed run: its task, its lease, what observers are told about. */
interface Run {
  taskId: number;
  owner: string;
  observed: ObservedTask;
  /** The task's row while this run holds its lease. */
  held: SQL | undefined;
}

/**
 * Completes the task with an answer (this run's, or one a previous run kept) and charges it, with
 * the answer's `api_cost` under the run that got it; the booking waits out a Postgres outage.
 */
async function complete(
  deps: RunTaskDeps,
  options: RunOptions,
  run: Run,
  price: TaskPrice,
  answer: KeptAnswer & { text: string },
): Promise<RunOutcome> {
  const { observer } = deps;
  const { usage } = answer;
  let retried = false;
  const booked = await untilBooked(
    () =>
      completeAndCharge(deps.db, {
        taskId: run.taskId,
        leaseOwner: run.owner,
        runId: answer.runId,
        output: answer.text,
        tokens: usage,
        cost: formatAmount(costOf(price, usage)),
        sale: formatAmount(saleOf(price, usage)),
      }),
    options.stopBooking,
    () => {
      retried = true;
    },
  );
  if (booked.costBooked) observer?.usageBooked?.(run.observed, usage);
  // A try whose reply was lost may have committed: the task is then this run's, completed.
  const completed = booked.completed ?? (retried ? await completedBy(deps.db, run) : undefined);
  if (!completed) return { outcome: "skipped" };
  observer?.finished?.(run.observed, "completed", completed.totalSeconds);
  await deps.onFinished(run.taskId, { status: "completed", callbackUrl: completed.callbackUrl });
  return { outcome: "completed" };
}

async function completedBy(db: Database, { taskId, owner }: Run) {
  const [task] = await db
    .select({
      callbackUrl: tasks.callbackUrl,
      totalSeconds: sql<number>`extract(epoch from ${tasks.completedAt} - ${tasks.createdAt})::float8`,
    })
    .from(tasks)
    .where(and(eq(tasks.id, taskId), eq(tasks.status, "completed"), eq(tasks.leaseOwner, owner)));
  return task;
}

/** Books an answer's usage alone (an answer without content), waiting out a Postgres outage. */
async function bookUsage(deps: RunTaskDeps, options: RunOptions, run: Run, price: TaskPrice, answer: KeptAnswer) {
  const cost = formatAmount(costOf(price, answer.usage));
  const booked = await untilBooked(
    () => bookProviderUsage(deps.db, { taskId: run.taskId, runId: answer.runId, cost }),
    options.stopBooking,
  );
  if (booked) deps.observer?.usageBooked?.(run.observed, answer.usage);
}

/** A kept answer's usage, for a task this run could not claim: priced at the task's frozen prices. */
async function bookKeptUsage(deps: RunTaskDeps, options: RunOptions, taskId: number, kept: KeptAnswer) {
  const [task] = await deps.db
    .select({ provider: tasks.provider, model: tasks.model, price: tasks.price })
    .from(tasks)
    .where(eq(tasks.id, taskId));
  const price = task && frozenPrice(deps.pricing, task);
  if (!task || !price) return;
  const observed = { provider: task.provider, model: task.model };
  await bookUsage(deps, options, { taskId, owner: kept.runId, observed, held: undefined }, price, kept);
}

/** The prices the task was accepted at; a task stored without them is priced from today's table. */
function frozenPrice(
  pricing: PricingTable,
  task: { provider: ProviderName; model: string; price: unknown },
): TaskPrice | undefined {
  if (task.price !== null) return readTaskPrice(task.price);
  const price = findPrice(pricing, task.provider, task.model);
  return price && taskPrice(price, "1");
}

async function fail(deps: RunTaskDeps, { taskId, observed, held }: Run, error: string): Promise<RunOutcome> {
  const updated = await deps.db
    .update(tasks)
    .set({ status: "failed", error, completedAt: sql`now()`, updatedAt: sql`now()`, leaseExpiresAt: sql`now()` })
    .where(held)
    .returning({
      id: tasks.id,
      callbackUrl: tasks.callbackUrl,
      totalSeconds: sql<number>`extract(epoch from ${tasks.completedAt} - ${tasks.createdAt})::float8`,
    });
  if (updated.length === 0) return { outcome: "skipped" };
  deps.observer?.finished?.(observed, "failed", updated[0]!.totalSeconds);
  await deps.onFinished(taskId, { status: "failed", callbackUrl: updated[0]!.callbackUrl });
  return { outcome: "failed", error };
}
