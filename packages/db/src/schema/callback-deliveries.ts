import { sql } from "drizzle-orm";
import { bigint, index, integer, pgEnum, pgTable, primaryKey, smallint, text, timestamp } from "drizzle-orm/pg-core";
import { tasks } from "./tasks.js";

/**
 * pending: attempts go on (or none made yet); delivered: a 2xx; failed: CALLBACK_MAX_ATTEMPTS
 * attempts without one; stopped: the receiver answered 410 Gone.
 */
export const callbackDeliveryState = pgEnum("callback_delivery_state", ["pending", "delivered", "failed", "stopped"]);

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/**
 * One row per finished task that has a `callback_url`: the outbox of its callback. A trigger on
 * `tasks` inserts it in the statement that finishes the task (completion, failure, cancel), so a
 * finished task never lacks one; the reconciler queues a job for a pending row whose attempt is
 * overdue (an enqueue lost after the commit). Only the row's state decides whether to send: once
 * `delivered`, `failed` or `stopped`, nothing is sent again, however often a job is delivered.
 */
export const callbackDeliveries = pgTable(
  "callback_deliveries",
  {
    taskId: bigint("task_id", { mode: "number" })
      .primaryKey()
      .references(() => tasks.id, { onDelete: "cascade" }),
    // `webhook-id` (Standard Webhooks): the same for every attempt of this message.
    messageId: text("message_id").notNull(),
    state: callbackDeliveryState("state").notNull().default("pending"),
    // Attempts started so far; the next one is number attempts + 1.
    attempts: integer("attempts").notNull().default(0),
    // When the next attempt is due (pending only); the reconciler looks for overdue ones.
    nextAttemptAt: timestamptz("next_attempt_at").notNull().defaultNow(),
    // An attempt in progress holds the row until then, so two deliveries of its job never both send.
    leasedUntil: timestamptz("leased_until"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    finishedAt: timestamptz("finished_at"),
  },
  (t) => [
    // Small: rows leave it when their delivery ends.
    index("callback_deliveries_pending_next_attempt_at_idx").on(t.nextAttemptAt).where(sql`${t.state} = 'pending'`),
  ],
);

/** Every attempt to deliver a task's callback: what happened, as the receiver answered it. */
export const callbackAttempts = pgTable(
  "callback_attempts",
  {
    taskId: bigint("task_id", { mode: "number" })
      .notNull()
      .references(() => callbackDeliveries.taskId, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    attemptedAt: timestamptz("attempted_at").notNull().defaultNow(),
    // The receiver's HTTP status; null when none came (refused address, connection error, timeout).
    statusCode: smallint("status_code"),
    // Why the attempt did not deliver; null on a 2xx (and while the attempt is in progress).
    error: text("error"),
    // Null while the attempt is in progress.
    durationMs: integer("duration_ms"),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.attempt] })],
);
