import { createDatabase, formatAmount, ledgerEntries, tasks } from "@aitasks/db";
import { findMoneyViolations } from "@aitasks/ledger";
import { buildPricing, costOf, createProviders, findPrice, taskPrice } from "@aitasks/providers";
import { type FakeChatServer, fakeAnswer, fakeUsage, startFakeChatServer, useTestEnvironment } from "@aitasks/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type RunTaskDeps, runTask } from "./run-task.js";
import type { CreateTaskBody } from "./schemas.js";
import { OPEN_BILLING, submitTask } from "./submit-task.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
let fake: FakeChatServer;
let finished: number[];
let deps: RunTaskDeps;
const pricing = buildPricing();

beforeAll(async () => {
  database = createDatabase(env.databaseUrl, { max: 5 });
  fake = await startFakeChatServer();
  deps = {
    db: database.db,
    pricing,
    providers: createProviders({
      openai: { apiKey: "sk-test", baseURL: fake.openaiBaseURL },
      mistral: { apiKey: "mistral-test", serverURL: fake.mistralServerURL },
      timeoutMs: 5_000,
    }),
    maxRuns: 5,
    leaseMs: 30_000,
    onStarted: async () => {},
    onFinished: async (taskId) => {
      finished.push(taskId);
    },
    output: { append: () => {}, flush: async () => {} },
  };
});
afterAll(async () => {
  await fake.close();
  await database.close();
});
beforeEach(() => {
  finished = [];
  fake.requests.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
});

async function createTask(body: Partial<CreateTaskBody> = {}) {
  const submitted = await submitTask(
    {
      db: database.db,
      principal: { role: "admin" },
      pricing,
      defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
      limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
      billing: OPEN_BILLING,
      enqueueTask: async () => {},
      onEnqueueFailed: () => {},
    },
    { prompt: `prompt ${Math.random()}`, provider: "openai", ...body },
  );
  return submitted.id;
}

const taskRow = async (id: number) => (await database.db.select().from(tasks).where(eq(tasks.id, id)))[0]!;
const ledgerRows = (id: number) => database.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id));

describe("runTask", () => {
  it("completes the task with the answer, exact tokens and cost, and books one api_cost expense", async () => {
    const prompt = "What is artificial intelligence?";
    const id = await createTask({ prompt, user_id: "ada@example.com" });

    expect(await runTask(deps, id)).toEqual({ outcome: "completed" });

    const usage = fakeUsage(prompt);
    // gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens.
    const expectedPico = BigInt(usage.promptTokens) * 150_000n + BigInt(usage.completionTokens) * 600_000n;
    const expectedCost = formatAmount(expectedPico);
    const task = await taskRow(id);
    expect(task).toMatchObject({
      status: "completed",
      output: fakeAnswer(prompt),
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      tokensUsed: usage.promptTokens + usage.completionTokens,
      costUsd: expectedCost,
      attempts: 1,
      error: null,
    });
    expect(task.startedAt).toBeInstanceOf(Date);
    expect(task.completedAt!.getTime()).toBeGreaterThanOrEqual(task.startedAt!.getTime());

    const ledger = await ledgerRows(id);
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      kind: "expense",
      category: "api_cost",
      amountUsd: expectedCost,
      userId: task.userId,
      provider: task.provider,
      model: task.model,
    });
    expect(ledger[0]!.occurredAt).toEqual(task.completedAt);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ model: "gpt-4o-mini", prompt });
    expect(finished).toEqual([id]);
  });

  it("does not call the provider or book again when the task already completed", async () => {
    const id = await createTask();
    await runTask(deps, id);
    const before = await taskRow(id);

    expect(await runTask(deps, id)).toEqual({ outcome: "skipped" });

    expect(fake.requests).toHaveLength(1);
    expect(await ledgerRows(id)).toHaveLength(1);
    expect(await taskRow(id)).toEqual(before);
  });

  it("lets one of two racing runs of a task call the provider; the other waits for its lease", async () => {
    const id = await createTask();
    fake.setReply(() => ({ kind: "ok", delayMs: 200 }));

    const outcomes = await Promise.all([runTask(deps, id), runTask(deps, id)]);

    expect(outcomes.map((o) => o.outcome).sort()).toEqual(["completed", "leased"]);
    expect(fake.requests).toHaveLength(1);
    expect(await ledgerRows(id)).toHaveLength(1);
    expect((await taskRow(id)).status).toBe("completed");
  });

  it("renews a live run's lease, so a long provider call is not taken over", async () => {
    const id = await createTask();
    const shortLease = { ...deps, leaseMs: 300 };
    fake.setReply(() => ({ kind: "ok", delayMs: 1_000 }));

    const first = runTask(shortLease, id);
    await new Promise((resolve) => setTimeout(resolve, 700));
    // Past the lease's first term: a second delivery of the job finds it renewed.
    expect(await runTask(shortLease, id)).toMatchObject({ outcome: "leased" });

    expect(await first).toEqual({ outcome: "completed" });
    expect(fake.requests).toHaveLength(1);
    expect((await taskRow(id)).attempts).toBe(1);
  });

  it("takes over a run that stopped renewing its lease, and refuses the stopped run's late answer", async () => {
    const id = await createTask({ prompt: "paused worker" });
    // The first run claims the task and its worker stops (SIGSTOP) mid-call: simulated by a claim
    // whose lease is never renewed, then a late completion under that lease.
    const [claimed] = await database.sql<{ lease_owner: string }[]>`
      update tasks set status = 'processing', attempts = 1, lease_owner = 'paused-run',
        lease_expires_at = now() + interval '200 milliseconds'
      where id = ${id} returning lease_owner`;
    expect(claimed?.lease_owner).toBe("paused-run");
    expect(await runTask(deps, id)).toMatchObject({ outcome: "leased" });
    expect(fake.requests).toHaveLength(0);

    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await runTask(deps, id)).toEqual({ outcome: "completed" });

    const late = await database.sql`
      update tasks set output = 'late answer' where id = ${id} and status = 'processing' and lease_owner = 'paused-run'
      returning id`;
    expect(late).toHaveLength(0);
    expect(await taskRow(id)).toMatchObject({ status: "completed", output: fakeAnswer("paused worker"), attempts: 2 });
    expect(fake.requests).toHaveLength(1);
    expect(await ledgerRows(id)).toHaveLength(1);
  });

  it("refuses to complete a task for a run whose lease was taken over while it called the provider", async () => {
    const id = await createTask({ prompt: "slow first run" });
    const shortLease = { ...deps, leaseMs: 150 };
    let calls = 0;
    fake.setReply(() => (++calls === 1 ? { kind: "ok", delayMs: 800 } : { kind: "ok" }));
    // The first run's worker pauses mid-call: its lease is left expired (and, no longer its own, not
    // renewed), as a pause past the lease would leave it.
    const first = runTask(shortLease, id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await database.sql`update tasks set lease_owner = 'expired', lease_expires_at = now() where id = ${id}`;
    const second = await runTask(deps, id);

    expect(second).toEqual({ outcome: "completed" });
    expect(await first).toEqual({ outcome: "skipped" });
    expect(fake.requests).toHaveLength(2);
    // Both calls returned usage, so the provider bills both: one api_cost per run.
    const costs = await ledgerRows(id);
    expect(costs.map((row) => row.category)).toEqual(["api_cost", "api_cost"]);
    expect(new Set(costs.map((row) => row.runId)).size).toBe(2);
    expect((await taskRow(id)).attempts).toBe(2);
  });

  it("answers retryable for a transient provider error, keeping the task in processing with the error", async () => {
    const id = await createTask();
    fake.setReply(() => ({ kind: "status", status: 503, message: "overloaded" }));

    expect(await runTask(deps, id)).toMatchObject({ outcome: "retryable", error: { retryable: true } });

    expect(await taskRow(id)).toMatchObject({
      status: "processing",
      attempts: 1,
      error: expect.stringContaining("503"),
    });
    expect(finished).toEqual([]);

    fake.setReply(() => ({ kind: "ok" }));
    expect(await runTask(deps, id)).toEqual({ outcome: "completed" });
    expect(await taskRow(id)).toMatchObject({ status: "completed", attempts: 2, error: null });
  });

  it("fails the task when the caller gives up on a retryable error", async () => {
    const id = await createTask();
    fake.setReply(() => ({ kind: "status", status: 500 }));

    const retryable = await runTask(deps, id);
    if (retryable.outcome !== "retryable") throw new Error(`expected retryable, got ${retryable.outcome}`);
    const result = await retryable.giveUp();

    expect(result).toEqual({ outcome: "failed", error: expect.stringContaining("500") });
    const task = await taskRow(id);
    expect(task).toMatchObject({ status: "failed", output: null, costUsd: null });
    expect(task.completedAt).toBeInstanceOf(Date);
    expect(await ledgerRows(id)).toHaveLength(0);
    expect(finished).toEqual([id]);
  });

  it("does not fail, on giving up, a task that another run has taken since", async () => {
    const id = await createTask();
    fake.setReply((_request, index) => (index === 0 ? { kind: "status", status: 503 } : { kind: "ok", delayMs: 300 }));
    const first = await runTask(deps, id);
    if (first.outcome !== "retryable") throw new Error(`expected retryable, got ${first.outcome}`);

    const second = runTask(deps, id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await first.giveUp()).toEqual({ outcome: "skipped" });

    expect(await second).toEqual({ outcome: "completed" });
    expect((await taskRow(id)).status).toBe("completed");
  });

  it("fails at once on a permanent provider error", async () => {
    const id = await createTask({ provider: "mistral" });
    fake.setReply(() => ({ kind: "status", status: 401, message: "Unauthorized" }));

    const result = await runTask(deps, id);

    expect(result).toEqual({ outcome: "failed", error: expect.stringContaining("401") });
    expect((await taskRow(id)).status).toBe("failed");
    expect(fake.requests).toHaveLength(1);
  });

  it("fails instead of booking zero when the provider reports no usage", async () => {
    const id = await createTask();
    fake.setReply(() => ({ kind: "ok", omitUsage: true }));

    const result = await runTask(deps, id);

    expect(result).toEqual({ outcome: "failed", error: expect.stringContaining("no token usage") });
    expect(await ledgerRows(id)).toHaveLength(0);
  });

  it("gives up on a task whose runs keep being lost", async () => {
    const id = await createTask();
    await database.db.update(tasks).set({ status: "processing", attempts: deps.maxRuns }).where(eq(tasks.id, id));

    const result = await runTask(deps, id);

    expect(result).toEqual({ outcome: "failed", error: expect.stringContaining("gave up after 5 runs") });
    expect(fake.requests).toHaveLength(0);
  });

  it("stores cached and reasoning tokens, pricing cached input at the cached price and reasoning as output", async () => {
    const id = await createTask({ prompt: "cached context" });
    fake.setReply(() => ({
      kind: "ok",
      promptTokens: 100,
      completionTokens: 20,
      cachedTokens: 40,
      reasoningTokens: 5,
    }));

    expect(await runTask(deps, id)).toEqual({ outcome: "completed" });

    // gpt-4o-mini: 60 fresh input tokens at $0.15, 40 cached at $0.075, 20 output (5 of them reasoning) at $0.60 per 1M.
    const cost = 60n * 150_000n + 40n * 75_000n + 20n * 600_000n;
    expect(await taskRow(id)).toMatchObject({
      promptTokens: 100,
      completionTokens: 20,
      cachedTokens: 40,
      reasoningTokens: 5,
      tokensUsed: 120,
      costUsd: formatAmount(cost),
    });
    expect((await ledgerRows(id)).map((row) => row.amountUsd)).toEqual([formatAmount(cost)]);
  });

  it("costs a task at the prices it was accepted at, whatever the pricing table says when it runs", async () => {
    const prompt = "priced at acceptance";
    const id = await createTask({ prompt });
    const repriced = buildPricing({ "gpt-4o-mini": { input: 100, output: 100 } });

    expect(await runTask({ ...deps, pricing: repriced }, id)).toEqual({ outcome: "completed" });

    const usage = fakeUsage(prompt);
    const cost = BigInt(usage.promptTokens) * 150_000n + BigInt(usage.completionTokens) * 600_000n;
    expect((await taskRow(id)).costUsd).toBe(formatAmount(cost));
  });

  it("refuses to run a task stored without prices whose model has none, rather than book a wrong cost", async () => {
    const id = await createTask();
    await database.db.update(tasks).set({ model: "unpriced-model", price: null }).where(eq(tasks.id, id));

    const result = await runTask(deps, id);

    expect(result).toEqual({ outcome: "failed", error: 'model "unpriced-model" has no price: add it to PRICING_FILE' });
    expect(fake.requests).toHaveLength(0);
  });

  it("skips a task id that does not exist", async () => {
    expect(await runTask(deps, 987_654)).toEqual({ outcome: "skipped" });
  });
});

describe.each([
  { provider: "openai" as const, model: "gpt-4o-mini" },
  { provider: "mistral" as const, model: "mistral-small-latest" },
])("an answer from $provider without choices, with usage", ({ provider, model }) => {
  const costOfCall = (prompt: string) =>
    formatAmount(costOf(taskPrice(findPrice(pricing, provider, model)!, "1"), fakeUsage(prompt)));

  it("is booked as its run's api_cost before the task is retried; the next run's answer completes it", async () => {
    const prompt = `no choices from ${provider}`;
    const id = await createTask({ prompt, provider });
    fake.setReply((_request, index) => (index === 0 ? { kind: "ok", noChoices: true } : { kind: "ok" }));
    const booked: unknown[] = [];
    const observed = { ...deps, observer: { usageBooked: (task: unknown) => booked.push(task) } };

    expect(await runTask(observed, id)).toMatchObject({ outcome: "retryable", error: { retryable: true } });
    expect((await ledgerRows(id)).map((row) => row.amountUsd)).toEqual([costOfCall(prompt)]);
    expect(await taskRow(id)).toMatchObject({ status: "processing", error: expect.stringContaining("no choices") });

    expect(await runTask(observed, id)).toEqual({ outcome: "completed" });
    const costs = await ledgerRows(id);
    expect(costs.map((row) => row.amountUsd)).toEqual([costOfCall(prompt), costOfCall(prompt)]);
    expect(new Set(costs.map((row) => row.runId)).size).toBe(2);
    expect(booked).toEqual([
      { provider, model },
      { provider, model },
    ]);
  });

  it("is booked for every call when none has content; the failed task is charged nothing", async () => {
    const prompt = `never any choice from ${provider}`;
    const id = await createTask({ prompt, provider });
    fake.setReply(() => ({ kind: "ok", noChoices: true }));

    for (let run = 1; run < 3; run++) expect(await runTask(deps, id)).toMatchObject({ outcome: "retryable" });
    const last = await runTask(deps, id);
    if (last.outcome !== "retryable") throw new Error(`expected retryable, got ${last.outcome}`);
    expect(await last.giveUp()).toMatchObject({ outcome: "failed" });

    expect(fake.requests).toHaveLength(3);
    expect((await ledgerRows(id)).map((row) => row.amountUsd)).toEqual([
      costOfCall(prompt),
      costOfCall(prompt),
      costOfCall(prompt),
    ]);
    expect(await taskRow(id)).toMatchObject({ status: "failed", costUsd: null, chargedUsd: null });
  });
});

describe("runTask's observer", () => {
  it("is told the first claim's wait, each provider call (with its error) and the end, with the task's model", async () => {
    const seen: unknown[] = [];
    const observed: RunTaskDeps = {
      ...deps,
      observer: {
        firstClaimed: (task, queuedSeconds) => seen.push(["claimed", task, queuedSeconds >= 0]),
        providerCalled: (task, seconds, error) =>
          seen.push(["called", task, seconds > 0, error === undefined ? undefined : (error as Error).message]),
        finished: (task, status, totalSeconds) => seen.push(["finished", task, status, totalSeconds >= 0]),
      },
    };
    const task = { provider: "openai", model: "gpt-4o-mini" };
    fake.setReply((_, index) => (index === 0 ? { kind: "status", status: 503 } : { kind: "ok" }));
    const id = await createTask();
    expect(await runTask(observed, id)).toMatchObject({ outcome: "retryable" });
    expect(await runTask(observed, id)).toEqual({ outcome: "completed" });
    expect(seen).toEqual([
      ["claimed", task, true],
      ["called", task, true, expect.stringContaining("503")],
      ["called", task, true, undefined],
      ["finished", task, "completed", true],
    ]);

    seen.length = 0;
    fake.setReply(() => ({ kind: "status", status: 400 }));
    const refused = await createTask({ provider: "mistral" });
    expect(await runTask(observed, refused)).toMatchObject({ outcome: "failed" });
    const mistral = { provider: "mistral", model: "mistral-small-latest" };
    expect(seen).toEqual([
      ["claimed", mistral, true],
      ["called", mistral, true, expect.stringContaining("400")],
      ["finished", mistral, "failed", true],
    ]);
  });
});

it("leaves books that keep every money invariant after all the runs above", async () => {
  expect(await findMoneyViolations(database.db)).toEqual([]);
});
