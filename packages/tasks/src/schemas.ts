import { POSITIVE_ID, storableText, UserIdentifier } from "@aitasks/db";
import { PROVIDER_NAMES } from "@aitasks/providers";
import { z } from "zod";

export const TASK_STATUSES = ["pending", "processing", "completed", "failed", "canceled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(["completed", "failed", "canceled"]);

/** A task's place in the queue: 1 runs first, 10 last; tasks of one priority run in order. */
export const DEFAULT_PRIORITY = 5;

const text = (field: string) => z.string({ error: `${field} must be a string` });

/** The longest `callback_url` accepted: longer ones are refused rather than cut. */
const MAX_CALLBACK_URL_LENGTH = 2048;

/** An absolute http(s) URL; whether its host may be called is checked when the task is submitted. */
const CallbackUrl = text("callback_url")
  .max(MAX_CALLBACK_URL_LENGTH, `callback_url must be at most ${MAX_CALLBACK_URL_LENGTH} characters`)
  .refine((value) => {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  }, "callback_url must be an absolute http:// or https:// URL")
  .refine((value) => !URL.canParse(value) || new URL(value).username + new URL(value).password === "", {
    message: "callback_url must not carry a user name or password",
  });

export const CreateTaskBody = z.object(
  {
    prompt: storableText("prompt").refine((prompt) => prompt.trim().length > 0, "prompt must not be empty"),
    provider: z.enum(PROVIDER_NAMES, { error: 'provider must be "openai" or "mistral"' }).default("openai"),
    user_id: UserIdentifier.nullish(),
    model: text("model").min(1, "model must not be empty").max(200, "model must be at most 200 characters").optional(),
    // The provider's output limit for this task; its upper bound is the model's (checked on submit).
    max_tokens: z
      .number({ error: "max_tokens must be a number" })
      .int("max_tokens must be a whole number")
      .min(1, "max_tokens must be at least 1")
      .optional(),
    priority: z
      .number({ error: "priority must be a number from 1 (first) to 10" })
      .int("priority must be a whole number from 1 (first) to 10")
      .min(1, "priority must be from 1 (first) to 10")
      .max(10, "priority must be from 1 (first) to 10")
      .optional(),
    stream: z.boolean({ error: "stream must be true or false" }).optional(),
    callback_url: CallbackUrl.optional(),
  },
  { error: "body must be a JSON object" },
);
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

/** The most tasks one batch may hold. */
const MAX_BATCH_TASKS = 1000;

export const CreateBatchBody = z.object(
  {
    tasks: z
      .array(CreateTaskBody, { error: "tasks must be an array of tasks" })
      .min(1, "tasks must hold at least 1 task")
      .max(MAX_BATCH_TASKS, `tasks must hold at most ${MAX_BATCH_TASKS} tasks`),
  },
  { error: "body must be a JSON object with a tasks array" },
);

export const SubmitQuery = z.object({
  wait: z.coerce
    .number({ error: "wait must be a number of seconds" })
    .int("wait must be a whole number of seconds")
    .min(1, "wait must be at least 1 second")
    .max(60, "wait must be at most 60 seconds")
    .optional(),
});

/**
 * A path parameter `:id` of one of our tables, named in its error as `what`: the URL's digits (at
 * most 15, as POSITIVE_ID allows), read as an integer. The OpenAPI document shows the integer (the
 * pipe's output): a client holds ids as the numbers answers carry.
 */
export const idParams = (what: string) =>
  z.object({
    id: z
      .string()
      .regex(POSITIVE_ID, `${what} must be a positive integer`)
      .transform(Number)
      .pipe(z.int().min(1).max(999_999_999_999_999)),
  });

export const TaskIdParams = idParams("task id");

export const ListTasksQuery = z.object({
  status: z.enum(TASK_STATUSES, { error: `status must be one of ${TASK_STATUSES.join(", ")}` }).optional(),
  limit: z.coerce
    .number({ error: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, "limit must be between 1 and 1000")
    .max(1000, "limit must be between 1 and 1000")
    .default(50),
  user_id: UserIdentifier.optional(),
  cursor: z.string().optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;
