import { jobCatalog, runTaskJobOptions } from "@aitasks/queue";
import { DEFAULT_PRIORITY } from "@aitasks/tasks";
import { Queue } from "bullmq";
import type postgres from "postgres";
import { redisConnection, type Side, type StackEnv, taskQueueName } from "./stack.js";
import { PROMPT } from "./tasks-db.js";

const CHUNK = 1_000;

/**
 * Stores `count` pending tasks and queues their jobs, as the API would (ours: the job catalog's
 * name, id and options; the reference: its own job), but in bulk: scenarios that measure the
 * workers should not wait for, or compete with, an HTTP load while the queue fills.
 */
export async function preloadTasks(sql: postgres.Sql, env: StackEnv, side: Side, count: number): Promise<void> {
  const connection = redisConnection(env.REDIS_URL);
  const queue = new Queue(taskQueueName(side), { connection, prefix: env.QUEUE_PREFIX });
  queue.on("error", () => {});
  try {
    for (let done = 0; done < count; done += CHUNK) {
      const n = Math.min(CHUNK, count - done);
      if (side === "ours") {
        const rows = await sql<{ id: string }[]>`
          insert into tasks (provider, model, input) select 'openai', 'gpt-4o-mini', ${PROMPT}
          from generate_series(1, ${n}) returning id`;
        const options = runTaskJobOptions(3, DEFAULT_PRIORITY);
        await queue.addBulk(
          rows.map((row) => {
            const data = { taskId: Number(row.id) };
            return { name: "run-task", data, opts: { ...options, jobId: jobCatalog["run-task"].jobId(data) } };
          }),
        );
      } else {
        const rows = await sql<{ id: string }[]>`
          insert into ref_tasks (input) select ${PROMPT} from generate_series(1, ${n}) returning id`;
        await queue.addBulk(
          rows.map((row) => ({
            name: "run",
            data: { id: Number(row.id), prompt: PROMPT },
            opts: { removeOnComplete: { count: 1000 } },
          })),
        );
      }
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
