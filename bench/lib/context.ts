import type { FakeProvider } from "./fake-provider.js";
import type { ScenarioResult } from "./report.js";
import type { Scratch } from "./scratch.js";
import type { StackEnv } from "./stack.js";

export interface BenchContext {
  quick: boolean;
  scratch: Scratch;
  fake: FakeProvider;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  run(context: BenchContext): Promise<Omit<ScenarioResult, "name" | "seconds">>;
}

/** A fresh database and queue prefix for a scenario, and the environment its processes get. */
export async function scenarioEnv(context: BenchContext, name: string) {
  const scratch = await context.scratch.scenario(name);
  const env: StackEnv = {
    DATABASE_URL: scratch.databaseUrl,
    REDIS_URL: context.scratch.redisUrl,
    QUEUE_PREFIX: scratch.queuePrefix,
    OPENAI_API_KEY: "sk-bench",
    OPENAI_BASE_URL: context.fake.openaiBaseURL,
    LOG_LEVEL: "warn",
    // Every request comes from one address: the per-client limit (1,200/min by default) would refuse
    // nearly all of them. The reference has no limiter either.
    RATE_LIMIT_PER_MINUTE: "0",
  };
  return {
    ...scratch,
    env,
    /** Drops the scenario's database and Redis keys. */
    async drop() {
      await context.scratch.dropDatabase(scratch.database);
      await context.scratch.cleanPrefix(scratch.queuePrefix);
    },
  };
}
