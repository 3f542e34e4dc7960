import { once } from "node:events";
import { createDatabase } from "@aitasks/db";
import { buildPricing } from "@aitasks/providers";
import {
  closeQueues,
  createProducerConnection,
  createQueues,
  enqueue,
  runTaskJobOptions,
  taskFinishedChannel,
} from "@aitasks/queue";
import type { TestEnvironment } from "@aitasks/testing";
import { Redis } from "ioredis";
import { type AppDeps, buildApp } from "../app.js";
import { createTaskFinishedListener } from "../plugins/task-finished-listener.js";

/** The real app on a test file's own database and queue prefix, for `app.inject` tests. */
export async function createTestApp(env: TestEnvironment, overrides: Partial<AppDeps> = {}) {
  const database = createDatabase(env.databaseUrl, { max: 5 });
  const redis = createProducerConnection(env.redisUrl);
  // Without an offline queue, a command sent before the connection is ready fails at once.
  if (redis.status !== "ready") await once(redis, "ready");
  const queues = createQueues(redis, env.queuePrefix, () => {});
  const listener = createTaskFinishedListener(new Redis(env.redisUrl), taskFinishedChannel(env.queuePrefix));
  await listener.ready;
  const app = buildApp({
    db: database.db,
    pricing: buildPricing(),
    defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
    enqueueTask: (taskId) => enqueue(queues, "run-task", { taskId }, runTaskJobOptions(3)),
    taskFinished: listener.signal,
    healthChecks: { database: () => database.sql`select 1`, redis: () => redis.ping() },
    stripe: undefined,
    stripeWebhookSecret: undefined,
    checkout: { microPaymentAmountCents: 100, currency: "usd", publicBaseUrl: "http://localhost:5000" },
    adminKeyDigests: [],
    limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
    ...overrides,
  });
  await app.ready();
  return {
    app,
    db: database.db,
    sql: database.sql,
    queues,
    async close() {
      await app.close();
      await listener.close();
      await closeQueues(queues);
      redis.disconnect();
      await database.close();
    },
  };
}
