import type { Database } from "@aitasks/db";
import type { PricingTable, ProviderName } from "@aitasks/providers";
import type { TaskFinishedSignal } from "@aitasks/tasks";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { handleError, handleNotFound } from "./http/errors.js";
import { type HealthCheck, healthRoute } from "./routes/health.js";
import { getTaskRoute } from "./routes/tasks/get-task.js";
import { listTasksRoute } from "./routes/tasks/list-tasks.js";
import { submitTaskRoute } from "./routes/tasks/submit-task.js";

export interface AppDeps {
  db: Database;
  pricing: PricingTable;
  defaultModels: Record<ProviderName, string>;
  enqueueTask: (taskId: number) => Promise<void>;
  taskFinished: TaskFinishedSignal;
  healthChecks: { database: HealthCheck; redis: HealthCheck };
}

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds the HTTP app around its dependencies. It never listens: main.ts does, tests inject. */
export function buildApp(deps: AppDeps, options: { logger?: FastifyBaseLogger } = {}) {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: "x-request-id",
    // Answer 503 to requests arriving while the server drains, instead of accepting new work.
    return503OnClosing: true,
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);

  healthRoute(app, deps.healthChecks);
  // Every /api path is also served under /api/v1: the versioned name of the same contract.
  for (const prefix of ["/api", "/api/v1"]) {
    app.register(
      async (api) => {
        submitTaskRoute(api, deps);
        getTaskRoute(api, deps);
        listTasksRoute(api, deps);
      },
      { prefix },
    );
  }
  return app;
}
