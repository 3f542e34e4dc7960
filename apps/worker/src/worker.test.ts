import { ledgerEntries, tasks } from "@aitasks/db";
import { buildPricing, createProviders, ProviderError } from "@aitasks/providers";
import { enqueue, runTaskJobOptions } from "@aitasks/queue";
import { DEFAULT_PRIORITY, OPEN_BILLING, submitTask } from "@aitasks/tasks";
import { type FakeChatServer, startFakeChatServer, useTestEnvironment } from "@aitasks/testing";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { reconcileTasks } from "./handlers/reconcile-tasks.js";
import { providerBackoff } from "./start-worker.js";
import { startTestWorker } from "./testing/start-test-worker.js";

const env = useTestEnvironment();
let fake: FakeChatServer;
let worker: Awaited<ReturnType<typeof startTestWorker>> | undefined;

beforeAll(async () => {
  fake = await startFakeChatServer();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
});

async function submit(
  running: Awaited<ReturnType<typeof startTestWorker>>,
  body: { prompt: string; provider?: "openai" | "mistral" },
  maxAttempts = 3,
) {
  const task = await submitTask(
    {
      db: running.db,
      principal: { role: "admin" },
      pricing: buildPricing(),
      defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
      limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
      billing: OPEN_BILLING,
      enqueueTask: (taskId) =>
        enqueue(running.queues, "run-task", { taskId }, runTaskJobOptions(maxAttempts, DEFAULT_PRIORITY)),
      onEnqueueFailed: (_id, error) => {
        throw error;
      },
    },
    { provider: "openai", ...body },
  );
  return task.id;
}

async function waitForFinalTask(running: Awaited<ReturnType<typeof startTestWorker>>, id: number, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [task] = await running.db.select().from(tasks).where(eq(tasks.id, id));
    if (task && (task.status === "completed" || task.status === "failed")) return task;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task?.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("worker", () => {
  it("retries a 429 after the provider's Retry-After, then completes", async () => {
    worker = await startTestWorker(env, fake);
    const timestamps: number[] = [];
    fake.setReply((_request, index) => {
      timestamps.push(Date.now());
      return index === 0
        ? { kind: "status", status: 429, headers: { "retry-after": "2" }, message: "slow down" }
        : { kind: "ok" };
    });

    const id = await submit(worker, { prompt: "rate limited once" });
    const task = await waitForFinalTask(worker, id);

    expect(task).toMatchObject({ status: "completed", attempts: 2, error: null });
    expect(fake.requests).toHaveLength(2);
    // Exponential backoff alone would wait 1 s; Retry-After asked for 2 s.
    expect(timestamps[1]! - timestamps[0]!).toBeGreaterThanOrEqual(1900);
    expect(await worker.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id))).toHaveLength(1);
  });

  it("waits for another run's lease to end before running a task delivered again, using up no attempt", async () => {
    worker = await startTestWorker(env, fake, { maxAttempts: 1 });
    const id = await submitTask(
      {
        db: worker.db,
        principal: { role: "admin" },
        pricing: buildPricing(),
        defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
        limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
        billing: OPEN_BILLING,
        enqueueTask: async () => {},
        onEnqueueFailed: () => {},
      },
      { prompt: "held by a paused worker", provider: "openai" },
    ).then((task) => task.id);
    // A run on a paused worker holds the task for 1.5 s more; then its job is delivered again.
    await worker.db
      .update(tasks)
      .set({
        status: "processing",
        attempts: 1,
        leaseOwner: "paused-worker",
        leaseExpiresAt: new Date(Date.now() + 1_500),
      })
      .where(eq(tasks.id, id));
    const started = Date.now();
    await enqueue(worker.queues, "run-task", { taskId: id }, runTaskJobOptions(1, DEFAULT_PRIORITY));

    const task = await waitForFinalTask(worker, id);

    expect(task).toMatchObject({ status: "completed", attempts: 2 });
    expect(task.completedAt!.getTime() - started).toBeGreaterThanOrEqual(1_400);
    expect(fake.requests).toHaveLength(1);
  });

  it("fails a task after TASK_MAX_ATTEMPTS provider calls when the provider keeps answering 500", async () => {
    worker = await startTestWorker(env, fake, { maxAttempts: 3 });
    fake.setReply(() => ({ kind: "status", status: 500, message: "boom" }));

    const id = await submit(worker, { prompt: "always 500", provider: "mistral" }, 3);
    const task = await waitForFinalTask(worker, id);

    expect(task.status).toBe("failed");
    expect(task.error).toContain("500");
    expect(task.attempts).toBe(3);
    expect(fake.requests).toHaveLength(3);
    const job = await worker.queues.tasks.getJob(`task-${id}`);
    expect(await job?.getState()).toBe("failed");
    expect(await worker.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id))).toHaveLength(0);
  });

  it("fails at once, with one call, on a 401", async () => {
    worker = await startTestWorker(env, fake);
    fake.setReply(() => ({ kind: "status", status: 401, message: "Incorrect API key provided" }));

    const id = await submit(worker, { prompt: "bad key" });
    const task = await waitForFinalTask(worker, id);

    expect(task).toMatchObject({ status: "failed", attempts: 1 });
    expect(task.error).toMatch(/401.*Incorrect API key provided/);
    expect(fake.requests).toHaveLength(1);
  });

  it("retries a provider that does not answer within PROVIDER_TIMEOUT_MS, then fails with a clear error", async () => {
    worker = await startTestWorker(env, fake, { maxAttempts: 2, providerTimeoutMs: 300 });
    fake.setReply(() => ({ kind: "hang" }));

    const id = await submit(worker, { prompt: "hangs" }, 2);
    const task = await waitForFinalTask(worker, id);

    expect(task).toMatchObject({ status: "failed", attempts: 2, error: "OpenAI did not answer within 300 ms" });
    expect(fake.requests).toHaveLength(2);
  });

  it("fails a task whose provider has no API key, and keeps working", async () => {
    worker = await startTestWorker(env, fake, {
      providers: createProviders({
        openai: { apiKey: "sk-test", baseURL: fake.openaiBaseURL },
        mistral: {},
        timeoutMs: 5_000,
      }),
    });

    const mistralTask = await waitForFinalTask(worker, await submit(worker, { prompt: "x", provider: "mistral" }));
    const openaiTask = await waitForFinalTask(worker, await submit(worker, { prompt: "y", provider: "openai" }));

    expect(mistralTask).toMatchObject({ status: "failed", error: "MISTRAL_API_KEY is not configured" });
    expect(openaiTask.status).toBe("completed");
    expect(fake.requests.map((r) => r.prompt)).toEqual(["y"]);
  });
});

describe("finished jobs", () => {
  it("keeps the newest 1,000 completed jobs, and the failed ones", async () => {
    worker = await startTestWorker(env, fake, { concurrency: 50 });
    // Earlier tests of this file failed jobs of their own in the same queue.
    const { failed: failedBefore } = await worker.queues.tasks.getJobCounts("failed");
    fake.setReply((request) =>
      request.prompt === "refused" ? { kind: "status", status: 401, message: "bad key" } : { kind: "ok" },
    );
    const refused = await submit(worker, { prompt: "refused" });
    await Promise.all(Array.from({ length: 1010 }, (_, index) => submit(worker!, { prompt: `job ${index}` })));
    const running = worker;
    for (const deadline = Date.now() + 60_000; ; ) {
      const [row] = await running.sql<{ unfinished: number }[]>`
        select count(*)::int as unfinished from tasks where status in ('pending', 'processing')`;
      if (row!.unfinished === 0) break;
      if (Date.now() > deadline) throw new Error(`${row!.unfinished} tasks still unfinished`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    expect(await running.queues.tasks.getJobCounts("completed", "failed")).toEqual({
      completed: 1000,
      failed: failedBefore! + 1,
    });
    expect(await running.queues.tasks.getJob(`task-${refused}`)).toMatchObject({ failedReason: expect.any(String) });
  });
});

describe("reconciler", () => {
  it("queues a stored task whose job was never added, and one whose job failed for good", async () => {
    worker = await startTestWorker(env, fake, { reconcileAfterMs: 1 });
    const pricing = buildPricing();
    const lost = await submitTask(
      {
        db: worker.db,
        principal: { role: "admin" },
        pricing,
        defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
        limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
        billing: OPEN_BILLING,
        enqueueTask: () => Promise.reject(new Error("redis is down")),
        onEnqueueFailed: () => {},
      },
      { prompt: "never queued", provider: "openai" },
    );
    // A job that BullMQ gave up on (as after repeated stalls) while the task stayed unfinished.
    fake.setReply(() => ({ kind: "status", status: 401 }));
    const stuck = await submit(worker, { prompt: "stuck" });
    await waitForFinalTask(worker, stuck);
    await worker.db.update(tasks).set({ status: "processing", error: null }).where(eq(tasks.id, stuck));
    fake.setReply(() => ({ kind: "ok" }));
    await new Promise((resolve) => setTimeout(resolve, 20));

    const result = await reconcileTasks(worker.deps);

    expect(result.requeued).toBe(2);
    expect((await waitForFinalTask(worker, lost.id)).status).toBe("completed");
    expect((await waitForFinalTask(worker, stuck)).status).toBe("completed");
    // Nothing is stale any more, and a second pass queues nothing twice.
    expect((await reconcileTasks(worker.deps)).requeued).toBe(0);
  });

  it("leaves alone tasks whose job is still waiting or running", async () => {
    worker = await startTestWorker(env, fake, { reconcileAfterMs: 1 });
    fake.setReply(() => ({ kind: "ok", delayMs: 1500 }));
    const id = await submit(worker, { prompt: "slow" });
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect((await reconcileTasks(worker.deps)).requeued).toBe(0);
    expect((await waitForFinalTask(worker, id)).status).toBe("completed");
    expect(fake.requests).toHaveLength(1);
  });
});

describe("maintenance schedules", () => {
  it("come back when a Redis failover loses their next run, at most one interval later", async () => {
    worker = await startTestWorker(env, fake, { renewSchedulesEveryMs: 100 });
    const nextRuns = async () =>
      (await worker!.queues.maintenance.getDelayed())
        .map((job) => ({ id: job.id, runAt: job.timestamp + job.delay }))
        .sort((a, b) => String(a.id).localeCompare(String(b.id)));
    // A schedule's first run may be due at once; its next one is delayed then.
    await expect
      .poll(async () => (await nextRuns()).map((run) => run.id), { timeout: 5_000, interval: 50 })
      .toEqual([expect.stringMatching(/^repeat:reconcile-tasks:/), expect.stringMatching(/^repeat:rollup-reports:/)]);
    const scheduled = await nextRuns();

    // What an asynchronous replica that never received them leaves: the schedules, without their runs.
    const redis = new Redis(env.redisUrl);
    const key = (id: string) => `${env.queuePrefix}:maintenance:${id}`;
    for (const run of scheduled) {
      await redis.zrem(key("delayed"), String(run.id));
      await redis.del(key(String(run.id)));
    }
    redis.disconnect();
    expect(await nextRuns()).toEqual([]);

    await expect.poll(async () => (await nextRuns()).length, { timeout: 5_000, interval: 100 }).toBe(2);
    const renewed = await nextRuns();
    // Both schedules run every minute here (the test worker's reconcile interval, the rollup's default).
    for (const [index, run] of renewed.entries()) {
      expect(run.runAt - scheduled[index]!.runAt).toBeGreaterThanOrEqual(0);
      expect(run.runAt - scheduled[index]!.runAt).toBeLessThanOrEqual(60_000);
    }
    // Renewing while the runs are there keeps them as they are: no run moves later, none doubles.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await nextRuns()).toEqual(renewed);
  });
});

describe("a worker that stops taking jobs", () => {
  it("is replaced once jobs have been ready that long while it ran none, and the jobs then run", {
    timeout: 30_000,
  }, async () => {
    worker = await startTestWorker(env, fake, { replaceStuckAfterMs: 600 });
    const stuck = worker.workerOf("tasks");
    // What a worker whose blocking connection never came back does (seen after a Redis Cluster
    // failover): it fetches nothing more, and says nothing. Paused here, which looks the same.
    await stuck.pause(true);
    // Its fetch already waiting on Redis ends within BullMQ's block timeout (5 s), and then so does its loop.
    await expect.poll(() => stuck.isRunning(), { timeout: 10_000, interval: 100 }).toBe(false);
    const id = await submit(worker, { prompt: "waits for a live worker" });

    expect((await waitForFinalTask(worker, id, 10_000)).status).toBe("completed");
    expect(worker.workerOf("tasks")).not.toBe(stuck);
    expect(worker.workerOf("maintenance")).toBeDefined();
  });

  it("is left alone while no job is ready", async () => {
    worker = await startTestWorker(env, fake, { replaceStuckAfterMs: 300 });
    const before = (["tasks", "callbacks", "maintenance"] as const).map((queue) => worker!.workerOf(queue));
    const id = await submit(worker, { prompt: "one job, taken at once" });
    expect((await waitForFinalTask(worker, id)).status).toBe("completed");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((["tasks", "callbacks", "maintenance"] as const).map((queue) => worker!.workerOf(queue))).toEqual(before);
  });
});

describe("providerBackoff", () => {
  it("grows exponentially from 1 s, capped at a minute, and honours Retry-After", () => {
    expect([1, 2, 3, 4, 10].map((attempt) => providerBackoff(attempt))).toEqual([1000, 2000, 4000, 8000, 60_000]);
    const rateLimited = new ProviderError("429", true, 30_000);
    expect(providerBackoff(1, "provider", rateLimited)).toBe(30_000);
    expect(providerBackoff(1, "provider", new ProviderError("429", true, 3_600_000))).toBe(300_000);
  });
});
