import type { RunningProcess } from "@aitasks/testing";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import { startCpuMeter } from "../lib/cpu.js";
import { type LoadSummary, runLoad } from "../lib/load.js";
import { startPgCounter } from "../lib/pg-counter.js";
import { type Figure, ratio } from "../lib/report.js";
import { type Side, type StackEnv, startApi, startWorkers, stopAll } from "../lib/stack.js";
import { alternate, median } from "../lib/stats.js";
import {
  checkCredits,
  checkRound,
  maxTaskId,
  pipelineSeconds,
  type RoundCheck,
  SUBMIT_BODY,
  waitCompleted,
} from "../lib/tasks-db.js";

const CONNECTIONS = 100;
const CONCURRENCY = 50;
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const SPREAD_USERS = Array.from({ length: 10 }, (_, i) => `bench-user-${i + 1}`);
const HOT_USER = "bench-hot-user";
/** Each user's grant: far more than every hold and charge of a full run (a hold is about $0.0006). */
const GRANT_USD = "1000";

/**
 * The passes, in the order they alternate. `keyed` is the control that isolates the hold: the same
 * users' keys and user-linked tasks as `spread`, in open billing; `spread` minus `keyed` is what a
 * hold costs, `keyed` minus `open` what authenticating each request by a user's key costs.
 */
const PASSES = {
  open: { side: "ours", api: "open", label: "open billing, no keys" },
  keyed: { side: "ours", api: "keyed", label: "open billing, 10 users' keys" },
  spread: { side: "ours", api: "prepaid", label: "prepaid, 10 users" },
  hot: { side: "ours", api: "prepaid", label: "prepaid, one hot user" },
  reference: { side: "reference", api: "reference", label: "reference" },
} as const satisfies Record<string, { side: Side; api: ApiName; label: string }>;
type Pass = keyof typeof PASSES;
type ApiName = "open" | "keyed" | "prepaid" | "reference";

/**
 * Every ours API but `open` runs with an admin key, so each request is authenticated by its key.
 * No pending-task quota: one hot user's backlog runs to thousands of tasks here (submission is
 * faster than the worker), which the default quota of 1,000 would refuse; the quota is not what
 * this scenario measures, and `keyed` and `prepaid` go without it alike.
 */
const API_ENV: Record<Exclude<ApiName, "reference">, Record<string, string>> = {
  open: {},
  keyed: { ADMIN_API_KEY: ADMIN_KEY, MAX_PENDING_TASKS_PER_USER: "0" },
  prepaid: { ADMIN_API_KEY: ADMIN_KEY, MAX_PENDING_TASKS_PER_USER: "0", BILLING_MODE: "prepaid" },
};

interface Stack {
  apis: Record<ApiName, { baseUrl: string; proc: RunningProcess }>;
  workers: Record<Side, RunningProcess>;
}

interface PassRun {
  tasks: number;
  seconds: number;
  tasksPerSecond: number;
  /** Accepted submissions per second, while the worker runs them. */
  submitPerSecond: number;
  cpuUs: Record<string, number>;
  submit: LoadSummary;
}

/**
 * 7. The `pipeline` of scenario 3 in prepaid billing: N tasks submitted over HTTP (100 connections)
 * while one worker runs them against a 0 ms provider, each task holding its price on its user's
 * credit when accepted and charged on completion. Passes: open billing (as `pipeline`), open
 * billing with users' keys (the control), prepaid with submissions spread over 10 users, prepaid
 * with every submission from one user (all holds on one balance row), and the bare reference.
 * Then a small pass counts database round trips per task of each configuration.
 */
export const prepaid: Scenario = {
  name: "prepaid",
  async run(context: BenchContext) {
    const plan = context.quick
      ? { tasks: 1_000, rounds: 2, warmup: 200, counted: 200, countWarmup: 100 }
      : { tasks: 10_000, rounds: 2, warmup: 1_000, counted: 1_000, countWarmup: 200 };
    const scenario = await scenarioEnv(context, "prepaid");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const processes: RunningProcess[] = [];
    const checks: string[] = [];
    let correct = true;
    try {
      await context.fake.setDelay(0);
      const stack = await startStack(scenario.env, processes);
      const keys = await createUsers(stack.apis.prepaid.baseUrl);
      const granted = Object.fromEntries([...SPREAD_USERS, HOT_USER].map((user) => [user, GRANT_USD]));
      const keysOf = (pass: Pass) =>
        pass === "keyed" || pass === "spread"
          ? SPREAD_USERS.map((user) => keys[user]!)
          : pass === "hot"
            ? [keys[HOT_USER]!]
            : [];

      /** Submits `count` tasks over HTTP, waits until all are completed, checks them (and the credit, in prepaid). */
      const run = async (pass: Pass, count: number, on: Stack = stack): Promise<PassRun> => {
        const { side, api: apiName } = PASSES[pass];
        const api = on.apis[apiName];
        const worker = on.workers[side];
        const afterId = await maxTaskId(sql, side);
        await context.fake.takeCount();
        const meter = await startCpuMeter(sql, scenario.database, {
          api: api.proc.child.pid!,
          worker: worker.child.pid!,
        });
        const load = await runLoad({
          baseUrl: api.baseUrl,
          method: "POST",
          path: "/api/task",
          body: SUBMIT_BODY,
          connections: CONNECTIONS,
          amount: count,
          bearerKeys: keysOf(pass),
        });
        await waitCompleted(sql, side, afterId, load.ok, {
          timeoutMs: 60_000 + count * 20,
          processes: [api.proc, worker],
        });
        const cpu = await meter();
        const cpuUs = Object.fromEntries(Object.entries(cpu).map(([name, spent]) => [name, (spent / count) * 1e6]));
        const seconds = await pipelineSeconds(sql, side, afterId);
        const results: RoundCheck[] = [await checkRound(sql, side, afterId, count, await context.fake.takeCount())];
        if (pass === "spread" || pass === "hot") results.push(await checkCredits(sql, afterId, count, granted));
        for (const check of results.filter((check) => !check.ok)) {
          correct = false;
          checks.push(`${PASSES[pass].label}: ${check.detail}`);
        }
        if (load.ok !== count) {
          correct = false;
          checks.push(
            `${PASSES[pass].label}: ${load.ok} of ${count} accepted; status codes ${JSON.stringify(load.statusCodes)}, ${load.errors} errors`,
          );
        }
        context.log(
          `  ${PASSES[pass].label}: ${count} tasks in ${seconds.toFixed(1)} s, ${(count / seconds).toFixed(0)} tasks/s ` +
            `(submitted at ${load.rps.toFixed(0)}/s); CPU per task: ` +
            Object.entries(cpuUs)
              .map(([name, us]) => `${name} ${us.toFixed(0)} µs`)
              .join(", "),
        );
        return {
          tasks: count,
          seconds,
          tasksPerSecond: count / seconds,
          submitPerSecond: load.rps,
          cpuUs,
          submit: load,
        };
      };

      const passes = Object.keys(PASSES) as Pass[];
      for (const pass of passes) await run(pass, plan.warmup);
      const runs = await alternate(
        plan.rounds,
        Object.fromEntries(passes.map((pass) => [pass, () => run(pass, plan.tasks)])) as Record<
          Pass,
          () => Promise<PassRun>
        >,
      );
      if (correct) {
        checks.push(
          `${plan.rounds * passes.length} runs of ${plan.tasks}: every task completed once with one exact ledger row; ` +
            `in prepaid every task held and charged exactly, every user's held back to 0 and balance = grant − charges`,
        );
      }
      await stopAll(processes.splice(0));

      const counted = await countRoundTrips(scenario.env, plan, run, processes);
      return {
        figures: figuresOf(plan.tasks, runs, counted),
        correct,
        checks,
        raw: { plan, concurrency: CONCURRENCY, users: SPREAD_USERS.length, runs, roundTrips: counted },
      };
    } finally {
      await stopAll(processes);
      await sql.end();
      await scenario.drop();
    }
  },
};

/**
 * Our three APIs (idle but for the pass being run) and our worker, and the reference's API and
 * worker; `databaseUrl` names the database each role connects to (a counting proxy, or the database).
 */
async function startStack(
  env: StackEnv,
  processes: RunningProcess[],
  databaseUrl: (side: Side, role: "api" | "worker") => string = () => env.DATABASE_URL,
): Promise<Stack> {
  const on = (side: Side, role: "api" | "worker") => ({ ...env, DATABASE_URL: databaseUrl(side, role) });
  const [open, keyed, prepaid, reference, oursWorkers, referenceWorkers] = await Promise.all([
    startApi("ours", on("ours", "api"), API_ENV.open),
    startApi("ours", on("ours", "api"), API_ENV.keyed),
    startApi("ours", on("ours", "api"), API_ENV.prepaid),
    startApi("reference", on("reference", "api")),
    startWorkers("ours", on("ours", "worker"), 1, CONCURRENCY),
    startWorkers("reference", on("reference", "worker"), 1, CONCURRENCY),
  ]);
  processes.push(open.proc, keyed.proc, prepaid.proc, reference.proc, ...oursWorkers, ...referenceWorkers);
  return {
    apis: { open, keyed, prepaid, reference },
    workers: { ours: oursWorkers[0]!, reference: referenceWorkers[0]! },
  };
}

/** Each user and its key (`POST /api/keys`), and its credit (`POST /api/credits`), as an admin does it. */
async function createUsers(baseUrl: string): Promise<Record<string, string>> {
  const call = async (path: string, body: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { key?: string };
  };
  const keys: Record<string, string> = {};
  for (const user of [...SPREAD_USERS, HOT_USER]) {
    keys[user] = (await call("/api/keys", { user_id: user })).key!;
    await call("/api/credits", { user_id: user, amount: GRANT_USD, reason: "benchmark" });
  }
  return keys;
}

type Counted = Record<Exclude<Pass, "hot">, { api: number; worker: number; perTask: number }>;

/**
 * Database round trips per task of each configuration, each process behind a counting
 * proxy: our three APIs share one (only one is loaded at a time) and our worker has its own; the
 * reference likewise. `hot` runs the same statements as `spread` and is not counted apart.
 */
async function countRoundTrips(
  env: StackEnv,
  plan: { countWarmup: number; counted: number },
  run: (pass: Pass, count: number, stack: Stack) => Promise<PassRun>,
  processes: RunningProcess[],
): Promise<Counted> {
  const counters = {
    ours: { api: await startPgCounter(env.DATABASE_URL), worker: await startPgCounter(env.DATABASE_URL) },
    reference: { api: await startPgCounter(env.DATABASE_URL), worker: await startPgCounter(env.DATABASE_URL) },
  };
  try {
    const stack = await startStack(env, processes, (side, role) => counters[side][role].url);
    const result = {} as Counted;
    for (const pass of ["open", "keyed", "spread", "reference"] as const) {
      const { api, worker } = counters[PASSES[pass].side];
      await run(pass, plan.countWarmup, stack);
      const before = { api: api.counts().roundTrips, worker: worker.counts().roundTrips };
      await run(pass, plan.counted, stack);
      const perTask = {
        api: (api.counts().roundTrips - before.api) / plan.counted,
        worker: (worker.counts().roundTrips - before.worker) / plan.counted,
      };
      result[pass] = { ...perTask, perTask: perTask.api + perTask.worker };
    }
    await stopAll(processes.splice(0));
    return result;
  } finally {
    for (const side of Object.values(counters)) {
      await side.api.close();
      await side.worker.close();
    }
  }
}

function figuresOf(tasks: number, runs: Record<Pass, PassRun[]>, counted: Counted): Figure[] {
  const rate = (pass: Pass) => median(runs[pass].map((run) => run.tasksPerSecond));
  const submitRate = (pass: Pass) => median(runs[pass].map((run) => run.submitPerSecond));
  const cpu = (pass: Pass, name: string) => median(runs[pass].map((run) => run.cpuUs[name]!));
  /** Pipeline time per task, the inverse of the rate, in µs. */
  const perTaskUs = (pass: Pass) => 1e6 / rate(pass);
  const reference = rate("reference");
  const oursPasses = ["open", "keyed", "spread", "hot"] as const;
  const relative = (metric: string, value: number, goal: string, met: boolean | null): Figure => ({
    metric,
    unit: "",
    ours: value,
    reference: null,
    ratio: null,
    goal,
    met,
  });
  const added = (metric: string, from: Pass, to: Pass): Figure => ({
    metric,
    unit: "µs",
    ours: perTaskUs(to) - perTaskUs(from),
    reference: null,
    ratio: null,
    goal: "–",
    met: null,
  });
  return [
    ...oursPasses.map(
      (pass): Figure => ({
        metric: `${tasks} tasks, submit to last completed: ${PASSES[pass].label}`,
        unit: "tasks/s",
        ours: rate(pass),
        reference,
        ratio: ratio(rate(pass), reference),
        goal: "–",
        met: null,
      }),
    ),
    relative(
      "prepaid / open throughput, 10 users",
      rate("spread") / rate("open"),
      "≥ 0.67 (within 1.5×)",
      rate("spread") / rate("open") >= 0.67,
    ),
    relative("prepaid / open throughput, one hot user", rate("hot") / rate("open"), "–", null),
    ...(["spread", "hot"] as const).map(
      (pass): Figure => ({
        metric: `submissions accepted while the worker runs: ${PASSES[pass].label}`,
        unit: "req/s",
        ours: submitRate(pass),
        reference: submitRate("reference"),
        ratio: ratio(submitRate(pass), submitRate("reference")),
        goal: "–",
        met: null,
      }),
    ),
    added("pipeline time per task added by a hold, 10 users (prepaid − keys)", "keyed", "spread"),
    added("pipeline time per task added by a hold, one hot user (prepaid − keys)", "keyed", "hot"),
    added("pipeline time per task added by users' keys (keys − open)", "open", "keyed"),
    ...(["open", "keyed", "spread"] as const).map(
      (pass): Figure => ({
        metric: `DB round trips per task (API + worker): ${PASSES[pass].label}`,
        unit: "",
        ours: counted[pass].perTask,
        reference: counted.reference.perTask,
        ratio: ratio(counted[pass].perTask, counted.reference.perTask),
        goal: "–",
        met: null,
      }),
    ),
    ...(["api", "postgres"] as const).flatMap((name) =>
      oursPasses.map(
        (pass): Figure => ({
          metric: `${name === "api" ? "API" : "Postgres"} CPU per task: ${PASSES[pass].label}`,
          unit: "µs",
          ours: cpu(pass, name),
          reference: cpu("reference", name),
          ratio: ratio(cpu(pass, name), cpu("reference", name)),
          goal: "–",
          met: null,
        }),
      ),
    ),
  ];
}
