import { createStripeClient } from "@aitasks/billing";
import { type FakeStripeServer, startFakeStripeServer, useTestEnvironment } from "@aitasks/testing";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

const CHECKOUT = {
  subscriptionPriceId: "price_123",
  microPaymentAmountCents: 100,
  currency: "usd",
  publicBaseUrl: "https://tasks.example.com",
};

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let fake: FakeStripeServer;
let testApp: TestApp;
/** The sessions the fake answered with, as the SDK returned them to the service. */
const createdSessions: Stripe.Checkout.Session[] = [];

/** The real SDK client on the fake, recording each checkout session it returns. */
function stripeOnFake() {
  const stripe = createStripeClient({ secretKey: "sk_test_123", apiBaseUrl: fake.url })!;
  const create = stripe.checkout.sessions.create.bind(stripe.checkout.sessions);
  stripe.checkout.sessions.create = (async (...args: Parameters<typeof create>) => {
    const session = await create(...args);
    createdSessions.push(session);
    return session;
  }) as typeof create;
  return stripe;
}

beforeAll(async () => {
  fake = await startFakeStripeServer();
  testApp = await createTestApp(env, { stripe: stripeOnFake(), stripeWebhookSecret: "whsec_test", checkout: CHECKOUT });
});
afterAll(async () => {
  await testApp?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.requests.length = 0;
  createdSessions.length = 0;
});
afterEach(() => {
  fake.fail(undefined);
});

function post(app: TestApp, payload: unknown) {
  return app.app.inject({
    method: "POST",
    url: "/api/payment/micro",
    headers: { "content-type": "application/json" },
    payload: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
}

async function createUser(identifier: string, email: string | null = identifier) {
  const [row] = await testApp.sql<{ id: number }[]>`
    insert into users (identifier, email) values (${identifier}, ${email}) returning id::int as id`;
  return row!.id;
}

async function storedUser(id: number) {
  const [row] = await testApp.sql<{ identifier: string; stripe_customer_id: string | null }[]>`
    select identifier, stripe_customer_id from users where id = ${id}`;
  return row;
}

function expectErrorBody(body: unknown) {
  expect(body).toMatchObject({ error: expect.any(String) });
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
  expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

const sessionRequests = () => fake.requests.filter((r) => r.path === "/v1/checkout/sessions");
const customerRequests = () => fake.requests.filter((r) => r.path === "/v1/customers");

describe("POST /api/payment/micro", () => {
  it("creates a one-time Checkout Session for the configured amount, for a numeric user id", async () => {
    const userId = await createUser("alice@example.com");

    const response = await post(testApp, { user_id: userId });

    expect(response.statusCode).toBe(200);
    expect(createdSessions).toHaveLength(1);
    expect(response.json()).toEqual({ checkout_url: createdSessions[0]!.url });
    expect(createdSessions[0]!.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);

    const user = await storedUser(userId);
    expect(user!.stripe_customer_id).toMatch(/^cus_/);
    expect(customerRequests()).toHaveLength(1);
    expect(customerRequests()[0]!.form).toMatchObject({
      email: "alice@example.com",
      "metadata[user_id]": String(userId),
    });

    expect(sessionRequests()).toHaveLength(1);
    const form = sessionRequests()[0]!.form;
    expect(form).toMatchObject({
      mode: "payment",
      customer: user!.stripe_customer_id,
      client_reference_id: String(userId),
      "line_items[0][quantity]": "1",
      "line_items[0][price_data][unit_amount]": "100",
      "line_items[0][price_data][currency]": "usd",
      "line_items[0][price_data][product_data][name]": "AI Task Processing",
      "metadata[user_id]": String(userId),
    });
    expect(form["line_items[0][price]"]).toBeUndefined();
    expect(form.success_url).toMatch(/^https:\/\/tasks\.example\.com\//);
    expect(form.cancel_url).toMatch(/^https:\/\/tasks\.example\.com\//);
  });

  it("finds the user by the identifier string their tasks carry, and names the product after the description", async () => {
    const task = await testApp.app.inject({
      method: "POST",
      url: "/api/task",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ prompt: "hello", user_id: "carol@example.com" }),
    });
    expect(task.statusCode).toBe(202);
    const [carol] = await testApp.sql<{ id: number }[]>`
      select id::int as id from users where identifier = 'carol@example.com'`;
    expect(carol).toBeDefined();

    const response = await post(testApp, { user_id: "carol@example.com", description: "Ten long summaries" });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ checkout_url: createdSessions[0]!.url });
    expect(sessionRequests()).toHaveLength(1);
    expect(sessionRequests()[0]!.form).toMatchObject({
      mode: "payment",
      client_reference_id: String(carol!.id),
      "metadata[user_id]": String(carol!.id),
      "line_items[0][price_data][unit_amount]": "100",
      "line_items[0][price_data][currency]": "usd",
      "line_items[0][price_data][product_data][name]": "Ten long summaries",
    });
    expect((await storedUser(carol!.id))!.stripe_customer_id).toBe(sessionRequests()[0]!.form.customer);
  });

  it("reuses the user's Stripe customer on the next payment", async () => {
    const userId = await createUser("bob@example.com");
    expect((await post(testApp, { user_id: userId })).statusCode).toBe(200);
    const customer = (await storedUser(userId))!.stripe_customer_id;
    fake.requests.length = 0;

    const response = await post(testApp, { user_id: "bob@example.com" });

    expect(response.statusCode).toBe(200);
    expect(customerRequests()).toHaveLength(0);
    expect(sessionRequests()[0]!.form.customer).toBe(customer);
    expect((await storedUser(userId))!.stripe_customer_id).toBe(customer);
  });

  it.each([
    ["a missing user_id", {}],
    ["a null user_id", { user_id: null }],
    ["a boolean user_id", { user_id: true }],
    ["a fractional user_id", { user_id: 1.5 }],
    ["a negative user_id", { user_id: -3 }],
    ["an empty user_id", { user_id: "" }],
    ["a description that is not a string", { user_id: 1, description: 5 }],
    ["an array body", [{ user_id: 1 }]],
    ["a string body", "1"],
  ])("answers 400 for %s, calling Stripe for nothing", async (_, payload) => {
    const response = await post(testApp, JSON.stringify(payload));

    expect(response.statusCode).toBe(400);
    expectErrorBody(response.json());
    expect(fake.requests).toHaveLength(0);
  });

  it("names user_id when it is missing", async () => {
    const response = await post(testApp, {});
    expect(response.json().error).toMatch(/user_id/);
  });

  it.each([
    ["an unknown numeric id", 987_654],
    ["an unknown identifier", "nobody@example.com"],
  ])("answers 404 for %s, calling Stripe for nothing", async (_, userId) => {
    const response = await post(testApp, { user_id: userId });

    expect(response.statusCode).toBe(404);
    expectErrorBody(response.json());
    expect(fake.requests).toHaveLength(0);
  });

  it("answers 502 when Stripe fails, and stores no customer", async () => {
    const userId = await createUser("dave@example.com");
    fake.fail({ status: 500, type: "api_error", message: "boom" });

    const response = await post(testApp, { user_id: userId });

    expect(response.statusCode).toBe(502);
    expectErrorBody(response.json());
    expect(response.json().error).toMatch(/boom/);
    expect((await storedUser(userId))!.stripe_customer_id).toBeNull();
  });

  it("answers 502 when Stripe refuses the session with a 402 card error", async () => {
    const userId = await createUser("erin@example.com");
    expect((await post(testApp, { user_id: userId })).statusCode).toBe(200);
    fake.fail({ status: 402, type: "card_error", message: "Your card was declined." });

    const response = await post(testApp, { user_id: userId });

    expect(response.statusCode).toBe(502);
    expectErrorBody(response.json());
    expect(response.json().error).toMatch(/declined/);
  });
});

describe("POST /api/payment/micro without Stripe configuration", () => {
  it("answers 503 naming STRIPE_SECRET_KEY", async () => {
    const app = await createTestApp(env, { stripe: undefined, checkout: CHECKOUT });
    try {
      const [user] = await app.sql<{ id: number }[]>`
        insert into users (identifier) values ('frank') returning id::int as id`;
      const response = await post(app, { user_id: user!.id });

      expect(response.statusCode).toBe(503);
      expectErrorBody(response.json());
      expect(response.json().error).toContain("STRIPE_SECRET_KEY");
    } finally {
      await app.close();
    }
  });
});
