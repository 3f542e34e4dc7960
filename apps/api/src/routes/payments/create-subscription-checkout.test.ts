import { createStripeClient } from "@aitasks/billing";
import { type FakeStripeServer, startFakeStripeServer, useTestEnvironment } from "@aitasks/testing";
import type Stripe from "stripe";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AppDeps } from "../../deps.js";
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
  testApp = await createTestApp(env, {
    stripe: stripeOnFake(),
    stripeWebhookSecret: "whsec_test",
    checkout: CHECKOUT,
  });
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
    url: "/api/payment/subscription",
    headers: { "content-type": "application/json" },
    payload: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
}

async function userByIdentifier(identifier: string) {
  const [row] = await testApp.sql<
    { id: number; identifier: string; email: string | null; stripe_customer_id: string | null }[]
  >`select id::int as id, identifier, email, stripe_customer_id from users where identifier = ${identifier}`;
  return row;
}

async function userCount(app: TestApp = testApp) {
  const [row] = await app.sql<{ n: number }[]>`select count(*)::int as n from users`;
  return row!.n;
}

function expectErrorBody(body: unknown) {
  expect(body).toMatchObject({ error: expect.any(String) });
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
  expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

describe("POST /api/payment/subscription", () => {
  it("creates the user, their Stripe customer and a subscription Checkout Session for the configured price", async () => {
    const response = await post(testApp, { email: "alice@example.com" });

    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const user = await userByIdentifier("alice@example.com");
    expect(user).toMatchObject({ email: "alice@example.com", stripe_customer_id: expect.stringMatching(/^cus_/) });

    const customers = fake.requests.filter((r) => r.path === "/v1/customers");
    expect(customers).toHaveLength(1);
    expect(customers[0]).toMatchObject({
      method: "POST",
      authorization: "Bearer sk_test_123",
      form: { email: "alice@example.com", "metadata[user_id]": String(user!.id) },
    });

    const sessions = fake.requests.filter((r) => r.path === "/v1/checkout/sessions");
    expect(sessions).toHaveLength(1);
    const form = sessions[0]!.form;
    expect(sessions[0]!.method).toBe("POST");
    expect(form).toMatchObject({
      mode: "subscription",
      "line_items[0][price]": "price_123",
      "line_items[0][quantity]": "1",
      customer: user!.stripe_customer_id,
      client_reference_id: String(user!.id),
      "metadata[user_id]": String(user!.id),
      "subscription_data[metadata][user_id]": String(user!.id),
    });
    expect(form.success_url).toMatch(/^https:\/\/tasks\.example\.com\//);
    expect(form.cancel_url).toMatch(/^https:\/\/tasks\.example\.com\//);
    // The client is sent to the session Stripe created.
    expect(createdSessions).toHaveLength(1);
    expect(createdSessions[0]!.url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    expect(response.json()).toEqual({ checkout_url: createdSessions[0]!.url });
  });

  it("reuses the user and the Stripe customer on a second checkout for the same email", async () => {
    const first = await post(testApp, { email: "bob@example.com" });
    expect(first.statusCode).toBe(200);
    const user = await userByIdentifier("bob@example.com");
    const usersBefore = await userCount();
    fake.requests.length = 0;

    const second = await post(testApp, { email: "bob@example.com" });

    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ checkout_url: createdSessions.at(-1)!.url });
    expect(second.json().checkout_url).not.toBe(first.json().checkout_url);
    expect(await userCount()).toBe(usersBefore);
    expect(await userByIdentifier("bob@example.com")).toEqual(user);
    expect(fake.requests.filter((r) => r.path === "/v1/customers")).toHaveLength(0);
    const sessions = fake.requests.filter((r) => r.path === "/v1/checkout/sessions");
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.form.customer).toBe(user!.stripe_customer_id);
  });

  it("normalises the email to lower case, so differently cased emails are the same customer", async () => {
    const mixed = await post(testApp, { email: "Carol.Smith@Example.COM" });
    expect(mixed.statusCode).toBe(200);
    const user = await userByIdentifier("carol.smith@example.com");
    expect(user).toMatchObject({
      email: "carol.smith@example.com",
      stripe_customer_id: expect.stringMatching(/^cus_/),
    });
    expect(await userByIdentifier("Carol.Smith@Example.COM")).toBeUndefined();
    expect(fake.requests.find((r) => r.path === "/v1/customers")!.form.email).toBe("carol.smith@example.com");

    fake.requests.length = 0;
    const lower = await post(testApp, { email: "carol.smith@example.com" });
    expect(lower.statusCode).toBe(200);
    expect(fake.requests.filter((r) => r.path === "/v1/customers")).toHaveLength(0);
    expect(fake.requests.find((r) => r.path === "/v1/checkout/sessions")!.form.customer).toBe(user!.stripe_customer_id);
  });

  it("gives the customer an email to a user first known from a task, keeping the same user", async () => {
    const task = await testApp.app.inject({
      method: "POST",
      url: "/api/task",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ prompt: "hello", user_id: "dave@example.com" }),
    });
    expect(task.statusCode).toBe(202);
    const before = await userByIdentifier("dave@example.com");
    expect(before).toMatchObject({ email: null, stripe_customer_id: null });

    const response = await post(testApp, { email: "dave@example.com" });

    expect(response.statusCode).toBe(200);
    expect(await userByIdentifier("dave@example.com")).toMatchObject({
      id: before!.id,
      email: "dave@example.com",
      stripe_customer_id: expect.stringMatching(/^cus_/),
    });
    expect(fake.requests.find((r) => r.path === "/v1/customers")!.form.email).toBe("dave@example.com");
  });

  it.each([
    ["a missing email", {}],
    ["an empty email", { email: "" }],
    ["an invalid email", { email: "not-an-email" }],
    ["an email that is not a string", { email: 42 }],
    ["an array body", [{ email: "eve@example.com" }]],
    ["a string body", "eve@example.com"],
    ["a null body", null],
  ])("answers 400 for %s, calling Stripe for nothing and creating no user", async (_, payload) => {
    const usersBefore = await userCount();

    const response = await post(testApp, JSON.stringify(payload));

    expect(response.statusCode).toBe(400);
    expectErrorBody(response.json());
    expect(fake.requests).toHaveLength(0);
    expect(await userCount()).toBe(usersBefore);
  });

  it("answers 502 when Stripe fails, and stores no customer", async () => {
    fake.fail({ status: 500, type: "api_error", message: "boom" });

    const response = await post(testApp, { email: "frank@example.com" });

    expect(response.statusCode).toBe(502);
    expectErrorBody(response.json());
    expect(response.json().error).toMatch(/boom/);
    expect(fake.requests.length).toBeGreaterThan(0);
    expect((await userByIdentifier("frank@example.com"))?.stripe_customer_id ?? null).toBeNull();

    // Once Stripe is back, the same request goes through.
    fake.fail(undefined);
    const retry = await post(testApp, { email: "frank@example.com" });
    expect(retry.statusCode).toBe(200);
    expect(await userByIdentifier("frank@example.com")).toMatchObject({
      stripe_customer_id: expect.stringMatching(/^cus_/),
    });
  });

  it("answers 502 when Stripe declines with a 402 card error while creating the session", async () => {
    expect((await post(testApp, { email: "grace@example.com" })).statusCode).toBe(200);
    fake.fail({ status: 402, type: "card_error", message: "Your card was declined." });

    const response = await post(testApp, { email: "grace@example.com" });

    expect(response.statusCode).toBe(502);
    expectErrorBody(response.json());
    expect(response.json().error).toMatch(/declined/);
  });
});

describe("POST /api/payment/subscription without Stripe configuration", () => {
  async function withApp(overrides: Partial<AppDeps>, run: (app: TestApp) => Promise<void>) {
    const app = await createTestApp(env, overrides);
    try {
      await run(app);
    } finally {
      await app.close();
    }
  }

  it("answers 503 naming STRIPE_SECRET_KEY when Stripe is not configured", async () => {
    await withApp({ stripe: undefined, checkout: CHECKOUT }, async (app) => {
      const usersBefore = await userCount(app);
      const response = await post(app, { email: "henry@example.com" });

      expect(response.statusCode).toBe(503);
      expectErrorBody(response.json());
      expect(response.json().error).toContain("STRIPE_SECRET_KEY");
      expect(await userCount(app)).toBe(usersBefore);
    });
  });

  it("answers 503 naming STRIPE_SUBSCRIPTION_PRICE_ID when no price is configured", async () => {
    const { subscriptionPriceId: _, ...withoutPrice } = CHECKOUT;
    await withApp(
      { stripe: createStripeClient({ secretKey: "sk_test_123", apiBaseUrl: fake.url }), checkout: withoutPrice },
      async (app) => {
        const usersBefore = await userCount(app);
        const response = await post(app, { email: "ivy@example.com" });

        expect(response.statusCode).toBe(503);
        expectErrorBody(response.json());
        expect(response.json().error).toContain("STRIPE_SUBSCRIPTION_PRICE_ID");
        expect(fake.requests).toHaveLength(0);
        expect(await userCount(app)).toBe(usersBefore);
      },
    );
  });
});
