// What Stripe's events grant and take back of a user's prepaid credit, each once, however often and
// in whatever order they arrive.
import { randomBytes } from "node:crypto";
import { signStripeEvent, stripeEvent, useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const SECRET = "whsec_credits";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let withSubscriptionCredit: TestApp;
const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString("hex")}`;
const created = Math.floor(Date.now() / 1000) - 3600;

beforeAll(async () => {
  t = await createTestApp(env, { stripeWebhookSecret: SECRET });
  withSubscriptionCredit = await createTestApp(env, { stripeWebhookSecret: SECRET }, { SUBSCRIPTION_CREDIT_USD: "25" });
});
afterAll(async () => {
  await t?.close();
  await withSubscriptionCredit?.close();
});

async function deliver(type: string, object: object, app = t, id = unique("evt")) {
  const { payload, headers } = signStripeEvent({ ...stripeEvent(type, object, { created }), id }, SECRET);
  const response = await app.app.inject({ method: "POST", url: "/api/webhook/stripe", payload, headers });
  expect(response.statusCode, response.body).toBe(200);
  return id;
}

async function newUser() {
  const identifier = `${unique("payer")}@example.com`;
  const [row] = await t.sql<
    { id: number }[]
  >`insert into users (identifier) values (${identifier}) returning id::int as id`;
  return row!.id;
}

/** The user's credit entries (source, key, amount) in order, and the kept balance. */
async function credit(userId: number) {
  const entries = await t.sql<{ source: string; source_key: string; amount: string }[]>`
    select source::text, source_key, amount::text from credit_entries where user_id = ${userId} order by id`;
  const [balance] = await t.sql<{ balance: string }[]>`
    select coalesce((select balance::text from credit_balances where user_id = ${userId}), '0') as balance`;
  return { entries: entries.map((entry) => ({ ...entry })), balance: balance!.balance };
}

const payment = (userId: number, cents: number, overrides: Record<string, unknown> = {}) => ({
  id: unique("cs"),
  object: "checkout.session",
  mode: "payment",
  payment_status: "paid",
  amount_total: cents,
  currency: "usd",
  payment_intent: unique("pi"),
  metadata: { user_id: String(userId) },
  ...overrides,
});

const refund = (userId: number, cents: number, status = "succeeded", id = unique("re")) => ({
  id,
  object: "refund",
  amount: cents,
  currency: "usd",
  charge: "ch_credit",
  status,
  metadata: { user_id: String(userId) },
});

describe("credit from Stripe", () => {
  it("grants a paid micro-payment once, however often it is delivered", async () => {
    const userId = await newUser();
    const session = payment(userId, 1234);
    const first = await deliver("checkout.session.completed", session);
    await deliver("checkout.session.completed", session, t, first);
    await deliver("checkout.session.async_payment_succeeded", session);

    expect(await credit(userId)).toEqual({
      entries: [{ source: "payment", source_key: session.payment_intent, amount: "12.340000000000" }],
      balance: "12.340000000000",
    });
  });

  it("grants nothing for an unpaid session, nor for money in another currency", async () => {
    const userId = await newUser();
    await deliver("checkout.session.completed", payment(userId, 500, { payment_status: "unpaid" }));
    // Without its settlement in dollars, euros cannot become dollar credit.
    await deliver("checkout.session.completed", payment(userId, 500, { currency: "eur" }));
    expect(await credit(userId)).toEqual({ entries: [], balance: "0" });
  });

  it("takes a refund back once, and gives it back once when the refund fails, in any order", async () => {
    const userId = await newUser();
    await deliver("checkout.session.completed", payment(userId, 1000));
    const partial = refund(userId, 250);
    await deliver("refund.created", partial);
    await deliver("charge.refund.updated", partial);
    expect((await credit(userId)).balance).toBe("7.500000000000");

    // A failure seen before the refund's creation: both are booked, once each, and net to nothing.
    const failed = refund(userId, 300, "failed");
    await deliver("refund.failed", failed);
    await deliver("refund.created", { ...failed, status: "pending" });
    await deliver("refund.updated", failed);

    expect(await credit(userId)).toEqual({
      entries: [
        { source: "payment", source_key: expect.any(String), amount: "10.000000000000" },
        { source: "refund", source_key: partial.id, amount: "-2.500000000000" },
        { source: "refund", source_key: failed.id, amount: "-3.000000000000" },
        { source: "refund", source_key: `${failed.id}/reversed`, amount: "3.000000000000" },
      ],
      balance: "7.500000000000",
    });
  });

  it("grants a paid invoice what it paid, or SUBSCRIPTION_CREDIT_USD when set", async () => {
    const userId = await newUser();
    const invoice = (cents: number) => ({
      id: unique("in"),
      object: "invoice",
      amount_paid: cents,
      currency: "usd",
      status_transitions: { paid_at: created },
      parent: { subscription_details: { subscription: unique("sub"), metadata: { user_id: String(userId) } } },
    });
    const paid = invoice(1999);
    await deliver("invoice.paid", paid);
    const fixed = invoice(1999);
    await deliver("invoice.paid", fixed, withSubscriptionCredit);
    await deliver("invoice.paid", fixed, withSubscriptionCredit);

    expect(await credit(userId)).toEqual({
      entries: [
        { source: "invoice", source_key: paid.id, amount: "19.990000000000" },
        { source: "invoice", source_key: fixed.id, amount: "25.000000000000" },
      ],
      balance: "44.990000000000",
    });
  });

  it("takes back what a lost dispute withdrew, and nothing for a dispute won or still open", async () => {
    const userId = await newUser();
    await deliver("checkout.session.completed", payment(userId, 5000));
    const dispute = (status: string, id = unique("dp")) => ({
      id,
      object: "dispute",
      charge: unique("ch"),
      amount: 2000,
      currency: "usd",
      status,
      balance_transactions: [],
      metadata: { user_id: String(userId) },
    });
    const lost = dispute("lost");
    await deliver("charge.dispute.created", { ...lost, status: "needs_response" });
    await deliver("charge.dispute.closed", lost);
    await deliver("charge.dispute.closed", lost);
    await deliver("charge.dispute.closed", dispute("won"));

    expect(await credit(userId)).toEqual({
      entries: [
        { source: "payment", source_key: expect.any(String), amount: "50.000000000000" },
        { source: "dispute", source_key: lost.id, amount: "-20.000000000000" },
      ],
      balance: "30.000000000000",
    });
  });
});

describe("refunds seen both as a charge's running total and as refund objects", () => {
  const chargeRefunded = (userId: number, chargeId: string, cents: number) => ({
    id: chargeId,
    object: "charge",
    amount: 1000,
    amount_refunded: cents,
    currency: "usd",
    metadata: { user_id: String(userId) },
  });
  const refundOf = (userId: number, chargeId: string, cents: number, status = "succeeded", id = unique("re")) => ({
    ...refund(userId, cents, status, id),
    charge: chargeId,
  });
  const balance = async (userId: number) => (await credit(userId)).balance;
  const refundedMoney = async (chargeId: string) => {
    const [row] = await t.sql<{ total: string }[]>`
      select coalesce(sum(amount_usd), 0)::numeric(24, 12)::text as total from ledger_entries
      where category = 'refund' and stripe_charge_id = ${chargeId}`;
    return row!.total;
  };

  it("counts a refund once whether its charge's running total or its own event comes first", async () => {
    for (const order of ["total first", "refund first"]) {
      const userId = await newUser();
      const chargeId = unique("ch");
      await deliver("checkout.session.completed", payment(userId, 1000));
      const events: [string, object][] = [
        ["charge.refunded", chargeRefunded(userId, chargeId, 300)],
        ["refund.created", refundOf(userId, chargeId, 300)],
      ];
      if (order === "refund first") events.reverse();
      for (const [type, object] of events) await deliver(type, object);

      expect(await balance(userId), order).toBe("7.000000000000");
      expect(await refundedMoney(chargeId), order).toBe("-3.000000000000");
    }
  });

  it("does not book a failed refund again from a late running total sent before it failed", async () => {
    const userId = await newUser();
    const chargeId = unique("ch");
    await deliver("checkout.session.completed", payment(userId, 1000));
    const failing = refundOf(userId, chargeId, 300);
    await deliver("refund.created", failing);
    await deliver("refund.failed", { ...failing, status: "failed" });
    await deliver("charge.refunded", chargeRefunded(userId, chargeId, 300));

    expect(await balance(userId)).toBe("10.000000000000");
    expect(await refundedMoney(chargeId)).toBe("0.000000000000");
  });

  it("books concurrent deliveries of one charge's refunds without a deadlock", async () => {
    for (let round = 0; round < 10; round++) {
      const userId = await newUser();
      const chargeId = unique("ch");
      await deliver("checkout.session.completed", payment(userId, 1000));
      const first = refundOf(userId, chargeId, 100);
      const second = refundOf(userId, chargeId, 200);
      await Promise.all([
        deliver("charge.refunded", { ...chargeRefunded(userId, chargeId, 300), refunds: { data: [first, second] } }),
        deliver("refund.created", second),
        deliver("refund.created", first),
      ]);
      expect(await balance(userId)).toBe("7.000000000000");
    }
  });
});
