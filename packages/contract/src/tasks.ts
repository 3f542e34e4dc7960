import { z } from "zod";
import { ErrorAnswer } from "./errors.js";
import { Count, Money, named, Timestamp } from "./registry.js";

export const TaskStatus = named(
  "TaskStatus",
  z
    .enum(["pending", "processing", "completed", "failed", "canceled"])
    .describe("pending and processing are unfinished"),
);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const ProviderName = named("ProviderName", z.enum(["openai", "mistral"]));
export type ProviderName = z.infer<typeof ProviderName>;

const tokens = (what: string) => Count.nullable().describe(`${what}; null until known`);

export const PerMillion = named(
  "PerMillion",
  z.object({ input: Money, cached_input: Money, output: Money }).describe("US dollars per 1M tokens"),
);
export type PerMillion = z.infer<typeof PerMillion>;

export const TaskPrice = named(
  "TaskPrice",
  z
    .object({ cost: PerMillion, sale: PerMillion })
    .describe("What the task is costed (`cost`) and sold (`sale`) at, frozen when it was accepted"),
);
export type TaskPrice = z.infer<typeof TaskPrice>;

/** GET /api/task/{task_id}, and the body of a task's callback. */
export const TaskView = named(
  "Task",
  z.object({
    id: Count,
    status: TaskStatus,
    provider: ProviderName,
    model: z.string(),
    input: z.string().describe("the prompt"),
    output: z.string().nullable().describe("the answer; null until completed"),
    tokens_used: tokens("prompt and completion tokens"),
    prompt_tokens: tokens("input tokens"),
    completion_tokens: tokens("output tokens"),
    cached_tokens: tokens("the part of prompt_tokens read from the provider's cache"),
    reasoning_tokens: tokens("the part of completion_tokens spent reasoning"),
    max_tokens: Count.nullable().describe("the output limit sent to the provider; null: none"),
    priority: Count.describe("1 runs first, 10 last"),
    stream: z.boolean(),
    callback_url: z.string().nullable(),
    cost: Money.nullable().describe("what the provider calls cost, USD; null until completed"),
    charged: Money.nullable().describe("what the user's credit paid (prepaid billing), USD"),
    price: TaskPrice.nullable(),
    user_id: z.string().nullable().describe("the user's identifier"),
    attempts: Count,
    error: z.string().nullable().describe("why a failed task failed"),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
  }),
);
export type TaskView = z.infer<typeof TaskView>;

/** An item of GET /api/tasks. */
export const TaskListItem = named(
  "TaskListItem",
  TaskView.pick({
    id: true,
    status: true,
    provider: true,
    model: true,
    user_id: true,
    tokens_used: true,
    cost: true,
    error: true,
    created_at: true,
    completed_at: true,
  }),
);
export type TaskListItem = z.infer<typeof TaskListItem>;

export const TaskList = named(
  "TaskList",
  z.object({
    tasks: z.array(TaskListItem).describe("newest first"),
    next_cursor: z.string().nullable().describe("pass as ?cursor= for the next page; null: the last page"),
  }),
);
export type TaskList = z.infer<typeof TaskList>;

/** 202 of POST /api/task: accepted, not finished. */
export const SubmittedTask = named(
  "SubmittedTask",
  z.object({ task_id: Count, status: TaskStatus, provider: ProviderName }),
);
export type SubmittedTask = z.infer<typeof SubmittedTask>;

export const SubmittedBatch = named(
  "SubmittedBatch",
  z.object({ tasks: z.array(SubmittedTask).describe("in the order sent") }),
);
export type SubmittedBatch = z.infer<typeof SubmittedBatch>;

/** 200 of POST /api/task?wait=N: the original API's answer for a completed task. */
export const CompletedTask = named(
  "CompletedTask",
  z.object({
    task_id: Count,
    status: TaskStatus,
    response: z.string().nullable(),
    tokens_used: Count.nullable(),
    cost: Money.nullable(),
    provider: ProviderName,
  }),
);
export type CompletedTask = z.infer<typeof CompletedTask>;

/** POST /api/task?wait=N on a task that failed (502) or was canceled (409) meanwhile. */
export const WaitedTaskError = named("WaitedTaskError", ErrorAnswer.extend({ task_id: Count, status: TaskStatus }));
export type WaitedTaskError = z.infer<typeof WaitedTaskError>;

/** 409 of a cancel: the task had finished, with this status. */
export const TaskFinishedError = named("TaskFinishedError", ErrorAnswer.extend({ status: TaskStatus }));
export type TaskFinishedError = z.infer<typeof TaskFinishedError>;

export const CallbackAttempt = named(
  "CallbackAttempt",
  z.object({
    attempt: Count.describe("1 for the first"),
    attempted_at: Timestamp,
    status_code: Count.nullable().describe("the receiver's HTTP status; null: no answer (yet)"),
    error: z.string().nullable(),
    duration_ms: Count.nullable(),
  }),
);
export type CallbackAttempt = z.infer<typeof CallbackAttempt>;

/** GET /api/task/{task_id}/callbacks: the task's callback, its state and every attempt, oldest first. */
export const TaskCallbacks = named(
  "TaskCallbacks",
  z.object({
    task_id: Count,
    callback_url: z.string().nullable(),
    state: z
      .enum(["none", "waiting", "pending", "delivered", "failed", "stopped"])
      .describe("none: no callback_url; waiting: the task has not ended; pending: attempts go on"),
    webhook_id: z.string().nullable().describe("the webhook-id header of every attempt"),
    next_attempt_at: Timestamp.nullable(),
    attempts: z.array(CallbackAttempt),
  }),
);
export type TaskCallbacks = z.infer<typeof TaskCallbacks>;
