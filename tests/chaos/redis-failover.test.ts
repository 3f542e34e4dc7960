// Redis failover in the middle of the work: 2 API and 3 worker processes, as an operator runs them,
// on a real Redis Cluster (3 masters, 3 replicas) and on a real Sentinel set. While 2,000 tasks are
// being submitted, the master that holds the queue is killed (kill -9) and its replica takes over.
// Every accepted task must end completed, each provider call booked once at its exact cost, and
// nothing left pending or processing. What clients saw meanwhile (refusals, slowest answer) and how
// long the failover took are printed for docs/scaling.md.

import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommonEnv, loadRedisTarget, parseEnv } from "@aitasks/config";
import {
  closeQueues,
  countQueueJobs,
  createQueues,
  createWorkerConnection,
  jobCatalog,
  type Queues,
} from "@aitasks/queue";
import {
  expectedCostPico,
  type FakeChatServer,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startRedisCluster,
  startRedisSentinels,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const TASKS = 2000;
const CONCURRENCY = 16;
let fake: FakeChatServer;
let sql: postgres.Sql;
const started: RunningProcess[] = [];

beforeAll(async () => {
  fake = await startFakeChatServer(() => ({ kind: "ok", delayMs: 20 }));
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
});
afterEach(async () => {
  await Promise.all(started.map((proc) => proc.kill9()));
  started.length = 0;
});
afterAll(async () => {
  await killAll();
  await sql?.end();
  await fake?.close();
});

interface Submissions {
  accepted: number[];
  refused: Map<string, number>;
  slowestMs: number;
}

/**
 * Submits `TASKS` tasks over the APIs in turn, `CONCURRENCY` at a time, calling `midway` once after
 * a quarter of them. Refusals (503, a connection error) are counted, not retried: a client would
 * retry, and what matters here is that nothing accepted is lost.
 */
async function submitAll(apis: StartedApi[], tag: string, midway: () => Promise<void>): Promise<Submissions> {
  const result: Submissions = { accepted: [], refused: new Map(), slowestMs: 0 };
  let next = 0;
  let midwayDone: Promise<void> | undefined;
  let midwayFailed: unknown;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TASKS && midwayFailed === undefined) {
        const i = next++;
        if (i === TASKS / 4) {
          midwayDone = midway().catch((error) => {
            midwayFailed = error;
          });
        }
        const began = Date.now();
        try {
          const response = await fetch(`${apis[i % apis.length]!.baseUrl}/api/task`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ prompt: `${tag} ${i}` }),
            signal: AbortSignal.timeout(15_000),
          });
          const body = (await response.json()) as { task_id?: number };
          if (response.status === 202 && body.task_id) result.accepted.push(body.task_id);
          else result.refused.set(String(response.status), (result.refused.get(String(response.status)) ?? 0) + 1);
        } catch (error) {
          const kind = (error as Error).name;
          result.refused.set(kind, (result.refused.get(kind) ?? 0) + 1);
        }
        result.slowestMs = Math.max(result.slowestMs, Date.now() - began);
      }
    }),
  );
  await midwayDone;
  if (midwayFailed !== undefined) throw midwayFailed;
  return result;
}

/** Every accepted task completed, each provider call booked once, the ledger's sum exact, none stuck. */
async function expectNothingLost(
  submissions: Submissions,
  tag: string,
  processes: RunningProcess[],
  processEnv: Record<string, string>,
) {
  const ids = submissions.accepted;
  expect(ids.length).toBeGreaterThan(TASKS / 2);
  try {
    await waitFor(
      async () => {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from tasks where id = any(${ids}) and status = 'completed'`;
        return row!.n === ids.length;
      },
      120_000,
      { intervalMs: 500, message: `all ${ids.length} accepted ${tag} tasks completed` },
    );
  } catch (error) {
    // Why, in the error itself: CI's summary prints the start of a failed test's message.
    throw new Error(
      `${(error as Error).message}\n${(await whyUnfinished(ids, tag, processes, processEnv)).join("\n")}`,
    );
  }
  const [stuck] = await sql<{ n: number }[]>`
    select count(*)::int as n from tasks where status in ('pending', 'processing')`;
  expect(stuck!.n).toBe(0);

  // Every provider call that answered is one api_cost row (a task run twice is billed twice by the
  // provider, and booked twice), at the exact price of its usage.
  const calls = fake.requests.filter((request) => request.prompt.startsWith(`${tag} `)).length;
  const [booked] = await sql<{ rows: number; duplicates: number; total: string }[]>`
    select count(*)::int as rows, (count(*) - count(distinct (task_id, run_id)))::int as duplicates,
      coalesce(sum(amount_usd), 0)::text as total
    from ledger_entries where category = 'api_cost' and task_id = any(${ids})`;
  expect(booked!.duplicates).toBe(0);
  expect(booked!.rows).toBeGreaterThanOrEqual(ids.length);
  expect(booked!.rows).toBeLessThanOrEqual(calls);
  const perRow = await sql<{ task_id: string; amount_usd: string; input: string }[]>`
    select l.task_id, l.amount_usd::text, t.input from ledger_entries l join tasks t on t.id = l.task_id
    where l.category = 'api_cost' and l.task_id = any(${ids})`;
  const expected = perRow.reduce((sum, row) => sum + expectedCostPico("openai", row.input), 0n);
  const [whole, fraction = ""] = booked!.total.split(".");
  expect(BigInt(whole!) * 10n ** 12n + BigInt(fraction.padEnd(12, "0"))).toBe(expected);
}

/** Which of `ids` are unfinished and since when, their jobs' states, the queues, and which processes exited and why. */
async function whyUnfinished(
  ids: number[],
  tag: string,
  processes: RunningProcess[],
  processEnv: Record<string, string>,
): Promise<string[]> {
  const lines: string[] = [];
  const unfinished = await sql<{ status: string; n: number; oldest: string }[]>`
    select status, count(*)::int as n, min(updated_at)::text as oldest from tasks
    where id = any(${ids}) and status <> 'completed' group by status`;
  lines.push(`[${tag}] unfinished: ${JSON.stringify(unfinished)}`);
  try {
    await withQueues(processEnv, async (queues) => {
      const jobs: Record<string, number> = {};
      const stuckIds = await sql<{ id: string }[]>`
        select id::text from tasks where id = any(${ids}) and status <> 'completed' order by id limit 50`;
      for (const { id } of stuckIds) {
        const job = await queues.tasks.getJob(jobCatalog["run-task"].jobId({ taskId: Number(id) }));
        const state = job ? await job.getState() : "missing";
        jobs[state] = (jobs[state] ?? 0) + 1;
      }
      lines.push(`[${tag}] jobs of the first 50: ${JSON.stringify(jobs)}`);
      // Non-zero counts only: `tasks` and `maintenance` (whose jobs run the reconciler) side by side.
      for (const { queue, counts } of await countQueueJobs(queues)) {
        const nonZero = Object.entries(counts).filter(([, n]) => n > 0);
        lines.push(`[${tag}] ${queue}: ${nonZero.map(([state, n]) => `${state} ${n}`).join(", ") || "empty"}`);
      }
      const schedulers = await queues.maintenance.getJobSchedulers();
      const next = (at: number | undefined) =>
        at === undefined ? "none" : `${Math.round((at - Date.now()) / 1000)} s`;
      lines.push(
        `[${tag}] schedulers, next run in: ${schedulers.map((scheduler) => `${scheduler.key} ${next(scheduler.next)}`).join(", ") || "none"}`,
      );
    });
  } catch (queueError) {
    lines.push(`[${tag}] queues unreadable: ${(queueError as Error).message}`);
  }
  // Whole logs, for whoever reproduces it here; a process that exited says why in its last line (a
  // fatal line is whole: its stack names the cause).
  const logs = mkdtempSync(join(tmpdir(), `failover-${tag}-`));
  lines.push(`[${tag}] whole process logs in ${logs}`);
  for (const [i, proc] of processes.entries()) {
    writeFileSync(join(logs, `${i}-${proc.name}.log`), proc.output());
    const last = proc.output().trimEnd().split("\n").at(-1) ?? "";
    const state = proc.alive() ? "running" : `exited (${proc.child.exitCode ?? proc.child.signalCode})`;
    lines.push(`--- ${proc.name} ${state}: ${last.includes('"level":60') ? last.slice(0, 1500) : last.slice(0, 300)}`);
  }
  return lines;
}

function report(tag: string, submissions: Submissions, failoverMs: number) {
  const refused = [...submissions.refused].map(([kind, n]) => `${n} × ${kind}`).join(", ") || "none";
  console.log(
    `[${tag}] failover took ${failoverMs} ms; ${submissions.accepted.length} of ${TASKS} accepted; ` +
      `refused: ${refused}; slowest answer ${submissions.slowestMs} ms`,
  );
}

const workerEnv = { WORKER_LOCK_DURATION_MS: "2000", RECONCILE_AFTER_MS: "3000", WORKER_CONCURRENCY: "20" };

describe("Redis failover with work in flight", () => {
  it("on a Redis Cluster: the master holding the queue's slot is killed, its replica takes over, nothing is lost", async () => {
    const cluster = await startRedisCluster();
    try {
      const prefix = `{${env.queuePrefix}-cluster}`;
      const common = { DATABASE_URL: env.databaseUrl, REDIS_CLUSTER_NODES: cluster.nodeList, QUEUE_PREFIX: prefix };
      const apis = [await startApi(common), await startApi(common)];
      started.push(...apis.map((api) => api.proc));
      for (let i = 0; i < 3; i++) {
        started.push(
          startWorkerProcess({ databaseUrl: env.databaseUrl, redisUrl: env.redisUrl, queuePrefix: prefix }, fake, {
            REDIS_CLUSTER_NODES: cluster.nodeList,
            ...workerEnv,
          }),
        );
      }
      let failoverMs = 0;
      const submissions = await submitAll(apis, "cluster", async () => {
        const owner = await slotOwner(
          cluster.nodes.map((node) => node.port),
          prefix,
        );
        const victim = cluster.nodes.find((node) => node.port === owner)!;
        const killedAt = Date.now();
        await victim.proc.kill9();
        const survivors = cluster.nodes.filter((node) => node !== victim).map((node) => node.port);
        await waitFor(
          async () => {
            const now = await slotOwner(survivors, prefix).catch(() => undefined);
            return now !== undefined && now !== owner;
          },
          30_000,
          {
            message: () =>
              `a replica to take over from ${owner}; survivors said:\n${clusterViews(cluster.nodes, victim)}`,
          },
        );
        failoverMs = Date.now() - killedAt;
      });
      report("cluster", submissions, failoverMs);
      await expectNothingLost(submissions, "cluster", started, common);
    } finally {
      await cluster.close();
    }
  });

  it("on a Redis Cluster: a worker that starts while the queue's master is down stays up, and runs tasks once its replica has taken over", async () => {
    // Redis's default node timeout: the replica takes over some 15 s after the kill, long after
    // the worker's first writes have given up (16 redirections, 200 ms apart).
    const cluster = await startRedisCluster({ nodeTimeoutMs: 15_000 });
    try {
      const prefix = `{${env.queuePrefix}-cluster-start}`;
      const common = { DATABASE_URL: env.databaseUrl, REDIS_CLUSTER_NODES: cluster.nodeList, QUEUE_PREFIX: prefix };
      const api = await startApi(common);
      started.push(api.proc);
      const ports = cluster.nodes.map((node) => node.port);
      const owner = await slotOwner(ports, prefix);
      const victim = cluster.nodes.find((node) => node.port === owner)!;
      await victim.proc.kill9();
      const worker = startWorkerProcess(
        { databaseUrl: env.databaseUrl, redisUrl: env.redisUrl, queuePrefix: prefix },
        fake,
        { REDIS_CLUSTER_NODES: cluster.nodeList, ...workerEnv },
      );
      started.push(worker);
      await waitFor(() => worker.output().includes("maintenance schedules not written"), 30_000, {
        message: () => `the worker to fail its first schedule write; it said:\n${worker.output()}`,
      });
      const survivors = ports.filter((port) => port !== owner);
      await waitFor(async () => (await slotOwner(survivors, prefix).catch(() => owner)) !== owner, 60_000, {
        message: () => `a replica to take over from ${owner}; survivors said:\n${clusterViews(cluster.nodes, victim)}`,
      });

      const response = await fetch(`${api.baseUrl}/api/task?wait=30`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "cluster-start after the failover" }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: "completed" });
      expect(worker.alive(), worker.output()).toBe(true);
      // The schedules it could not write at start are written once Redis is back.
      await waitFor(
        async () =>
          (await withQueues(common, (queues) => queues.maintenance.getJobSchedulers()))
            .map((scheduler) => scheduler.key)
            .sort()
            .join() === "reconcile-tasks,rollup-reports",
        30_000,
        { message: "the maintenance schedules written after the failover" },
      );
    } finally {
      await cluster.close();
    }
  });

  it("through Sentinel: the master is killed, the sentinels promote the replica, nothing is lost", async () => {
    const set = await startRedisSentinels();
    try {
      const prefix = `${env.queuePrefix}-sentinel`;
      const sentinelEnv = { REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_NAME: set.name };
      const common = { DATABASE_URL: env.databaseUrl, QUEUE_PREFIX: prefix, ...sentinelEnv };
      const apis = [await startApi(common), await startApi(common)];
      started.push(...apis.map((api) => api.proc));
      for (let i = 0; i < 3; i++) {
        started.push(
          startWorkerProcess({ databaseUrl: env.databaseUrl, redisUrl: env.redisUrl, queuePrefix: prefix }, fake, {
            ...sentinelEnv,
            ...workerEnv,
          }),
        );
      }
      let failoverMs = 0;
      const submissions = await submitAll(apis, "sentinel", async () => {
        const killedAt = Date.now();
        await set.master.proc.kill9();
        const sentinel = new Redis({ port: set.sentinels[0]!.port, host: "127.0.0.1" });
        await waitFor(async () => {
          const [, port] = (await sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", set.name)) as string[];
          return Number(port) === set.replica.port;
        }, 30_000);
        sentinel.disconnect();
        failoverMs = Date.now() - killedAt;
      });
      report("sentinel", submissions, failoverMs);
      await expectNothingLost(submissions, "sentinel", started, common);
    } finally {
      await set.close();
    }
  });
});

/** The port of the master that serves the slot of `prefix`'s hash tag, as the cluster sees it. */
async function slotOwner(ports: number[], prefix: string): Promise<number> {
  for (const port of ports) {
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 }).on(
      "error",
      () => {},
    );
    try {
      await client.connect();
      const slot = Number(await client.cluster("KEYSLOT", prefix));
      const ranges = await client.cluster("SLOTS");
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const master = range?.[2];
      if (master) return master[1];
    } catch {
      // This node is down or still voting: ask the next.
    } finally {
      client.disconnect();
    }
  }
  throw new Error("no node knows the slot's owner");
}

/** What each surviving node knows of the cluster, and the end of its log: why a failover did not happen. */
function clusterViews(nodes: { port: number; proc: RunningProcess }[], victim: { port: number }): string {
  return nodes
    .filter((node) => node !== victim)
    .map((node) => {
      let view: string;
      try {
        view = execFileSync("redis-cli", ["-p", String(node.port), "cluster", "nodes"], { timeout: 2000 }).toString();
      } catch (error) {
        view = `(no answer: ${(error as Error).message})`;
      }
      return `--- ${node.port}\n${view}${node.proc.output().split("\n").slice(-15).join("\n")}`;
    })
    .join("\n");
}

/** Runs `read` on the queues as processes with `processEnv` see them, through a connection that gives up rather than hangs. */
async function withQueues<T>(processEnv: Record<string, string>, read: (queues: Queues) => Promise<T>): Promise<T> {
  const vars = parseEnv(CommonEnv, processEnv);
  const connection = createWorkerConnection(loadRedisTarget(vars), { commandTimeout: 5000 });
  const queues = createQueues(connection, vars.QUEUE_PREFIX, () => {});
  try {
    return await read(queues);
  } finally {
    await closeQueues(queues);
    connection.disconnect();
  }
}
