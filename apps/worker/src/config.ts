import { loadMigrationUrl, loadPricing, loadRedisTarget, parseEnv, WorkerEnv } from "@aitasks/config";

/** The worker's configuration, read from the environment once, at start-up. */
export function loadWorkerConfig(env: Record<string, string | undefined> = process.env) {
  const vars = parseEnv(WorkerEnv, env);
  return { ...vars, ...loadPricing(vars), redis: loadRedisTarget(vars), migrationUrl: loadMigrationUrl(vars) };
}
export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;
