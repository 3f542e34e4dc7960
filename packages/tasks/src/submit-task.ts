import type { Principal } from "@aitasks/auth";
import type { Database } from "@aitasks/db";
import { RateLimitedError, ValidationError } from "@aitasks/errors";
import { findPrice, type PricingTable, type ProviderName } from "@aitasks/providers";
import { sql } from "drizzle-orm";
import type { CreateTaskBody } from "./schemas.js";

export interface SubmitTaskDeps {
  db: Database;
  /** Who submits: a user key always submits as its own user, whatever the body says. */
  principal: Principal;
  pricing: PricingTable;
  defaultModels: Record<ProviderName, string>;
  /** Puts the task on the queue; it may fail (Redis down): the stored task is recovered later. */
  enqueueTask: (taskId: number) => Promise<void>;
  onEnqueueFailed: (taskId: number, error: unknown) => void;
  /** `maxPendingTasksPerUser` 0: no quota. */
  limits: { maxPromptChars: number; maxPendingTasksPerUser: number };
}

export interface SubmittedTask {
  id: number;
  status: "pending";
  provider: ProviderName;
  model: string;
}

/**
 * Stores the task as `pending`, then queues it. The row is the outbox: if the enqueue is lost,
 * the worker's reconciler queues every pending task that has no job, so a stored task always runs.
 */
export async function submitTask(deps: SubmitTaskDeps, submitted: CreateTaskBody): Promise<SubmittedTask> {
  const body = deps.principal.role === "user" ? { ...submitted, user_id: deps.principal.identifier } : submitted;
  if (body.prompt.length > deps.limits.maxPromptChars) {
    throw new ValidationError(`prompt must be at most ${deps.limits.maxPromptChars} characters`);
  }
  const model = body.model ?? deps.defaultModels[body.provider];
  if (!findPrice(deps.pricing, body.provider, model)) {
    throw new ValidationError(`model "${model}" is not a known ${body.provider} model`);
  }
  const id = body.user_id
    ? await insertTaskForUser(
        deps.db,
        body.provider,
        model,
        body.prompt,
        body.user_id,
        deps.limits.maxPendingTasksPerUser,
      )
    : await insertTask(deps.db, body.provider, model, body.prompt);

  try {
    await deps.enqueueTask(id);
  } catch (error) {
    deps.onEnqueueFailed(id, error);
  }
  return { id, status: "pending", provider: body.provider, model };
}

async function insertTask(db: Database, provider: ProviderName, model: string, prompt: string): Promise<number> {
  const [row] = await db.execute<{ id: string }>(sql`
    insert into tasks (provider, model, input) values (${provider}, ${model}, ${prompt}) returning id`);
  return Number(row!.id);
}

/**
 * One round trip: creates the user on first sight, checks the user's quota of unfinished tasks,
 * and stores the task linked to the user. Concurrent submissions may pass the quota together by
 * a few: it bounds a runaway client, it is not a billing limit.
 */
async function insertTaskForUser(
  db: Database,
  provider: ProviderName,
  model: string,
  prompt: string,
  identifier: string,
  maxPending: number,
): Promise<number> {
  const [row] = await db.execute<{ id: string; user_id: string | null }>(sql`
    with new_user as (
      insert into users (identifier) values (${identifier}) on conflict (identifier) do nothing returning id
    ), task_user as (
      select id from new_user union all select id from users where identifier = ${identifier} limit 1
    )
    insert into tasks (provider, model, input, user_id)
    select ${provider}, ${model}, ${prompt}, (select id from task_user)
    where ${maxPending}::int = 0 or (
      select count(*) from tasks
      where user_id = (select id from task_user) and status in ('pending', 'processing')
    ) < ${maxPending}::int
    returning id, user_id`);
  if (!row) {
    throw new RateLimitedError(
      `user ${identifier} already has ${maxPending} unfinished tasks; submit more once some have finished`,
    );
  }
  const id = Number(row.id);
  if (row.user_id === null) {
    // Another request created the same user while this statement ran, after its snapshot was taken.
    await db.execute(
      sql`update tasks set user_id = (select id from users where identifier = ${identifier}) where id = ${id}`,
    );
  }
  return id;
}
