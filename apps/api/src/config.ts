import { ApiEnv, loadMigrationUrl, loadPricing, loadRedisTarget, parseEnv } from "@aitasks/config";

/** The API's configuration, read from the environment once, at start-up. */
export function loadApiConfig(env: Record<string, string | undefined> = process.env) {
  const vars = parseEnv(ApiEnv, env);
  return { ...vars, ...loadPricing(vars), redis: loadRedisTarget(vars), migrationUrl: loadMigrationUrl(vars) };
}
export type ApiConfig = ReturnType<typeof loadApiConfig>;
