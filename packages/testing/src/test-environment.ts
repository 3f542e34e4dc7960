import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, beforeAll, inject } from "vitest";
import { withDatabase } from "./global-setup.js";

export interface TestEnvironment {
  /** A database of this test file's own, cloned from the migrated template. */
  databaseUrl: string;
  redisUrl: string;
  /** A BullMQ key prefix of this test file's own. */
  queuePrefix: string;
}

/**
 * Gives the calling test file its own database and queue prefix, so files run in parallel
 * without seeing each other's rows or jobs, and removes both afterwards.
 */
export function useTestEnvironment(): TestEnvironment {
  const id = randomBytes(5).toString("hex");
  const database = `aitasks_test_${id}`;
  const adminUrl = inject("databaseUrl");
  const env: TestEnvironment = {
    databaseUrl: withDatabase(adminUrl, database),
    redisUrl: inject("redisUrl"),
    queuePrefix: `test-${id}`,
  };

  beforeAll(async () => {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${database} template ${inject("templateDatabase")}`);
    await admin.end();
  });

  afterAll(async () => {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
    const redis = new Redis(env.redisUrl);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${env.queuePrefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
    await redis.quit();
  });

  return env;
}
