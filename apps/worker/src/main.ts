import { checkDependencies, onShutdownSignal, startProcess } from "@aitasks/config/start-process";
import { loadWorkerConfig } from "./config.js";
import { createWorkerDeps } from "./deps.js";
import { reconcileTasks } from "./handlers/reconcile-tasks.js";
import { createWorkerHttpServer } from "./http-server.js";
import { startWorkers } from "./start-worker.js";

const { config, logger } = await startProcess(loadWorkerConfig);
const { deps, database, workerOptions, redis, metrics, healthChecks, close } = createWorkerDeps(config, logger);
await checkDependencies(logger, { database, redis, allowEviction: config.REDIS_ALLOW_EVICTION });

for (const [provider, key] of [
  ["openai", config.OPENAI_API_KEY],
  ["mistral", config.MISTRAL_API_KEY],
] as const) {
  if (!key) logger.warn(`${provider.toUpperCase()}_API_KEY is not set: ${provider} tasks will fail`);
}

const running = await startWorkers(deps, workerOptions);
logger.info({ concurrency: config.WORKER_CONCURRENCY, prefix: config.QUEUE_PREFIX }, "worker started");

// /metrics and /health. A port already taken stops only them: the worker goes on running jobs.
const httpServer =
  config.WORKER_HTTP_PORT > 0
    ? createWorkerHttpServer({ registry: metrics.registry, access: metrics.access, checks: healthChecks })
    : undefined;
httpServer
  ?.on("error", (error) =>
    logger.error(
      { err: error, port: config.WORKER_HTTP_PORT },
      "worker HTTP server failed: /metrics and /health are off",
    ),
  )
  .listen(config.WORKER_HTTP_PORT, () =>
    logger.info({ port: config.WORKER_HTTP_PORT }, "worker serves /metrics and /health"),
  );
// Once at start too: tasks stored while no worker ran are picked up now, not a minute later.
reconcileTasks(deps).catch((error) => logger.warn({ err: error }, "reconcile failed"));

onShutdownSignal(logger, "closing: no new jobs, waiting for running ones", async () => {
  const result = await running.close(config.SHUTDOWN_TIMEOUT_MS);
  httpServer?.close();
  httpServer?.closeAllConnections();
  if (result === "forced")
    logger.warn("shutdown timeout: unfinished jobs go back to the queue when their lock expires");
  await close();
});
