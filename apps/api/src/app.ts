import cors from "@fastify/cors";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { dashboardRoutes } from "./dashboard/dashboard.js";
import { queueBoardRoutes } from "./dashboard/queue-board.js";
import type { AppDeps } from "./deps.js";
import { collectAllowedMethods } from "./http/allowed-methods.js";
import { BODY_LIMIT_BYTES, useUnreadBodyDiscard } from "./http/body-limit.js";
import { handleClientError, handleError, handleNotFound } from "./http/errors.js";
import { useIdempotencyKeys } from "./http/idempotency.js";
import { useStrictUtf8Json } from "./http/json-body.js";
import { collectRoutes } from "./http/openapi.js";
import { refuseWhileClosing } from "./http/refuse-while-closing.js";
import { requestIdOf, useRequestIdHeader } from "./http/request-id.js";
import { useSecurityHeaders } from "./http/security-headers.js";
import { authenticate } from "./plugins/authenticate.js";
import { useHttpMetrics } from "./plugins/http-metrics.js";
import { failedAuthenticationLimiter, registerRateLimit } from "./plugins/rate-limit.js";
import { taskChildLogger } from "./plugins/task-log.js";
import { creditRoutes } from "./routes/credits/credits.js";
import { docsRoutes } from "./routes/docs/docs.js";
import { healthRoute } from "./routes/health.js";
import { keyRoutes } from "./routes/keys/keys.js";
import { metricsRoute } from "./routes/metrics.js";
import { createMicroCheckoutRoute } from "./routes/payments/create-micro-checkout.js";
import { createSubscriptionCheckoutRoute } from "./routes/payments/create-subscription-checkout.js";
import { getLedgerRoute } from "./routes/reports/get-ledger.js";
import { getReportRoute } from "./routes/reports/get-report.js";
import { getStatsRoute } from "./routes/reports/get-stats.js";
import { cancelTaskRoute } from "./routes/tasks/cancel-task.js";
import { getTaskRoute } from "./routes/tasks/get-task.js";
import { listCallbacksRoute } from "./routes/tasks/list-callbacks.js";
import { listTasksRoute } from "./routes/tasks/list-tasks.js";
import { submitBatchRoute } from "./routes/tasks/submit-batch.js";
import { submitTaskRoute } from "./routes/tasks/submit-task.js";
import { taskEventsRoute } from "./routes/tasks/task-events.js";
import { createUserRoute } from "./routes/users/create-user.js";
import { stripeWebhookRoutes } from "./routes/webhooks/stripe-webhook.js";

/** Builds the HTTP app around its dependencies. It never listens: main.ts does, tests inject. */
export function buildApp(deps: AppDeps, options: { logger?: FastifyBaseLogger } = {}) {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    // A client's X-Request-Id is kept only if well-formed (a proxy's trace id); anything else gets one of ours.
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Requests arriving while the server drains get our own 503 (`refuseWhileClosing`).
    return503OnClosing: false,
    // Per-address limits count the client behind a load balancer, not the balancer (TRUST_PROXY).
    trustProxy: deps.trustProxy,
    clientErrorHandler: handleClientError,
    childLoggerFactory: taskChildLogger,
  });
  // Before any route: GET /openapi.json documents every route registered from here on.
  const routes = collectRoutes(app);
  // Before any route too: a known path asked with another method answers 405 with Allow.
  collectAllowedMethods(app);
  useRequestIdHeader(app);
  refuseWhileClosing(app);
  useHttpMetrics(app, deps.metrics.http);
  // JSON in and out (SPEC): a text/plain body is refused with 415 instead of reaching the routes as a string.
  app.removeContentTypeParser("text/plain");
  // Bytes that are not UTF-8 are refused (400) rather than stored as U+FFFD.
  useStrictUtf8Json(app);
  useUnreadBodyDiscard(app);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  useSecurityHeaders(app);
  // No CORS headers at all unless origins are configured: browsers then refuse cross-origin calls.
  if (deps.corsOrigins?.length) app.register(cors, { origin: [...deps.corsOrigins] });

  healthRoute(app, deps.healthChecks);
  docsRoutes(app, routes);
  // One counter for both prefixes: /api and /api/v1 are the same API.
  const failures = deps.rateLimit ? failedAuthenticationLimiter(deps.rateLimit) : undefined;
  metricsRoute(app, deps, failures);
  // The operator's web pages: cookie sessions, HTML, and nothing under /api.
  app.register(dashboardRoutes, { ...deps, prefix: "/dashboard" });
  app.register(queueBoardRoutes, { ...deps, prefix: "/admin/queues" });
  // Every /api path is also served under /api/v1: the versioned name of the same contract.
  // Lists, reports, stats and the ledger read the replica when there is one (DATABASE_READ_URL).
  const reads = { ...deps, db: deps.readDb };
  for (const prefix of ["/api", "/api/v1"]) {
    app.register(
      async (api) => {
        // Stripe authenticates with its signature, not an API key.
        await api.register(stripeWebhookRoutes, deps);
        await api.register(async (authenticated) => {
          authenticate(authenticated, { ...deps, failures });
          if (deps.rateLimit) await registerRateLimit(authenticated, deps.rateLimit);
          // The routes that honour Idempotency-Key.
          await authenticated.register(async (idempotent) => {
            useIdempotencyKeys(idempotent, deps);
            submitTaskRoute(idempotent, deps);
            submitBatchRoute(idempotent, deps);
          });
          getTaskRoute(authenticated, deps);
          taskEventsRoute(authenticated, deps);
          listCallbacksRoute(authenticated, deps);
          cancelTaskRoute(authenticated, deps);
          listTasksRoute(authenticated, reads);
          getReportRoute(authenticated, reads);
          getStatsRoute(authenticated, reads);
          getLedgerRoute(authenticated, reads);
          createSubscriptionCheckoutRoute(authenticated, deps);
          createMicroCheckoutRoute(authenticated, deps);
          keyRoutes(authenticated, deps);
          creditRoutes(authenticated, deps);
          createUserRoute(authenticated, deps);
        });
      },
      { prefix },
    );
  }
  return app;
}
