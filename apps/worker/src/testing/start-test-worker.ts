import type { ResolveHost } from "@aitasks/callbacks";
import { findMoneyViolations, type MoneyInvariant } from "@aitasks/ledger";
import type { Providers } from "@aitasks/providers";
import type { FakeChatServer, TestEnvironment } from "@aitasks/testing";
import { pino } from "pino";
import { loadWorkerConfig } from "../config.js";
import { createWorkerDeps } from "../deps.js";
import { startWorkers } from "../start-worker.js";

export interface TestWorkerOptions {
  concurrency?: number;
  maxAttempts?: number;
  providerTimeoutMs?: number;
  lockDurationMs?: number;
  reconcileAfterMs?: number;
  rollupEveryMs?: number;
  renewSchedulesEveryMs?: number;
  replaceStuckAfterMs?: number;
  /** Replaces the providers built against `fake` (for example, to leave a key unset). */
  providers?: Providers;
  /** CALLBACK_* variables (strings, as in the environment), and a resolver in place of the system's. */
  callbacks?: { variables?: Record<string, string>; resolveHost?: ResolveHost };
}

/**
 * A real BullMQ worker in this process, wired by `createWorkerDeps` as `main.ts` wires it, on a
 * test file's own database and queue prefix, both providers pointed at a fake chat server. The
 * configuration is the defaults (never the shell's environment) with `options` over them.
 */
export async function startTestWorker(env: TestEnvironment, fake: FakeChatServer, options: TestWorkerOptions = {}) {
  const given = (value: number | undefined) => (value === undefined ? undefined : String(value));
  const config = loadWorkerConfig({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mistral-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
    WORKER_CONCURRENCY: given(options.concurrency),
    TASK_MAX_ATTEMPTS: given(options.maxAttempts),
    PROVIDER_TIMEOUT_MS: given(options.providerTimeoutMs ?? 10_000),
    WORKER_LOCK_DURATION_MS: given(options.lockDurationMs),
    RECONCILE_AFTER_MS: given(options.reconcileAfterMs),
    REPORT_ROLLUP_INTERVAL_MS: given(options.rollupEveryMs),
    ...options.callbacks?.variables,
  });
  const resources = createWorkerDeps(config, pino({ level: "silent" }));
  let deps = options.providers
    ? { ...resources.deps, taskRunner: { ...resources.deps.taskRunner, providers: options.providers } }
    : resources.deps;
  const resolveHost = options.callbacks?.resolveHost;
  if (resolveHost) {
    const { callbacks } = deps;
    deps = { ...deps, callbacks: { ...callbacks, policy: { ...callbacks.policy, resolveHost } } };
  }
  // The reconciler runs only when a test calls it, not on its own schedule.
  const running = await startWorkers(deps, {
    ...resources.workerOptions,
    reconcileEveryMs: 60_000,
    renewSchedulesEveryMs: options.renewSchedulesEveryMs ?? resources.workerOptions.renewSchedulesEveryMs,
    replaceStuckAfterMs: options.replaceStuckAfterMs ?? resources.workerOptions.replaceStuckAfterMs,
  });
  return {
    deps,
    db: resources.database.db,
    sql: resources.database.sql,
    queues: deps.queues,
    workerOf: running.workerOf,
    /**
     * Stops the workers, then checks the money invariants on the file's database (as
     * createTestApp's `close()` does) and fails naming each violation. `skipMoneyInvariants` is
     * for a test that builds a broken state on purpose, saying why.
     */
    async close({ skipMoneyInvariants }: { skipMoneyInvariants?: readonly MoneyInvariant[] } = {}) {
      let violations: string[];
      try {
        await running.close(5_000);
        violations = await findMoneyViolations(resources.database.db, { skip: skipMoneyInvariants });
      } finally {
        await resources.close();
      }
      if (violations.length > 0) throw new Error(`the books break money invariants:\n  ${violations.join("\n  ")}`);
    },
  };
}
