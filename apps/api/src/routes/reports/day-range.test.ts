// The days the reports, the ledger and the dashboard answer for: FIRST_DAY to LAST_DAY. A day
// outside (or a month, on the users page) is a 400 naming the range, never a 500 from a period or
// a 30-day series that Postgres or a JS date cannot hold.
import { FIRST_DAY, LAST_DAY } from "@aitasks/reports";
import { useTestEnvironment } from "@aitasks/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-day-range-0123456789";
const env = useTestEnvironment();
let t: Awaited<ReturnType<typeof createTestApp>>;
let cookie: string;

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
  const signedIn = await t.app.inject({
    method: "POST",
    url: "/dashboard/sign-in",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ key: ADMIN, next: "/dashboard" }).toString(),
  });
  expect(signedIn.statusCode).toBe(303);
  cookie = String(signedIn.headers["set-cookie"]).split(";")[0]!;
});
afterAll(() => t?.close());

const api = (url: string) => t.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${ADMIN}` } });
const dashboard = (url: string) => t.app.inject({ method: "GET", url, headers: { cookie } });

const isDay = (text: string) => {
  const time = Date.parse(`${text}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(time) && new Date(time).toISOString().startsWith(text);
};
const answered = (day: string) => isDay(day) && day >= FIRST_DAY && day <= LAST_DAY;
const addDays = (day: string, days: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

const pad = (value: number, width: number) => String(value).padStart(width, "0");
/** Days from year 1 to 9999, with the edges of the range and of the calendar weighted in. */
const day = fc.oneof(
  fc
    .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
    .map((date) => date.toISOString().slice(0, 10)),
  fc.integer({ min: -40, max: 40 }).map((offset) => addDays(FIRST_DAY, offset)),
  fc.integer({ min: -40, max: 5 }).map((offset) => addDays(LAST_DAY, offset)),
  fc
    .tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
    .map(([y, m, d]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`),
  fc.constantFrom("0001-01-01", "0001-01-29", "0099-12-31", "0100-01-01", "9999-12-31", "2024-02-29", "2023-02-29"),
);

describe(`days from ${FIRST_DAY} to ${LAST_DAY}`, () => {
  it("answers the edges of the range, and refuses the days beside them with a message naming it", async () => {
    for (const date of [FIRST_DAY, LAST_DAY]) {
      for (const type of ["daily", "weekly", "monthly"])
        expect((await api(`/api/report/${type}?date=${date}`)).statusCode).toBe(200);
      expect((await dashboard(`/dashboard?date=${date}`)).statusCode).toBe(200);
      expect((await dashboard(`/dashboard/ledger?from=${date}&to=${date}`)).statusCode).toBe(200);
    }
    expect((await dashboard(`/dashboard/users?month=${FIRST_DAY.slice(0, 7)}`)).statusCode).toBe(200);
    expect((await dashboard(`/dashboard/users?month=${LAST_DAY.slice(0, 7)}`)).statusCode).toBe(200);

    const outside = [addDays(FIRST_DAY, -1), addDays(LAST_DAY, 1), "0001-01-01", "0001-01-29"];
    for (const date of outside) {
      const report = await api(`/api/report/weekly?date=${date}`);
      expect(report.statusCode).toBe(400);
      expect(report.json().error).toBe(`date must be a day from ${FIRST_DAY} to ${LAST_DAY}`);
      const page = await dashboard(`/dashboard?date=${date}`);
      expect(page.statusCode).toBe(400);
      expect(page.body).toContain(`date must be a day from ${FIRST_DAY} to ${LAST_DAY}`);
    }
    const month = await dashboard("/dashboard/users?month=1969-12");
    expect(month.statusCode).toBe(400);
    expect(month.body).toContain(`month must be from ${FIRST_DAY.slice(0, 7)} to ${LAST_DAY.slice(0, 7)}`);
  });

  it("reports: 200 with a period of real days inside the range's years, or 400, for any day", async () => {
    const type = fc.constantFrom("daily", "weekly", "monthly");
    await fc.assert(
      fc.asyncProperty(type, day, async (type, date) => {
        const response = await api(`/api/report/${type}?date=${date}`);
        expect(response.statusCode, `${date}: ${response.body}`).toBe(answered(date) ? 200 : 400);
        if (response.statusCode !== 200) return;
        const report = response.json();
        expect(isDay(report.start) && isDay(report.end)).toBe(true);
        expect(report.date).toBe(report.start);
        expect(report.start <= date && date <= report.end).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("the ledger, as JSON and on the dashboard: 200 or 400 for any range", async () => {
    const range = fc.tuple(day, fc.integer({ min: 0, max: 3 }), fc.boolean());
    await fc.assert(
      fc.asyncProperty(range, async ([from, length, onDashboard]) => {
        const to = isDay(from) ? addDays(from, length) : from;
        const url = onDashboard ? `/dashboard/ledger?from=${from}&to=${to}` : `/api/ledger?from=${from}&to=${to}`;
        const response = onDashboard ? await dashboard(url) : await api(url);
        expect(response.statusCode, `${url}: ${response.body}`).toBe(answered(from) && answered(to) ? 200 : 400);
      }),
      { numRuns: 100 },
    );
  });

  it("the dashboard's overview (a 30-day series up to the day) and users page: 200 or 400", async () => {
    await fc.assert(
      fc.asyncProperty(day, async (date) => {
        const overview = await dashboard(`/dashboard?date=${date}`);
        expect(overview.statusCode, date).toBe(answered(date) ? 200 : 400);
        const month = date.slice(0, 7);
        const users = await dashboard(`/dashboard/users?month=${month}`);
        expect(users.statusCode, month).toBe(answered(`${month}-01`) ? 200 : 400);
      }),
      { numRuns: 60 },
    );
  });
});
