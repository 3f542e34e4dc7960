import { formatAmount, parseAmount } from "@aitasks/db";
import { InsufficientCreditError, ValidationError } from "@aitasks/errors";
import { sql } from "drizzle-orm";
import type { CreateTaskBody } from "./schemas.js";
import {
  type AcceptedTask,
  acceptTask,
  checkCallbackUrl,
  holdOf,
  quotaRefused,
  type SubmitTaskDeps,
} from "./submit-task.js";

export interface SubmittedBatch {
  tasks: { id: number; status: "pending"; provider: AcceptedTask["provider"]; model: string }[];
}

export interface SubmitBatchDeps extends Omit<SubmitTaskDeps, "enqueueTask" | "onEnqueueFailed"> {
  /** Queues every task of the batch at once; it may fail: the stored tasks are recovered later. */
  enqueueTasks: (tasks: { id: number; priority: number }[]) => Promise<void>;
  onEnqueueFailed: (taskIds: number[], error: unknown) => void;
}

/**
 * Stores a batch of tasks, all or none, in one transaction, then queues them in one call. Each item
 * is checked as a single submission is, and a bad one refuses the batch naming its index. In
 * `prepaid` the holds of the whole batch are taken together: each user's holds in one conditional
 * update of the user's balance, users in id order (so two batches never wait on each other in
 * turn); one that does not fit refuses the batch with 402 and nothing is stored.
 */
export async function submitBatch(deps: SubmitBatchDeps, items: CreateTaskBody[]): Promise<SubmittedBatch> {
  const accepted = items.map((item, index) => {
    try {
      return acceptTask(deps, item);
    } catch (error) {
      if (error instanceof ValidationError) throw new ValidationError(`tasks.${index}: ${error.message}`);
      throw error;
    }
  });
  await checkCallbackUrls(
    deps,
    accepted.map(({ task }) => task.callbackUrl),
  );
  const prepaid = deps.billing.mode === "prepaid";
  const identifiers = [...new Set(accepted.flatMap(({ userIdentifier }) => (userIdentifier ? [userIdentifier] : [])))];

  const ids = await deps.db.transaction(async (tx) => {
    // Users on first sight, as single submissions create them; prepaid needs users that have credit.
    if (!prepaid && identifiers.length > 0) {
      await tx.execute(sql`
        insert into users (identifier) select jsonb_array_elements_text(${JSON.stringify(identifiers)}::jsonb)
        on conflict (identifier) do nothing`);
    }
    const known = await tx.execute<{ id: string; identifier: string }>(sql`
      select id::text, identifier from users
      where identifier in (select jsonb_array_elements_text(${JSON.stringify(identifiers)}::jsonb)) order by id`);
    const userIds = new Map(known.map((row) => [row.identifier, Number(row.id)]));

    const { maxPendingTasksPerUser: maxPending } = deps.limits;
    for (const identifier of [...identifiers].sort((a, b) => (userIds.get(a) ?? 0) - (userIds.get(b) ?? 0))) {
      const userId = userIds.get(identifier);
      const own = accepted.filter((item) => item.userIdentifier === identifier);
      if (maxPending > 0 && userId !== undefined) {
        const [row] = await tx.execute<{ unfinished: string }>(sql`
          select count(*)::text as unfinished from tasks where user_id = ${userId} and status in ('pending', 'processing')`);
        if (Number(row!.unfinished) + own.length > maxPending) throw quotaRefused(identifier, maxPending);
      }
      if (!prepaid) continue;
      const hold = own.reduce((total, { task }) => total + holdOf(task), 0n);
      const held = await tx.execute(sql`
        update credit_balances set held = held + ${formatAmount(hold)}::numeric
        where user_id = ${userId ?? 0} and balance - held >= ${formatAmount(hold)}::numeric
        returning user_id`);
      if (held.length === 0) {
        const [balance] = await tx.execute<{ available: string }>(sql`
          select (balance - held)::text as available from credit_balances where user_id = ${userId ?? 0}`);
        throw new InsufficientCreditError(parseAmount(balance?.available ?? "0"), hold);
      }
    }

    const rows = accepted.map(({ task, userIdentifier }) => ({
      provider: task.provider,
      model: task.model,
      input: task.prompt,
      max_output_tokens: task.maxOutputTokens,
      price: task.price,
      priority: task.priority,
      stream: task.stream,
      callback_url: task.callbackUrl,
      user_id: userIdentifier ? (userIds.get(userIdentifier) ?? null) : null,
      hold_usd: prepaid ? formatAmount(holdOf(task)) : null,
    }));
    // One statement for the whole batch; ids are drawn in the items' order, so sorted they match it.
    const inserted = await tx.execute<{ id: string }>(sql`
      insert into tasks (provider, model, input, max_output_tokens, price, priority, stream, callback_url, user_id,
        hold_usd)
      select provider, model, input, max_output_tokens, price, priority, stream, callback_url, user_id, hold_usd
      from rows from (jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as (
        provider provider_name, model text, input text, max_output_tokens int, price jsonb, priority smallint,
        stream boolean, callback_url text, user_id bigint, hold_usd numeric)) with ordinality as item
      order by ordinality
      returning id`);
    return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
  });

  const queued = ids.map((id, index) => ({ id, priority: accepted[index]!.task.priority }));
  try {
    await deps.enqueueTasks(queued);
  } catch (error) {
    deps.onEnqueueFailed(ids, error);
  }
  return {
    tasks: ids.map((id, index) => ({
      id,
      status: "pending",
      provider: accepted[index]!.task.provider,
      model: accepted[index]!.task.model,
    })),
  };
}

/** Each distinct callback_url checked once, at once; the first refused item names its index. */
async function checkCallbackUrls(deps: Pick<SubmitTaskDeps, "checkCallbackUrl">, urls: (string | null)[]) {
  const checks = new Map<string, Promise<unknown>>();
  for (const url of urls) {
    if (url !== null && !checks.has(url)) {
      // Settled as a value here, so a refusal is not an unhandled rejection while earlier items are awaited.
      checks.set(
        url,
        checkCallbackUrl(deps, url).then(
          () => undefined,
          (error: unknown) => ({ error }),
        ),
      );
    }
  }
  for (const [index, url] of urls.entries()) {
    if (url === null) continue;
    const refused = (await checks.get(url)) as { error: unknown } | undefined;
    if (!refused) continue;
    if (refused.error instanceof ValidationError) throw new ValidationError(`tasks.${index}: ${refused.error.message}`);
    throw refused.error;
  }
}
