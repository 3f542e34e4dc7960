import { randomBytes } from "node:crypto";
import { migrateDatabase } from "@aitasks/db";
import { Redis } from "ioredis";
import postgres from "postgres";
import { referenceSchema } from "../reference/schema.js";

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Scratch space for one benchmark run: a migrated template database (our migrations plus the
 * reference's tables), cloned into a fresh database per scenario, and a Redis key prefix. Everything
 * is dropped by `cleanup`, also after a failure or Ctrl-C.
 */
export async function createScratch(adminUrl: string, redisUrl: string) {
  const id = randomBytes(4).toString("hex");
  const base = `aitasks_bench_${id}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const created: string[] = [];
  const prefixes: string[] = [];

  await admin.unsafe(`create database ${base}`);
  created.push(base);
  await migrateDatabase(withDatabase(adminUrl, base));
  const template = postgres(withDatabase(adminUrl, base), { max: 1, onnotice: () => {} });
  await template.unsafe(referenceSchema);
  await template.end();

  return {
    id,
    redisUrl,
    /** A fresh database cloned from the template, and a queue prefix of its own. */
    async scenario(name: string) {
      const database = `${base}_${name.replace(/\W/g, "_")}`;
      await admin.unsafe(`drop database if exists ${database} with (force)`);
      await admin.unsafe(`create database ${database} template ${base}`);
      created.push(database);
      const prefix = `bench-${id}-${name}`;
      prefixes.push(prefix);
      return { databaseUrl: withDatabase(adminUrl, database), database, queuePrefix: prefix };
    },
    async dropDatabase(database: string) {
      const index = created.indexOf(database);
      if (index < 0) return; // already dropped by cleanup (Ctrl-C)
      created.splice(index, 1);
      await admin.unsafe(`drop database if exists ${database} with (force)`);
    },
    async cleanPrefix(prefix: string) {
      await deleteKeys(redisUrl, prefix);
    },
    async cleanup() {
      const databases = created.splice(0).reverse();
      for (const database of databases) {
        await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
      }
      for (const prefix of prefixes) await deleteKeys(redisUrl, prefix).catch(() => {});
      await admin.end({ timeout: 5 });
    },
  };
}
export type Scratch = Awaited<ReturnType<typeof createScratch>>;

async function deleteKeys(redisUrl: string, prefix: string) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
