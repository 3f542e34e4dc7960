import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import postgres from "postgres";
import { migrateDatabase } from "./migrate.js";

const run = promisify(execFile);

/** packages/db/schema.sql: the committed dump that schema-dump.test.ts compares with a fresh migration. */
export const schemaDumpFile = fileURLToPath(new URL("../schema.sql", import.meta.url));

export const DUMP_SCHEMA_COMMAND = "npm run db:dump-schema";

/** The major version of the pg_dump on PATH, or why it cannot be used. */
export async function pgDumpMajor(): Promise<number | { unavailable: string }> {
  try {
    const { stdout } = await run("pg_dump", ["--version"]);
    const major = /\(PostgreSQL\) (\d+)/.exec(stdout)?.[1];
    return major ? Number(major) : { unavailable: `pg_dump --version said "${stdout.trim()}"` };
  } catch (error) {
    return { unavailable: `pg_dump is not runnable: ${(error as Error).message}` };
  }
}

export async function serverMajor(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ version: string }[]>`select current_setting('server_version_num') as version`;
    return Math.floor(Number(row!.version) / 10_000);
  } finally {
    await sql.end();
  }
}

/**
 * Strips what differs between two dumps of the same schema: the `\restrict` key pg_dump draws at
 * random on every run (since 15.14), the exact versions (a minor upgrade changes no schema), the
 * session SET lines, and runs of blank lines. drizzle's own bookkeeping schema is left out by pg_dump.
 */
export function normaliseDump(dump: string, major: number): string {
  const body = dump
    .split("\n")
    .filter((line) => !/^\\(un)?restrict /.test(line))
    .filter((line) => !/^-- Dumped (from|by) /.test(line))
    .filter((line) => !/^SET |^SELECT pg_catalog\.set_config\(/.test(line))
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  return `-- The schema that packages/db/migrations build, dumped by pg_dump ${major} (\`${DUMP_SCHEMA_COMMAND}\`).\n-- Generated: schema-dump.test.ts fails when it and the migrations disagree.\n\n${body}\n`;
}

/**
 * Migrates a new, empty database on the server `adminUrl` reaches (it must allow CREATE DATABASE),
 * dumps its schema with pg_dump and drops it. pg_dump must share the server's major version: each
 * major version prints the same schema differently.
 */
export async function dumpMigratedSchema(adminUrl: string): Promise<string> {
  const [dumper, server] = [await pgDumpMajor(), await serverMajor(adminUrl)];
  if (typeof dumper !== "number") throw new Error(dumper.unavailable);
  if (dumper !== server) throw new Error(`pg_dump ${dumper} cannot dump Postgres ${server} as schema.sql expects`);

  const database = `aitasks_schema_dump_${randomBytes(5).toString("hex")}`;
  const url = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).toString();
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${database}`);
    await migrateDatabase(url);
    const { stdout } = await run(
      "pg_dump",
      [
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--no-comments",
        "--exclude-schema=drizzle",
        `--dbname=${url}`,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return normaliseDump(stdout, dumper);
  } finally {
    await admin.unsafe(`drop database if exists ${database} with (force)`);
    await admin.end();
  }
}
