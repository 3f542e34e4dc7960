import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  smallint,
  text,
  timestamp,
} from "drizzle-orm/pg-core";
import { apiKeys } from "./api-keys.js";
import { users } from "./users.js";

export const taskStatus = pgEnum("task_status", ["pending", "processing", "completed", "failed", "canceled"]);
export const providerName = pgEnum("provider_name", ["openai", "mistral"]);

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const tasks = pgTable(
  "tasks",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    status: taskStatus("status").notNull().default("pending"),
    provider: providerName("provider").notNull(),
    model: text("model").notNull(),
    input: text("input").notNull(),
    output: text("output"),
    promptTokens: integer("prompt_tokens"),
    completionTokens: integer("completion_tokens"),
    tokensUsed: integer("tokens_used"),
    // Parts of prompt_tokens and completion_tokens: input read from the provider's cache (priced
    // at the cached-input price) and reasoning (billed as output).
    cachedTokens: integer("cached_tokens"),
    reasoningTokens: integer("reasoning_tokens"),
    // Sent to the provider as its output limit; null: none sent (open mode without max_tokens).
    maxOutputTokens: integer("max_output_tokens"),
    // The per-1M prices the task is costed and sold at (TaskPrice), frozen when it was accepted.
    price: jsonb("price"),
    // Prepaid only: the credit held while the task is unfinished (the sale price of its usage's
    // upper bound), released by a trigger when it finishes; and what it was charged on completion.
    holdUsd: numeric("hold_usd", { precision: 24, scale: 12 }),
    chargedUsd: numeric("charged_usd", { precision: 24, scale: 12 }),
    // USD, exact: prices are whole micro-dollars per million tokens, so a cost has at most 12 decimals.
    costUsd: numeric("cost_usd", { precision: 20, scale: 12 }),
    userId: bigint("user_id", { mode: "number" }).references(() => users.id),
    // The user key it was submitted with, what it holds on that key's budget while unfinished (the
    // same bound as `hold_usd`), and what it spent of it once completed (its sale price, never
    // above that hold); null: submitted without a key (admin, open mode).
    apiKeyId: bigint("api_key_id", { mode: "number" }).references(() => apiKeys.id),
    keyHoldUsd: numeric("key_hold_usd", { precision: 24, scale: 12 }),
    keySpentUsd: numeric("key_spent_usd", { precision: 24, scale: 12 }),
    attempts: integer("attempts").notNull().default(0),
    // 1 (first) to 10, as the client asked (default 5); its queue job carries the same priority.
    priority: smallint("priority").notNull().default(5),
    // The client asked for the output as it is written (`"stream": true`): the provider streams it
    // and each piece is published as a task event.
    stream: boolean("stream").notNull().default(false),
    // Where the task's view is POSTed, signed, when it ends; null: no callback.
    callbackUrl: text("callback_url"),
    // The run that holds the task while it is `processing`, and until when: another run takes over
    // only an expired lease, and only the holder may finish the task.
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: timestamptz("lease_expires_at"),
    error: text("error"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    startedAt: timestamptz("started_at"),
    completedAt: timestamptz("completed_at"),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (t) => [
    // Tasks by status, newest first (lists filtered by status, the backlog's counts, the reconciler),
    // for the statuses that stay few: unfinished ones, which leave the index as they finish, and the
    // failed and canceled. Completed tasks are most of the table, so a list of them reads the
    // primary key backwards; keeping them out spares an entry at every write (docs/performance.md).
    index("tasks_unfinished_status_id_idx").on(t.status, t.id).where(sql`${t.status} in ('pending', 'processing')`),
    // Failed and canceled, named by what they are not: a fresh database migrates in one transaction,
    // and `canceled`, added to the enum by 0005, may not be used in the transaction that added it.
    index("tasks_unsuccessful_status_id_idx")
      .on(t.status, t.id)
      .where(sql`${t.status} not in ('pending', 'processing', 'completed')`),
    // A user's tasks, newest first. Tasks without a user (open billing, no user_id) are not in the
    // user indexes: nothing looks them up by user, and each would cost an entry at every write.
    index("tasks_user_id_id_idx").on(t.userId, t.id).where(sql`${t.userId} is not null`),
    // The usage rollup reads a day's completed tasks.
    index("tasks_completed_at_idx").on(t.completedAt).where(sql`${t.status} = 'completed'`),
    // The per-user quota of unfinished tasks counts these.
    index("tasks_unfinished_user_id_idx")
      .on(t.userId)
      .where(sql`${t.status} in ('pending', 'processing') and ${t.userId} is not null`),
    // A key's spend in its budget's period sums its tasks created since the period began.
    index("tasks_api_key_id_created_at_idx").on(t.apiKeyId, t.createdAt).where(sql`${t.apiKeyId} is not null`),
    // The dashboard counts the last 30 days' tasks by day. BRIN: creation times grow with the
    // table's order, so a few pages of summaries find a range, and an insert costs next to nothing.
    index("tasks_created_at_brin_idx").using("brin", t.createdAt),
  ],
);
