import { type Executor, formatAmount, parseAmount } from "@aitasks/db";
import { InsufficientCreditError, ValidationError } from "@aitasks/errors";
import { takeCreditHold, withinKeyBudget } from "@aitasks/ledger";
import { sql } from "drizzle-orm";
import { type AcceptedTask, insertTasks } from "./insert-tasks.js";
import type { CreateTaskBody } from "./schemas.js";
import { acceptTask, checkCallbackUrl, holdOf, quotaRefused, type SubmitTaskDeps, withHolds } from "./submit-task.js";

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

  const { principal } = deps;
  const rows = (userIds: Map<string, number>) =>
    accepted.map(({ task, userIdentifier }) =>
      withHolds(deps, task, userIdentifier ? (userIds.get(userIdentifier) ?? null) : null),
    );
  // A key with a budget: the whole batch within it, or nothing (`withinKeyBudget`).
  const storeWithinKeyBudget = (store: (tx: Executor) => Promise<number[]>) =>
    principal.role === "user" && principal.budgeted
      ? withinKeyBudget(
          deps.db,
          principal.keyId,
          rows(new Map()).reduce((total, item) => total + parseAmount(item.keyHold!), 0n),
          store,
        )
      : deps.db.transaction(store);
  // Without users there is nothing to check or hold: one statement, all or nothing by itself.
  const ids =
    identifiers.length === 0
      ? await insertTasks(deps.db, rows(new Map()))
      : await storeWithinKeyBudget(async (tx) => {
          // Users on first sight, as single submissions create them; prepaid needs users that have credit.
          if (!prepaid) {
            await tx.execute(sql`
              insert into users (identifier) select unnest(${sql.param(identifiers)}::text[])
              on conflict (identifier) do nothing`);
          }
          const known = await tx.execute<{ id: string; identifier: string }>(sql`
            select id::text, identifier from users where identifier = any(${sql.param(identifiers)}::text[])
            order by id`);
          const userIds = new Map(known.map((row) => [row.identifier, Number(row.id)]));

          const { maxPendingTasksPerUser: maxPending } = deps.limits;
          for (const identifier of [...identifiers].sort((a, b) => (userIds.get(a) ?? 0) - (userIds.get(b) ?? 0))) {
            const userId = userIds.get(identifier);
            const own = accepted.filter((item) => item.userIdentifier === identifier);
            if (maxPending > 0 && userId !== undefined) {
              const [row] = await tx.execute<{ unfinished: string }>(sql`
                select count(*)::text as unfinished from tasks
                where user_id = ${userId} and status in ('pending', 'processing')`);
              if (Number(row!.unfinished) + own.length > maxPending) throw quotaRefused(identifier, maxPending);
            }
            if (!prepaid) continue;
            const hold = own.reduce((total, { task }) => total + holdOf(task), 0n);
            // The ledger's rule, as for one task: never more than the available credit.
            const held = await tx.execute(takeCreditHold(sql`${userId ?? 0}`, formatAmount(hold)));
            if (held.length === 0) {
              const [balance] = await tx.execute<{ available: string }>(sql`
                select (balance - held)::text as available from credit_balances where user_id = ${userId ?? 0}`);
              throw new InsufficientCreditError(parseAmount(balance?.available ?? "0"), hold);
            }
          }
          return insertTasks(tx, rows(userIds));
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
