import { createDatabase } from "@aitasks/db";
import { buildPricing, createProviders, type Providers } from "@aitasks/providers";
import {
  closeQueues,
  createQueues,
  createTaskFinishedAnnouncer,
  createWorkerConnection,
  taskFinishedChannel,
} from "@aitasks/queue";
import type { FakeChatServer, TestEnvironment } from "@aitasks/testing";
import { pino } from "pino";
import { startWorkers } from "../start-worker.js";

export interface TestWorkerOptions {
  concurrency?: number;
  maxAttempts?: number;
  providerTimeoutMs?: number;
  lockDurationMs?: number;
  reconcileAfterMs?: number;
  rollupEveryMs?: number;
  /** Replaces the providers built against `fake` (for example, to leave a key unset). */
  providers?: Providers;
}

/** A real BullMQ worker in this process, with both providers pointed at a fake chat server. */
export async function startTestWorker(env: TestEnvironment, fake: FakeChatServer, options: TestWorkerOptions = {}) {
  const database = createDatabase(env.databaseUrl, { max: 5 });
  const connection = createWorkerConnection(env.redisUrl);
  const publisher = createWorkerConnection(env.redisUrl);
  const queues = createQueues(connection, env.queuePrefix, () => {});
  const maxAttempts = options.maxAttempts ?? 3;
  const deps = {
    config: { TASK_MAX_ATTEMPTS: maxAttempts, RECONCILE_AFTER_MS: options.reconcileAfterMs ?? 120_000 },
    logger: pino({ level: "silent" }),
    queues,
    runTask: {
      db: database.db,
      pricing: buildPricing(),
      providers:
        options.providers ??
        createProviders({
          openai: { apiKey: "sk-test", baseURL: fake.openaiBaseURL },
          mistral: { apiKey: "mistral-test", serverURL: fake.mistralServerURL },
          timeoutMs: options.providerTimeoutMs ?? 10_000,
        }),
      maxRuns: maxAttempts + 2,
      leaseMs: options.lockDurationMs ?? 30_000,
      onFinished: createTaskFinishedAnnouncer(publisher, taskFinishedChannel(env.queuePrefix)),
    },
  };
  const running = await startWorkers(deps, {
    connection,
    prefix: env.queuePrefix,
    concurrency: options.concurrency ?? 20,
    lockDurationMs: options.lockDurationMs ?? 30_000,
    reconcileEveryMs: 60_000,
    rollupEveryMs: options.rollupEveryMs ?? 60_000,
  });
  return {
    deps,
    db: database.db,
    sql: database.sql,
    queues,
    async close() {
      await running.close(5_000);
      await closeQueues(queues);
      connection.disconnect();
      publisher.disconnect();
      await database.close();
    },
  };
}
