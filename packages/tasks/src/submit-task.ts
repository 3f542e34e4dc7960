import type { Principal } from "@aitasks/auth";
import { type Database, type Executor, formatAmount, parseAmount } from "@aitasks/db";
import { InsufficientCreditError, RateLimitedError, ValidationError } from "@aitasks/errors";
import { withinKeyBudget } from "@aitasks/ledger";
import { findPrice, type PricingTable, type ProviderName, saleOf, taskPrice, usageBound } from "@aitasks/providers";
import { sql } from "drizzle-orm";
import {
  type AcceptedTask,
  insertHeldTask,
  insertTaskForUser,
  insertTasks,
  type TaskToInsert,
} from "./insert-tasks.js";
import { type CreateTaskBody, DEFAULT_PRIORITY } from "./schemas.js";

/** How tasks are sold: `open` needs no credit; `prepaid` holds each task's price on its user's credit. */
export interface BillingRules {
  mode: "open" | "prepaid";
  /** PRICE_MARKUP, a decimal ≥ 1: sale price = cost × markup, for models without `sell` prices. */
  markup: string;
  /** The output limit of a prepaid task that names none (DEFAULT_MAX_OUTPUT_TOKENS). */
  defaultMaxOutputTokens: number;
}

/** The original service's rules: tasks need no credit, sold at cost. */
export const OPEN_BILLING: BillingRules = { mode: "open", markup: "1", defaultMaxOutputTokens: 1024 };

export interface SubmitTaskDeps {
  db: Database;
  /** Who submits: a user key always submits as its own user, whatever the body says. */
  principal: Principal;
  pricing: PricingTable;
  defaultModels: Record<ProviderName, string>;
  billing: BillingRules;
  /** Puts the task on the queue; it may fail (Redis down): the stored task is recovered later. */
  enqueueTask: (taskId: number, priority: number) => Promise<void>;
  onEnqueueFailed: (taskId: number, error: unknown) => void;
  /** `maxPendingTasksPerUser` 0: no quota. */
  limits: { maxPromptChars: number; maxPendingTasksPerUser: number };
  /**
   * Checks a `callback_url`'s host before the task is stored (it must resolve to public addresses),
   * throwing a ValidationError naming callback_url; undefined: callbacks are not configured, and a
   * task with a callback_url is refused.
   */
  checkCallbackUrl?: ((url: string) => Promise<void>) | undefined;
  /**
   * How a task without a user is stored: by itself unless given; the API's wiring stores those
   * submitted together in one statement (`batchPerTurn`).
   */
  insertTaskWithoutUser?: ((task: AcceptedTask) => Promise<number>) | undefined;
}

/** A task without a user (nor a user key, nor a hold), ready to insert. */
export const withoutUser = (task: AcceptedTask): TaskToInsert => ({
  task,
  userId: null,
  hold: null,
  keyId: null,
  keyHold: null,
});

/** A task without a user, stored by itself. */
export const insertTaskWithoutUser = async (db: Executor, task: AcceptedTask): Promise<number> =>
  (await insertTasks(db, [withoutUser(task)]))[0]!;

export interface SubmittedTask {
  id: number;
  status: "pending";
  provider: ProviderName;
  model: string;
}

/**
 * Stores the task as `pending`, then queues it. The row is the outbox: if the enqueue is lost,
 * the worker's reconciler queues every pending task that has no job, so a stored task always runs.
 * The task keeps the prices it was accepted at; in `prepaid` it is stored only with its hold.
 */
export async function submitTask(deps: SubmitTaskDeps, submitted: CreateTaskBody): Promise<SubmittedTask> {
  const { task, userIdentifier } = acceptTask(deps, submitted);
  if (task.callbackUrl !== null) await checkCallbackUrl(deps, task.callbackUrl);
  const id = await storeTask(deps, task, userIdentifier);
  try {
    await deps.enqueueTask(id, task.priority);
  } catch (error) {
    deps.onEnqueueFailed(id, error);
  }
  return { id, status: "pending", provider: task.provider, model: task.model };
}

/**
 * A submission checked against the rules that need more than its shape (prompt length, a priced
 * model, its output limit, a user in prepaid billing) and priced: what is stored for it, and whose
 * it is (a user key's own user, whatever the body says).
 */
export function acceptTask(
  deps: Pick<SubmitTaskDeps, "principal" | "pricing" | "defaultModels" | "billing" | "limits">,
  submitted: CreateTaskBody,
): { task: AcceptedTask; userIdentifier: string | undefined } {
  const body = deps.principal.role === "user" ? { ...submitted, user_id: deps.principal.identifier } : submitted;
  if (body.prompt.length > deps.limits.maxPromptChars) {
    throw new ValidationError(`prompt must be at most ${deps.limits.maxPromptChars} characters`);
  }
  const model = body.model ?? deps.defaultModels[body.provider];
  const modelPrice = findPrice(deps.pricing, body.provider, model);
  if (!modelPrice) throw new ValidationError(`model "${model}" is not a known ${body.provider} model`);
  if (body.max_tokens !== undefined && body.max_tokens > modelPrice.maxOutputTokens) {
    throw new ValidationError(`max_tokens must be between 1 and ${modelPrice.maxOutputTokens} for model "${model}"`);
  }
  const prepaid = deps.billing.mode === "prepaid";
  if (prepaid && !body.user_id) {
    throw new ValidationError("user_id is required: in prepaid billing every task is paid from a user's credit");
  }
  const task: AcceptedTask = {
    provider: body.provider,
    model,
    prompt: body.prompt,
    // Open mode sends a limit only when asked, as the original service did; prepaid always does,
    // because the hold is priced from it, and so does a key with a budget, held the same way.
    maxOutputTokens:
      body.max_tokens ??
      (prepaid || (deps.principal.role === "user" && deps.principal.budgeted)
        ? Math.min(deps.billing.defaultMaxOutputTokens, modelPrice.maxOutputTokens)
        : null),
    price: taskPrice(modelPrice, deps.billing.markup),
    priority: body.priority ?? DEFAULT_PRIORITY,
    stream: body.stream ?? false,
    callbackUrl: body.callback_url ?? null,
  };
  return { task, userIdentifier: body.user_id ?? undefined };
}

/** The callback rule: callbacks configured (a signing secret), and a host that may be called. */
export async function checkCallbackUrl(deps: Pick<SubmitTaskDeps, "checkCallbackUrl">, url: string) {
  if (!deps.checkCallbackUrl) {
    throw new ValidationError("callback_url: callbacks are not configured on this server (no signing secret)");
  }
  await deps.checkCallbackUrl(url);
}

/** The hold of a prepaid task: the sale price of its usage's upper bound. */
export const holdOf = (task: AcceptedTask) => saleOf(task.price, usageBound(task.prompt, task.maxOutputTokens!));

export const quotaRefused = (identifier: string, maxPending: number) =>
  new RateLimitedError(
    `user ${identifier} already has ${maxPending} unfinished tasks; submit more once some have finished`,
  );

/**
 * The accepted task stored: without a user; for a user (its quota), prepaid (its hold too); and,
 * submitted with a key that has a budget, only within that budget (`withinKeyBudget`).
 */
async function storeTask(deps: SubmitTaskDeps, task: AcceptedTask, identifier: string | undefined): Promise<number> {
  const { principal } = deps;
  if (identifier === undefined) {
    return deps.insertTaskWithoutUser ? deps.insertTaskWithoutUser(task) : insertTaskWithoutUser(deps.db, task);
  }
  const item = withHolds(deps, task, null);
  const store = (db: Executor) => storeForUser(db, deps, item, identifier);
  return principal.role === "user" && principal.budgeted
    ? withinKeyBudget(deps.db, principal.keyId, parseAmount(item.keyHold!), store)
    : store(deps.db);
}

/**
 * What is stored for a task of user `userId` (null: found by its identifier when stored): its hold
 * on the user's credit in prepaid billing, and, submitted with a user key, the key and the same hold
 * on the key's budget (none for a task without an output limit: open billing, no budget).
 */
export function withHolds(
  deps: Pick<SubmitTaskDeps, "principal" | "billing">,
  task: AcceptedTask,
  userId: number | null,
): TaskToInsert {
  const { principal } = deps;
  const keyed = principal.role === "user";
  const hold =
    deps.billing.mode === "prepaid" || (keyed && task.maxOutputTokens !== null) ? formatAmount(holdOf(task)) : null;
  return {
    task,
    userId,
    hold: deps.billing.mode === "prepaid" ? hold : null,
    keyId: keyed ? principal.keyId : null,
    keyHold: keyed ? hold : null,
  };
}

/** A user's task stored, or refused with why: the user's quota, else (prepaid) its credit. */
async function storeForUser(db: Executor, deps: SubmitTaskDeps, item: TaskToInsert, identifier: string) {
  const { maxPendingTasksPerUser: maxPending } = deps.limits;
  if (item.hold === null) {
    const id = await insertTaskForUser(db, item, identifier, maxPending);
    if (id === undefined) throw quotaRefused(identifier, maxPending);
    return id;
  }
  const id = await insertHeldTask(db, { ...item, hold: item.hold }, identifier, maxPending);
  if (id !== undefined) return id;

  const [state] = await db.execute<{ available: string | null; unfinished: string }>(sql`
    select (select b.balance - b.held from credit_balances b where b.user_id = u.id)::text as available,
      (select count(*) from tasks where user_id = u.id and status in ('pending', 'processing'))::text as unfinished
    from (select id from users where identifier = ${identifier}) u`);
  if (maxPending > 0 && state && Number(state.unfinished) >= maxPending) throw quotaRefused(identifier, maxPending);
  throw new InsufficientCreditError(parseAmount(state?.available ?? "0"), parseAmount(item.hold));
}
