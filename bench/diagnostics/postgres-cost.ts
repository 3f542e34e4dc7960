// Where our Postgres time per task goes: `node --import tsx bench/diagnostics/postgres-cost.ts`.
// Runs the statements of one task (our API's insert, the worker's claim, the completion with its
// ledger row; the reference's insert and its UPDATE + INSERT transaction) from 10 connections, in
// scratch databases with parts of our schema switched off, and prints the Postgres CPU per task.
import { readFileSync } from "node:fs";
import { DEFAULT_DATABASE_URL } from "@aitasks/config";
import postgres from "postgres";
import { cpuSeconds } from "../lib/cpu.js";
import { createScratch } from "../lib/scratch.js";
import { median } from "../lib/stats.js";
import { PROMPT } from "../lib/tasks-db.js";

const TASKS = 3_000;
const ROUNDS = 3;
const COST = "0.000078900000";

// The stats counters' earlier designs, as they were migrated before the schema was squashed into
// one baseline (bench/diagnostics/earlier-stats-designs/, copies of those migrations).
const migration = (file: string) =>
  readFileSync(new URL(`./earlier-stats-designs/${file}`, import.meta.url), "utf8").split("--> statement-breakpoint");

// Earlier forms of the stats triggers, in place of the baseline's, for a before/after.
const dropStatsTriggers = `
  drop trigger count_users_inserted on users; drop trigger count_users_deleted on users;
  drop trigger count_tasks_inserted on tasks; drop trigger count_tasks_updated on tasks;
  drop trigger count_tasks_deleted on tasks; drop trigger count_ledger_inserted on ledger_entries;
  drop trigger count_ledger_updated on ledger_entries; drop trigger count_ledger_deleted on ledger_entries;
  drop function count_users(), count_tasks(), count_ledger()`;
// 0005: row-level triggers, one counter-row update per written row.
const rowLevelTriggers = [
  dropStatsTriggers,
  ...migration("0005_stats_counter_columns.sql").filter((statement) =>
    /CREATE (FUNCTION count_|TRIGGER)/.test(statement),
  ),
].join(";\n");
// 0002 and 0004: statement-level triggers on a row per counter name and shard (the table, 0004's
// functions, 0002's triggers).
const nameShardValueTriggers = [
  `${dropStatsTriggers}; drop table stats_counters`,
  `create table stats_counters (name text not null, shard smallint not null, value numeric(30, 12) not null default 0,
     primary key (name, shard))`,
  ...migration("0004_stats_counters_set_based.sql").filter((statement) => statement.includes("CREATE OR REPLACE")),
  ...migration("0002_stats_counters.sql").filter((statement) => statement.includes("CREATE TRIGGER")),
].join(";\n");

// 0006: each statement adds to its connection's shard row (pg_backend_pid() % 32), where the
// baseline takes its transaction's row or any free one (counter_shard(), SKIP LOCKED).
const perConnectionShard = migration("0006_stats_counted_per_statement.sql")
  .filter((statement) => statement.includes("CREATE FUNCTION"))
  .map((statement) => statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
  .join(";\n");

const variants: Record<string, { setup: string; side: "ours" | "reference" }> = {
  "ours (schema as migrated)": { setup: "", side: "ours" },
  "ours with 0006's per-connection stats shard": { setup: perConnectionShard, side: "ours" },
  "ours without the dirty-day trigger": {
    setup: `drop trigger mark_report_days_dirty_inserted on ledger_entries;
      drop trigger mark_report_days_dirty_updated on ledger_entries;
      drop trigger mark_report_days_dirty_deleted on ledger_entries;`,
    side: "ours",
  },
  "ours with 0005's row-level stats triggers": { setup: rowLevelTriggers, side: "ours" },
  "ours with 0004's stats triggers (a row per counter)": { setup: nameShardValueTriggers, side: "ours" },
  "ours without the stats triggers": {
    setup: "alter table tasks disable trigger user; alter table ledger_entries disable trigger user;",
    side: "ours",
  },
  "ours without stats triggers or secondary indexes": {
    setup: `alter table tasks disable trigger user; alter table ledger_entries disable trigger user;
      drop index tasks_status_id_idx, tasks_user_id_id_idx, tasks_unfinished_updated_at_idx,
        tasks_unfinished_user_id_idx, ledger_entries_occurred_at_idx, ledger_entries_created_at_idx,
        ledger_entries_stripe_charge_id_idx;`,
    side: "ours",
  },
  reference: { setup: "", side: "reference" },
};

function taskStatements(sql: postgres.Sql, side: "ours" | "reference") {
  if (side === "ours") {
    return async () => {
      const [task] =
        await sql`insert into tasks (provider, model, input) values ('openai', 'gpt-4o-mini', ${PROMPT}) returning id`;
      await sql`update tasks set status = 'processing', attempts = attempts + 1, started_at = coalesce(started_at, now()),
        updated_at = now(), lease_owner = 'bench', lease_expires_at = now() + interval '30 seconds'
        where id = ${task!.id} and (status = 'pending' or (status = 'processing' and lease_expires_at <= now()))
        returning provider, model, input, attempts`;
      await sql`with done as (
          update tasks set status = 'completed', output = 'answer', prompt_tokens = 58, completion_tokens = 117,
            tokens_used = 175, cost_usd = ${COST}, error = null, completed_at = now(), updated_at = now()
          where id = ${task!.id} and status = 'processing' and lease_owner = 'bench'
          returning id, user_id, cost_usd, completed_at, provider, model)
        insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, task_id, run_id, provider, model)
        select 'expense', 'api_cost', cost_usd, completed_at, user_id, id, 'bench', provider, model from done
        on conflict (category, task_id, run_id) do nothing returning id`;
    };
  }
  return async () => {
    const [task] = await sql`insert into ref_tasks (input) values (${PROMPT}) returning id`;
    await sql.begin(async (tx) => {
      const done = await tx`update ref_tasks set status = 'completed', output = 'answer', prompt_tokens = 58,
          completion_tokens = 117, tokens_used = 175, cost_usd = ${COST}, completed_at = now(), updated_at = now()
        where id = ${task!.id} and status <> 'completed' returning id`;
      if (done.length > 0) {
        await tx`insert into ref_ledger (task_id, amount_usd, occurred_at) values (${task!.id}, ${COST}, now())
          on conflict (task_id) do nothing`;
      }
    });
  };
}

async function runConcurrently(count: number, task: () => Promise<void>) {
  let left = count;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (left-- > 0) await task();
    }),
  );
}

const scratch = await createScratch(
  process.env.DATABASE_URL || DEFAULT_DATABASE_URL,
  process.env.REDIS_URL || "redis://127.0.0.1:6379",
);
const results: Record<string, number[]> = {};
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, variant] of Object.entries(variants)) {
      const database = await scratch.scenario(`cost${round}`);
      const sql = postgres(database.databaseUrl, { max: 10, onnotice: () => {} });
      try {
        if (variant.setup) await sql.unsafe(variant.setup);
        const task = taskStatements(sql, variant.side);
        await runConcurrently(300, task);
        const backends = await sql<
          { pid: number }[]
        >`select pid from pg_stat_activity where datname = ${database.database}`;
        const spent = () => backends.reduce((sum, { pid }) => sum + cpuSeconds(pid), 0);
        const before = spent();
        await runConcurrently(TASKS, task);
        results[name] = [...(results[name] ?? []), ((spent() - before) / TASKS) * 1e6];
      } finally {
        await sql.end();
        await scratch.dropDatabase(database.database);
      }
    }
  }
  console.log(`Postgres CPU per task (µs), ${TASKS} tasks from 10 connections, median of ${ROUNDS} rounds:`);
  for (const [name, values] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(52)} ${median(values).toFixed(0).padStart(5)}   (${values.map((v) => v.toFixed(0)).join(", ")})`,
    );
  }
} finally {
  await scratch.cleanup();
}
