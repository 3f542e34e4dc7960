// What the webhook books, in which currency, against a fake Stripe API that serves the balance
// transactions: currencies of every exponent, Stripe's fees, refunds that fail, disputes.
import { randomBytes } from "node:crypto";
import { createStripeClient } from "@aitasks/billing";
import { rollupReports } from "@aitasks/reports";
import {
  type FakeStripeServer,
  signStripeEvent,
  startFakeStripeServer,
  stripeEvent,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const SECRET = "whsec_money";
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString("hex")}`;
/** A day of its own per test, so each test's report holds only what it booked. */
let nextDay = Date.UTC(2026, 0, 5) / 1000;
const aDay = () => {
  nextDay += 86_400 * 10;
  return nextDay + 3600;
};
const dateOf = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);

/** The app with a Stripe client (`withStripe`) pointed at a fake, or without one (settlement unknown). */
function useMoneyApp({ withStripe }: { withStripe: boolean }) {
  const env = useTestEnvironment();
  const context = {} as { app: TestApp; stripe: FakeStripeServer };
  beforeAll(async () => {
    context.stripe = await startFakeStripeServer();
    context.app = await createTestApp(env, {
      stripeWebhookSecret: SECRET,
      stripe: withStripe
        ? createStripeClient({ secretKey: "sk_test_money", apiBaseUrl: context.stripe.url })
        : undefined,
    });
  });
  afterAll(async () => {
    await context.app?.close();
    await context.stripe?.close();
  });
  return context;
}

async function deliver(t: TestApp, type: string, object: object, created: number) {
  const { payload, headers } = signStripeEvent(stripeEvent(type, object, { created }), SECRET);
  const response = await t.app.inject({ method: "POST", url: "/api/webhook/stripe", payload, headers });
  expect(response.statusCode, response.body).toBe(200);
}

async function report(t: TestApp, created: number) {
  await rollupReports(t.db);
  const response = await t.app.inject({ method: "GET", url: `/api/report/daily?date=${dateOf(created)}` });
  return response.json();
}

async function ledgerOf(t: TestApp, day: number) {
  return t.sql<
    { category: string; amount: string; currency: string; original: string | null; original_currency: string | null }[]
  >`
    select category::text, amount_usd::text as amount, currency, original_amount::text as original,
      original_currency
    from ledger_entries where occurred_at::date = ${dateOf(day)}::date order by id`;
}

const balanceTransaction = (id: string, amount: number, fee: number, currency = "usd") => ({
  id,
  object: "balance_transaction",
  amount,
  fee,
  currency,
});

/** Serves a payment intent whose charge settled as `settled`. */
function servePayment(stripe: FakeStripeServer, intent: string, charge: string, settled: object) {
  stripe.answer("GET", `/v1/payment_intents/${intent}`, () => ({
    id: intent,
    object: "payment_intent",
    latest_charge: { id: charge, object: "charge", balance_transaction: settled },
  }));
}

function invoice(id: string, amountPaid: number, currency: string, paidAt: number) {
  return {
    id,
    object: "invoice",
    amount_paid: amountPaid,
    currency,
    status: "paid",
    status_transitions: { paid_at: paidAt },
    parent: { type: "subscription_details", subscription_details: { subscription: unique("sub"), metadata: {} } },
  };
}

function paidSession(intent: string, amountTotal: number, currency: string) {
  return {
    id: unique("cs"),
    object: "checkout.session",
    mode: "payment",
    payment_status: "paid",
    amount_total: amountTotal,
    currency,
    payment_intent: intent,
    metadata: {},
  };
}

describe("currencies, when Stripe's settlement is not known (no STRIPE_SECRET_KEY)", () => {
  const c = useMoneyApp({ withStripe: false });

  it.each([
    ["jpy", 1000, "1000.000000000000"],
    ["eur", 5000, "50.000000000000"],
    ["kwd", 10_000, "10.000000000000"],
    ["usd", 1999, "19.990000000000"],
  ])("books %s %i in its own currency with its exponent", async (currency, amount, expected) => {
    const day = aDay();
    await deliver(c.app, "invoice.paid", invoice(unique("in"), amount, currency, day), day);

    expect(await ledgerOf(c.app, day)).toEqual([
      { category: "subscription", amount: expected, currency, original: null, original_currency: null },
    ]);
    const daily = await report(c.app, day);
    if (currency === "usd") {
      expect(daily).toMatchObject({ currency: "usd", income: 19.99, other_currencies: {} });
    } else {
      // Never added to the dollars: reported apart, in its own currency.
      expect(daily).toMatchObject({
        currency: "usd",
        income: 0,
        other_currencies: { [currency]: { income: Number(expected) } },
      });
    }
  });

  it("keeps the dollar stats free of other currencies", async () => {
    const response = await c.app.app.inject({ method: "GET", url: "/api/stats" });
    expect(response.json().financials).toEqual({
      currency: "usd",
      total_income: 19.99,
      total_expenses: 0,
      profit: 19.99,
    });
  });
});

describe("currencies, as Stripe settled them (balance transactions)", () => {
  const c = useMoneyApp({ withStripe: true });

  it("books a ¥1000 invoice as the dollars Stripe settled, with the yen kept beside and the fee as an expense", async () => {
    const day = aDay();
    const invoiceId = unique("in");
    c.stripe.answer("GET", "/v1/invoice_payments", (query) =>
      query.get("invoice") === invoiceId
        ? {
            object: "list",
            has_more: false,
            data: [{ status: "paid", payment: { type: "payment_intent", payment_intent: `pi_${invoiceId}` } }],
          }
        : undefined,
    );
    servePayment(c.stripe, `pi_${invoiceId}`, `ch_${invoiceId}`, balanceTransaction(`txn_${invoiceId}`, 667, 49));

    await deliver(c.app, "invoice.paid", invoice(invoiceId, 1000, "jpy", day), day);

    expect(await ledgerOf(c.app, day)).toEqual([
      {
        category: "subscription",
        amount: "6.670000000000",
        currency: "usd",
        original: "1000.000000000000",
        original_currency: "jpy",
      },
      { category: "payment_fee", amount: "0.490000000000", currency: "usd", original: null, original_currency: null },
    ]);
    expect(await report(c.app, day)).toMatchObject({
      currency: "usd",
      income: 6.67,
      expenses: 0.49,
      profit: 6.18,
      breakdown: { expense_breakdown: { payment_fee: 0.49 } },
      other_currencies: {},
    });
  });

  it.each([
    ["eur", 5000, 5450, 188, "50.000000000000", "54.500000000000"],
    ["kwd", 10_000, 3250, 124, "10.000000000000", "32.500000000000"],
  ])("books a %s checkout as settled in dollars", async (currency, total, settledCents, fee, original, settled) => {
    const day = aDay();
    const intent = unique("pi");
    servePayment(c.stripe, intent, unique("ch"), balanceTransaction(unique("txn"), settledCents, fee));

    await deliver(c.app, "checkout.session.completed", paidSession(intent, total, currency), day);

    expect(await ledgerOf(c.app, day)).toMatchObject([
      { category: "micro_payment", amount: settled, currency: "usd", original, original_currency: currency },
      { category: "payment_fee", currency: "usd" },
    ]);
  });

  it("answers 502 (Stripe retries) while the payment has no balance transaction yet, and books it once it has", async () => {
    const day = aDay();
    const intent = unique("pi");
    const session = paidSession(intent, 100, "usd");
    const event = stripeEvent("checkout.session.completed", session, { created: day });
    c.stripe.answer("GET", `/v1/payment_intents/${intent}`, () => ({
      id: intent,
      latest_charge: { id: "ch_1", balance_transaction: null },
    }));
    const first = signStripeEvent(event, SECRET);
    const early = await c.app.app.inject({ method: "POST", url: "/api/webhook/stripe", ...first });
    expect(early.statusCode).toBe(502);
    expect(await ledgerOf(c.app, day)).toEqual([]);

    servePayment(c.stripe, intent, "ch_1", balanceTransaction(unique("txn"), 100, 33));
    const again = signStripeEvent(event, SECRET);
    expect((await c.app.app.inject({ method: "POST", url: "/api/webhook/stripe", ...again })).statusCode).toBe(200);
    expect(await ledgerOf(c.app, day)).toMatchObject([
      { category: "micro_payment", amount: "1.000000000000" },
      { category: "payment_fee", amount: "0.330000000000" },
    ]);
  });
});

describe("refunds per refund object, and disputes", () => {
  const c = useMoneyApp({ withStripe: true });

  it("books a $20 payment, a $3 refund that fails, a $1 refund and a lost dispute to what the balance lost", async () => {
    const day = aDay();
    const intent = unique("pi");
    const chargeId = unique("ch");
    servePayment(c.stripe, intent, chargeId, balanceTransaction(unique("txn"), 2000, 88));
    // The refunds as Stripe's API holds them, each with its balance transaction.
    const refund = (id: string, amount: number, status: string, failure: object | null = null) =>
      c.stripe.put({
        id,
        object: "refund",
        amount,
        currency: "usd",
        charge: chargeId,
        status,
        balance_transaction: balanceTransaction(`txn_${id}`, -amount, 0),
        failure_balance_transaction: failure,
      });
    const charge = (refunded: number) => ({
      id: chargeId,
      object: "charge",
      amount: 2000,
      amount_refunded: refunded,
      currency: "usd",
    });

    await deliver(c.app, "checkout.session.completed", paidSession(intent, 2000, "usd"), day);
    // $3 refunded: Stripe sends charge.refunded (the refunds are listed from the API).
    refund("re_1", 300, "succeeded");
    await deliver(c.app, "charge.refunded", charge(300), day + 60);
    // That refund fails: Stripe returns the $3 to the balance (its refund_failure transaction).
    const failed = refund("re_1", 300, "failed", balanceTransaction("txn_re_1_failure", 300, 0));
    await deliver(c.app, "charge.refund.updated", failed, day + 120);
    // A new $1 refund; the charge's running total no longer counts the failed one.
    const second = refund("re_2", 100, "succeeded");
    await deliver(c.app, "refund.created", second, day + 180);
    await deliver(c.app, "charge.refunded", charge(100), day + 181);
    // A lost dispute: the $20 withdrawn and Stripe's $15 dispute fee.
    const dispute = c.stripe.put({
      id: unique("dp"),
      object: "dispute",
      charge: chargeId,
      amount: 2000,
      currency: "usd",
      status: "needs_response",
      balance_transactions: [balanceTransaction(unique("txn"), -2000, 1500)],
    });
    await deliver(c.app, "charge.dispute.funds_withdrawn", dispute, day + 240);
    await deliver(c.app, "charge.dispute.closed", c.stripe.update(dispute.id, { status: "lost" }), day + 300);
    // Redeliveries of the same objects in other events book nothing more.
    await deliver(c.app, "refund.updated", failed, day + 301);
    await deliver(c.app, "charge.dispute.created", dispute, day + 302);

    const daily = await report(c.app, day);
    expect(daily).toMatchObject({
      income: -1,
      expenses: 15.88,
      profit: -16.88,
      breakdown: {
        income_breakdown: { micro_payment: 20, refund: -1, dispute: -20 },
        expense_breakdown: { payment_fee: 15.88, api_cost: 0 },
      },
    });
    const refundRows = await c.app.sql<{ object: string; amount: string }[]>`
      select stripe_object_id as object, amount_usd::text as amount from ledger_entries
      where category = 'refund' and stripe_charge_id = ${chargeId} order by id`;
    expect(refundRows).toEqual([
      { object: "re_1", amount: "-3.000000000000" },
      { object: "re_1/reversed", amount: "3.000000000000" },
      { object: "re_2", amount: "-1.000000000000" },
    ]);
  });

  it("books a refund first seen failed as a refund and its reversal, netting nothing", async () => {
    const day = aDay();
    const chargeId = unique("ch");
    const refund = c.stripe.put({
      id: unique("re"),
      object: "refund",
      amount: 500,
      currency: "usd",
      charge: chargeId,
      status: "failed",
      balance_transaction: balanceTransaction("txn_failed_first", -500, 0),
    });

    await deliver(c.app, "refund.failed", refund, day);
    // An older event: Stripe's API says the refund has failed.
    await deliver(c.app, "refund.updated", { ...refund, status: "succeeded" }, day - 60);

    expect(await report(c.app, day)).toMatchObject({ income: 0, breakdown: { income_breakdown: { refund: 0 } } });
    const rows = await c.app
      .sql`select amount_usd::text as amount from ledger_entries where stripe_charge_id = ${chargeId} order by id`;
    expect(rows).toEqual([{ amount: "-5.000000000000" }, { amount: "5.000000000000" }]);
  });

  it("books a won dispute's reinstatement, with the fee Stripe returns", async () => {
    const day = aDay();
    const withdrawn = balanceTransaction(unique("txn"), -1000, 1500);
    const reinstated = balanceTransaction(unique("txn"), 1000, -1500);
    const dispute = c.stripe.put({
      id: unique("dp"),
      object: "dispute",
      charge: unique("ch"),
      status: "under_review",
      balance_transactions: [withdrawn],
    });

    await deliver(c.app, "charge.dispute.funds_withdrawn", dispute, day);
    const won = c.stripe.update(dispute.id, { status: "won", balance_transactions: [withdrawn, reinstated] });
    await deliver(c.app, "charge.dispute.funds_reinstated", won, day + 60);

    expect(await report(c.app, day)).toMatchObject({
      income: 0,
      expenses: 0,
      breakdown: { income_breakdown: { dispute: 0 }, expense_breakdown: { payment_fee: 0 } },
    });
  });
});
