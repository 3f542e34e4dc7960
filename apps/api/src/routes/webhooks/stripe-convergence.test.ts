// Stripe's objects booked to match their state at Stripe, whatever the order of their events: a
// refund before its payment, credit taken back in proportion to what was granted, a refund first
// seen without its settlement, an object Stripe does not have, an invoice paid in several payments,
// a refund that fails after it settled. The fake Stripe API holds each object and answers with its
// state at the time of the request, as Stripe's does.
import { randomBytes } from "node:crypto";
import { createStripeClient } from "@aitasks/billing";
import {
  type FakeStripeServer,
  signStripeEvent,
  startFakeStripeServer,
  stripeEvent,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const SECRET = "whsec_convergence";
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
const env = useTestEnvironment();
const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString("hex")}`;
let stripe: FakeStripeServer;
/** Invoices grant what they paid (no SUBSCRIPTION_CREDIT_USD). */
let t: TestApp;
/** Invoices grant 100 USD: above the price. */
let above: TestApp;
/** Invoices grant 10 USD: below the price. */
let below: TestApp;

beforeAll(async () => {
  stripe = await startFakeStripeServer();
  const deps = {
    stripeWebhookSecret: SECRET,
    stripe: createStripeClient({ secretKey: "sk_test_convergence", apiBaseUrl: stripe.url }),
  };
  t = await createTestApp(env, deps);
  above = await createTestApp(env, deps, { SUBSCRIPTION_CREDIT_USD: "100" });
  below = await createTestApp(env, deps, { SUBSCRIPTION_CREDIT_USD: "10" });
});
afterAll(async () => {
  await t?.close();
  await above?.close();
  await below?.close();
  await stripe?.close();
});

async function deliver(type: string, object: object, app = t) {
  const { payload, headers } = signStripeEvent(stripeEvent(type, object), SECRET);
  const response = await app.app.inject({ method: "POST", url: "/api/webhook/stripe", payload, headers });
  expect(response.statusCode, response.body).toBe(200);
  return response;
}

async function newUser() {
  const identifier = `${unique("payer")}@example.com`;
  const [row] = await t.sql<{ id: number }[]>`
    insert into users (identifier) values (${identifier}) returning id::int as id`;
  return row!.id;
}

const balanceOf = async (userId: number) => {
  const [row] = await t.sql<{ balance: string }[]>`
    select coalesce((select balance::text from credit_balances where user_id = ${userId}), '0') as balance`;
  return row!.balance;
};

/** What the ledger holds per category, currency and user for a charge's refunds and disputes (zeros left out). */
async function givenBack(chargeId: string) {
  const rows = await t.sql<{ category: string; currency: string; user_id: number | null; total: string }[]>`
    select category::text, currency, user_id::int as user_id, sum(amount_usd)::text as total from ledger_entries
    where stripe_charge_id = ${chargeId} and category in ('refund', 'dispute')
    group by 1, 2, 3 having sum(amount_usd) <> 0 order by 1, 2, 3`;
  return rows.map((row) => ({ ...row }));
}

/** Income per category and currency, for the rows of these Stripe objects' charges and invoices. */
async function income(...ids: string[]) {
  const rows = await t.sql<{ category: string; currency: string; total: string }[]>`
    select category::text, currency, sum(amount_usd)::text as total from ledger_entries
    where (stripe_charge_id in ${t.sql(ids)} or split_part(stripe_object_id, '/', 1) in ${t.sql(ids)})
    group by 1, 2 having sum(amount_usd) <> 0 order by 1, 2`;
  return rows.map((row) => ({ ...row }));
}

const balanceTransaction = (amount: number, fee: number, type: string, currency = "usd") => ({
  id: unique("txn"),
  object: "balance_transaction",
  amount,
  fee,
  currency,
  type,
});

/** A card payment that Stripe settled: the payment intent, its charge and the charge's balance transaction. */
function cardPayment(
  cents: number,
  currency: string,
  settled: { amount: number; fee: number },
  metadata: Record<string, string> = {},
) {
  const intent = unique("pi");
  const charge = unique("ch");
  stripe.put({
    id: intent,
    object: "payment_intent",
    amount: cents,
    currency,
    status: "succeeded",
    metadata,
    latest_charge: {
      id: charge,
      object: "charge",
      amount: cents,
      amount_refunded: 0,
      currency,
      payment_intent: intent,
      metadata,
      balance_transaction: balanceTransaction(settled.amount, settled.fee, "charge"),
    },
  });
  return { intent, charge };
}

function paidSession(userId: number, intent: string, cents: number, currency = "usd") {
  return {
    id: unique("cs"),
    object: "checkout.session",
    mode: "payment",
    payment_status: "paid",
    amount_total: cents,
    currency,
    payment_intent: intent,
    metadata: { user_id: String(userId) },
  };
}

/** A refund of a charge as Stripe holds it; `settled` is its balance transaction (none yet: pending). */
function refundOf(
  payment: { intent: string; charge: string },
  cents: number,
  currency: string,
  settled: { amount: number } | null,
) {
  const charge = stripe.get(payment.charge)!;
  stripe.update(payment.charge, { amount_refunded: Number(charge.amount_refunded) + cents, refunded: true });
  return stripe.put({
    id: unique("re"),
    object: "refund",
    amount: cents,
    currency,
    charge: payment.charge,
    payment_intent: payment.intent,
    status: settled ? "succeeded" : "pending",
    balance_transaction: settled ? balanceTransaction(settled.amount, 0, "refund") : null,
    failure_balance_transaction: null,
    metadata: {},
  });
}

/** A paid subscription invoice, settled through the given payments. */
function paidInvoice(userId: number, cents: number, payments: { intent: string; cents: number }[]) {
  const id = unique("in");
  for (const payment of payments) {
    stripe.put({
      id: unique("inpay"),
      object: "invoice_payment",
      invoice: id,
      amount_paid: payment.cents,
      amount_requested: payment.cents,
      currency: "usd",
      is_default: payments.length === 1,
      status: "paid",
      payment: { type: "payment_intent", payment_intent: payment.intent },
    });
  }
  return {
    id,
    object: "invoice",
    amount_paid: cents,
    currency: "usd",
    status: "paid",
    parent: {
      type: "subscription_details",
      subscription_details: { subscription: unique("sub"), metadata: { user_id: String(userId) } },
    },
  };
}

describe("a refund or dispute whose events arrive before its payment's (finding 1)", () => {
  it("is attributed to the payment's user once the payment is booked, and takes its credit back", async () => {
    const userId = await newUser();
    const payment = cardPayment(1000, "usd", { amount: 1000, fee: 59 });
    const refund = refundOf(payment, 1000, "usd", { amount: -1000 });

    await deliver("refund.created", refund);
    await deliver("checkout.session.completed", paidSession(userId, payment.intent, 1000));

    expect(await balanceOf(userId)).toBe("0.000000000000");
    expect(await givenBack(payment.charge)).toEqual([
      { category: "refund", currency: "usd", user_id: userId, total: "-10.000000000000" },
    ]);
  });

  it("books a charge's refunds to the user its metadata names (charge.refunded), before the payment arrives", async () => {
    const userId = await newUser();
    const payment = cardPayment(1000, "usd", { amount: 1000, fee: 59 }, { user_id: String(userId) });
    refundOf(payment, 400, "usd", { amount: -400 });

    await deliver("charge.refunded", stripe.get(payment.charge)!);
    expect(await givenBack(payment.charge)).toEqual([
      { category: "refund", currency: "usd", user_id: userId, total: "-4.000000000000" },
    ]);

    await deliver("checkout.session.completed", paidSession(userId, payment.intent, 1000));
    expect(await balanceOf(userId)).toBe("6.000000000000");
  });
});

describe("credit taken back in proportion to what the payment granted (finding 2)", () => {
  it("takes back all of a 100 USD grant when its 19.99 invoice is refunded in full", async () => {
    const userId = await newUser();
    const payment = cardPayment(1999, "usd", { amount: 1999, fee: 88 });
    await deliver("invoice.paid", paidInvoice(userId, 1999, [{ intent: payment.intent, cents: 1999 }]), above);
    expect(await balanceOf(userId)).toBe("100.000000000000");

    refundOf(payment, 1999, "usd", { amount: -1999 });
    await deliver("charge.refunded", stripe.get(payment.charge)!, above);

    expect(await balanceOf(userId)).toBe("0.000000000000");
  });

  it("takes back no more than a 10 USD grant below the price, in proportion, rounded down per refund", async () => {
    const userId = await newUser();
    const payment = cardPayment(1999, "usd", { amount: 1999, fee: 88 });
    await deliver("invoice.paid", paidInvoice(userId, 1999, [{ intent: payment.intent, cents: 1999 }]), below);

    // 10 × 500 / 1999 = 2.501250625312656...: 2.501250625312 taken back.
    await deliver("refund.created", refundOf(payment, 500, "usd", { amount: -500 }), below);
    expect(await balanceOf(userId)).toBe("7.498749374688");
    // 10 × 1499 / 1999 = 7.498749374687343...: the two take-backs leave one pico-dollar, never less than 0.
    await deliver("refund.created", refundOf(payment, 1499, "usd", { amount: -1499 }), below);
    expect(await balanceOf(userId)).toBe("0.000000000001");
  });

  it("takes back all of a 100 USD grant when its invoice's dispute is lost", async () => {
    const userId = await newUser();
    const payment = cardPayment(1999, "usd", { amount: 1999, fee: 88 });
    await deliver("invoice.paid", paidInvoice(userId, 1999, [{ intent: payment.intent, cents: 1999 }]), above);
    const dispute = stripe.put({
      id: unique("dp"),
      object: "dispute",
      amount: 1999,
      currency: "usd",
      charge: payment.charge,
      payment_intent: payment.intent,
      status: "lost",
      balance_transactions: [balanceTransaction(-1999, 1500, "adjustment")],
      metadata: {},
    });

    await deliver("charge.dispute.closed", dispute, above);

    expect(await balanceOf(userId)).toBe("0.000000000000");
  });

  it("takes back a micro-payment's settled credit in proportion to the part refunded, whatever the refund settled", async () => {
    const userId = await newUser();
    // 50 EUR settled as 54.50 USD: 54.50 of credit. Half of it refunded settles as 28.00 USD (the rate moved).
    const payment = cardPayment(5000, "eur", { amount: 5450, fee: 188 });
    await deliver("checkout.session.completed", paidSession(userId, payment.intent, 5000, "eur"));
    await deliver("refund.created", refundOf(payment, 2500, "eur", { amount: -2800 }));

    expect(await balanceOf(userId)).toBe("27.250000000000");
  });
});

describe("a refund first seen pending, without its balance transaction (finding 4)", () => {
  it("is booked again in the settlement currency once Stripe settled it, and the yen booked before given back", async () => {
    const userId = await newUser();
    const payment = cardPayment(1000, "jpy", { amount: 670, fee: 49 });
    await deliver("checkout.session.completed", paidSession(userId, payment.intent, 1000, "jpy"));
    const refund = refundOf(payment, 1000, "jpy", null);
    await deliver("refund.created", refund);
    expect(await givenBack(payment.charge)).toEqual([
      { category: "refund", currency: "jpy", user_id: userId, total: "-1000.000000000000" },
    ]);

    const settled = stripe.update(refund.id, {
      status: "succeeded",
      balance_transaction: balanceTransaction(-670, 0, "refund"),
    });
    await deliver("refund.updated", settled);

    expect(await givenBack(payment.charge)).toEqual([
      { category: "refund", currency: "usd", user_id: userId, total: "-6.700000000000" },
    ]);
    // Nothing is left in yen: the payment and its refund net to nothing in dollars, Stripe's fee stays.
    expect(await income(payment.intent, payment.charge)).toEqual([
      { category: "micro_payment", currency: "usd", total: "6.700000000000" },
      { category: "payment_fee", currency: "usd", total: "0.490000000000" },
      { category: "refund", currency: "usd", total: "-6.700000000000" },
    ]);
    expect(await balanceOf(userId)).toBe("0.000000000000");
  });
});

describe("what Stripe's API says, read in full (finding 6)", () => {
  it("records an event whose object Stripe does not have (404) as a problem and answers 200", async () => {
    const userId = await newUser();
    const session = paidSession(userId, unique("pi"), 1000);
    const event = stripeEvent("checkout.session.completed", session);
    const { payload, headers } = signStripeEvent(event, SECRET);

    const response = await t.app.inject({ method: "POST", url: "/api/webhook/stripe", payload, headers });

    expect(response.statusCode, response.body).toBe(200);
    const [stored] = await t.sql<
      { problem: string | null }[]
    >`select problem from stripe_events where id = ${event.id}`;
    expect(stored?.problem).toMatch(/No such payment_intent: '/);
    expect(await income(session.payment_intent)).toEqual([]);
    expect(await balanceOf(userId)).toBe("0");
  });

  it("books every paid payment of an invoice, past the first page of its payments", async () => {
    const userId = await newUser();
    const first = cardPayment(1000, "usd", { amount: 1000, fee: 59 });
    const second = cardPayment(999, "usd", { amount: 999, fee: 59 });
    const invoice = paidInvoice(userId, 1999, [
      { intent: first.intent, cents: 1000 },
      { intent: second.intent, cents: 999 },
    ]);
    // Newer than the paid ones, so they fill the first pages of the list.
    for (let i = 0; i < 30; i++) {
      stripe.put({
        id: unique("inpay"),
        object: "invoice_payment",
        invoice: invoice.id,
        amount_paid: null,
        amount_requested: 1999,
        currency: "usd",
        is_default: false,
        status: "canceled",
        payment: { type: "payment_intent", payment_intent: unique("pi") },
      });
    }

    await deliver("invoice.paid", invoice);

    expect(await income(invoice.id, first.charge, second.charge)).toEqual([
      { category: "payment_fee", currency: "usd", total: "1.180000000000" },
      { category: "subscription", currency: "usd", total: "19.990000000000" },
    ]);
    expect(await balanceOf(userId)).toBe("19.990000000000");
  });

  it("gives a failed refund back as Stripe's refund_failure balance transaction says, not as the refund was booked", async () => {
    const userId = await newUser();
    const payment = cardPayment(5000, "eur", { amount: 5450, fee: 188 });
    await deliver("checkout.session.completed", paidSession(userId, payment.intent, 5000, "eur"));
    const refund = refundOf(payment, 5000, "eur", { amount: -5450 });
    await deliver("refund.created", refund);

    const failed = stripe.update(refund.id, {
      status: "failed",
      failure_balance_transaction: balanceTransaction(5390, 0, "refund_failure"),
    });
    await deliver("refund.failed", failed);

    expect(await givenBack(payment.charge)).toEqual([
      { category: "refund", currency: "usd", user_id: userId, total: "-0.600000000000" },
    ]);
    // The credit is given back whole: it follows the euros returned, not the rate.
    expect(await balanceOf(userId)).toBe("54.500000000000");
  });
});
