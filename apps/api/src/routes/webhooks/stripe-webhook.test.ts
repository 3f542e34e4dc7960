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
import type { AppDeps } from "../../deps.js";
import { createTestApp } from "../../testing/create-test-app.js";

const SECRET = "whsec_test";
const WEBHOOK = "/api/webhook/stripe";

type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/**
 * Each describe block gets a database of its own, so the counts and totals it asserts (ledger
 * rows, /api/stats) start from zero and do not depend on what other blocks booked.
 */
function useWebhookApp(overrides: Partial<AppDeps> = {}) {
  const env = useTestEnvironment();
  const context = {} as { app: TestApp };
  beforeAll(async () => {
    context.app = await createTestApp(env, { stripeWebhookSecret: SECRET, ...overrides });
  });
  afterAll(() => context.app?.close());
  return context;
}

/** As `useWebhookApp`, with the Stripe API of the app served by a fake that tests tell what to answer. */
function useWebhookAppWithStripe() {
  const env = useTestEnvironment();
  const context = {} as { app: TestApp; stripe: FakeStripeServer };
  beforeAll(async () => {
    context.stripe = await startFakeStripeServer();
    context.app = await createTestApp(env, {
      stripeWebhookSecret: SECRET,
      stripe: createStripeClient({ secretKey: "sk_test_webhook", apiBaseUrl: context.stripe.url }),
    });
  });
  afterAll(async () => {
    await context.app?.close();
    await context.stripe?.close();
  });
  return context;
}

const unique = (prefix: string) => `${prefix}_test_${randomBytes(6).toString("hex")}`;
/** A Stripe `created` (seconds), a day ago, so "when it happened" differs from "when it was written". */
const DAY_AGO = Math.floor(Date.now() / 1000) - 86_400;
const at = (seconds: number) => new Date(seconds * 1000);
/** The drizzle driver hands raw `sql` timestamps back as Postgres text; compare them as instants. */
const instant = (value: Date | string | null) => (value === null ? null : new Date(value));

function deliver(
  t: TestApp,
  event: object,
  options: { secret?: string; timestamp?: number; url?: string; contentType?: string } = {},
) {
  const { payload, headers } = signStripeEvent(event, options.secret ?? SECRET, options.timestamp);
  return t.app.inject({
    method: "POST",
    url: options.url ?? WEBHOOK,
    payload,
    headers: options.contentType ? { ...headers, "content-type": options.contentType } : headers,
  });
}

async function createUser(t: TestApp, identifier = `${unique("user")}@example.com`) {
  const [row] = await t.sql<{ id: number }[]>`
    insert into users (identifier, email) values (${identifier}, ${identifier}) returning id::int as id`;
  return row!.id;
}

interface LedgerRow {
  kind: string;
  category: string;
  amount_usd: string;
  currency: string;
  occurred_at: Date;
  user_id: number | null;
  stripe_object_id: string | null;
}

async function ledger(t: TestApp): Promise<LedgerRow[]> {
  const rows = await t.sql<LedgerRow[]>`
    select kind, category, amount_usd::text as amount_usd, currency, to_json(occurred_at) #>> '{}' as occurred_at,
      user_id::int as user_id, stripe_object_id
    from ledger_entries order by id`;
  return rows.map((row) => ({ ...row, occurred_at: instant(row.occurred_at)! }));
}

async function counts(t: TestApp) {
  const [row] = await t.sql<{ events: number; ledger: number; subscriptions: number }[]>`
    select (select count(*)::int from stripe_events) as events,
      (select count(*)::int from ledger_entries) as ledger,
      (select count(*)::int from subscriptions) as subscriptions`;
  return row!;
}

async function incomeTotal(t: TestApp) {
  const [row] = await t.sql<{ total: string }[]>`
    select coalesce(sum(amount_usd), 0)::numeric(24, 12)::text as total from ledger_entries where kind = 'income'`;
  return row!.total;
}

async function storedUser(t: TestApp, id: number) {
  const [row] = await t.sql<{ stripe_customer_id: string | null }[]>`
    select stripe_customer_id from users where id = ${id}`;
  return row;
}

interface SubscriptionRow {
  id: string;
  user_id: number | null;
  stripe_customer_id: string | null;
  status: string;
  price_id: string | null;
  current_period_end: Date | null;
}

async function storedSubscription(t: TestApp, id: string): Promise<SubscriptionRow | undefined> {
  const [row] = await t.sql<SubscriptionRow[]>`
    select id, user_id::int as user_id, stripe_customer_id, status, price_id,
      to_json(current_period_end) #>> '{}' as current_period_end
    from subscriptions where id = ${id}`;
  return row && { ...row, current_period_end: instant(row.current_period_end) };
}

async function stats(t: TestApp) {
  const response = await t.app.inject({ method: "GET", url: "/api/stats" });
  expect(response.statusCode).toBe(200);
  return response.json() as {
    users: { total: number; subscriptions: number };
    financials: { total_income: number; total_expenses: number; profit: number };
  };
}

function paymentSession(userId: number, overrides: Record<string, unknown> = {}) {
  return {
    id: unique("cs"),
    object: "checkout.session",
    mode: "payment",
    status: "complete",
    payment_status: "paid",
    amount_total: 100,
    currency: "usd",
    customer: null,
    client_reference_id: String(userId),
    payment_intent: unique("pi"),
    subscription: null,
    metadata: { user_id: String(userId) },
    ...overrides,
  };
}

function subscriptionSession(userId: number, subscription: string, customer: string) {
  return {
    id: unique("cs"),
    object: "checkout.session",
    mode: "subscription",
    status: "complete",
    payment_status: "paid",
    amount_total: 1999,
    currency: "usd",
    customer,
    client_reference_id: String(userId),
    payment_intent: null,
    subscription,
    metadata: { user_id: String(userId) },
  };
}

function invoice(
  subscription: string,
  customer: string,
  options: { id?: string; paidAt?: number; amount?: number; metadata?: Record<string, string> } = {},
) {
  return {
    id: options.id ?? unique("in"),
    object: "invoice",
    amount_paid: options.amount ?? 1999,
    currency: "usd",
    customer,
    status: "paid",
    parent: {
      type: "subscription_details",
      quote_details: null,
      subscription_details: { subscription, metadata: options.metadata ?? {} },
    },
    status_transitions: { paid_at: options.paidAt ?? DAY_AGO, finalized_at: options.paidAt ?? DAY_AGO },
  };
}

function subscription(
  id: string,
  customer: string,
  status: string,
  options: { userId?: number; periodEnd?: number } = {},
) {
  return {
    id,
    object: "subscription",
    customer,
    status,
    cancel_at_period_end: false,
    metadata: options.userId ? { user_id: String(options.userId) } : {},
    items: {
      object: "list",
      data: [
        {
          id: unique("si"),
          object: "subscription_item",
          current_period_end: options.periodEnd ?? DAY_AGO + 30 * 86_400,
          price: { id: "price_123", object: "price" },
        },
      ],
    },
  };
}

function charge(id: string, customer: string, amountRefunded: number, paymentIntent: string | null = null) {
  return {
    id,
    object: "charge",
    amount: 500,
    amount_refunded: amountRefunded,
    refunded: amountRefunded === 500,
    currency: "usd",
    customer,
    payment_intent: paymentIntent,
    metadata: {},
  };
}

describe("POST /api/webhook/stripe: micro-payments (checkout.session, payment mode)", () => {
  const c = useWebhookApp();

  it("books a paid session once as micro-payment income of the user, at the event's time, and keeps the event", async () => {
    const userId = await createUser(c.app);
    const session = paymentSession(userId);
    const event = stripeEvent("checkout.session.completed", session, { created: DAY_AGO });

    const response = await deliver(c.app, event);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
    expect(await ledger(c.app)).toEqual([
      {
        kind: "income",
        category: "micro_payment",
        amount_usd: "1.000000000000",
        currency: "usd",
        occurred_at: at(DAY_AGO),
        user_id: userId,
        stripe_object_id: session.payment_intent,
      },
    ]);
    const [stored] = await c.app.sql<
      { id: string; type: string; payload: unknown; payload_type: string; created_at: string; processed_at: string }[]
    >`select id, type, payload, jsonb_typeof(payload) as payload_type, to_json(created_at) #>> '{}' as created_at,
        to_json(processed_at) #>> '{}' as processed_at
      from stripe_events where id = ${event.id}`;
    expect(stored).toBeDefined();
    expect(stored!.type).toBe("checkout.session.completed");
    // A JSON object, not the event serialised into a JSON string.
    expect(stored!.payload_type).toBe("object");
    expect(stored!.payload).toEqual(event);
    expect(instant(stored!.created_at)).toEqual(at(DAY_AGO));
    expect(stored!.processed_at).not.toBeNull();
    expect(Math.abs(instant(stored!.processed_at)!.getTime() - Date.now())).toBeLessThan(60_000);
    expect((await stats(c.app)).financials.total_income).toBe(1);
  });

  it("books nothing for an unpaid session, then books it once when the async payment succeeds", async () => {
    const userId = await createUser(c.app);
    const before = await ledger(c.app);
    const session = paymentSession(userId, { payment_status: "unpaid" });

    const completed = await deliver(c.app, stripeEvent("checkout.session.completed", session, { created: DAY_AGO }));
    expect(completed.statusCode).toBe(200);
    expect(completed.json()).toEqual({ status: "success" });
    expect(await ledger(c.app)).toEqual(before);

    const succeeded = stripeEvent(
      "checkout.session.async_payment_succeeded",
      { ...session, payment_status: "paid" },
      { created: DAY_AGO + 120 },
    );
    expect((await deliver(c.app, succeeded)).statusCode).toBe(200);
    // Stripe retries the same event: still one booking.
    expect((await deliver(c.app, succeeded)).statusCode).toBe(200);

    const booked = (await ledger(c.app)).filter((row) => row.stripe_object_id === session.payment_intent);
    expect(booked).toEqual([
      {
        kind: "income",
        category: "micro_payment",
        amount_usd: "1.000000000000",
        currency: "usd",
        occurred_at: at(DAY_AGO + 120),
        user_id: userId,
        stripe_object_id: session.payment_intent,
      },
    ]);
    expect(await ledger(c.app)).toHaveLength(before.length + 1);
  });

  it("is served under /api/v1 too", async () => {
    const userId = await createUser(c.app);
    const session = paymentSession(userId, { amount_total: 250 });

    const response = await deliver(c.app, stripeEvent("checkout.session.completed", session), {
      url: "/api/v1/webhook/stripe",
    });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
    const booked = (await ledger(c.app)).filter((row) => row.stripe_object_id === session.payment_intent);
    expect(booked).toMatchObject([{ category: "micro_payment", amount_usd: "2.500000000000", user_id: userId }]);
  });

  it("accepts the content type Stripe actually sends (application/json; charset=utf-8)", async () => {
    const userId = await createUser(c.app);
    const session = paymentSession(userId);

    const response = await deliver(c.app, stripeEvent("checkout.session.completed", session), {
      contentType: "application/json; charset=utf-8",
    });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
    const booked = (await ledger(c.app)).filter((row) => row.stripe_object_id === session.payment_intent);
    expect(booked).toHaveLength(1);
  });
});

describe("POST /api/webhook/stripe: subscriptions and their invoices", () => {
  const c = useWebhookApp();

  it("records a subscription-mode session as the user's subscription, stores the customer, and books no income", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    const customer = unique("cus");

    const response = await deliver(
      c.app,
      stripeEvent("checkout.session.completed", subscriptionSession(userId, sub, customer)),
    );

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
    expect(await storedSubscription(c.app, sub)).toMatchObject({
      id: sub,
      user_id: userId,
      stripe_customer_id: customer,
      status: "active",
    });
    expect(await storedUser(c.app, userId)).toEqual({ stripe_customer_id: customer });
    expect(await ledger(c.app)).toEqual([]);
  });

  it("books a paid invoice once as subscription income of the subscription's user, at paid_at", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    // The subscription's own event names the user; the invoice carries a customer no user is stored with.
    await deliver(
      c.app,
      stripeEvent("customer.subscription.created", subscription(sub, unique("cus"), "active", { userId }), {
        created: DAY_AGO - 60,
      }),
    );
    const paidAt = DAY_AGO + 5;
    const inv = invoice(sub, unique("cus"), { paidAt });

    const first = await deliver(c.app, stripeEvent("invoice.paid", inv, { created: DAY_AGO + 10 }));
    // Stripe sends the same invoice again under another event id (invoice.paid, then a resend).
    const second = await deliver(c.app, stripeEvent("invoice.paid", inv, { created: DAY_AGO + 20 }));

    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ status: "success" });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ status: "success" });
    expect((await ledger(c.app)).filter((row) => row.stripe_object_id === inv.id)).toEqual([
      {
        kind: "income",
        category: "subscription",
        amount_usd: "19.990000000000",
        currency: "usd",
        occurred_at: at(paidAt),
        user_id: userId,
        stripe_object_id: inv.id,
      },
    ]);
  });

  it("counts the first invoice once when both the subscription-mode session and invoice.paid arrive", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    const customer = unique("cus");
    const incomeBefore = await incomeTotal(c.app);

    await deliver(c.app, stripeEvent("checkout.session.completed", subscriptionSession(userId, sub, customer)));
    const inv = invoice(sub, customer);
    await deliver(c.app, stripeEvent("invoice.paid", inv));

    const rows = (await ledger(c.app)).filter((row) => row.user_id === userId);
    expect(rows).toMatchObject([{ category: "subscription", amount_usd: "19.990000000000", stripe_object_id: inv.id }]);
    const added = Number(await incomeTotal(c.app)) - Number(incomeBefore);
    expect(added.toFixed(2)).toBe("19.99");
  });

  it("links an invoice that arrives before the session to the user named in the subscription's metadata", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    const inv = invoice(sub, unique("cus"), { metadata: { user_id: String(userId) } });

    expect((await deliver(c.app, stripeEvent("invoice.paid", inv))).statusCode).toBe(200);

    expect((await ledger(c.app)).filter((row) => row.stripe_object_id === inv.id)).toMatchObject([
      { category: "subscription", amount_usd: "19.990000000000", user_id: userId },
    ]);
  });

  it("stores status and period end from created, updated and deleted events", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    const customer = unique("cus");
    const firstEnd = DAY_AGO + 30 * 86_400;
    const secondEnd = DAY_AGO + 60 * 86_400;

    await deliver(
      c.app,
      stripeEvent(
        "customer.subscription.created",
        subscription(sub, customer, "active", { userId, periodEnd: firstEnd }),
        {
          created: DAY_AGO,
        },
      ),
    );
    expect(await storedSubscription(c.app, sub)).toEqual({
      id: sub,
      user_id: userId,
      stripe_customer_id: customer,
      status: "active",
      price_id: "price_123",
      current_period_end: at(firstEnd),
    });

    await deliver(
      c.app,
      stripeEvent(
        "customer.subscription.updated",
        subscription(sub, customer, "past_due", { userId, periodEnd: secondEnd }),
        { created: DAY_AGO + 100 },
      ),
    );
    expect(await storedSubscription(c.app, sub)).toMatchObject({
      status: "past_due",
      current_period_end: at(secondEnd),
    });

    // Stripe's deleted event carries the subscription as it was canceled.
    await deliver(
      c.app,
      stripeEvent(
        "customer.subscription.deleted",
        subscription(sub, customer, "canceled", { userId, periodEnd: secondEnd }),
        { created: DAY_AGO + 200 },
      ),
    );
    expect(await storedSubscription(c.app, sub)).toMatchObject({ status: "canceled", user_id: userId });
  });

  it("reads the period end of older API versions (2024-06-20: on the subscription, not its items)", async () => {
    const userId = await createUser(c.app);
    const sub = unique("sub");
    const customer = unique("cus");
    const periodEnd = DAY_AGO + 30 * 86_400;
    const { items: _items, ...withoutItemPeriods } = subscription(sub, customer, "active", { userId });
    const olderShape = {
      ...withoutItemPeriods,
      current_period_start: DAY_AGO,
      current_period_end: periodEnd,
      items: { object: "list", data: [{ id: unique("si"), object: "subscription_item", price: { id: "price_old" } }] },
    };

    const event = { ...stripeEvent("customer.subscription.created", olderShape), api_version: "2024-06-20" };
    expect((await deliver(c.app, event)).statusCode).toBe(200);

    expect(await storedSubscription(c.app, sub)).toMatchObject({
      status: "active",
      price_id: "price_old",
      current_period_end: at(periodEnd),
    });
  });

  it("keeps the newest state when an older updated event arrives late", async () => {
    const sub = unique("sub");
    const customer = unique("cus");
    const newerEnd = DAY_AGO + 40 * 86_400;

    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active", { periodEnd: newerEnd }), {
        created: DAY_AGO + 10,
      }),
    );
    const late = await deliver(
      c.app,
      stripeEvent(
        "customer.subscription.updated",
        subscription(sub, customer, "past_due", { periodEnd: DAY_AGO + 5 * 86_400 }),
        { created: DAY_AGO },
      ),
    );

    expect(late.statusCode).toBe(200);
    expect(late.json()).toEqual({ status: "success" });
    expect(await storedSubscription(c.app, sub)).toMatchObject({ status: "active", current_period_end: at(newerEnd) });
  });

  it("keeps a subscription canceled when an older updated event arrives after the deletion", async () => {
    const sub = unique("sub");
    const customer = unique("cus");

    await deliver(
      c.app,
      stripeEvent("customer.subscription.deleted", subscription(sub, customer, "canceled"), { created: DAY_AGO + 50 }),
    );
    const late = await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active"), { created: DAY_AGO + 40 }),
    );

    expect(late.statusCode).toBe(200);
    expect(await storedSubscription(c.app, sub)).toMatchObject({ status: "canceled" });
  });

  it("reports the active subscriptions in /api/stats", async () => {
    const before = (await stats(c.app)).users.subscriptions;
    const [a, b, pastDue, canceled] = [unique("sub"), unique("sub"), unique("sub"), unique("sub")];
    const customer = unique("cus");
    for (const [id, status] of [
      [a, "active"],
      [b, "active"],
      [pastDue, "past_due"],
      [canceled, "active"],
    ] as const) {
      await deliver(
        c.app,
        stripeEvent("customer.subscription.created", subscription(id, customer, status), { created: DAY_AGO }),
      );
    }
    await deliver(
      c.app,
      stripeEvent("customer.subscription.deleted", subscription(canceled, customer, "canceled"), {
        created: DAY_AGO + 1,
      }),
    );
    expect((await stats(c.app)).users.subscriptions).toBe(before + 2);

    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(pastDue, customer, "active"), { created: DAY_AGO + 2 }),
    );
    await deliver(
      c.app,
      stripeEvent("customer.subscription.deleted", subscription(a, customer, "canceled"), { created: DAY_AGO + 2 }),
    );
    expect((await stats(c.app)).users.subscriptions).toBe(before + 2);

    await deliver(
      c.app,
      stripeEvent("customer.subscription.deleted", subscription(b, customer, "canceled"), { created: DAY_AGO + 3 }),
    );
    expect((await stats(c.app)).users.subscriptions).toBe(before + 1);
  });
});

describe("POST /api/webhook/stripe: subscription events of the same second", () => {
  const c = useWebhookAppWithStripe();

  it("asks Stripe for the subscription when two events of the same second disagree, and stores its state", async () => {
    const sub = unique("sub");
    const customer = unique("cus");
    const second = DAY_AGO;
    c.stripe.answer("GET", `/v1/subscriptions/${sub}`, () => subscription(sub, customer, "active"));

    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active"), { created: second }),
    );
    // Sent later by Stripe but older in truth: Stripe says the subscription is active now.
    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "past_due"), { created: second }),
    );

    expect(await storedSubscription(c.app, sub)).toMatchObject({ status: "active" });
    expect(c.stripe.requests.filter((request) => request.path === `/v1/subscriptions/${sub}`)).toHaveLength(1);
  });

  it("does not ask Stripe when events of different seconds arrive, nor when they agree", async () => {
    const sub = unique("sub");
    const customer = unique("cus");
    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active"), { created: DAY_AGO }),
    );
    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active"), { created: DAY_AGO }),
    );
    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "past_due"), { created: DAY_AGO + 1 }),
    );

    expect(await storedSubscription(c.app, sub)).toMatchObject({ status: "past_due" });
    expect(c.stripe.requests.filter((request) => request.path === `/v1/subscriptions/${sub}`)).toHaveLength(0);
  });

  it("answers 502 when Stripe cannot be asked, so Stripe delivers the event again, and records nothing", async () => {
    const sub = unique("sub");
    const customer = unique("cus");
    await deliver(
      c.app,
      stripeEvent("customer.subscription.updated", subscription(sub, customer, "active"), { created: DAY_AGO }),
    );
    const tied = stripeEvent("customer.subscription.updated", subscription(sub, customer, "unpaid"), {
      created: DAY_AGO,
    });
    c.stripe.fail({ status: 500, type: "api_error", message: "down" });
    try {
      expect((await deliver(c.app, tied)).statusCode).toBe(502);
    } finally {
      c.stripe.fail(undefined);
    }
    const [recorded] = await c.app.sql`select id from stripe_events where id = ${tied.id}`;
    expect(recorded).toBeUndefined();
  });
});

describe("POST /api/webhook/stripe: refunds (charge.refunded)", () => {
  const c = useWebhookApp();

  it("books only what is newly refunded, ignores replays, and /api/stats income is payment minus refunds", async () => {
    const userId = await createUser(c.app);
    const customer = unique("cus");
    const chargeId = unique("ch");
    const session = paymentSession(userId, { amount_total: 500, customer });
    await deliver(c.app, stripeEvent("checkout.session.completed", session, { created: DAY_AGO }));
    expect((await stats(c.app)).financials.total_income).toBe(5);

    const partial = stripeEvent("charge.refunded", charge(chargeId, customer, 200, session.payment_intent), {
      created: DAY_AGO + 100,
    });
    const partialResponse = await deliver(c.app, partial);
    expect(partialResponse.statusCode).toBe(200);
    expect(partialResponse.json()).toEqual({ status: "success" });
    const refunds = async () => (await ledger(c.app)).filter((row) => row.category === "refund");
    expect(await refunds()).toEqual([
      {
        kind: "income",
        category: "refund",
        amount_usd: "-2.000000000000",
        currency: "usd",
        occurred_at: at(DAY_AGO + 100),
        user_id: userId,
        stripe_object_id: expect.any(String),
      },
    ]);
    expect(await incomeTotal(c.app)).toBe("3.000000000000");
    expect((await stats(c.app)).financials).toMatchObject({ total_income: 3, profit: 3 });

    const full = stripeEvent("charge.refunded", charge(chargeId, customer, 500, session.payment_intent), {
      created: DAY_AGO + 200,
    });
    expect((await deliver(c.app, full)).statusCode).toBe(200);
    expect((await refunds()).map((row) => [row.amount_usd, row.occurred_at, row.user_id])).toEqual([
      ["-2.000000000000", at(DAY_AGO + 100), userId],
      ["-3.000000000000", at(DAY_AGO + 200), userId],
    ]);
    expect(await incomeTotal(c.app)).toBe("0.000000000000");

    // The first refund again, under a new event id and with an older timestamp.
    const replay = stripeEvent("charge.refunded", charge(chargeId, customer, 200, session.payment_intent), {
      created: DAY_AGO + 50,
    });
    expect((await deliver(c.app, replay)).statusCode).toBe(200);
    // And the full refund delivered again under its own id (a Stripe retry).
    expect((await deliver(c.app, full)).statusCode).toBe(200);
    expect(await refunds()).toHaveLength(2);
    expect(await incomeTotal(c.app)).toBe("0.000000000000");
    expect((await stats(c.app)).financials).toMatchObject({ total_income: 0, total_expenses: 0, profit: 0 });
  });
});

describe("POST /api/webhook/stripe: concurrent deliveries", () => {
  const c = useWebhookApp();

  it("applies one event delivered five times at once exactly once", async () => {
    const userId = await createUser(c.app);
    const customer = unique("cus");
    const sub = unique("sub");
    const inv = invoice(sub, customer, { metadata: { user_id: String(userId) } });
    const event = stripeEvent("invoice.paid", inv);
    const before = await counts(c.app);

    const responses = await Promise.all(Array.from({ length: 5 }, () => deliver(c.app, event)));

    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    for (const response of responses) expect(response.json()).toEqual({ status: "success" });
    expect((await ledger(c.app)).filter((row) => row.stripe_object_id === inv.id)).toMatchObject([
      { category: "subscription", amount_usd: "19.990000000000", user_id: userId },
    ]);
    const [stored] = await c.app.sql<
      { n: number }[]
    >`select count(*)::int as n from stripe_events where id = ${event.id}`;
    expect(stored!.n).toBe(1);
    expect(await counts(c.app)).toEqual({ ...before, events: before.events + 1, ledger: before.ledger + 1 });
  });

  it("books an invoice once when five different events for it arrive at once", async () => {
    const userId = await createUser(c.app);
    const inv = invoice(unique("sub"), unique("cus"), { metadata: { user_id: String(userId) } });
    const events = Array.from({ length: 5 }, (_, i) => stripeEvent("invoice.paid", inv, { created: DAY_AGO + i }));
    const before = await counts(c.app);

    const responses = await Promise.all(events.map((event) => deliver(c.app, event)));

    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect((await ledger(c.app)).filter((row) => row.stripe_object_id === inv.id)).toMatchObject([
      { category: "subscription", amount_usd: "19.990000000000", user_id: userId },
    ]);
    expect(await counts(c.app)).toEqual({ ...before, events: before.events + 5, ledger: before.ledger + 1 });
  });

  it("books a refund once when five different events for the same refund arrive at once", async () => {
    const userId = await createUser(c.app);
    const customer = unique("cus");
    const session = paymentSession(userId, { amount_total: 500, customer });
    await deliver(c.app, stripeEvent("checkout.session.completed", session));
    const chargeId = unique("ch");
    const events = Array.from({ length: 5 }, () => stripeEvent("charge.refunded", charge(chargeId, customer, 300)));

    const responses = await Promise.all(events.map((event) => deliver(c.app, event)));

    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200, 200, 200]);
    const rows = (await ledger(c.app)).filter((row) => row.user_id === userId);
    expect(rows.map((row) => [row.category, row.amount_usd])).toEqual([
      ["micro_payment", "5.000000000000"],
      ["refund", "-3.000000000000"],
    ]);
  });
});

describe("POST /api/webhook/stripe: events that book nothing", () => {
  const c = useWebhookApp();

  it("acknowledges and stores an event type it does not handle, booking nothing", async () => {
    const event = stripeEvent("customer.created", { id: unique("cus"), object: "customer", email: "x@example.com" });

    const response = await deliver(c.app, event);

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
    const [stored] = await c.app.sql<{ type: string; payload: unknown }[]>`
      select type, payload from stripe_events where id = ${event.id}`;
    expect(stored).toEqual({ type: "customer.created", payload: event });
    expect(await counts(c.app)).toEqual({ events: 1, ledger: 0, subscriptions: 0 });
  });

  it.each(["__proto__", "toString", "constructor"])("acknowledges an event of type %s without a 500", async (type) => {
    const response = await deliver(c.app, stripeEvent(type, { id: unique("obj") }));

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "success" });
  });
});

describe("POST /api/webhook/stripe: correctly signed events of odd shapes", () => {
  const c = useWebhookApp();

  it.each([
    ["{}", {}, /^unreadable Stripe event: id: /],
    ["[]", [], /^unreadable Stripe event: .*expected object/],
    ["data: null", { id: "evt_odd_1", type: "invoice.paid", created: DAY_AGO, data: null }, /data: /],
    ["no created", { id: "evt_odd_2", type: "invoice.paid", data: { object: {} } }, /created: /],
    [
      "created out of range",
      { id: "evt_odd_3", type: "invoice.paid", created: 1e20, data: { object: {} } },
      /created: /,
    ],
    [
      "object not an object",
      { id: "evt_odd_4", type: "charge.refunded", created: DAY_AGO, data: { object: 7 } },
      /data\.object: /,
    ],
  ])(
    "refuses an envelope it cannot read (%s) with 400 naming the field, and records nothing",
    async (_name, body, message) => {
      const response = await deliver(c.app, body);

      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatch(message);
      expect(await counts(c.app)).toEqual({ events: 0, ledger: 0, subscriptions: 0 });
    },
  );

  it.each([
    ["invoice.paid", { ...invoice("sub_odd", "cus_odd"), amount_paid: "abc" }, "data.object.amount_paid: "],
    ["invoice.paid", { ...invoice("sub_odd", "cus_odd"), amount_paid: 12.5 }, "data.object.amount_paid: "],
    ["invoice.paid", { ...invoice("sub_odd", "cus_odd"), currency: null }, "data.object.currency: "],
    [
      "checkout.session.completed",
      { id: "cs_odd", mode: "payment", payment_status: "paid", amount_total: -5 },
      "data.object.amount_total: ",
    ],
    ["charge.refunded", { id: "ch_odd", currency: "usd" }, "data.object.amount_refunded: "],
    [
      "customer.subscription.updated",
      { id: "sub_odd", status: "active", items: { data: "x" } },
      "data.object.items.data: ",
    ],
  ])(
    "acknowledges a %s whose object lacks what its handler needs, records it with the problem, books nothing",
    async (type, object, problem) => {
      const event = stripeEvent(type, object);

      const response = await deliver(c.app, event);

      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: "success" });
      const [stored] = await c.app.sql<
        { problem: string | null }[]
      >`select problem from stripe_events where id = ${event.id}`;
      expect(stored?.problem).toContain(problem);
      const ledgerRows = await c.app.sql`select 1 from ledger_entries`;
      expect(ledgerRows).toHaveLength(0);
      const subscriptionRows = await c.app.sql`select 1 from subscriptions`;
      expect(subscriptionRows).toHaveLength(0);
    },
  );

  it("acknowledges an event holding arrays nested 3,000 deep (beyond what Postgres's jsonb parser takes)", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 3000; i++) deep = [deep];
    const event = stripeEvent("customer.created", { id: unique("cus"), object: "customer", note: deep });

    const response = await deliver(c.app, event);

    expect(response.statusCode).toBe(200);
    const [stored] = await c.app.sql<{ type: string }[]>`select type from stripe_events where id = ${event.id}`;
    expect(stored).toEqual({ type: "customer.created" });
  });

  it("still applies a well-formed event after the odd ones, with no problem recorded", async () => {
    const userId = await createUser(c.app);
    const event = stripeEvent("checkout.session.completed", paymentSession(userId));

    expect((await deliver(c.app, event)).statusCode).toBe(200);
    const [stored] = await c.app.sql<
      { problem: string | null }[]
    >`select problem from stripe_events where id = ${event.id}`;
    expect(stored).toEqual({ problem: null });
    expect(await ledger(c.app)).toMatchObject([{ category: "micro_payment", user_id: userId }]);
  });
});

describe("POST /api/webhook/stripe: deliveries that are refused", () => {
  const c = useWebhookApp();

  async function expectRefused(
    response: Awaited<ReturnType<typeof deliver>>,
    before: Awaited<ReturnType<typeof counts>>,
  ) {
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body).toMatchObject({ error: expect.any(String) });
    expect(body.error.length).toBeGreaterThan(0);
    expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(await counts(c.app)).toEqual(before);
    expect(await ledger(c.app)).toEqual([]);
  }

  it("refuses an event signed with another secret", async () => {
    const userId = await createUser(c.app);
    const before = await counts(c.app);
    const response = await deliver(c.app, stripeEvent("checkout.session.completed", paymentSession(userId)), {
      secret: "whsec_someone_else",
    });
    await expectRefused(response, before);
  });

  it("refuses a delivery without a Stripe-Signature header", async () => {
    const userId = await createUser(c.app);
    const before = await counts(c.app);
    const { payload } = signStripeEvent(stripeEvent("checkout.session.completed", paymentSession(userId)), SECRET);
    const response = await c.app.app.inject({
      method: "POST",
      url: WEBHOOK,
      payload,
      headers: { "content-type": "application/json" },
    });
    await expectRefused(response, before);
    expect(response.json().error).toMatch(/Stripe-Signature/i);
  });

  it("refuses a body changed after it was signed", async () => {
    const userId = await createUser(c.app);
    const before = await counts(c.app);
    const { payload, headers } = signStripeEvent(
      stripeEvent("checkout.session.completed", paymentSession(userId)),
      SECRET,
    );
    const tampered = payload.replace('"amount_total":100', '"amount_total":100000');
    expect(tampered).not.toBe(payload);
    const response = await c.app.app.inject({ method: "POST", url: WEBHOOK, payload: tampered, headers });
    await expectRefused(response, before);
  });

  it("refuses a delivery signed ten minutes ago (replay), and records nothing that would block the real one", async () => {
    const userId = await createUser(c.app);
    const before = await counts(c.app);
    const event = stripeEvent("checkout.session.completed", paymentSession(userId));

    const stale = await deliver(c.app, event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    await expectRefused(stale, before);

    // The same event, freshly signed, is still applied: the refusal left no trace.
    const fresh = await deliver(c.app, event);
    expect(fresh.statusCode).toBe(200);
    expect(await ledger(c.app)).toMatchObject([{ category: "micro_payment", user_id: userId }]);
  });
});

describe("POST /api/webhook/stripe without a webhook secret", () => {
  const c = useWebhookApp({ stripeWebhookSecret: undefined });

  it("answers 503 naming STRIPE_WEBHOOK_SECRET and records nothing", async () => {
    const userId = await createUser(c.app);
    const response = await deliver(c.app, stripeEvent("checkout.session.completed", paymentSession(userId)));

    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: expect.stringContaining("STRIPE_WEBHOOK_SECRET") });
    expect(await counts(c.app)).toEqual({ events: 0, ledger: 0, subscriptions: 0 });
  });
});

describe("JSON routes next to the webhook's raw-body parser", () => {
  const c = useWebhookApp();

  it("still parse JSON bodies: POST /api/task answers 202", async () => {
    for (const url of ["/api/task", "/api/v1/task"]) {
      const response = await c.app.app.inject({
        method: "POST",
        url,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ prompt: "What is artificial intelligence?" }),
      });
      expect(response.statusCode).toBe(202);
      expect(response.json()).toMatchObject({ status: "pending", provider: "openai" });
    }
  });

  it("still parse JSON bodies: a payment route sees the fields, not a raw buffer", async () => {
    const response = await c.app.app.inject({
      method: "POST",
      url: "/api/payment/subscription",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ email: "not-an-email" }),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/email/);
  });
});
