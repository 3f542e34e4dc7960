import { z } from "zod";

/**
 * The job catalog: every job this service runs, with its queue, payload schema and job id.
 * Producer and consumer both use it, so a payload cannot drift between them. Payloads carry ids only.
 * BullMQ forbids ':' in job ids and queue names, and all-digit custom ids, hence `task-42`.
 */
const tokenCount = z.number().int().nonnegative();

/**
 * A provider's answer a run keeps in its job's data (`job.updateData`) until it is booked, so that
 * the job's next attempt books it instead of calling the provider again (packages/tasks
 * `KeptAnswer`). Written by the worker, never by a producer; one that cannot be read is ignored.
 */
export const KeptAnswer = z.object({
  runId: z.string().min(1),
  text: z.string().nullable(),
  usage: z.object({
    promptTokens: tokenCount,
    completionTokens: tokenCount,
    cachedTokens: tokenCount,
    reasoningTokens: tokenCount,
  }),
});
export type KeptAnswer = z.infer<typeof KeptAnswer>;

export const jobCatalog = {
  "run-task": {
    queue: "tasks",
    payload: z.object({ taskId: z.number().int().positive(), answer: KeptAnswer.optional().catch(undefined) }),
    jobId: ({ taskId }: { taskId: number }) => `task-${taskId}`,
  },
  // A queue of its own: a slow receiver never delays tasks.
  "deliver-callback": {
    queue: "callbacks",
    payload: z.object({ taskId: z.number().int().positive() }),
    jobId: ({ taskId }: { taskId: number }) => `callback-${taskId}`,
  },
  "reconcile-tasks": {
    queue: "maintenance",
    payload: z.object({}),
    jobId: () => "reconcile-tasks",
  },
  "rollup-reports": {
    queue: "maintenance",
    payload: z.object({ full: z.boolean().optional() }),
    jobId: () => "rollup-reports",
  },
} as const;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]["payload"]>;
export type QueueName = (typeof jobCatalog)[JobName]["queue"];
export const QUEUE_NAMES = ["tasks", "callbacks", "maintenance"] as const satisfies readonly QueueName[];
