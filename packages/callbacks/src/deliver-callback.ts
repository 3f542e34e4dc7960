import { callbackAttempts, callbackDeliveries, type Database } from "@aitasks/db";
import { findTask, toTaskView } from "@aitasks/tasks";
import { and, eq, sql } from "drizzle-orm";
import { CallbackTargetError, type NetworkPolicy, resolveCallbackTarget } from "./network-policy.js";
import { callbackRetryDelay } from "./retry-schedule.js";
import { sendCallback } from "./send-callback.js";
import { webhookHeaders } from "./sign-webhook.js";

export interface DeliverCallbackDeps {
  db: Database;
  /** CALLBACK_SIGNING_SECRET; undefined: nothing is sent, and the attempt says why. */
  signingSecret: string | undefined;
  maxAttempts: number;
  retryBaseMs: number;
  timeoutMs: number;
  policy: NetworkPolicy;
  /** Default 64 KiB. */
  maxResponseBytes?: number;
}

export type DeliveryOutcome =
  | { outcome: "delivered" }
  /** The receiver answered 410 Gone: no more attempts. */
  | { outcome: "stopped" }
  /** The last attempt failed too. */
  | { outcome: "failed"; error: string }
  /** This attempt failed; the next is due in `delayMs`. */
  | { outcome: "retry"; error: string; delayMs: number }
  /** Already delivered, failed or stopped (a job delivered again), or no delivery at all. */
  | { outcome: "skipped" }
  /** Another run holds this delivery until `until` (its attempt may still be sending). */
  | { outcome: "leased"; until: Date };

const MAX_RESPONSE_BYTES = 64 * 1024;
// Beyond the attempt's own timeout: the resolver's, and room for recording the result.
const LEASE_MARGIN_MS = 30_000;

/**
 * Makes the next attempt at a finished task's callback: claims the delivery (one attempt at a
 * time, numbered in the row, so a re-created job continues the count), checks the host's
 * addresses again (DNS may have changed since the task was submitted), POSTs the task's view
 * signed per Standard Webhooks to the address just checked, and records the attempt and what the
 * delivery's state is now. A 2xx delivers, a 410 stops; anything else is retried after
 * `callbackRetryDelay`, until `maxAttempts`. A crash between the receiver's 2xx and the record
 * sends the message again: receivers drop a repeated `webhook-id`.
 */
export async function deliverCallback(deps: DeliverCallbackDeps, taskId: number): Promise<DeliveryOutcome> {
  const { db } = deps;
  const leaseMs = deps.timeoutMs + LEASE_MARGIN_MS;
  const [claimed] = await db.execute<{ attempts: number; message_id: string }>(sql`
    with claimed as (
      update callback_deliveries set attempts = attempts + 1,
        leased_until = now() + ${leaseMs}::int * interval '1 millisecond'
      where task_id = ${taskId} and state = 'pending' and attempts < ${deps.maxAttempts}
        and (leased_until is null or leased_until <= now())
      returning task_id, attempts, message_id
    ), interrupted as (
      update callback_attempts a set error = 'the worker stopped during this attempt'
      from claimed c where a.task_id = c.task_id and a.duration_ms is null and a.error is null
    ), started as (
      insert into callback_attempts (task_id, attempt) select task_id, attempts from claimed
    )
    select attempts, message_id from claimed`);
  if (!claimed) return unclaimable(deps, taskId);
  const attempt = Number(claimed.attempts);

  const started = Date.now();
  const result = await attemptDelivery(deps, taskId, claimed.message_id);
  const durationMs = Date.now() - started;

  const final = attempt >= deps.maxAttempts;
  const state =
    result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300
      ? "delivered"
      : result.statusCode === 410
        ? "stopped"
        : final
          ? "failed"
          : "pending";
  const delayMs = callbackRetryDelay(deps.retryBaseMs, attempt);
  await db.transaction(async (tx) => {
    await tx
      .update(callbackAttempts)
      .set({ statusCode: result.statusCode, error: result.error, durationMs })
      .where(and(eq(callbackAttempts.taskId, taskId), eq(callbackAttempts.attempt, attempt)));
    await tx
      .update(callbackDeliveries)
      .set({
        state,
        leasedUntil: null,
        nextAttemptAt: state === "pending" ? sql`now() + ${delayMs}::int * interval '1 millisecond'` : sql`now()`,
        finishedAt: state === "pending" ? null : sql`now()`,
      })
      .where(and(eq(callbackDeliveries.taskId, taskId), eq(callbackDeliveries.attempts, attempt)));
  });
  if (state === "delivered") return { outcome: "delivered" };
  if (state === "stopped") return { outcome: "stopped" };
  const error = result.error ?? `the receiver answered ${result.statusCode}`;
  if (state === "failed") return { outcome: "failed", error: `${error} (attempt ${attempt} of ${deps.maxAttempts})` };
  return { outcome: "retry", error, delayMs };
}

/** One attempt's result: the receiver's status, if it answered, and why it did not deliver. */
async function attemptDelivery(
  deps: DeliverCallbackDeps,
  taskId: number,
  messageId: string,
): Promise<{ statusCode: number | null; error: string | null }> {
  const task = await findTask(deps.db, taskId);
  if (!task?.callbackUrl) return { statusCode: null, error: "the task has no callback_url" };
  if (!deps.signingSecret) {
    return { statusCode: null, error: "not sent: CALLBACK_SIGNING_SECRET is not configured on the worker" };
  }
  let addresses: Awaited<ReturnType<typeof resolveCallbackTarget>>;
  try {
    addresses = await resolveCallbackTarget(deps.policy, task.callbackUrl);
  } catch (error) {
    if (error instanceof CallbackTargetError) return { statusCode: null, error: `not sent: ${error.message}` };
    throw error;
  }
  const body = JSON.stringify(toTaskView(task));
  try {
    const { statusCode } = await sendCallback({
      url: task.callbackUrl,
      address: addresses[0]!,
      headers: {
        "content-type": "application/json",
        "user-agent": "aitasks-callbacks/1",
        ...webhookHeaders(deps.signingSecret, messageId, body),
      },
      body,
      timeoutMs: deps.timeoutMs,
      maxResponseBytes: deps.maxResponseBytes ?? MAX_RESPONSE_BYTES,
    });
    if (statusCode >= 200 && statusCode < 300) return { statusCode, error: null };
    if (statusCode === 410) return { statusCode, error: "the receiver answered 410 Gone: no more attempts" };
    if (statusCode >= 300 && statusCode < 400) {
      return { statusCode, error: `the receiver answered ${statusCode}: redirects are not followed` };
    }
    return { statusCode, error: `the receiver answered ${statusCode}` };
  } catch (error) {
    return { statusCode: null, error: (error as Error).message };
  }
}

/** Why no attempt was claimed: a live attempt holds the delivery, no attempts are left, or it is over. */
async function unclaimable(deps: DeliverCallbackDeps, taskId: number): Promise<DeliveryOutcome> {
  // Postgres's clock judges the lease, as it set it: every machine shares that one.
  const [delivery] = await deps.db.execute<{ state: string; attempts: number; leased_until: string | null }>(sql`
    select state, attempts, case when leased_until > now() then leased_until end as leased_until
    from callback_deliveries where task_id = ${taskId}`);
  if (delivery?.state !== "pending") return { outcome: "skipped" };
  if (delivery.leased_until) return { outcome: "leased", until: new Date(delivery.leased_until) };
  // The lease ended between the claim and this read: try again shortly.
  if (delivery.attempts < deps.maxAttempts) return { outcome: "leased", until: new Date(Date.now() + 1000) };
  // The last attempt's worker died during it, or CALLBACK_MAX_ATTEMPTS was lowered since.
  await deps.db.transaction(async (tx) => {
    await tx.execute(sql`
      update callback_attempts set error = 'the worker stopped during this attempt'
      where task_id = ${taskId} and duration_ms is null and error is null`);
    await tx
      .update(callbackDeliveries)
      .set({ state: "failed", leasedUntil: null, finishedAt: sql`now()` })
      .where(and(eq(callbackDeliveries.taskId, taskId), eq(callbackDeliveries.state, "pending")));
  });
  return { outcome: "failed", error: `no attempts left (${delivery.attempts} of ${deps.maxAttempts} made)` };
}
