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

// The statements of a migration, as the migrator splits them.
const migration = (file: string) =>
  readFileSync(new URL(`../../packages/db/migrations/${file}`, import.meta.url), "utf8").split(
    "--> statement-breakpoint",
  );

// The task and user counters and the hold settlement as they were before migration 0011:
// statement-level triggers over transition tables, which ran for every statement on `tasks`
// (storing and claiming a task included), counting the unfinished tasks too.
const beforeRowTriggers = [
  `drop trigger count_users on users; drop trigger count_finished_tasks_inserted on tasks;
   drop trigger count_finished_tasks_updated on tasks; drop trigger count_finished_tasks_deleted on tasks;
   drop trigger tasks_settle_hold on tasks; drop function count_users(), count_finished_tasks(), tasks_settle_hold();
   alter table stats_counters add column tasks bigint not null default 0, add column pending bigint not null default 0,
     add column processing bigint not null default 0`,
  ...migration("0000_baseline.sql").filter((statement) =>
    /CREATE (FUNCTION count_(users|tasks)\(|TRIGGER count_(users|tasks)_)/.test(statement),
  ),
  ...migration("0006_settle_in_one_update.sql").filter((statement) => statement.includes("tasks_settle_holds()")),
  ...migration("0001_credits.sql").filter((statement) => statement.includes("CREATE TRIGGER tasks_settle_holds")),
].join(";\n");

// The status index as it was before migration 0013: every task in it, and the reconciler's own
// index of unfinished tasks by updated_at.
const beforeStatusIndexes = `
  drop index tasks_unfinished_status_id_idx, tasks_unsuccessful_status_id_idx;
  create index tasks_status_id_idx on tasks (status, id);
  create index tasks_unfinished_updated_at_idx on tasks (updated_at) where status in ('pending', 'processing')`;

const variants: Record<string, { setup: string; side: "ours" | "reference" }> = {
  "ours (schema as migrated)": { setup: "", side: "ours" },
  "ours with the triggers of before migration 0011": { setup: beforeRowTriggers, side: "ours" },
  "ours with the status indexes of before migration 0013": { setup: beforeStatusIndexes, side: "ours" },
  "ours without any of our triggers": {
    setup: "alter table tasks disable trigger user; alter table ledger_entries disable trigger user;",
    side: "ours",
  },
  "ours without triggers or secondary indexes": {
    setup: `alter table tasks disable trigger user; alter table ledger_entries disable trigger user;
      drop index tasks_unfinished_status_id_idx, tasks_unsuccessful_status_id_idx, tasks_user_id_id_idx,
        tasks_unfinished_user_id_idx, tasks_completed_at_idx, tasks_created_at_brin_idx,
        ledger_entries_occurred_at_idx, ledger_entries_created_at_idx, ledger_entries_stripe_charge_id_idx;`,
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
