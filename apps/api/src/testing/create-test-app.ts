import { once } from "node:events";
import { findMoneyViolations, type MoneyInvariant } from "@aitasks/ledger";
import type { TestEnvironment } from "@aitasks/testing";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApp } from "../app.js";
import { loadApiConfig } from "../config.js";
import { type AppDeps, batchedTaskAccess, createApiDeps } from "../deps.js";

/**
 * The real app, wired by `createApiDeps` as `main.ts` wires it, on a test file's own database and
 * queue prefix, for `app.inject` tests. The configuration is the defaults (never the shell's
 * environment), without rate limit or pending-task quota, with `variables` set over them;
 * `overrides` replace dependencies; `beforeReady` may add hooks (a test's probes) to the built app.
 */
export async function createTestApp(
  env: TestEnvironment,
  overrides: Partial<AppDeps> = {},
  variables: Record<string, string> = {},
  beforeReady?: (app: FastifyInstance) => void,
) {
  const config = loadApiConfig({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    RATE_LIMIT_PER_MINUTE: "0",
    MAX_PENDING_TASKS_PER_USER: "0",
    ...variables,
  });
  const resources = createApiDeps(config, pino({ level: "silent" }));
  // Without an offline queue, a command sent before the connection is ready fails at once.
  if (resources.redis.status !== "ready") await once(resources.redis, "ready");
  await resources.listener.ready;
  // Another database given: the batched reads and inserts go to it too.
  const batched = overrides.db ? batchedTaskAccess(overrides.db) : {};
  const app = buildApp({ ...resources.deps, ...batched, ...overrides });
  beforeReady?.(app);
  await app.ready();
  return {
    app,
    db: resources.database.db,
    sql: resources.database.sql,
    queues: resources.queues,
    /**
     * Checks the money invariants on the file's database (every scenario ends with books that
     * obey them: packages/ledger/src/invariants.ts), then closes; fails naming each violation.
     * `skipMoneyInvariants` is for a test that builds a broken state on purpose, saying why.
     */
    async close({ skipMoneyInvariants }: { skipMoneyInvariants?: readonly MoneyInvariant[] } = {}) {
      let violations: string[];
      try {
        violations = await findMoneyViolations(resources.database.db, { skip: skipMoneyInvariants });
      } finally {
        await app.close();
        await resources.close();
      }
      if (violations.length > 0) throw new Error(`the books break money invariants:\n  ${violations.join("\n  ")}`);
    },
  };
}
