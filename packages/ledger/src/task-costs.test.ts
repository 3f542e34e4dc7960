import { createDatabase } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bookProviderUsage, completeAndCharge } from "./task-costs.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;

beforeAll(() => {
  database = createDatabase(env.databaseUrl, { max: 2 });
});
afterAll(() => database.close());

const tokens = { promptTokens: 10, completionTokens: 20, cachedTokens: 0, reasoningTokens: 0 };

/** A task being run under lease `lease`, holding `hold` of a user's $1 of credit. */
async function runningTask(lease: string, hold: string) {
  const who = `task-costs-${Math.random()}`;
  const [user] = await database.sql<{ id: string }[]>`insert into users (identifier) values (${who}) returning id`;
  await database.sql`
    insert into credit_entries (user_id, source, source_key, amount, occurred_at)
    values (${user!.id}, 'admin', ${who}, 1, now())`;
  await database.sql`update credit_balances set held = ${hold}::numeric where user_id = ${user!.id}`;
  const [task] = await database.sql<{ id: string }[]>`
    insert into tasks (provider, model, input, user_id, hold_usd, status, attempts, lease_owner, lease_expires_at)
    values ('openai', 'gpt-4o-mini', 'hello', ${user!.id}, ${hold}::numeric, 'processing', 1, ${lease}, now())
    returning id`;
  return { taskId: Number(task!.id), userId: user!.id };
}

const costsOf = (taskId: number) =>
  database.sql<{ amount: string; run_id: string; provider: string; model: string }[]>`
    select amount_usd::text as amount, run_id, provider, model from ledger_entries
    where category = 'api_cost' and task_id = ${taskId} order by id`;

async function creditOf(userId: string) {
  const [row] = await database.sql<{ balance: string; held: string; charges: string[] }[]>`
    select balance::text, held::text,
      array(select amount::text from credit_entries where user_id = ${userId} and source = 'task') as charges
    from credit_balances where user_id = ${userId}`;
  return row!;
}

describe("completeAndCharge", () => {
  it("completes the task, charges the sale price and books the call's cost, once", async () => {
    const { taskId, userId } = await runningTask("run-1", "0.5");
    const completion = {
      taskId,
      leaseOwner: "run-1",
      runId: "run-1",
      output: "an answer",
      tokens,
      cost: "0.000100000000",
      sale: "0.000150000000",
    };

    const first = await completeAndCharge(database.db, completion);
    const again = await completeAndCharge(database.db, completion);

    expect(first).toMatchObject({ completed: { callbackUrl: null }, costBooked: true });
    expect(again).toEqual({ completed: undefined, costBooked: false });
    expect(await costsOf(taskId)).toEqual([
      { amount: "0.000100000000", run_id: "run-1", provider: "openai", model: "gpt-4o-mini" },
    ]);
    expect(await creditOf(userId)).toEqual({
      balance: "0.999850000000",
      held: "0.000000000000",
      charges: ["-0.000150000000"],
    });
  });

  it("never charges more than the hold", async () => {
    const { taskId, userId } = await runningTask("run-1", "0.0001");
    const completion = {
      taskId,
      leaseOwner: "run-1",
      runId: "run-1",
      output: "long",
      tokens,
      cost: "0.0002",
      sale: "0.0003",
    };

    expect((await completeAndCharge(database.db, completion)).completed).toBeDefined();

    expect(await creditOf(userId)).toEqual({
      balance: "0.999900000000",
      held: "0.000000000000",
      charges: ["-0.000100000000"],
    });
  });

  it("books the cost of a run that lost its lease, without completing or charging the task", async () => {
    const { taskId, userId } = await runningTask("another-run", "0.5");
    const completion = {
      taskId,
      leaseOwner: "late-run",
      runId: "late-run",
      output: "late",
      tokens,
      cost: "0.0001",
      sale: "0.0001",
    };

    expect(await completeAndCharge(database.db, completion)).toEqual({ completed: undefined, costBooked: true });

    expect((await costsOf(taskId)).map((row) => row.run_id)).toEqual(["late-run"]);
    expect(await creditOf(userId)).toMatchObject({ held: "0.500000000000", charges: [] });
  });
});

describe("bookProviderUsage", () => {
  it("books a run's cost once, whichever run books it", async () => {
    const { taskId } = await runningTask("run-2", "0.5");
    const usage = { taskId, runId: "run-1", cost: "0.000042000000" };

    expect(await bookProviderUsage(database.db, usage)).toBe(true);
    expect(await bookProviderUsage(database.db, usage)).toBe(false);

    expect(await costsOf(taskId)).toEqual([
      { amount: "0.000042000000", run_id: "run-1", provider: "openai", model: "gpt-4o-mini" },
    ]);
  });
});
