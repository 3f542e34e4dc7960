import { createDatabase, formatAmount, parseAmount } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { type LoadSummary, runLoad } from "../lib/load.js";
import { type Figure, ratio } from "../lib/report.js";
import { type Api, startApi, stopAll } from "../lib/stack.js";
import { median } from "../lib/stats.js";

const CONNECTIONS = 50;
const CHUNK = 200_000;
// Every bulk task costs this much (gpt-4o-mini, 20 input and 41 output tokens).
const TASK_COST = "0.000027600000";
// Goals: a day's incremental rollup ≤ 0.1 s; the full rebuild ≤ 2 s per million rows (linear in rows).
const INCREMENTAL_GOAL_SECONDS = 0.1;
const REBUILD_GOAL_SECONDS_PER_MILLION = 2;

/**
 * 5. A million tasks and a million ledger rows (bulk-loaded with SQL, spread over two years, as
 * if booked over time), then: GET /api/stats and /api/report/{daily,weekly,monthly} at 50
 * connections beside a bare primary-key read of the same table; a full rebuild of every rollup;
 * and the incremental rollup of a day with 10,000 new ledger rows.
 */
export const readsAtScale: Scenario = {
  name: "reads-at-scale",
  async run(context: BenchContext) {
    const plan = context.quick
      ? { tasks: 50_000, rounds: 2, seconds: 1.5, newRows: 10_000 }
      : { tasks: 1_000_000, rounds: 3, seconds: 4, newRows: 10_000 };
    const scenario = await scenarioEnv(context, "reads");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    // One connection, so the rollup's statements are prepared once and reused as in a worker.
    // The load writes a million rows in statements longer than the service's session limits allow.
    const database = createDatabase(scenario.databaseUrl, { max: 1, sessionLimits: { statement_timeout: 0 } });
    const apis: Api[] = [];
    const checks: string[] = [];
    let correct = true;
    try {
      const loadStarted = Date.now();
      // Triggers off while loading, then a recount: the way docs/money.md ("Stats") gives for bulk loads.
      await sql`set session_replication_role = replica`;
      await sql`insert into users (identifier) select 'bulk-user-' || g from generate_series(1, 1000) g`;
      for (let from = 1; from <= plan.tasks; from += CHUNK) {
        const to = Math.min(plan.tasks, from + CHUNK - 1);
        // Spread evenly over the last two years, the newest first.
        await sql`
          insert into tasks (status, provider, model, input, output, prompt_tokens, completion_tokens, tokens_used,
            cost_usd, user_id, attempts, created_at, started_at, completed_at, updated_at)
          select 'completed', 'openai', 'gpt-4o-mini', 'bulk prompt ' || g, 'bulk answer ' || g, 20, 41, 61,
            ${TASK_COST}, (g % 1000) + 1, 1, at, at, at + interval '1 second', at + interval '1 second'
          from (select g, now() - g * (interval '730 days' / ${plan.tasks}) as at
                from generate_series(${from}::int, ${to}::int) g) s`;
        // With triggers off the load copies the task's provider and model itself, as the ledger's
        // check requires (migration 0009; the worker's booking does the same).
        await sql`
          insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, task_id, created_at, provider, model)
          select 'expense', 'api_cost', cost_usd, completed_at, user_id, id, completed_at, provider, model
          from tasks where id between ${from} and ${to}`;
      }
      // Some income too: subscriptions and micro-payments, one every few hours.
      await sql`
        insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id, created_at)
        select 'income', case when g % 4 = 0 then 'subscription' else 'micro_payment' end::ledger_category,
          case when g % 4 = 0 then 19.99 else 1.00 end, at, 'bulk_' || g, at
        from (select g, now() - g * interval '3 hours' as at from generate_series(1, 5840) g) s`;
      await sql`set session_replication_role = default`;
      await sql`select recount_stats()`;
      await sql`vacuum analyze tasks, ledger_entries, users, stats_counters`;
      const loadSeconds = (Date.now() - loadStarted) / 1000;
      context.log(`  loaded ${plan.tasks} tasks and ${plan.tasks + 5840} ledger rows in ${loadSeconds.toFixed(0)} s`);

      const fullSeconds: number[] = [];
      for (let round = 0; round < plan.rounds; round++) {
        const started = performance.now();
        await rollupReports(database.db, { full: true });
        fullSeconds.push((performance.now() - started) / 1000);
      }
      context.log(`  full rollup: ${fullSeconds.map((s) => s.toFixed(2)).join(", ")} s`);

      const ours = await startApi("ours", scenario.env);
      const reference = await startApi("reference", scenario.env, { REF_READ_TABLE: "tasks" });
      apis.push(ours, reference);
      correct = await checkAnswers(ours.baseUrl, sql, plan.tasks, checks);

      const endpoints = {
        stats: { api: ours, path: "/api/stats" },
        daily: { api: ours, path: "/api/report/daily" },
        weekly: { api: ours, path: "/api/report/weekly" },
        monthly: { api: ours, path: "/api/report/monthly" },
        reference: { api: reference, path: "/api/task/{id}" },
      };
      const runs: Record<string, LoadSummary[]> = {};
      for (let round = -1; round < plan.rounds; round++) {
        for (const [name, { api, path }] of Object.entries(endpoints)) {
          const result = await runLoad({
            baseUrl: api.baseUrl,
            method: "GET",
            path,
            connections: CONNECTIONS,
            durationSeconds: round < 0 ? 1 : plan.seconds,
            ...(path.includes("{id}") ? { idRange: [1, plan.tasks] as [number, number] } : {}),
          });
          if (result.non2xx > 0 || result.errors > 0) {
            correct = false;
            checks.push(`${name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
          }
          if (round >= 0) {
            runs[name] ??= [];
            runs[name].push(result);
            context.log(`  ${name}: ${result.rps.toFixed(0)} req/s, p99 ${result.latencyMs.p99} ms`);
          }
        }
      }

      // Service time without queueing: one connection, so the p99 is the endpoint's own, not the backlog's.
      const alone: Record<string, LoadSummary> = {};
      for (const [name, { api, path }] of Object.entries(endpoints)) {
        alone[name] = await runLoad({
          baseUrl: api.baseUrl,
          method: "GET",
          path,
          connections: 1,
          durationSeconds: plan.seconds / 2,
          ...(path.includes("{id}") ? { idRange: [1, plan.tasks] as [number, number] } : {}),
        });
      }
      context.log(
        `  one connection, p99: ${Object.entries(alone)
          .map(([name, result]) => `${name} ${result.latencyMs.p99} ms`)
          .join(", ")}`,
      );

      // A day's new bookings: tasks completed today with their ledger rows, then the incremental rollup.
      const incrementalSeconds: number[] = [];
      for (let round = 0; round < Math.max(plan.rounds, 6); round++) {
        await sql`
          with new_tasks as (
            insert into tasks (status, provider, model, input, output, prompt_tokens, completion_tokens, tokens_used,
              cost_usd, attempts, started_at, completed_at)
            select 'completed', 'openai', 'gpt-4o-mini', 'new prompt', 'new answer', 20, 41, 61, ${TASK_COST}, 1,
              now(), now() from generate_series(1, ${plan.newRows})
            returning id, cost_usd, completed_at, provider, model
          )
          insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id, provider, model)
          select 'expense', 'api_cost', cost_usd, completed_at, id, provider, model from new_tasks`;
        const started = performance.now();
        await rollupReports(database.db);
        incrementalSeconds.push((performance.now() - started) / 1000);
      }
      context.log(`  incremental rollup: ${incrementalSeconds.map((s) => s.toFixed(3)).join(", ")} s`);

      // 2 s for a million rows; a quick run's fewer rows get the same goal scaled linearly.
      const rebuildGoal = (REBUILD_GOAL_SECONDS_PER_MILLION * plan.tasks) / 1_000_000;
      const p99 = (name: string) => median(runs[name]!.map((r) => r.latencyMs.p99));
      const floor = p99("reference");
      const read = (name: string, label: string): Figure => ({
        metric: `${label} p99 (50 connections)`,
        unit: "ms",
        ours: p99(name),
        reference: floor,
        ratio: ratio(p99(name), floor),
        goal: "ours < 10 ms",
        met: p99(name) < 10,
      });
      const figures: Figure[] = [
        read("stats", "GET /api/stats"),
        read("daily", "GET /api/report/daily"),
        read("weekly", "GET /api/report/weekly"),
        read("monthly", "GET /api/report/monthly"),
        ...(["stats", "daily", "weekly", "monthly"] as const).map(
          (name): Figure => ({
            metric: `${name} p99 at 1 connection (service time)`,
            unit: "ms",
            ours: alone[name]!.latencyMs.p99,
            reference: alone.reference!.latencyMs.p99,
            ratio: ratio(alone[name]!.latencyMs.p99, alone.reference!.latencyMs.p99),
            goal: "–",
            met: null,
          }),
        ),
        {
          metric: `rollup of a day with ${plan.newRows} new rows`,
          unit: "s",
          ours: median(incrementalSeconds),
          reference: null,
          ratio: null,
          goal: `≤ ${INCREMENTAL_GOAL_SECONDS} s`,
          met: median(incrementalSeconds) <= INCREMENTAL_GOAL_SECONDS,
        },
        {
          metric: `full rebuild of all rollups (${plan.tasks / 1000}k rows)`,
          unit: "s",
          ours: median(fullSeconds),
          reference: null,
          ratio: null,
          goal: `≤ ${rebuildGoal.toFixed(rebuildGoal < 1 ? 2 : 1)} s`,
          met: median(fullSeconds) <= rebuildGoal,
        },
      ];
      return {
        figures,
        correct,
        checks,
        raw: {
          plan,
          loadSeconds,
          fullSeconds,
          incrementalSeconds,
          runs,
          referenceIs: "bare primary-key read of tasks",
        },
      };
    } finally {
      await stopAll(apis.map((api) => api.proc));
      await database.close();
      await sql.end();
      await scenario.drop();
    }
  },
};

/** The stats and today's daily report answer what the rows say, to the pico-dollar. */
async function checkAnswers(baseUrl: string, sql: postgres.Sql, tasks: number, checks: string[]): Promise<boolean> {
  const stats = (await (await fetch(`${baseUrl}/api/stats`)).json()) as {
    tasks: { total: number; completed: number; total_cost: number };
    financials: { total_expenses: number };
  };
  const [row] = await sql<{ expense: string; today: string }[]>`
    select sum(amount_usd) filter (where kind = 'expense')::text as expense,
      coalesce(sum(amount_usd) filter (where kind = 'expense'
        and occurred_at >= date_trunc('day', now(), 'UTC') and occurred_at < date_trunc('day', now(), 'UTC') + interval '1 day'), 0)::text as today
    from ledger_entries`;
  const today = new Date().toISOString().slice(0, 10);
  const daily = (await (await fetch(`${baseUrl}/api/report/daily?date=${today}`)).json()) as { expenses: number };
  const asNumber = (text: string) => Number(formatAmount(parseAmount(text)));
  const problems: string[] = [];
  if (stats.tasks.total !== tasks || stats.tasks.completed !== tasks) {
    problems.push(`stats count ${stats.tasks.total} tasks, ${stats.tasks.completed} completed; ${tasks} stored`);
  }
  if (stats.financials.total_expenses !== asNumber(row!.expense)) {
    problems.push(`stats expenses ${stats.financials.total_expenses}, ledger ${row!.expense}`);
  }
  if (daily.expenses !== asNumber(row!.today)) problems.push(`today's report ${daily.expenses}, ledger ${row!.today}`);
  checks.push(
    problems.length === 0
      ? `stats and today's report match the ${tasks} tasks and the ledger exactly`
      : `wrong answers: ${problems.join("; ")}`,
  );
  return problems.length === 0;
}
