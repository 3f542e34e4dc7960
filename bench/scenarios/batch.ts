import { Queue } from "bullmq";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import { cpuFigures, type Figure, ratio } from "../lib/report.js";
import { type Api, redisConnection, type Side, startApi, stopAll, taskQueueName } from "../lib/stack.js";
import { alternate, median, sleep } from "../lib/stats.js";
import { maxTaskId, PROMPT } from "../lib/tasks-db.js";

const TABLE = { ours: "tasks", reference: "ref_tasks" } as const;
/** Tasks per request: the most one batch may hold. */
const BATCH_SIZE = 1_000;
const CONNECTIONS = 4;
const BATCH_BODY = JSON.stringify({ tasks: Array.from({ length: BATCH_SIZE }, () => ({ prompt: PROMPT })) });
const GOAL = 0.8;

/**
 * POST /api/tasks/batch with 1,000 tasks a request at 4 connections, nobody consuming: our API
 * against the bare one (one INSERT … SELECT unnest(…) RETURNING and one queue.addBulk), in tasks
 * accepted per second. Each run's rows and jobs are counted against its 2xx answers.
 */
export const batch: Scenario = {
  name: "batch",
  async run(context: BenchContext) {
    const plan = context.quick ? { rounds: 3, seconds: 3, warmup: 3 } : { rounds: 3, seconds: 10, warmup: 3 };
    const scenario = await scenarioEnv(context, "batch");
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
          path: "/api/tasks/batch",
          body: BATCH_BODY,
          connections: CONNECTIONS,
          durationSeconds,
        });
        const cpu = await meter();
        const accepted = result.ok * BATCH_SIZE;
        // Batches still in flight when the run ends are not counted by autocannon, yet may be stored,
        // and a batch takes up to a second here: wait at least the slowest answer's time, then until
        // the counts have stayed equal for half a second; every accepted task must be one row and every
        // row one job (a batch landing after the next run began would count its jobs there).
        const started = Date.now();
        const minimumMs = Math.max(1_000, result.latencyMs.max);
        let rows = -1;
        let jobs = -2;
        let steady = 0;
        for (let tries = 0; tries < 300 && (steady < 5 || Date.now() - started < minimumMs); tries++) {
          await sleep(100);
          const [row] = await sql.unsafe(`select count(*)::int as n from ${TABLE[side]} where id > $1`, [afterId]);
          // Our jobs carry their task's priority, so BullMQ keeps them among the prioritized.
          const counted = await queues[side].getJobCountByTypes("waiting", "prioritized");
          steady = row!.n === rows && counted === jobs && rows === jobs ? steady + 1 : 0;
          rows = row!.n as number;
          jobs = counted;
        }
        const [other] = await sql.unsafe(
          `select count(*)::int as n from (select input from ${TABLE[side]} where id > $1) t where input <> $2`,
          [afterId, PROMPT],
        );
        await queues[side].drain(true);
        const ok =
          result.non2xx === 0 &&
          result.errors === 0 &&
          rows >= accepted &&
          rows <= accepted + CONNECTIONS * BATCH_SIZE &&
          rows % BATCH_SIZE === 0 &&
          jobs === rows &&
          (other!.n as number) === 0;
        if (!ok) {
          correct = false;
          checks.push(
            `${side}: ${result.ok} batches accepted (${accepted} tasks), ${result.non2xx} refused, ${result.errors} errors, ` +
              `${rows} rows, ${jobs} jobs, ${other!.n} rows with another prompt`,
          );
        }
        const tasksPerSecond = accepted / result.seconds;
        const cpuUs = {
          api: (cpu.api! / Math.max(accepted, 1)) * 1e6,
          postgres: (cpu.postgres! / Math.max(accepted, 1)) * 1e6,
        };
        context.log(
          `  ${side}: ${tasksPerSecond.toFixed(0)} tasks/s (${result.rps.toFixed(1)} batches/s), p99 ${result.latencyMs.p99} ms, ` +
            `CPU per task: API ${cpuUs.api.toFixed(1)} µs, Postgres ${cpuUs.postgres.toFixed(1)} µs`,
        );
        return { ...result, tasksPerSecond, cpuUs };
      };
      await load("ours", plan.warmup);
      await load("reference", plan.warmup);
      const runs = await alternate(plan.rounds, {
        ours: () => load("ours", plan.seconds),
        reference: () => load("reference", plan.seconds),
      });
      if (correct) {
        checks.push("every accepted batch stored its 1,000 pending tasks and queued one job for each; no errors");
      }

      const rate = {
        ours: median(runs.ours.map((r) => r.tasksPerSecond)),
        reference: median(runs.reference.map((r) => r.tasksPerSecond)),
      };
      const p99 = {
        ours: median(runs.ours.map((r) => r.latencyMs.p99)),
        reference: median(runs.reference.map((r) => r.latencyMs.p99)),
      };
      const figures: Figure[] = [
        {
          metric: `tasks accepted, ${BATCH_SIZE}-task batches at ${CONNECTIONS} connections`,
          unit: "tasks/s",
          ...rate,
          ratio: ratio(rate.ours, rate.reference),
          goal: `ratio ≥ ${GOAL.toFixed(2)}`,
          met: (ratio(rate.ours, rate.reference) ?? 0) >= GOAL,
        },
        {
          metric: "p99 latency of one batch",
          unit: "ms",
          ...p99,
          ratio: ratio(p99.ours, p99.reference),
          goal: "–",
          met: null,
        },
        ...cpuFigures(runs, "task"),
      ];
      return { figures, correct, checks, raw: { plan, batchSize: BATCH_SIZE, connections: CONNECTIONS, runs } };
    } finally {
      await stopAll(Object.values(apis).map((api) => api.proc));
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
      redis.disconnect();
      await sql.end();
      await scenario.drop();
    }
  },
};
