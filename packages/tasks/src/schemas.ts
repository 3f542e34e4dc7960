import { PROVIDER_NAMES } from "@aitasks/providers";
import { z } from "zod";

export const TASK_STATUSES = ["pending", "processing", "completed", "failed"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(["completed", "failed"]);

// UTF-8 cannot encode an unpaired surrogate: Postgres would store U+FFFD instead of what was sent.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const text = (field: string) => z.string({ error: `${field} must be a string` });

export const CreateTaskBody = z.object(
  {
    prompt: text("prompt")
      .refine((prompt) => prompt.trim().length > 0, "prompt must not be empty")
      // Postgres text cannot hold U+0000; refusing it here beats losing it silently.
      .refine((prompt) => !prompt.includes("\u0000"), "prompt must not contain NUL (\\u0000) characters")
      .refine((prompt) => !LONE_SURROGATE.test(prompt), "prompt must be valid Unicode (it has a lone surrogate)"),
    provider: z.enum(PROVIDER_NAMES, { error: 'provider must be "openai" or "mistral"' }).default("openai"),
    user_id: text("user_id")
      .min(1, "user_id must not be empty")
      .max(320, "user_id must be at most 320 characters")
      .refine((id) => !id.includes("\u0000"), "user_id must not contain NUL characters")
      .refine((id) => !LONE_SURROGATE.test(id), "user_id must be valid Unicode (it has a lone surrogate)")
      .nullish(),
    model: text("model").min(1, "model must not be empty").max(200, "model must be at most 200 characters").optional(),
  },
  { error: "body must be a JSON object" },
);
export type CreateTaskBody = z.infer<typeof CreateTaskBody>;

export const SubmitQuery = z.object({
  wait: z.coerce
    .number({ error: "wait must be a number of seconds" })
    .int("wait must be a whole number of seconds")
    .min(1, "wait must be at least 1 second")
    .max(60, "wait must be at most 60 seconds")
    .optional(),
});

export const TaskIdParams = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/, "task id must be a positive integer")
    .transform(Number),
});

export const ListTasksQuery = z.object({
  status: z.enum(TASK_STATUSES, { error: `status must be one of ${TASK_STATUSES.join(", ")}` }).optional(),
  limit: z.coerce
    .number({ error: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, "limit must be between 1 and 1000")
    .max(1000, "limit must be between 1 and 1000")
    .default(50),
  // Refused like in CreateTaskBody: Postgres cannot take NUL (a 500 otherwise), and a lone surrogate
  // would be sent as U+FFFD and match another identifier.
  user_id: z
    .string()
    .min(1, "user_id must not be empty")
    .refine((id) => !id.includes("\u0000"), "user_id must not contain NUL characters")
    .refine((id) => !LONE_SURROGATE.test(id), "user_id must be valid Unicode (it has a lone surrogate)")
    .optional(),
  cursor: z.string().optional(),
});
export type ListTasksQuery = z.infer<typeof ListTasksQuery>;
