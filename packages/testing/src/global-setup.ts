import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { migrateDatabase } from "@aitasks/db";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { findTestServices } from "./test-services.js";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
    redisUrl: string;
  }
}

/**
 * Finds Postgres and Redis once per run (`findTestServices`) and migrates a template database
 * that each test file clones.
 */
export default async function setup(project: TestProject) {
  // The end-to-end tests start the processes as `npm start` does, from the bundles in dist/.
  execFileSync(process.execPath, [fileURLToPath(new URL("../../../scripts/build.mjs", import.meta.url))], {
    stdio: "inherit",
  });
  const services = await findTestServices(process.env);
  console.log(services.summary);
  const { databaseUrl, redisUrl } = services;

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
    await services.stop();
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
