import { readdirSync, readFileSync } from "node:fs";
import { useTestEnvironment } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The money rules Postgres enforces are stated in this folder, one file per trigger function: the
// function and the triggers that run it, as the migrated database defines them now. Migrations
// are history (a function may be redefined by several of them); these files are what holds.

const env = useTestEnvironment();
let sql: postgres.Sql;
const folder = new URL(".", import.meta.url);
const stated = readdirSync(folder)
  .filter((file) => file.endsWith(".sql"))
  .map((file) => ({ name: file.slice(0, -".sql".length), text: readFileSync(new URL(file, folder), "utf8") }));

beforeAll(() => {
  sql = postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
});
afterAll(() => sql.end());

/** Comparable text: comment lines dropped (each file explains its rule above the definition), whitespace runs as one space. */
const normalized = (text: string) =>
  text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n")
    .replace(/\s+/g, " ")
    .trim();

/** A trigger function and its triggers as the database defines them, in the files' form. */
async function definitionOf(name: string): Promise<string | undefined> {
  const [row] = await sql<{ definition: string }[]>`
    select pg_get_functiondef(p.oid) || E';\n' || coalesce((
      select string_agg(pg_get_triggerdef(t.oid) || ';', E'\n' order by t.tgname) from pg_trigger t where t.tgfoid = p.oid
    ), '') as definition
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.proname = ${name}`;
  return row?.definition;
}

describe("the trigger functions stated in packages/ledger/src/sql", () => {
  it("states the money rules the credit ledger, the holds and the api_cost rows are under", () => {
    expect(stated.map((file) => file.name).sort()).toEqual(
      expect.arrayContaining([
        "credit_entries_append_only",
        "credit_entries_move_balance",
        "ledger_entries_copy_task_model",
        "tasks_settle_hold",
      ]),
    );
  });

  it.each(stated)("$name.sql is the migrated database's definition", async ({ name, text }) => {
    const definition = await definitionOf(name);
    expect(definition, `no function ${name} in the migrated database`).toBeDefined();
    expect(normalized(text)).toBe(normalized(definition!));
  });

  it("leaves no trigger on the credit tables unstated", async () => {
    const functions = await sql<{ name: string }[]>`
      select distinct p.proname as name from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where not t.tgisinternal and t.tgrelid in ('credit_entries'::regclass, 'credit_balances'::regclass)
      order by 1`;
    const names = new Set(stated.map((file) => file.name));
    expect(functions.map((row) => row.name).filter((name) => !names.has(name))).toEqual([]);
  });
});
