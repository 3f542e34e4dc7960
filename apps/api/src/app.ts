import type { CheckoutDeps } from "@aitasks/billing";
import type { Database } from "@aitasks/db";
import type { PricingTable, ProviderName } from "@aitasks/providers";
import type { TaskFinishedSignal } from "@aitasks/tasks";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { handleError, handleNotFound } from "./http/errors.js";
import { type HealthCheck, healthRoute } from "./routes/health.js";
import { createMicroCheckoutRoute } from "./routes/payments/create-micro-checkout.js";
import { createSubscriptionCheckoutRoute } from "./routes/payments/create-subscription-checkout.js";
import { getReportRoute } from "./routes/reports/get-report.js";
import { getStatsRoute } from "./routes/reports/get-stats.js";
import { getTaskRoute } from "./routes/tasks/get-task.js";
import { listTasksRoute } from "./routes/tasks/list-tasks.js";
import { submitTaskRoute } from "./routes/tasks/submit-task.js";
import { stripeWebhookRoutes } from "./routes/webhooks/stripe-webhook.js";

export interface AppDeps extends CheckoutDeps {
  db: Database;
  pricing: PricingTable;
  defaultModels: Record<ProviderName, string>;
  enqueueTask: (taskId: number) => Promise<void>;
  taskFinished: TaskFinishedSignal;
  healthChecks: { database: HealthCheck; redis: HealthCheck };
  stripeWebhookSecret: string | undefined;
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
  // JSON in and out (SPEC): a text/plain body is refused with 415 instead of reaching the routes as a string.
  app.removeContentTypeParser("text/plain");
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
        getReportRoute(api, deps);
        getStatsRoute(api, deps);
        createSubscriptionCheckoutRoute(api, deps);
        createMicroCheckoutRoute(api, deps);
        await api.register(stripeWebhookRoutes, deps);
      },
      { prefix },
    );
  }
  return app;
}
