import { createDatabase, formatAmount, ledgerEntries, tasks } from "@aitasks/db";
import { buildPricing, costOf, createProviders, findPrice, saleOf, taskPrice } from "@aitasks/providers";
import {
  type FakeChatServer,
  fakeAnswer,
  fakeUsage,
  startFakeChatServer,
  startTcpProxy,
  type TcpProxy,
  useTestEnvironment,
} from "@aitasks/testing";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AnswerKeeper, KeptAnswer } from "./kept-answer.js";
import { type RunTaskDeps, runTask } from "./run-task.js";
import { submitTask } from "./submit-task.js";

// A provider's answer is a fact until it is booked: kept (the worker keeps it in its job's data)
// before its booking, booked through a Postgres outage, and booked by the next run, without a
// second call, when its own run could not.

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
let fake: FakeChatServer;
let deps: RunTaskDeps;
let booked: unknown[];
const pricing = buildPricing();
const proxies: TcpProxy[] = [];
const databases: ReturnType<typeof createDatabase>[] = [];

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
    onFinished: async () => {},
    output: { append: () => {}, flush: async () => {} },
    observer: { usageBooked: (task, usage) => booked.push([task, usage]) },
  };
});
afterAll(async () => {
  await fake.close();
  await database.close();
});
beforeEach(() => {
  booked = [];
  fake.requests.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
});
afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

/** A keeper as the worker's: what it was given to keep, and what a previous run kept. */
function keeperOf(kept?: KeptAnswer): AnswerKeeper & { keptNow: KeptAnswer[] } {
  const keptNow: KeptAnswer[] = [];
  return {
    kept,
    keptNow,
    async keep(answer) {
      keptNow.push(answer);
    },
  };
}

/** A prepaid task of a user holding $1 of credit. */
async function createPrepaidTask(prompt: string) {
  const who = `kept-${Math.random()}@example.com`;
  await database.sql`insert into users (identifier) values (${who})`;
  await database.sql`
    insert into credit_entries (user_id, source, source_key, amount, occurred_at)
    select id, 'admin', ${who}, 1, now() from users where identifier = ${who}`;
  const submitted = await submitTask(
    {
      db: database.db,
      principal: { role: "admin" },
      pricing,
      defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
      limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
      billing: { mode: "prepaid", markup: "1.5", defaultMaxOutputTokens: 1024 },
      enqueueTask: async () => {},
      onEnqueueFailed: () => {},
    },
    { prompt, provider: "openai", user_id: who },
  );
  return { id: submitted.id, who };
}

/** A run that claimed the task, got its answer, and was killed before booking it: its lease has expired. */
async function claimedByKilledRun(id: number, runId: string) {
  await database.sql`
    update tasks set status = 'processing', attempts = 1, started_at = now(), lease_owner = ${runId},
      lease_expires_at = now()
    where id = ${id}`;
}

const costRows = (id: number) => database.db.select().from(ledgerEntries).where(eq(ledgerEntries.taskId, id));
const taskRow = async (id: number) => (await database.db.select().from(tasks).where(eq(tasks.id, id)))[0]!;

async function creditOf(who: string) {
  const [row] = await database.sql<{ balance: string; held: string; charges: number }[]>`
    select b.balance::text, b.held::text,
      (select count(*) from credit_entries e where e.user_id = u.id and e.source = 'task')::int as charges
    from users u join credit_balances b on b.user_id = u.id where u.identifier = ${who}`;
  return row!;
}

const price = taskPrice(findPrice(pricing, "openai", "gpt-4o-mini")!, "1.5");

describe("an answer kept before its booking", () => {
  it("is kept, then booked: the kept answer is the one booked, under the run's id", async () => {
    const prompt = "kept then booked";
    const { id } = await createPrepaidTask(prompt);
    const keeper = keeperOf();

    expect(await runTask(deps, id, { keeper })).toEqual({ outcome: "completed" });

    const [cost] = await costRows(id);
    expect(keeper.keptNow).toEqual([{ runId: cost!.runId, text: fakeAnswer(prompt), usage: fakeUsage(prompt) }]);
    expect(booked).toEqual([[{ provider: "openai", model: "gpt-4o-mini" }, fakeUsage(prompt)]]);
  });

  it("is booked by the next run instead of calling the provider again: one api_cost, one charge", async () => {
    const prompt = "answered, then the worker was killed";
    const { id, who } = await createPrepaidTask(prompt);
    await claimedByKilledRun(id, "killed-run");
    const usage = { promptTokens: 40, completionTokens: 30, cachedTokens: 0, reasoningTokens: 0 };

    const outcome = await runTask(deps, id, {
      keeper: keeperOf({ runId: "killed-run", text: "the kept answer", usage }),
    });

    expect(outcome).toEqual({ outcome: "completed" });
    expect(fake.requests).toHaveLength(0);
    const costs = await costRows(id);
    expect(costs.map((row) => [row.runId, row.amountUsd])).toEqual([
      ["killed-run", formatAmount(costOf(price, usage))],
    ]);
    const sale = formatAmount(saleOf(price, usage));
    expect(await taskRow(id)).toMatchObject({
      status: "completed",
      output: "the kept answer",
      promptTokens: 40,
      completionTokens: 30,
      chargedUsd: sale,
      attempts: 2,
    });
    expect(await creditOf(who)).toEqual({
      balance: formatAmount(1_000_000_000_000n - saleOf(price, usage)),
      held: formatAmount(0n),
      charges: 1,
    });
    expect(booked).toEqual([[{ provider: "openai", model: "gpt-4o-mini" }, usage]]);
  });

  it("is booked once, whoever books it: a kept answer its run did book adds nothing", async () => {
    const prompt = "booked, then the reply was lost";
    const { id, who } = await createPrepaidTask(prompt);
    const first = keeperOf();
    expect(await runTask(deps, id, { keeper: first })).toEqual({ outcome: "completed" });

    expect(await runTask(deps, id, { keeper: keeperOf(first.keptNow[0]) })).toEqual({ outcome: "skipped" });

    expect(await costRows(id)).toHaveLength(1);
    expect((await creditOf(who)).charges).toBe(1);
    expect(fake.requests).toHaveLength(1);
    expect(booked).toHaveLength(1);
  });

  it("has its cost booked even when the task was canceled before the next run", async () => {
    const { id, who } = await createPrepaidTask("answered, killed, then canceled");
    await claimedByKilledRun(id, "killed-run");
    await database.sql`update tasks set status = 'canceled', completed_at = now() where id = ${id}`;
    const usage = { promptTokens: 10, completionTokens: 5, cachedTokens: 0, reasoningTokens: 0 };

    const outcome = await runTask(deps, id, { keeper: keeperOf({ runId: "killed-run", text: "too late", usage }) });

    expect(outcome).toEqual({ outcome: "skipped" });
    expect((await costRows(id)).map((row) => [row.runId, row.amountUsd])).toEqual([
      ["killed-run", formatAmount(costOf(price, usage))],
    ]);
    expect(await creditOf(who)).toMatchObject({ balance: formatAmount(1_000_000_000_000n), charges: 0 });
    expect(fake.requests).toHaveLength(0);
  });
});

describe("Postgres unreachable between the provider's answer and its booking", () => {
  /** Deps whose database goes through a proxy the test takes down when the provider is called. */
  async function depsBehindProxy() {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(env.databaseUrl).port) });
    proxies.push(proxy);
    const behind = createDatabase(proxy.proxied(env.databaseUrl), { max: 2, connectTimeoutSeconds: 1 });
    databases.push(behind);
    fake.setReply(() => {
      proxy.down();
      return { kind: "ok", delayMs: 100 };
    });
    return { proxy, deps: { ...deps, db: behind.db } };
  }

  it("waits until Postgres is back and books the answer once: one call, one api_cost, one charge", async () => {
    const prompt = "postgres went away while the provider answered";
    const { id, who } = await createPrepaidTask(prompt);
    const { proxy, deps: behind } = await depsBehindProxy();
    const keeper = keeperOf();
    const running = runTask(behind, id, { keeper });
    await waitUntil(async () => keeper.keptNow.length === 1);
    // Back after the run has found Postgres unreachable a few times.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    proxy.up();

    expect(await running).toEqual({ outcome: "completed" });
    expect(fake.requests).toHaveLength(1);
    expect(await costRows(id)).toHaveLength(1);
    expect(await taskRow(id)).toMatchObject({ status: "completed", output: fakeAnswer(prompt), attempts: 1 });
    expect(await creditOf(who)).toMatchObject({ held: formatAmount(0n), charges: 1 });
    expect(booked).toHaveLength(1);
  });

  it("stops waiting when told to, the answer kept; the next run books it without calling the provider", async () => {
    const prompt = "postgres away, and the worker stopped waiting";
    const { id, who } = await createPrepaidTask(prompt);
    const { proxy, deps: behind } = await depsBehindProxy();
    const keeper = keeperOf();
    const stopBooking = new AbortController();
    const running = runTask(behind, id, { keeper, stopBooking: stopBooking.signal }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await waitUntil(async () => keeper.keptNow.length === 1);
    stopBooking.abort();
    expect(await running).toMatchObject({ code: "UNAVAILABLE" });
    proxy.up();
    fake.setReply(() => ({ kind: "ok" }));
    // Its lease expires (the worker's job lock has too, when the next attempt runs).
    await database.sql`update tasks set lease_expires_at = now() where id = ${id}`;

    expect(await runTask(deps, id, { keeper: keeperOf(keeper.keptNow[0]) })).toEqual({ outcome: "completed" });

    expect(fake.requests).toHaveLength(1);
    const costs = await costRows(id);
    expect(costs.map((row) => row.runId)).toEqual([keeper.keptNow[0]!.runId]);
    expect(await taskRow(id)).toMatchObject({ status: "completed", output: fakeAnswer(prompt), attempts: 2 });
    expect(await creditOf(who)).toMatchObject({ held: formatAmount(0n), charges: 1 });
  });
});

async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
