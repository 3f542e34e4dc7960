import type { RunningProcess } from "@aitasks/testing";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { preloadTasks } from "../lib/preload.js";
import { type Figure, ratio } from "../lib/report.js";
import { rssMb, type Side, type StackEnv, startWorkers, stopAll } from "../lib/stack.js";
import { alternate, median } from "../lib/stats.js";
import { checkRound, maxTaskId, steadyRate, waitCompleted } from "../lib/tasks-db.js";

const PROVIDER_MS = 1_000;

interface Measured {
  tasks: number;
  tasksPerSecond: number;
  maxRssMb: number;
}

/**
 * 4. The provider answers after 1,000 ms. One worker process at concurrency 1,000 should keep
 * 1,000 calls in flight (≈ 1,000 tasks/s); then 1, 2 and 4 processes at concurrency 250 each. The
 * queue is filled in bulk beforehand; the rate is measured between the 10th and the 90th
 * percentile of completion times, so start-up and the last stragglers do not count.
 * A third side is the reference worker calling the provider through the official OpenAI SDK, as
 * ours must: the difference between the two references is what the SDK itself costs.
 */
export const scaling: Scenario = {
  name: "scaling",
  async run(context: BenchContext) {
    // Enough tasks for about `seconds` of work at the ideal rate (concurrency / 1 s).
    const plan = context.quick ? { rounds: 1, seconds: 2 } : { rounds: 2, seconds: 8 };
    const scenario = await scenarioEnv(context, "scaling");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const running: RunningProcess[] = [];
    const checks: string[] = [];
    let correct = true;

    /** Fills the queue, starts `add` more workers (beside those already running), waits for all tasks. */
    const measure = async (side: Side, env: StackEnv, add: number, concurrency: number, ideal: number) => {
      const afterId = await maxTaskId(sql, side);
      const count = ideal * plan.seconds;
      await context.fake.takeCount();
      await preloadTasks(sql, env, side, count);
      running.push(...(await startWorkers(side, env, add, concurrency)));
      let maxRssMb = 0;
      const sampler = setInterval(() => {
        const total = running.reduce((sum, proc) => sum + (proc.alive() ? rssMb(proc.child.pid!) : 0), 0);
        maxRssMb = Math.max(maxRssMb, total / running.length);
      }, 250);
      try {
        await waitCompleted(sql, side, afterId, count, { timeoutMs: 120_000 + count * 10, processes: running });
      } finally {
        clearInterval(sampler);
      }
      const check = await checkRound(sql, side, afterId, count, await context.fake.takeCount());
      if (!check.ok) {
        correct = false;
        checks.push(check.detail);
      }
      const tasksPerSecond = await steadyRate(sql, side, afterId);
      context.log(
        `  ${side}${env.REF_PROVIDER_CLIENT ? ` (${env.REF_PROVIDER_CLIENT})` : ""}: ${running.length} × ${concurrency}: ${tasksPerSecond.toFixed(0)} tasks/s, RSS ${maxRssMb.toFixed(0)} MB`,
      );
      return { tasks: count, tasksPerSecond, maxRssMb } satisfies Measured;
    };

    const series = async (side: Side, env: StackEnv = scenario.env) => {
      const wide = await measure(side, env, 1, 1000, 1000);
      await stopAll(running.splice(0));
      const one = await measure(side, env, 1, 250, 250);
      const two = await measure(side, env, 1, 250, 500);
      const four = await measure(side, env, 2, 250, 1000);
      await stopAll(running.splice(0));
      return { wide, one, two, four, efficiency: four.tasksPerSecond / (4 * one.tasksPerSecond) };
    };

    try {
      await context.fake.setDelay(PROVIDER_MS);
      const runs = await alternate(plan.rounds, {
        ours: () => series("ours"),
        reference: () => series("reference"),
        referenceSdk: () => series("reference", { ...scenario.env, REF_PROVIDER_CLIENT: "openai-sdk" }),
      });
      if (correct) checks.push("every task completed once, one provider call and one exact ledger row each");

      type Series = Awaited<ReturnType<typeof series>>;
      const pick = (side: keyof typeof runs, value: (run: Series) => number) => median(runs[side].map(value));
      const figure = (
        metric: string,
        unit: string,
        value: (run: Series) => number,
        goal: string,
        met: ((ours: number) => boolean) | null,
        against: keyof typeof runs = "reference",
      ): Figure => {
        const ours = pick("ours", value);
        const reference = pick(against, value);
        return { metric, unit, ours, reference, ratio: ratio(ours, reference), goal, met: met ? met(ours) : null };
      };
      const figures: Figure[] = [
        figure(
          "1 process × 1000: throughput",
          "tasks/s",
          (r) => r.wide.tasksPerSecond,
          "ours ≥ 900",
          (v) => v >= 900,
        ),
        figure(
          "1 process × 1000: worker RSS",
          "MB",
          (r) => r.wide.maxRssMb,
          "ours < 300",
          (v) => v < 300,
        ),
        figure("1 process × 250", "tasks/s", (r) => r.one.tasksPerSecond, "–", null),
        figure("2 processes × 250", "tasks/s", (r) => r.two.tasksPerSecond, "–", null),
        figure("4 processes × 250", "tasks/s", (r) => r.four.tasksPerSecond, "–", null),
        figure(
          "efficiency at 4 (rate / 4 × rate at 1)",
          "",
          (r) => r.efficiency,
          "ours ≥ 0.85",
          (v) => v >= 0.85,
        ),
        // The same three against the bare worker that calls through the OpenAI SDK.
        figure("SDK reference: 1 process × 1000", "tasks/s", (r) => r.wide.tasksPerSecond, "–", null, "referenceSdk"),
        figure("SDK reference: 1 process × 1000: RSS", "MB", (r) => r.wide.maxRssMb, "–", null, "referenceSdk"),
        figure("SDK reference: efficiency at 4", "", (r) => r.efficiency, "–", null, "referenceSdk"),
      ];
      return { figures, correct, checks, raw: { plan, providerMs: PROVIDER_MS, runs } };
    } finally {
      await stopAll(running);
      await context.fake.setDelay(0);
      await sql.end();
      await scenario.drop();
    }
  },
};
