import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { migrateDatabase } from "@aitasks/db";
import postgres from "postgres";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
    redisUrl: string;
  }
}

/**
 * Finds Postgres and Redis once per run: TEST_DATABASE_URL / TEST_REDIS_URL when set, else
 * containers where Docker runs. Migrates a template database that each test file clones.
 */
export default async function setup(project: TestProject) {
  // The end-to-end tests start the processes as `npm start` does, from the bundles in dist/.
  execFileSync(process.execPath, [fileURLToPath(new URL("../../../scripts/build.mjs", import.meta.url))], {
    stdio: "inherit",
  });
  const stops: (() => Promise<unknown>)[] = [];
  let databaseUrl = process.env.TEST_DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL;

  if (!databaseUrl || !redisUrl) {
    try {
      // Imported only here: where Docker is absent the package is never loaded.
      if (!databaseUrl) {
        const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
        const container = await new PostgreSqlContainer("postgres:16-alpine").start();
        stops.push(() => container.stop());
        databaseUrl = container.getConnectionUri();
      }
      if (!redisUrl) {
        const { RedisContainer } = await import("@testcontainers/redis");
        const container = await new RedisContainer("redis:7-alpine").start();
        stops.push(() => container.stop());
        redisUrl = container.getConnectionUrl();
      }
    } catch (error) {
      throw new Error(
        "The tests need a real Postgres and Redis. Set TEST_DATABASE_URL and TEST_REDIS_URL " +
          "(for example postgres://postgres@127.0.0.1:5432/postgres and redis://127.0.0.1:6379), " +
          `or run where Docker works so testcontainers can start them. Testcontainers said: ${(error as Error).message}`,
      );
    }
  }

  const templateDatabase = `aitasks_template_${randomBytes(4).toString("hex")}`;
  const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${templateDatabase}`);
  await migrateDatabase(withDatabase(databaseUrl, templateDatabase));

  project.provide("databaseUrl", databaseUrl);
  project.provide("templateDatabase", templateDatabase);
  project.provide("redisUrl", redisUrl);

  return async () => {
    await admin.unsafe(`drop database if exists ${templateDatabase} with (force)`);
    await admin.end();
    for (const stop of stops) await stop();
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
