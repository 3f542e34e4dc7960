import { formatAmount } from "@aitasks/db";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import { cpuFigures, type Figure, ratio } from "../lib/report.js";
import { type Api, type Side, startApi, stopAll } from "../lib/stack.js";
import { alternate, median } from "../lib/stats.js";
import { COST_PICO_PER_TASK, PROMPT } from "../lib/tasks-db.js";

const CONNECTIONS = 100;

/**
 * 2. GET /api/task/:id of random existing (completed) tasks at 100 connections: our API against a
 * bare Fastify + postgres.js primary-key read of a table with the same columns and rows.
 */
export const poll: Scenario = {
  name: "poll",
  async run(context: BenchContext) {
    const plan = context.quick
      ? { tasks: 5_000, rounds: 2, seconds: 3, warmup: 1 }
      : { tasks: 20_000, rounds: 3, seconds: 8, warmup: 3 };
    const scenario = await scenarioEnv(context, "poll");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const apis: Partial<Record<Side, Api>> = {};
    const checks: string[] = [];
    let correct = true;
    try {
      const length = PROMPT.length;
      const values = [
        PROMPT,
        `answer to: ${PROMPT}`,
        length,
        2 * length + 1,
        3 * length + 1,
        formatAmount(COST_PICO_PER_TASK),
      ];
      await sql`insert into users (identifier) select 'bench-user-' || g from generate_series(1, 100) g`;
      for (const table of ["tasks", "ref_tasks"]) {
        await sql.unsafe(
          `insert into ${table} (status, provider, model, input, output, prompt_tokens, completion_tokens, tokens_used,
             cost_usd, user_id, attempts, started_at, completed_at)
           select 'completed', 'openai', 'gpt-4o-mini', $1, $2, $3, $4, $5, $6, (g % 100) + 1, 1, now(), now()
           from generate_series(1, ${plan.tasks}) g`,
          values,
        );
      }
      await sql`vacuum analyze tasks, ref_tasks, users`;
      const ranges = {} as Record<Side, [number, number]>;
      for (const [side, table] of [
        ["ours", "tasks"],
        ["reference", "ref_tasks"],
      ] as const) {
        const [row] = await sql.unsafe(`select min(id)::int as lo, max(id)::int as hi from ${table}`);
        ranges[side] = [row!.lo, row!.hi];
      }

      [apis.ours, apis.reference] = await Promise.all([
        startApi("ours", scenario.env),
        startApi("reference", scenario.env),
      ]);
      const load = async (side: Side, durationSeconds: number) => {
        const meter = await startCpuMeter(sql, scenario.database, { api: apis[side]!.pid });
        const result = await runLoad({
          baseUrl: apis[side]!.baseUrl,
          method: "GET",
          path: "/api/task/{id}",
          idRange: ranges[side],
          connections: CONNECTIONS,
          durationSeconds,
        });
        const cpu = await meter();
        if (result.non2xx > 0 || result.errors > 0) {
          correct = false;
          checks.push(
            `${side}: ${result.non2xx} non-2xx answers (${JSON.stringify(result.statusCodes)}), ${result.errors} errors`,
          );
        }
        const cpuUs = {
          api: (cpu.api! / result.requests) * 1e6,
          postgres: (cpu.postgres! / result.requests) * 1e6,
        };
        context.log(
          `  ${side}: ${result.rps.toFixed(0)} req/s, p99 ${result.latencyMs.p99} ms, CPU per request: ` +
            `API ${cpuUs.api.toFixed(0)} µs, Postgres ${cpuUs.postgres.toFixed(0)} µs`,
        );
        return { ...result, cpuUs };
      };
      await load("ours", plan.warmup);
      await load("reference", plan.warmup);
      const runs = await alternate(plan.rounds, {
        ours: () => load("ours", plan.seconds),
        reference: () => load("reference", plan.seconds),
      });
      if (correct) checks.push(`every read of ${plan.tasks} tasks answered 200`);

      const rps = { ours: median(runs.ours.map((r) => r.rps)), reference: median(runs.reference.map((r) => r.rps)) };
      const p99 = {
        ours: median(runs.ours.map((r) => r.latencyMs.p99)),
        reference: median(runs.reference.map((r) => r.latencyMs.p99)),
      };
      const figures: Figure[] = [
        {
          metric: "throughput",
          unit: "req/s",
          ...rps,
          ratio: ratio(rps.ours, rps.reference),
          goal: "ratio ≥ 0.80",
          met: (ratio(rps.ours, rps.reference) ?? 0) >= 0.8,
        },
        { metric: "p99 latency", unit: "ms", ...p99, ratio: ratio(p99.ours, p99.reference), goal: "–", met: null },
        ...cpuFigures(runs),
      ];
      return { figures, correct, checks, raw: { plan, runs } };
    } finally {
      await stopAll(Object.values(apis).map((api) => api.proc));
      await sql.end();
      await scenario.drop();
    }
  },
};
