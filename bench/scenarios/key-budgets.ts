import { Queue } from "bullmq";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import type { Figure } from "../lib/report.js";
import { type Api, redisConnection, startApi, stopAll, taskQueueName } from "../lib/stack.js";
import { alternate, median } from "../lib/stats.js";
import { SUBMIT_BODY } from "../lib/tasks-db.js";

const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const CONNECTIONS = 100;
const USERS = 10;
type Pass = "keys" | "budgeted";

/**
 * What a key's budget costs a submission: POST /api/task at 100 connections over 10 users' keys,
 * nobody consuming, first with keys without a budget, then with keys whose budget never runs out
 * (the same turn-taking on the key's row and the same sum, without a refusal), alternately. Every
 * 2xx must be one stored task carrying its key (and, with a budget, its hold on it). Without a
 * budget and without max_tokens a task has no output limit in open billing, so no hold.
 */
export const keyBudgets: Scenario = {
  name: "key-budgets",
  async run(context: BenchContext) {
    const plan = context.quick ? { rounds: 2, seconds: 3, warmup: 1 } : { rounds: 3, seconds: 10, warmup: 3 };
    const scenario = await scenarioEnv(context, "key-budgets");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const redis = redisConnection(scenario.env.REDIS_URL);
    const queue = new Queue(taskQueueName("ours"), { connection: redis, prefix: scenario.queuePrefix });
    let api: Api | undefined;
    const checks: string[] = [];
    let correct = true;
    try {
      api = await startApi("ours", scenario.env, { ADMIN_API_KEY: ADMIN_KEY, MAX_PENDING_TASKS_PER_USER: "0" });
      const keys: Record<Pass, string[]> = { keys: [], budgeted: [] };
      for (const pass of ["keys", "budgeted"] as const) {
        for (let user = 0; user < USERS; user++) {
          const budget = pass === "budgeted" ? { amount: 1_000_000, period: "total" } : undefined;
          const response = await fetch(`${api.baseUrl}/api/keys`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
            body: JSON.stringify({ user_id: `${pass}-${user}@bench`, budget }),
          });
          if (!response.ok) throw new Error(`POST /api/keys: ${response.status} ${await response.text()}`);
          keys[pass].push(((await response.json()) as { key: string }).key);
        }
      }
      const load = async (pass: Pass, durationSeconds: number) => {
        const [before] = await sql`select coalesce(max(id), 0)::int as id from tasks`;
        const meter = await startCpuMeter(sql, scenario.database, { api: api!.pid });
        const result = await runLoad({
          baseUrl: api!.baseUrl,
          method: "POST",
          path: "/api/task",
          body: SUBMIT_BODY,
          connections: CONNECTIONS,
          durationSeconds,
          bearerKeys: keys[pass],
        });
        const cpu = await meter();
        await new Promise((resolve) => setTimeout(resolve, 300));
        const [stored] = await sql`
          select count(*)::int as rows,
            count(*) filter (where api_key_id is null or (${pass === "budgeted"} and key_hold_usd is null))::int as unkeyed
          from tasks where id > ${before!.id}`;
        await queue.drain(true);
        if (result.non2xx > 0 || result.errors > 0 || stored!.rows < result.ok || stored!.unkeyed > 0) {
          correct = false;
          checks.push(
            `${pass}: ${result.ok} accepted, ${result.non2xx} refused, ${result.errors} errors, ` +
              `${stored!.rows} rows (${stored!.unkeyed} without their key and hold)`,
          );
        }
        const cpuUs = {
          api: (cpu.api! / result.requests) * 1e6,
          postgres: (cpu.postgres! / result.requests) * 1e6,
        };
        context.log(
          `  ${pass}: ${result.rps.toFixed(0)} req/s, p99 ${result.latencyMs.p99} ms, CPU per request: ` +
            `API ${cpuUs.api.toFixed(0)} µs, Postgres ${cpuUs.postgres.toFixed(0)} µs`,
        );
        return { ...result, cpuUs };
      };
      await load("keys", plan.warmup);
      await load("budgeted", plan.warmup);
      const runs = await alternate(plan.rounds, {
        keys: () => load("keys", plan.seconds),
        budgeted: () => load("budgeted", plan.seconds),
      });
      if (correct) checks.push("every 2xx answer stored one task with its key, and with a budget its hold on it");

      const of = (pass: Pass, pick: (run: (typeof runs)[Pass][number]) => number) => median(runs[pass].map(pick));
      const figure = (metric: string, unit: string, pick: (run: (typeof runs)[Pass][number]) => number): Figure => {
        const budgeted = of("budgeted", pick);
        const keyed = of("keys", pick);
        return {
          metric,
          unit,
          ours: budgeted,
          reference: null,
          ratio: keyed ? budgeted / keyed : null,
          goal: "–",
          met: null,
          note: `without a budget: ${keyed.toFixed(1)} ${unit}`,
        };
      };
      const figures: Figure[] = [
        figure("submissions with budgeted keys (ratio: to keys without one)", "req/s", (run) => run.rps),
        figure("p99 latency, budgeted keys", "ms", (run) => run.latencyMs.p99),
        figure("API CPU per submission, budgeted keys", "µs", (run) => run.cpuUs.api),
        figure("Postgres CPU per submission, budgeted keys", "µs", (run) => run.cpuUs.postgres),
      ];
      return { figures, correct, checks, raw: { plan, runs } };
    } finally {
      await stopAll(api ? [api.proc] : []);
      await queue.close();
      redis.disconnect();
      await sql.end();
      await scenario.drop();
    }
  },
};
