import { formatAmount } from "@aitasks/db";
import {
  expectedCostPico,
  killAll,
  postTask,
  type RunningProcess,
  startApi,
  startFakeChatServer,
  startProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const TASKS = 10_000;
const SUBMITTERS = 64;

afterAll(killAll);

describe("load with crashing workers", () => {
  it(`completes ${TASKS} tasks submitted over HTTP, each charged once, while workers are killed and restarted`, async () => {
    const fake = await startFakeChatServer((_request, index) => ({ kind: "ok", delayMs: index % 10 === 0 ? 200 : 5 }));
    const sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
    try {
      const common = {
        DATABASE_URL: env.databaseUrl,
        REDIS_URL: env.redisUrl,
        QUEUE_PREFIX: env.queuePrefix,
        OPENAI_API_KEY: "sk-test",
        OPENAI_BASE_URL: fake.openaiBaseURL,
      };
      const workerEnv = {
        ...common,
        WORKER_CONCURRENCY: "50",
        WORKER_LOCK_DURATION_MS: "2000",
        RECONCILE_AFTER_MS: "5000",
      };
      const { baseUrl } = await startApi(common);
      const workers: RunningProcess[] = Array.from({ length: 4 }, () => startProcess("worker", workerEnv));

      const prompts = Array.from({ length: TASKS }, (_, i) => `load task ${i} ${"x".repeat(i % 37)}`);
      const accepted: number[] = [];
      const refused: string[] = [];
      let next = 0;
      let killed = false;
      const submitter = async () => {
        while (next < prompts.length) {
          const i = next++;
          const answer = await postTask(baseUrl, { prompt: prompts[i]! });
          if (answer.status === 202) accepted.push(answer.body.task_id);
          else refused.push(`${answer.status} ${JSON.stringify(answer.body)}`);
          // Two of the four workers die mid-run (kill -9, jobs in hand) and come back.
          if (!killed && accepted.length >= TASKS / 3) {
            killed = true;
            const victims = workers.splice(0, 2);
            await Promise.all(victims.map((worker) => worker.kill9()));
            workers.push(startProcess("worker", workerEnv), startProcess("worker", workerEnv));
          }
        }
      };
      await Promise.all(Array.from({ length: SUBMITTERS }, submitter));
      expect(refused).toEqual([]);
      expect(accepted).toHaveLength(TASKS);

      let counts: Record<string, number> = {};
      await waitFor(
        async () => {
          const rows = await sql<
            { status: string; n: number }[]
          >`select status, count(*)::int as n from tasks group by status`;
          counts = Object.fromEntries(rows.map((row) => [row.status, row.n]));
          return counts.completed === TASKS;
        },
        180_000,
        { intervalMs: 1000, message: () => `all tasks completed; now ${JSON.stringify(counts)}` },
      );

      const [ledger] = await sql<{ rows: number; tasks: number; total: string }[]>`
        select count(*)::int as rows, count(distinct task_id)::int as tasks, sum(amount_usd)::text as total
        from ledger_entries where category = 'api_cost'`;
      const expectedTotal = prompts.reduce((sum, prompt) => sum + expectedCostPico("openai", prompt), 0n);
      expect(ledger).toEqual({ rows: TASKS, tasks: TASKS, total: formatAmount(expectedTotal) });
      const [unfinished] = await sql`select count(*)::int as n from tasks where status <> 'completed'`;
      expect(unfinished!.n).toBe(0);
      // The killed workers' tasks were run again, yet none was charged twice.
      expect(fake.requests.length).toBeGreaterThanOrEqual(TASKS);
    } finally {
      await killAll();
      await sql.end();
      await fake.close();
    }
  });
});
