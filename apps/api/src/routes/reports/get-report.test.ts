import { ledgerEntries } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp(env);
});
afterAll(() => testApp.close());

type Category = "subscription" | "micro_payment" | "refund" | "api_cost";
let objectSequence = 0;

/** Books one ledger row as the webhook handlers and the worker do: refunds negative, costs as expenses. */
async function book(category: Category, amount: string, occurredAt: string | Date) {
  await testApp.db.insert(ledgerEntries).values({
    kind: category === "api_cost" ? "expense" : "income",
    category,
    amountUsd: amount,
    occurredAt: new Date(occurredAt),
    ...(category === "api_cost" ? {} : { stripeObjectId: `obj_test_${++objectSequence}` }),
  });
}

const rollup = () => rollupReports(testApp.db);
const get = (url: string) => testApp.app.inject({ method: "GET", url });
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// Ledger rows written by hand belong to no task: no usage to report.
const NO_USAGE = { charged: 0, api_cost: 0, margin: 0 };
const zeros = {
  currency: "usd",
  other_currencies: {},
  income: 0,
  expenses: 0,
  profit: 0,
  breakdown: {
    income_breakdown: { subscription: 0, micro_payment: 0, refund: 0, dispute: 0 },
    expense_breakdown: { api_cost: 0, payment_fee: 0 },
  },
  usage: NO_USAGE,
};

describe("GET /api/report/:report_type", () => {
  it("reads zeros, with no generated_at, before any rollup has run", async () => {
    const response = await get("/api/report/daily?date=2025-01-15");
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      date: "2025-01-15",
      period: "daily",
      start: "2025-01-15",
      end: "2025-01-15",
      ...zeros,
      generated_at: null,
    });
  });

  it("answers the SPEC shape for a day, its ISO week and its month", async () => {
    // Wednesday 2025-01-15 as in SPEC.md, and neighbours on each side of every boundary.
    await book("subscription", "120.00", "2025-01-15T10:30:00Z");
    await book("micro_payment", "30.00", "2025-01-15T23:59:59.999Z");
    await book("api_cost", "45.50", "2025-01-15T00:00:00Z");
    await book("micro_payment", "0.10", "2025-01-14T23:59:59.999Z"); // same week, the day before
    await book("micro_payment", "0.20", "2025-01-16T00:00:00Z"); // same week, the day after
    await book("refund", "-0.05", "2025-01-19T23:59:59.999Z"); // Sunday: last day of the week
    await book("subscription", "19.99", "2025-01-12T12:00:00Z"); // Sunday before: the previous week
    await book("api_cost", "0.000123", "2025-01-20T00:00:00Z"); // Monday after: the next week
    await book("subscription", "1000.00", "2025-02-01T00:00:00Z"); // next month
    await book("api_cost", "7.00", "2024-12-31T23:59:59.999Z"); // previous month and year
    const { generatedAt } = await rollup();

    const daily = await get("/api/report/daily?date=2025-01-15");
    expect(daily.statusCode).toBe(200);
    expect(daily.headers["content-type"]).toMatch(/^application\/json/);
    expect(daily.json()).toEqual({
      date: "2025-01-15",
      period: "daily",
      start: "2025-01-15",
      end: "2025-01-15",
      currency: "usd",
      other_currencies: {},
      income: 150,
      expenses: 45.5,
      profit: 104.5,
      breakdown: {
        income_breakdown: { subscription: 120, micro_payment: 30, refund: 0, dispute: 0 },
        expense_breakdown: { api_cost: 45.5, payment_fee: 0 },
      },
      usage: NO_USAGE,
      generated_at: expect.stringMatching(ISO_TIME),
    });
    const generated = new Date(daily.json().generated_at).getTime();
    expect(generated).toBeGreaterThanOrEqual(generatedAt.getTime());
    expect(generated).toBeLessThanOrEqual(Date.now());

    // Any day of the week names the same week: `date` is its Monday.
    for (const date of ["2025-01-13", "2025-01-15", "2025-01-19"]) {
      const weekly = await get(`/api/report/weekly?date=${date}`);
      expect(weekly.statusCode).toBe(200);
      expect(weekly.json()).toEqual({
        date: "2025-01-13",
        period: "weekly",
        start: "2025-01-13",
        end: "2025-01-19",
        currency: "usd",
        other_currencies: {},
        // 0.10 + 0.20 in floats would be 0.30000000000000004.
        income: 150.25,
        expenses: 45.5,
        profit: 104.75,
        breakdown: {
          income_breakdown: { subscription: 120, micro_payment: 30.3, refund: -0.05, dispute: 0 },
          expense_breakdown: { api_cost: 45.5, payment_fee: 0 },
        },
        usage: NO_USAGE,
        generated_at: daily.json().generated_at,
      });
    }

    for (const date of ["2025-01-01", "2025-01-15", "2025-01-31"]) {
      const monthly = await get(`/api/report/monthly?date=${date}`);
      expect(monthly.statusCode).toBe(200);
      expect(monthly.json()).toEqual({
        date: "2025-01-01",
        period: "monthly",
        start: "2025-01-01",
        end: "2025-01-31",
        currency: "usd",
        other_currencies: {},
        income: 170.24,
        expenses: 45.500123,
        profit: 124.739877,
        breakdown: {
          income_breakdown: { subscription: 139.99, micro_payment: 30.3, refund: -0.05, dispute: 0 },
          expense_breakdown: { api_cost: 45.500123, payment_fee: 0 },
        },
        usage: NO_USAGE,
        generated_at: daily.json().generated_at,
      });
    }

    expect((await get("/api/report/monthly?date=2024-12-31")).json()).toMatchObject({
      date: "2024-12-01",
      income: 0,
      expenses: 7,
      profit: -7,
    });
    expect((await get("/api/report/weekly?date=2025-01-12")).json()).toMatchObject({
      start: "2025-01-06",
      end: "2025-01-12",
      currency: "usd",
      other_currencies: {},
      income: 19.99,
    });
  });

  it("serves the same report under /api/v1", async () => {
    await rollup();
    const plain = await get("/api/report/weekly?date=2025-01-15");
    const versioned = await get("/api/v1/report/weekly?date=2025-01-15");
    expect(versioned.statusCode).toBe(200);
    expect(versioned.json()).toEqual(plain.json());
    expect(versioned.json()).toMatchObject({ period: "weekly", start: "2025-01-13", income: 150.25 });
  });

  it("reports the period containing today (UTC) when no date is given", async () => {
    await book("micro_payment", "3.21", new Date());
    await book("api_cost", "0.000001", new Date());
    await rollup();
    const before = new Date().toISOString().slice(0, 10);

    const daily = await get("/api/report/daily");
    const weekly = await get("/api/v1/report/weekly");
    const monthly = await get("/api/report/monthly");
    const after = new Date().toISOString().slice(0, 10);

    expect(daily.statusCode).toBe(200);
    const today = daily.json().date;
    expect([before, after]).toContain(today);
    expect(daily.json()).toMatchObject({ period: "daily", start: today, end: today });
    if (before === after) {
      expect(daily.json()).toMatchObject({ income: 3.21, expenses: 0.000001, profit: 3.209999 });
      expect(weekly.json()).toEqual({ ...(await get(`/api/report/weekly?date=${today}`)).json() });
      expect(monthly.json()).toEqual({ ...(await get(`/api/report/monthly?date=${today}`)).json() });
    }
    expect(weekly.json().start <= today && today <= weekly.json().end).toBe(true);
    expect(monthly.json().date).toBe(`${today.slice(0, 8)}01`);
  });

  it("answers zeros, not 404, for a period with nothing booked", async () => {
    await rollup();
    for (const [type, start, end] of [
      ["daily", "2031-07-04", "2031-07-04"],
      ["weekly", "2031-06-30", "2031-07-06"],
      ["monthly", "2031-07-01", "2031-07-31"],
    ] as const) {
      const response = await get(`/api/report/${type}?date=2031-07-04`);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        date: start,
        period: type,
        start,
        end,
        ...zeros,
        usage: NO_USAGE,
        generated_at: expect.stringMatching(ISO_TIME),
      });
    }
  });

  it("bounds weeks across a year end and months in leap years", async () => {
    expect((await get("/api/report/weekly?date=2026-01-01")).json()).toMatchObject({
      date: "2025-12-29",
      start: "2025-12-29",
      end: "2026-01-04",
    });
    expect((await get("/api/report/monthly?date=2024-02-29")).json()).toMatchObject({
      date: "2024-02-01",
      end: "2024-02-29",
    });
    expect((await get("/api/report/monthly?date=2025-02-10")).json()).toMatchObject({ end: "2025-02-28" });
    // The first and the last day answered, and the periods that hold them.
    expect((await get("/api/report/monthly?date=1970-01-01")).json()).toMatchObject({ date: "1970-01-01", income: 0 });
    expect((await get("/api/report/weekly?date=1970-01-01")).json()).toMatchObject({
      start: "1969-12-29",
      end: "1970-01-04",
    });
    expect((await get("/api/report/weekly?date=9999-12-26")).json()).toMatchObject({ end: "9999-12-26" });
    expect((await get("/api/report/monthly?date=9999-12-26")).json()).toMatchObject({ end: "9999-12-31" });
  });

  it.each([
    ["/api/report/yearly", /report type/],
    ["/api/report/yearly?date=2025-01-15", /report type/],
    ["/api/v1/report/DAILY", /report type/],
    ["/api/report/daily?date=2025-13-01", /date/],
    ["/api/report/daily?date=2025-02-30", /date/],
    ["/api/report/monthly?date=2025-02-29", /date/],
    // JS parses year 0000; Postgres has none, so it must be refused before the query.
    ["/api/report/daily?date=0000-01-01", /date/],
    ["/api/report/weekly?date=9999-12-31", /date/],
    // JS reads years 0 to 99 as 1900 to 1999: the month of 0001-01-01 was answered as 1901's.
    ["/api/report/monthly?date=0001-01-01", /^date must be a day from 1970-01-01 to 9999-12-26$/],
    ["/api/report/daily?date=1969-12-31", /^date must be a day from 1970-01-01 to 9999-12-26$/],
    ["/api/report/daily?date=9999-12-27", /^date must be a day from 1970-01-01 to 9999-12-26$/],
    ["/api/report/weekly?date=yesterday", /date/],
    ["/api/report/daily?date=2025-1-5", /date/],
    ["/api/report/daily?date=2025-01-15T00:00:00Z", /date/],
    ["/api/report/daily?date=2025-01-15&date=2025-01-16", /date/],
  ])("answers 400 with an error for %s", async (url, message) => {
    const response = await get(url);
    expect(response.statusCode).toBe(400);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = response.json();
    expect(body).toEqual({ error: expect.stringMatching(message), code: "VALIDATION", request_id: expect.any(String) });
  });

  it("reads the rollup: entries booked after it show only after the next rollup", async () => {
    await book("micro_payment", "5.00", "2025-03-10T08:00:00Z");
    await rollup();
    const first = (await get("/api/report/daily?date=2025-03-10")).json();
    expect(first).toMatchObject({ income: 5, expenses: 0, profit: 5 });

    await book("subscription", "2.00", "2025-03-10T09:00:00Z");
    await book("api_cost", "0.75", "2025-03-10T09:00:00Z");
    expect((await get("/api/report/daily?date=2025-03-10")).json()).toEqual(first);
    expect((await get("/api/report/monthly?date=2025-03-10")).json()).toMatchObject({ income: 5, expenses: 0 });

    await rollup();
    const second = (await get("/api/report/daily?date=2025-03-10")).json();
    expect(second).toMatchObject({
      income: 7,
      expenses: 0.75,
      profit: 6.25,
      breakdown: { income_breakdown: { subscription: 2, micro_payment: 5 }, expense_breakdown: { api_cost: 0.75 } },
    });
    expect(new Date(second.generated_at).getTime()).toBeGreaterThan(new Date(first.generated_at).getTime());
    expect((await get("/api/report/monthly?date=2025-03-10")).json()).toMatchObject({ income: 7, expenses: 0.75 });
  });
});
