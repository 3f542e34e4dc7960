import type { RunningProcess } from "@aitasks/testing";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { runLoad } from "../lib/load.js";
import type { Figure } from "../lib/report.js";
import { rssMb, startApi, startWorkers, stopAll } from "../lib/stack.js";
import { median, sleep } from "../lib/stats.js";
import { checkRound, maxTaskId, SUBMIT_BODY, waitCompleted } from "../lib/tasks-db.js";

const CONCURRENCY = 50;
const BATCH = 25_000;

/**
 * 6. Our API and one worker take tasks over HTTP (0 ms provider); their resident memory once the
 * first `small` tasks are done, and again once `large` are, both measured at rest (median of a few
 * samples after the work ends). A leak grows with the number of tasks; a warm heap does not.
 */
export const memory: Scenario = {
  name: "memory",
  async run(context: BenchContext) {
    const plan = context.quick ? { small: 3_000, large: 12_000 } : { small: 10_000, large: 100_000 };
    const scenario = await scenarioEnv(context, "memory");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const processes: RunningProcess[] = [];
    const checks: string[] = [];
    let correct = true;
    try {
      await context.fake.setDelay(0);
      const [api, workers] = await Promise.all([
        startApi("ours", scenario.env),
        startWorkers("ours", scenario.env, 1, CONCURRENCY),
      ]);
      processes.push(api.proc, ...workers);
      const worker = workers[0]!;
      const afterId = await maxTaskId(sql, "ours");
      await context.fake.takeCount();

      let submitted = 0;
      let providerCalls = 0;
      const submitUpTo = async (total: number) => {
        while (submitted < total) {
          const count = Math.min(BATCH, total - submitted);
          const load = await runLoad({
            baseUrl: api.baseUrl,
            method: "POST",
            path: "/api/task",
            body: SUBMIT_BODY,
            connections: 100,
            amount: count,
          });
          if (load.ok !== count) {
            correct = false;
            checks.push(`${count - load.ok} of ${count} submissions refused or failed`);
          }
          submitted += count;
          await waitCompleted(sql, "ours", afterId, submitted, { timeoutMs: 60_000 + count * 20, processes });
          providerCalls += await context.fake.takeCount();
        }
        // At rest: let timers and sockets settle, then take the median of a few samples.
        await sleep(2_000);
        const samples = { api: [] as number[], worker: [] as number[] };
        for (let i = 0; i < 5; i++) {
          samples.api.push(rssMb(api.pid));
          samples.worker.push(rssMb(worker.child.pid!));
          await sleep(200);
        }
        const rss = { api: median(samples.api), worker: median(samples.worker) };
        context.log(`  after ${total} tasks: API ${rss.api.toFixed(0)} MB, worker ${rss.worker.toFixed(0)} MB`);
        return rss;
      };
      const small = await submitUpTo(plan.small);
      const large = await submitUpTo(plan.large);
      const check = await checkRound(sql, "ours", afterId, plan.large, providerCalls);
      if (!check.ok) correct = false;
      checks.push(check.detail);

      const growth = (process: "api" | "worker", label: string): Figure => ({
        metric: `${label} RSS after ${plan.large / 1000}k / after ${plan.small / 1000}k tasks (${small[process].toFixed(0)} → ${large[process].toFixed(0)} MB)`,
        unit: "",
        ours: large[process] / small[process],
        reference: null,
        ratio: null,
        goal: "≤ 1.20",
        met: large[process] / small[process] <= 1.2,
      });
      return {
        figures: [growth("api", "API"), growth("worker", "worker")],
        correct,
        checks,
        raw: { plan, concurrency: CONCURRENCY, small, large },
      };
    } finally {
      await stopAll(processes);
      await sql.end();
      await scenario.drop();
    }
  },
};
