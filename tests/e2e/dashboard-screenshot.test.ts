// scripts/dashboard-screenshot.ts, which makes the README's picture, runs on whatever server
// DATABASE_URL names: it must write only to a scratch database of its own and drop only that. It
// used to drop (with force) a database of a fixed name, aitasks_screenshot, on that server.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exitWithin, spawnCommand } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, expect, inject, it } from "vitest";

const OLD_FIXED_NAME = "aitasks_screenshot";
const adminUrl = inject("databaseUrl");
const scratch = mkdtempSync(join(tmpdir(), "aitasks-screenshot-"));
let admin: postgres.Sql;
let createdHere = false;

beforeAll(async () => {
  admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  // Someone's database of that name, which the script must leave alone.
  try {
    await admin.unsafe(`create database ${OLD_FIXED_NAME}`);
    createdHere = true;
  } catch (error) {
    // 42P04: it exists already (a developer's, or an earlier run's): it must survive all the same.
    if ((error as { code?: string }).code !== "42P04") throw error;
  }
});
afterAll(async () => {
  if (createdHere) await admin.unsafe(`drop database if exists ${OLD_FIXED_NAME} with (force)`);
  await admin.end();
  rmSync(scratch, { recursive: true, force: true });
});

const databases = async (pattern: string) =>
  (await admin<{ datname: string }[]>`select datname from pg_database where datname like ${pattern}`).map(
    (row) => row.datname,
  );
/** The database's oid: a database dropped and made again under the same name has another. */
const oidOf = async (name: string) =>
  (await admin<{ oid: string }[]>`select oid::text from pg_database where datname = ${name}`)[0]?.oid;

it("draws the dashboard from a scratch database of its own, and drops only that", async () => {
  const picture = join(scratch, "dashboard.png");
  const before = await oidOf(OLD_FIXED_NAME);
  expect(before).toBeDefined();
  const proc = spawnCommand("dashboard-screenshot", "npx", ["tsx", "scripts/dashboard-screenshot.ts", picture], {
    DATABASE_URL: adminUrl,
    REDIS_URL: inject("redisUrl"),
  });
  expect(await exitWithin(proc, 150_000), proc.output()).toBe(0);

  expect(await oidOf(OLD_FIXED_NAME), "the database of the old fixed name was dropped").toBe(before);
  const used = /scratch database (aitasks_screenshot_[0-9a-f]+)/.exec(proc.output())?.[1];
  expect(used, proc.output()).toBeDefined();
  expect(await databases(used!)).toEqual([]);
  expect(readFileSync(picture).subarray(1, 4).toString()).toBe("PNG");
}, 180_000);
