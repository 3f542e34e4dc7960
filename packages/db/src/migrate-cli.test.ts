// `npm run db:migrate` as a user runs it: it must migrate where the processes do
// (DATABASE_MIGRATION_URL, else DATABASE_URL), and refuse a pooled DATABASE_URL without one.
import { randomBytes } from "node:crypto";
import { exitWithin, spawnCommand } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, expect, inject, it } from "vitest";

const adminUrl = inject("databaseUrl");
// Empty databases of this file's own: the command has everything to do.
const names = [1, 2].map(() => `aitasks_test_${randomBytes(5).toString("hex")}_cli`);
const [direct, viaDatabaseUrl] = names.map((name) =>
  Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString(),
) as [string, string];
// Nothing listens on port 1: a command that used this URL would fail.
const pooled = "postgres://postgres@127.0.0.1:1/aitasks?pgbouncer=true";

beforeAll(async () => {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  for (const name of names) await admin.unsafe(`create database ${name}`);
  await admin.end();
});
afterAll(async () => {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  for (const name of names) await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
});

async function dbMigrate(env: Record<string, string>) {
  const proc = spawnCommand("db:migrate", "npm", ["run", "--silent", "db:migrate"], env);
  return { code: await exitWithin(proc, 60_000), output: proc.output(), stderr: proc.stderr() };
}

async function migrated(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ tasks: string | null }[]>`select to_regclass('public.tasks')::text as tasks`;
    return row?.tasks === "tasks";
  } finally {
    await sql.end();
  }
}

it("migrates DATABASE_MIGRATION_URL when DATABASE_URL goes through PgBouncer", async () => {
  const result = await dbMigrate({ DATABASE_URL: pooled, DATABASE_MIGRATION_URL: direct });
  expect(result.code, result.output).toBe(0);
  expect(result.output).toContain("migrations applied (DATABASE_MIGRATION_URL)");
  expect(await migrated(direct)).toBe(true);
}, 90_000);

it("refuses a pooled DATABASE_URL without DATABASE_MIGRATION_URL, naming the variable to set", async () => {
  const result = await dbMigrate({ DATABASE_URL: pooled, DATABASE_MIGRATION_URL: "" });
  expect(result.code, result.output).toBe(1);
  expect(result.stderr).toContain("DATABASE_MIGRATION_URL: required when DATABASE_URL goes through PgBouncer");
}, 90_000);

it("migrates DATABASE_URL when DATABASE_MIGRATION_URL is unset or empty", async () => {
  const result = await dbMigrate({ DATABASE_URL: viaDatabaseUrl, DATABASE_MIGRATION_URL: "" });
  expect(result.code, result.output).toBe(0);
  expect(result.output).toContain("migrations applied (DATABASE_URL)");
  expect(await migrated(viaDatabaseUrl)).toBe(true);
}, 90_000);
