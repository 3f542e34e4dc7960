// packages/db/schema.sql is where a reader finds the current text of every table, index, trigger
// and function, which the migrations spread over many files; this keeps it true.
import { readFileSync } from "node:fs";
import { describe, expect, inject, it } from "vitest";
import { DUMP_SCHEMA_COMMAND, dumpMigratedSchema, normaliseDump, pgDumpMajor, serverMajor } from "./dump-schema.js";

const adminUrl = inject("databaseUrl");
const [dumper, server] = [await pgDumpMajor(), await serverMajor(adminUrl)];
// Each major version prints a schema differently, so only a pg_dump of the server's own version
// can reproduce the file (CI's is; a developer on the Postgres container of another version skips).
const mismatch =
  typeof dumper !== "number" ? dumper.unavailable : dumper !== server ? `pg_dump ${dumper}, Postgres ${server}` : "";

describe("packages/db/schema.sql", () => {
  it.skipIf(mismatch)(`is what the migrations build${mismatch ? ` (skipped: ${mismatch})` : ""}`, async () => {
    const committed = readFileSync(new URL("../schema.sql", import.meta.url), "utf8");
    expect(
      await dumpMigratedSchema(adminUrl),
      `packages/db/schema.sql differs from a freshly migrated database: run \`${DUMP_SCHEMA_COMMAND}\` and commit it`,
    ).toBe(committed);
  });

  it("does not depend on the random \\restrict key, the versions or the session settings", () => {
    const dump = (key: string, version: string) =>
      `--\n\\restrict ${key}\n\n-- Dumped from database version ${version}\n-- Dumped by pg_dump version ${version}\n\nSET lock_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\n\nCREATE TABLE public.t (\n    id integer\n);\n\n\n\\unrestrict ${key}\n`;
    expect(normaliseDump(dump("abc", "15.14"), 15)).toBe(normaliseDump(dump("xyz", "15.20"), 15));
    expect(normaliseDump(dump("abc", "15.14"), 15)).toContain("CREATE TABLE public.t (\n    id integer\n);\n");
  });
});
