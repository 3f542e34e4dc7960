import { z } from "zod";

/**
 * The job catalog: every job this service runs, with its queue, payload schema and job id.
 * Producer and consumer both use it, so a payload cannot drift between them. Payloads carry ids only.
 * BullMQ forbids ':' in job ids and queue names, and all-digit custom ids, hence `task-42`.
 */
export const jobCatalog = {
  "run-task": {
    queue: "tasks",
    payload: z.object({ taskId: z.number().int().positive() }),
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
