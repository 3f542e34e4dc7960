import { Queue } from "bullmq";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import { cpuFigures, type Figure, ratio } from "../lib/report.js";
import { type Api, redisConnection, type Side, startApi, stopAll, taskQueueName } from "../lib/stack.js";
import { alternate, median, sleep } from "../lib/stats.js";
import { maxTaskId, SUBMIT_BODY } from "../lib/tasks-db.js";

const TABLE = { ours: "tasks", reference: "ref_tasks" } as const;
const CONNECTIONS = 100;

/**
 * 1. POST /api/task at 100 connections, nobody consuming: our API against the bare one (one
 * INSERT … RETURNING and one queue.add). Each run's rows and jobs are counted against its 2xx answers.
 */
export const enqueue: Scenario = {
  name: "enqueue",
  async run(context: BenchContext) {
    const plan = context.quick ? { rounds: 2, seconds: 3, warmup: 1 } : { rounds: 3, seconds: 10, warmup: 3 };
    const scenario = await scenarioEnv(context, "enqueue");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const redis = redisConnection(scenario.env.REDIS_URL);
    const queues = {
      ours: new Queue(taskQueueName("ours"), { connection: redis, prefix: scenario.queuePrefix }),
      reference: new Queue(taskQueueName("reference"), { connection: redis, prefix: scenario.queuePrefix }),
    };
    const apis: Partial<Record<Side, Api>> = {};
    const checks: string[] = [];
    let correct = true;
    try {
      [apis.ours, apis.reference] = await Promise.all([
        startApi("ours", scenario.env),
        startApi("reference", scenario.env),
      ]);
      const load = async (side: Side, durationSeconds: number) => {
        const afterId = await maxTaskId(sql, side);
        const meter = await startCpuMeter(sql, scenario.database, { api: apis[side]!.pid });
        const result = await runLoad({
          baseUrl: apis[side]!.baseUrl,
          method: "POST",
          path: "/api/task",
          body: SUBMIT_BODY,
          connections: CONNECTIONS,
          durationSeconds,
        });
        const cpu = await meter();
        // Requests still in flight when the run ends are not counted by autocannon, yet may be stored:
        // wait until nothing changes, then every 2xx must be one row and every row one job.
        let rows = -1;
        let jobs = -2;
        for (let tries = 0; tries < 50 && (rows !== jobs || tries < 2); tries++) {
          await sleep(100);
          const [row] = await sql.unsafe(`select count(*)::int as n from ${TABLE[side]} where id > $1`, [afterId]);
          rows = row!.n as number;
          // Our jobs carry their task's priority, so BullMQ keeps them among the prioritized.
          jobs = await queues[side].getJobCountByTypes("waiting", "prioritized");
        }
        await queues[side].drain(true);
        const ok =
          result.non2xx === 0 &&
          result.errors === 0 &&
          rows >= result.ok &&
          rows <= result.ok + CONNECTIONS &&
          jobs === rows;
        if (!ok) {
          correct = false;
          checks.push(
            `${side}: ${result.ok} accepted, ${result.non2xx} refused, ${result.errors} errors, ${rows} rows, ${jobs} jobs`,
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
      if (correct) checks.push("every 2xx answer stored one pending task and queued one job; no errors");

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
        {
          metric: "p99 latency",
          unit: "ms",
          ...p99,
          ratio: ratio(p99.ours, p99.reference),
          goal: "ratio ≤ 1.5",
          met: (ratio(p99.ours, p99.reference) ?? Number.POSITIVE_INFINITY) <= 1.5,
        },
        ...cpuFigures(runs),
      ];
      return { figures, correct, checks, raw: { plan, runs } };
    } finally {
      await stopAll(Object.values(apis).map((api) => api.proc));
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
      redis.disconnect();
      await sql.end();
      await scenario.drop();
    }
  },
};
