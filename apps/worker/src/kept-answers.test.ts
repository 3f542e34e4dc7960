import { ledgerEntries, tasks } from "@aitasks/db";
import { buildPricing } from "@aitasks/providers";
import { enqueue, runTaskJobOptions } from "@aitasks/queue";
import { DEFAULT_PRIORITY, OPEN_BILLING, submitTask } from "@aitasks/tasks";
import { type FakeChatServer, fakeAnswer, fakeUsage, startFakeChatServer, useTestEnvironment } from "@aitasks/testing";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestWorker } from "./testing/start-test-worker.js";

// A run keeps its provider's answer in its job's data before booking it, so that the job's next
// attempt books that answer instead of calling the provider again.

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

/** A stored task, not queued. */
async function storeTask(running: NonNullable<typeof worker>, prompt: string) {
  const task = await submitTask(
    {
      db: running.db,
      principal: { role: "admin" },
      pricing: buildPricing(),
      defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
      limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
      billing: OPEN_BILLING,
      enqueueTask: async () => {},
      onEnqueueFailed: () => {},
    },
    { prompt, provider: "openai" },
  );
  return task.id;
}

async function waitForFinalTask(running: NonNullable<typeof worker>, id: number, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [task] = await running.db.select().from(tasks).where(eq(tasks.id, id));
    if (task && (task.status === "completed" || task.status === "failed")) return task;
    if (Date.now() > deadline) throw new Error(`task ${id} still ${task?.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("answers kept in the job", () => {
  it("a run keeps its provider's answer in its job's data: the answer it booked", async () => {
    worker = await startTestWorker(env, fake);
    const prompt = "kept in the job";
    const id = await storeTask(worker, prompt);
    await enqueue(worker.queues, "run-task", { taskId: id }, runTaskJobOptions(3, DEFAULT_PRIORITY));

    expect(await waitForFinalTask(worker, id)).toMatchObject({ status: "completed" });

    const [cost] = await worker.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id));
    const job = await worker.queues.tasks.getJob(`task-${id}`);
    expect(job?.data).toEqual({
      taskId: id,
      answer: { runId: cost!.runId, text: fakeAnswer(prompt), usage: fakeUsage(prompt) },
    });
  });

  it("a job carrying an answer its run could not book completes its task from it, without a call", async () => {
    worker = await startTestWorker(env, fake);
    const id = await storeTask(worker, "answered, then the worker was killed");
    // The killed run's claim, its lease expired since.
    await worker.db
      .update(tasks)
      .set({ status: "processing", attempts: 1, leaseOwner: "killed-run", leaseExpiresAt: new Date() })
      .where(eq(tasks.id, id));
    const usage = { promptTokens: 12, completionTokens: 34, cachedTokens: 0, reasoningTokens: 0 };
    await enqueue(
      worker.queues,
      "run-task",
      { taskId: id, answer: { runId: "killed-run", text: "the kept answer", usage } },
      runTaskJobOptions(3, DEFAULT_PRIORITY),
    );

    expect(await waitForFinalTask(worker, id)).toMatchObject({
      status: "completed",
      output: "the kept answer",
      promptTokens: 12,
      completionTokens: 34,
      attempts: 2,
    });
    expect(fake.requests).toHaveLength(0);
    const costs = await worker.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id));
    expect(costs.map((row) => row.runId)).toEqual(["killed-run"]);
  });

  it("an answer in the job that cannot be read is ignored: the task runs as usual", async () => {
    worker = await startTestWorker(env, fake);
    const prompt = "an unreadable kept answer";
    const id = await storeTask(worker, prompt);
    await worker.queues.tasks.add(
      "run-task",
      { taskId: id, answer: { runId: "", text: 42 } },
      { ...runTaskJobOptions(3, DEFAULT_PRIORITY), jobId: `task-${id}` },
    );

    expect(await waitForFinalTask(worker, id)).toMatchObject({ status: "completed", output: fakeAnswer(prompt) });
    expect(fake.requests).toHaveLength(1);
  });
});
