// Each money invariant finds the broken state it is about, and says whose it is; books written as
// the product writes them (triggers on) break none. Every case runs in a transaction rolled back
// at its end: the ledgers are append-only, and one case's rows must not reach the next.
import { createDatabase, type Transaction } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import { sql, TransactionRollbackError } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMoneyViolations, type MoneyInvariant } from "./invariants.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
beforeAll(() => {
  database = createDatabase(env.databaseUrl, { max: 2 });
});
afterAll(() => database.close());

/** The violations found once `build` has written its rows, all of it rolled back afterwards. */
async function violationsAfter(build: (tx: Transaction) => Promise<void>): Promise<string[]> {
  let found: string[] = [];
  await database.db
    .transaction(async (tx) => {
      await build(tx);
      found = await findMoneyViolations(tx);
      tx.rollback();
    })
    .catch((error) => {
      if (!(error instanceof TransactionRollbackError)) throw error;
    });
  return found;
}

const of = (invariant: MoneyInvariant, found: string[]) => found.filter((v) => v.startsWith(`${invariant}: `));

/** Rows written as a bulk load would write them, without the triggers that keep the books. */
const withoutTriggers = async (tx: Transaction, write: () => Promise<unknown>) => {
  await tx.execute(sql`set local session_replication_role = replica`);
  await write();
  await tx.execute(sql`set local session_replication_role = origin`);
};

async function aUser(tx: Transaction, identifier: string): Promise<number> {
  const [row] = await tx.execute<{ id: string }>(
    sql`insert into users (identifier) values (${identifier}) returning id`,
  );
  return Number(row!.id);
}

async function aTask(tx: Transaction, fields: { userId: number | null; hold: string | null; status?: string }) {
  const [row] = await tx.execute<{ id: string }>(sql`
    insert into tasks (provider, model, input, user_id, hold_usd, status)
    values ('openai', 'gpt-4o-mini', 'hi', ${fields.userId}, ${fields.hold}, ${fields.status ?? "pending"})
    returning id`);
  return Number(row!.id);
}

/** A prepaid task held, then completed as the task runner completes it: cost and completion in one statement. */
async function aCompletedTask(tx: Transaction, userId: number, hold: string, charged: string, cost: string) {
  await tx.execute(sql`update credit_balances set held = held + ${hold}::numeric where user_id = ${userId}`);
  const id = await aTask(tx, { userId, hold });
  await tx.execute(sql`update tasks set status = 'processing', attempts = 1, lease_owner = 'run-1' where id = ${id}`);
  await tx.execute(sql`
    with done as (
      update tasks set status = 'completed', cost_usd = ${cost}, charged_usd = ${charged}, tokens_used = 10,
        completed_at = now()
      where id = ${id} returning id)
    insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, task_id, run_id)
    select 'expense', 'api_cost', ${cost}, now(), ${userId}, id, 'run-1' from done`);
  return id;
}

const grant = (tx: Transaction, userId: number, key: string, amount: string, source = "admin") =>
  tx.execute(sql`insert into credit_entries (user_id, source, source_key, amount, occurred_at)
    values (${userId}, ${source}, ${key}, ${amount}, now())`);

describe("findMoneyViolations", () => {
  it("finds nothing in books kept by the product's own statements and triggers", async () => {
    const found = await violationsAfter(async (tx) => {
      const ada = await aUser(tx, "ada");
      await grant(tx, ada, "grant-1", "10");
      await aCompletedTask(tx, ada, "1", "0.25", "0.125");
      await tx.execute(sql`update credit_balances set held = held + 2 where user_id = ${ada}`);
      await aTask(tx, { userId: ada, hold: "2" });
      const failed = await aTask(tx, { userId: ada, hold: "3" });
      await tx.execute(sql`update credit_balances set held = held + 3 where user_id = ${ada}`);
      await tx.execute(sql`update tasks set status = 'failed' where id = ${failed}`);
    });
    expect(found).toEqual([]);
  });

  it("finds a balance that is not the sum of its credit entries", async () => {
    const found = await violationsAfter(async (tx) => {
      const ada = await aUser(tx, "ada");
      await grant(tx, ada, "grant-1", "10");
      await withoutTriggers(tx, () => grant(tx, ada, "grant-2", "5"));
    });
    expect(of("credit-balances", found)).toEqual([
      expect.stringMatching(/^credit-balances: user \d+ \(ada\): credit balance 10, but its credit entries sum to 15$/),
    ]);
  });

  it("finds a user's held that is not the holds of its unfinished tasks", async () => {
    const found = await violationsAfter(async (tx) => {
      const ada = await aUser(tx, "ada");
      await grant(tx, ada, "grant-1", "10");
      await aTask(tx, { userId: ada, hold: "1.5" });
    });
    expect(of("credit-holds", found)).toEqual([
      expect.stringMatching(/^credit-holds: user \d+ \(ada\): held 0, but its 1 unfinished tasks hold 1.5$/),
    ]);
  });

  it("finds a failed task charged, a charge above its hold, and a completed task never charged", async () => {
    let ids: number[] = [];
    const found = await violationsAfter(async (tx) => {
      const ada = await aUser(tx, "ada");
      await grant(tx, ada, "grant-1", "10");
      const above = await aCompletedTask(tx, ada, "1", "2", "0.5");
      const failed = await aTask(tx, { userId: ada, hold: null, status: "failed" });
      await tx.execute(sql`insert into credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
        values (${ada}, 'task', ${String(failed)}, -0.5, ${failed}, now())`);
      await tx.execute(sql`update credit_balances set balance = balance - 0.5 where user_id = ${ada}`);
      const uncharged = await aTask(tx, { userId: ada, hold: null, status: "completed" });
      await withoutTriggers(tx, () =>
        tx.execute(sql`update tasks set hold_usd = 1, charged_usd = 0.75 where id = ${uncharged}`),
      );
      ids = [above, failed, uncharged];
    });
    const [above, failed, uncharged] = ids;
    expect(of("task-charges", found).sort()).toEqual(
      [
        `task-charges: task ${above} was charged 2, above its hold 1`,
        `task-charges: task ${failed} is failed but was charged 0.5`,
        `task-charges: task ${uncharged} completed with a charge of 0.75, but no charge is in the credit ledger`,
      ].sort(),
    );
  });

  it("finds a task spending above its key's hold, a completed one spending nothing, a failed one spending", async () => {
    let ids: number[] = [];
    const found = await violationsAfter(async (tx) => {
      const ada = await aUser(tx, "ada");
      const [key] = await tx.execute<{ id: string }>(sql`
        insert into api_keys (user_id, key_hash, prefix) values (${ada}, 'hash-of-ada', 'ak_ada') returning id`);
      const keyed = (status: string, hold: string, spent: string | null) =>
        tx.execute<{ id: string }>(sql`
          insert into tasks (provider, model, input, user_id, status, api_key_id, key_hold_usd, key_spent_usd)
          values ('openai', 'gpt-4o-mini', 'hi', ${ada}, ${status}, ${key!.id}, ${hold}, ${spent}) returning id`);
      await keyed("completed", "1", "0.5");
      const [above] = await keyed("completed", "1", "2");
      const [nothing] = await keyed("completed", "1", null);
      const [failed] = await keyed("failed", "1", "0.25");
      ids = [key, above, nothing, failed].map((row) => Number(row!.id));
    });
    const [keyId, above, nothing, failed] = ids;
    expect(of("key-spend", found).sort()).toEqual(
      [
        `key-spend: task ${above} (completed, key ${keyId}): spent 2 of its key's budget, holding 1`,
        `key-spend: task ${nothing} (completed, key ${keyId}): spent 0 of its key's budget, holding 1`,
        `key-spend: task ${failed} (failed, key ${keyId}): spent 0.25 of its key's budget, holding 1`,
      ].sort(),
    );
  });

  it("finds a completed task without its api_cost, or at another cost, and api_cost rows of no run", async () => {
    let ids: number[] = [];
    const found = await violationsAfter(async (tx) => {
      const lost = await aTask(tx, { userId: null, hold: null, status: "completed" });
      const runless = await aTask(tx, { userId: null, hold: null, status: "failed" });
      for (let i = 0; i < 2; i++) {
        await tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
          values ('expense', 'api_cost', 0.1, now(), ${runless})`);
      }
      const ada = await aUser(tx, "ada");
      await grant(tx, ada, "grant-1", "10");
      const other = await aCompletedTask(tx, ada, "1", "0.5", "0.25");
      await withoutTriggers(tx, () => tx.execute(sql`update tasks set cost_usd = 0.3 where id = ${other}`));
      ids = [lost, runless, other];
    });
    expect(of("api-costs", found).sort()).toEqual(
      [
        `api-costs: task ${ids[0]} completed without an api_cost in the ledger`,
        `api-costs: task ${ids[1]} has 2 api_cost rows without a run`,
        `api-costs: task ${ids[2]} completed at a cost of 0.3, but none of its api_cost rows ({0.25}) is that`,
      ].sort(),
    );
  });

  it("checks a report only once its day is rolled up, and then against the ledger", async () => {
    const dirty = await violationsAfter(async (tx) => {
      await tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
        values ('income', 'micro_payment', 1.5, '2026-03-04T10:00:00Z', 'pi_report')`);
    });
    expect(of("reports", dirty)).toEqual([]);

    const rolledWrong = await violationsAfter(async (tx) => {
      await tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
        values ('income', 'micro_payment', 1.5, '2026-03-04T10:00:00Z', 'pi_report')`);
      await tx.execute(sql`delete from report_dirty_days`);
      await tx.execute(sql`insert into report_rollups (period, period_start, kind, category, currency, amount_usd, generated_at)
        values ('daily', '2026-03-04', 'income', 'micro_payment', 'usd', 1, now()),
          ('weekly', '2026-03-02', 'income', 'micro_payment', 'usd', 1.5, now())`);
    });
    expect(of("reports", rolledWrong)).toEqual([
      "reports: the daily report from 2026-03-04 says micro_payment usd 1, but the ledger holds 1.5",
      "reports: the monthly report from 2026-03-01 says micro_payment usd 0, but the ledger holds 1.5",
    ]);
  });

  it("finds stats that are not the ledger", async () => {
    const found = await violationsAfter(async (tx) => {
      await withoutTriggers(tx, () =>
        tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
          values ('income', 'micro_payment', 2, now(), 'pi_stats')`),
      );
    });
    expect(of("stats", found)).toEqual([
      expect.stringMatching(/^stats: the stats count .*income 0, .*but the tables hold .*income 2, /),
    ]);
  });

  describe("Stripe's objects", () => {
    const payment = (tx: Transaction, userId: number, amount: string, currency = "usd") =>
      tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, currency, occurred_at, user_id, stripe_object_id, stripe_charge_id)
        values ('income', 'micro_payment', ${amount}, ${currency}, now(), ${userId}, 'pi_1', 'ch_1')`);
    const refund = (tx: Transaction, id: string, userId: number | null, amount: string, currency = "usd") =>
      tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, currency, occurred_at, user_id, stripe_object_id, stripe_charge_id)
        values ('income', 'refund', ${amount}, ${currency}, now(), ${userId}, ${id}, 'ch_1')`);

    it("finds a refund booked without the user its payment belongs to", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await payment(tx, ada, "10");
        await refund(tx, "re_1", null, "-10");
      });
      expect(of("stripe-attribution", found)).toEqual([
        expect.stringMatching(
          /^stripe-attribution: refund -10 usd of charge ch_1 \(re_1\) is booked to no user, but its payment pi_1 belongs to user \d+ \(ada\)$/,
        ),
      ]);
    });

    it("accepts a refund booked before its user was known once a correction moved it to the user", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await payment(tx, ada, "10");
        await refund(tx, "re_1", null, "-10");
        await refund(tx, "re_1/unknown-user", null, "10");
        await refund(tx, "re_1/to-user", ada, "-10");
      });
      expect(of("stripe-attribution", found)).toEqual([]);
    });

    it("finds more credit taken back from a payment than it granted", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await payment(tx, ada, "19.99");
        await grant(tx, ada, "pi_1", "100", "payment");
        await refund(tx, "re_1", ada, "-19.99");
        await grant(tx, ada, "re_1", "-100", "refund");
        await refund(tx, "re_2", ada, "0");
        await grant(tx, ada, "re_2", "-0.01", "refund");
      });
      expect(of("stripe-take-backs", found)).toEqual([
        expect.stringMatching(
          /^stripe-take-backs: payment pi_1 granted user \d+ \(ada\) 100 of credit, but its refunds and disputes took back 100.01$/,
        ),
      ]);
    });

    it("counts the corrections of a grant and of a take-back with them", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await tx.execute(sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, stripe_object_id, stripe_charge_id)
          values ('income', 'subscription', 19.99, now(), ${ada}, 'in_1/pi_1', 'ch_1')`);
        await grant(tx, ada, "in_1", "19.99", "invoice");
        await grant(tx, ada, "in_1/adjust/1", "80.01", "invoice");
        await refund(tx, "re_1", ada, "-19.99");
        await grant(tx, ada, "re_1", "-19.99", "refund");
        await grant(tx, ada, "re_1/adjust/1", "-80.02", "refund");
      });
      expect(of("stripe-take-backs", found)).toEqual([
        expect.stringMatching(
          /^stripe-take-backs: invoice in_1 granted user \d+ \(ada\) 100 of credit, .* took back 100.01$/,
        ),
      ]);
    });

    it("counts a lost dispute's take-back against the payment of its charge", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await payment(tx, ada, "10");
        await grant(tx, ada, "pi_1", "10", "payment");
        // A dispute's ledger rows are its balance transactions; the dispute names its charge.
        const dispute = { id: "dp_1", object: "dispute", charge: "ch_1", status: "lost" };
        await tx.execute(sql`insert into stripe_events (id, type, payload, created_at)
          values ('evt_1', 'charge.dispute.closed', ${JSON.stringify({ data: { object: dispute } })}::jsonb, now())`);
        await grant(tx, ada, "dp_1", "-12", "dispute");
      });
      expect(of("stripe-take-backs", found)).toEqual([
        expect.stringMatching(
          /^stripe-take-backs: payment pi_1 granted user \d+ \(ada\) 10 of credit, .* took back 12$/,
        ),
      ]);
    });

    it("finds a refund left in another currency than its payment's, and refunds above the payment", async () => {
      const found = await violationsAfter(async (tx) => {
        const ada = await aUser(tx, "ada");
        await payment(tx, ada, "6.7");
        await refund(tx, "re_1", ada, "-1000", "jpy");
        await refund(tx, "re_2", ada, "-6.7");
        await refund(tx, "re_3", ada, "-0.01");
      });
      expect(of("stripe-charges", found).sort()).toEqual([
        "stripe-charges: charge ch_1 was paid 6.7 usd but refunded 6.71",
        "stripe-charges: charge ch_1 was paid in usd, but -1000 jpy of its refund stay booked in jpy",
      ]);
    });
  });
});
