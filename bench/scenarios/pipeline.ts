import type { RunningProcess } from "@aitasks/testing";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { runLoad } from "../lib/load.js";
import { startPgCounter } from "../lib/pg-counter.js";
import { cpuFigures, type Figure, ratio } from "../lib/report.js";
import { type Side, type StackEnv, startApi, startWorkers, stopAll } from "../lib/stack.js";
import { alternate, median } from "../lib/stats.js";
import { checkRound, maxTaskId, pipelineSeconds, SUBMIT_BODY, waitCompleted } from "../lib/tasks-db.js";

const CONNECTIONS = 100;
const CONCURRENCY = 50;
const SIDES: Side[] = ["ours", "reference"];

/** One side's running API and worker: where to send tasks, and the processes (API first). */
interface Stack {
  baseUrl: string;
  all: RunningProcess[];
}

/**
 * 3. N tasks submitted over HTTP (100 connections) while one worker process runs them against a
 * 0 ms provider; timed from the first task's creation to the last completion (database clocks).
 * Then a small separate pass counts each side's database round trips per task.
 */
export const pipeline: Scenario = {
  name: "pipeline",
  async run(context: BenchContext) {
    const plan = context.quick
      ? { tasks: 2_000, rounds: 2, warmup: 300, counted: 300, countWarmup: 100 }
      : { tasks: 20_000, rounds: 2, warmup: 1_000, counted: 1_000, countWarmup: 200 };
    const scenario = await scenarioEnv(context, "pipeline");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const processes: RunningProcess[] = [];
    const checks: string[] = [];
    let correct = true;
    try {
      await context.fake.setDelay(0);
      const stacks = {} as Record<Side, Stack>;
      for (const side of SIDES) {
        const [api, workers] = await Promise.all([
          startApi(side, scenario.env),
          startWorkers(side, scenario.env, 1, CONCURRENCY),
        ]);
        processes.push(api.proc, ...workers);
        stacks[side] = { baseUrl: api.baseUrl, all: [api.proc, ...workers] };
      }

      /** Submits `count` tasks over HTTP, waits until all are completed, checks them. */
      const run = async (side: Side, count: number, { baseUrl, all }: Stack = stacks[side]) => {
        const afterId = await maxTaskId(sql, side);
        await context.fake.takeCount();
        const meter = await startCpuMeter(sql, scenario.database, {
          api: all[0]!.child.pid!,
          worker: all[1]!.child.pid!,
        });
        const load = await runLoad({
          baseUrl,
          method: "POST",
          path: "/api/task",
          body: SUBMIT_BODY,
          connections: CONNECTIONS,
          amount: count,
        });
        await waitCompleted(sql, side, afterId, load.ok, { timeoutMs: 60_000 + count * 20, processes: all });
        const cpu = await meter();
        const cpuUs = Object.fromEntries(Object.entries(cpu).map(([name, spent]) => [name, (spent / count) * 1e6]));
        const seconds = await pipelineSeconds(sql, side, afterId);
        const check = await checkRound(sql, side, afterId, count, await context.fake.takeCount());
        if (!check.ok || load.ok !== count) {
          correct = false;
          checks.push(`${check.detail}; ${load.non2xx} non-2xx answers, ${load.errors} errors`);
        }
        context.log(
          `  ${side}: ${count} tasks in ${seconds.toFixed(1)} s, ${(count / seconds).toFixed(0)} tasks/s; CPU per task: ` +
            Object.entries(cpuUs)
              .map(([name, us]) => `${name} ${us.toFixed(0)} µs`)
              .join(", "),
        );
        return { tasks: count, seconds, tasksPerSecond: count / seconds, cpuUs, submit: load };
      };

      for (const side of SIDES) await run(side, plan.warmup);
      const runs = await alternate(plan.rounds, {
        ours: () => run("ours", plan.tasks),
        reference: () => run("reference", plan.tasks),
      });
      if (correct) {
        checks.push(
          `${plan.rounds * 2} runs of ${plan.tasks}: every task completed once, one provider call and one exact ledger row each`,
        );
      }
      await stopAll(processes.splice(0));

      const roundTrips = {} as Record<Side, Awaited<ReturnType<typeof countRoundTrips>>>;
      for (const side of SIDES) roundTrips[side] = await countRoundTrips(side, scenario.env, plan, run, processes);

      const rate = {
        ours: median(runs.ours.map((r) => r.tasksPerSecond)),
        reference: median(runs.reference.map((r) => r.tasksPerSecond)),
      };
      const perTask = { ours: roundTrips.ours.perTask, reference: roundTrips.reference.perTask };
      const figures: Figure[] = [
        {
          metric: `${plan.tasks} tasks, submit to last completed`,
          unit: "tasks/s",
          ...rate,
          ratio: ratio(rate.ours, rate.reference),
          goal: "ratio ≥ 0.90",
          met: (ratio(rate.ours, rate.reference) ?? 0) >= 0.9,
        },
        {
          metric: "DB round trips per task (API + worker)",
          unit: "",
          ...perTask,
          ratio: ratio(perTask.ours, perTask.reference),
          goal: "≤ reference + 1",
          met: perTask.ours <= perTask.reference + 1,
        },
        ...cpuFigures(runs, "task"),
      ];
      return { figures, correct, checks, raw: { plan, concurrency: CONCURRENCY, runs, roundTrips } };
    } finally {
      await stopAll(processes);
      await sql.end();
      await scenario.drop();
    }
  },
};

/**
 * Starts one side's API and worker each behind its own counting proxy, lets them warm up, and
 * counts the round trips and statements of `plan.counted` tasks.
 */
async function countRoundTrips(
  side: Side,
  env: StackEnv,
  plan: { countWarmup: number; counted: number },
  run: (side: Side, count: number, stack: Stack) => Promise<unknown>,
  processes: RunningProcess[],
) {
  const apiCounter = await startPgCounter(env.DATABASE_URL);
  const workerCounter = await startPgCounter(env.DATABASE_URL);
  try {
    const api = await startApi(side, { ...env, DATABASE_URL: apiCounter.url });
    const workers = await startWorkers(side, { ...env, DATABASE_URL: workerCounter.url }, 1, CONCURRENCY);
    processes.push(api.proc, ...workers);
    const stack = { baseUrl: api.baseUrl, all: [api.proc, ...workers] };
    await run(side, plan.countWarmup, stack);
    const before = { api: apiCounter.counts(), worker: workerCounter.counts() };
    await run(side, plan.counted, stack);
    const after = { api: apiCounter.counts(), worker: workerCounter.counts() };
    await stopAll(processes.splice(0));
    const per = (a: number, b: number) => (a - b) / plan.counted;
    const result = {
      api: {
        roundTrips: per(after.api.roundTrips, before.api.roundTrips),
        statements: per(after.api.statements, before.api.statements),
      },
      worker: {
        roundTrips: per(after.worker.roundTrips, before.worker.roundTrips),
        statements: per(after.worker.statements, before.worker.statements),
      },
      perTask: 0,
    };
    result.perTask = result.api.roundTrips + result.worker.roundTrips;
    return result;
  } finally {
    await apiCounter.close();
    await workerCounter.close();
  }
}
