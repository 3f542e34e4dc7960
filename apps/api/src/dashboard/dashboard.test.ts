// The operator dashboard over HTTP (a real browser drives it in tests/e2e/dashboard-browser.test.ts):
// signing in and out with a session cookie, what the pages show against the API's own answers,
// and every way in that must be refused: wrong keys, forged, expired or foreign cookies, forms
// from another site, oversized or malformed addresses, unknown pages.
import { creditEntries, dashboardSessions, ledgerEntries, parseAmount, tasks, users } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import { useTestEnvironment } from "@aitasks/testing";
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";
import { money, usd } from "./pages/format.js";

const ADMIN = "admin-key-dashboard-0123456789";
const OTHER_ADMIN = "admin-key-another-deployment-987654";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;

const DAY = "2026-03-10";

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
});
afterAll(() => t?.close());

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = "application/x-www-form-urlencoded";

/** Signs in through the form; the cookie header a browser would send afterwards. */
async function signIn(app: TestApp["app"] = t.app, key = ADMIN): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: "/dashboard/sign-in",
    headers: { "content-type": FORM },
    payload: form({ key, next: "/dashboard" }),
  });
  expect(response.statusCode, response.body).toBe(303);
  const setCookie = String(response.headers["set-cookie"]);
  return setCookie.split(";")[0] ?? "";
}

const get = (url: string, cookie?: string) => t.app.inject({ method: "GET", url, headers: cookie ? { cookie } : {} });

/** The exact amount a page shows under `data-figure="<name>"`. */
function figure(body: string, name: string): string | undefined {
  return new RegExp(`data-amount="([^"]+)" data-figure="${name}"`).exec(body)?.[1];
}

/** The CSRF token a page's forms carry. */
const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? "";

function expectHtmlRefusal(response: Awaited<ReturnType<typeof get>>, status: number) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toMatch(/^text\/html/);
  // Pages, never stack traces or internals.
  expect(response.body).not.toMatch(/at .+\.(ts|js|mjs):\d+|node_modules|FST_ERR|stack/i);
}

describe("signing in", () => {
  it("asks for the admin key, without a cookie, on every page", async () => {
    for (const url of [
      "/dashboard",
      "/dashboard/tasks",
      "/dashboard/users",
      "/dashboard/ledger",
      "/dashboard/nowhere",
    ]) {
      const response = await get(url);
      expectHtmlRefusal(response, 401);
      expect(response.body).toContain('action="/dashboard/sign-in"');
      expect(response.body).toContain(`name="next" value="${url}"`);
    }
  });

  it("gives a secure, HttpOnly, SameSite=Strict, expiring session cookie for the admin key", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/dashboard/sign-in",
      headers: { "content-type": FORM },
      payload: form({ key: ADMIN, next: "/dashboard/users" }),
    });
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe("/dashboard/users");
    const cookie = String(response.headers["set-cookie"]);
    expect(cookie).toMatch(/^__Host-aitasks-session=[\w-]{43}\.[\w-]{43}; /);
    expect(cookie).toContain("Secure");
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    expect(cookie).toContain("Max-Age=43200");
    // The database keeps a digest of the token, never the token.
    const token = cookie.split("=")[1]?.split(".")[0] ?? "";
    const stored = await t.db.select().from(dashboardSessions);
    expect(stored.map((row) => row.tokenDigest.toString("base64url"))).not.toContain(token);
  });

  it("refuses a wrong key, an empty one and a user's API key, saying so", async () => {
    const created = await t.app.inject({
      method: "POST",
      url: "/api/keys",
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { user_id: "dashboard-user@example.com" },
    });
    expect(created.statusCode, created.body).toBe(201);
    const userKey = created.json<{ key: string }>().key;
    for (const [key, problem] of [
      ["not-the-admin-key", "This is not an admin key."],
      ["", "Enter an admin key."],
      [userKey, "This is not an admin key."],
    ] as const) {
      const response = await t.app.inject({
        method: "POST",
        url: "/dashboard/sign-in",
        headers: { "content-type": FORM, "x-forwarded-for": "198.51.100.1" },
        payload: form({ key }),
      });
      expectHtmlRefusal(response, 401);
      expect(response.body).toContain(problem);
      expect(response.headers["set-cookie"]).toBeUndefined();
    }
  });

  it("never sends a sign-in elsewhere: `next` must be a dashboard path", async () => {
    for (const next of ["https://evil.example/", "//evil.example/dashboard", "/api/keys", "/dashboard\\@evil"]) {
      const response = await t.app.inject({
        method: "POST",
        url: "/dashboard/sign-in",
        headers: { "content-type": FORM },
        payload: form({ key: ADMIN, next }),
      });
      expect(response.statusCode).toBe(303);
      expect(response.headers.location, next).toBe("/dashboard");
    }
  });

  it("limits wrong keys per address, and says when to come back; the right key still signs in", async () => {
    const limited = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
    try {
      const attempt = (key: string) =>
        limited.app.inject({
          method: "POST",
          url: "/dashboard/sign-in",
          remoteAddress: "203.0.113.9",
          headers: { "content-type": FORM },
          payload: form({ key }),
        });
      for (let index = 0; index < 10; index++) expect((await attempt(`wrong-${index}`)).statusCode).toBe(401);
      const refused = await attempt("wrong-10");
      expectHtmlRefusal(refused, 429);
      expect(refused.body).toContain("too many wrong admin keys from this address; retry in");
      expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
      expect(refused.headers["set-cookie"]).toBeUndefined();
      // Whoever shares the address (an office, a load balancer) is not locked out by the guesses.
      const admitted = await attempt(ADMIN);
      expect(admitted.statusCode, admitted.body).toBe(303);
      expect(String(admitted.headers["set-cookie"])).toMatch(/^__Host-aitasks-session=/);
    } finally {
      await limited.close();
    }
  });
});

describe("sessions that must not open anything", () => {
  it("refuses a forged cookie, a token without its signature and a signed-out session", async () => {
    const cookie = await signIn();
    expect((await get("/dashboard", cookie)).statusCode).toBe(200);
    const [name, value = ""] = cookie.split("=");
    const [token = "", signature = ""] = value.split(".");
    const flipped = signature.slice(0, -2) + (signature.endsWith("AA") ? "BB" : "AA");
    for (const forged of [
      `${name}=${token}.${flipped}`,
      `${name}=${token}`,
      `${name}=${"A".repeat(43)}.${signature}`,
      `${name}=`,
      `${cookie}; ${cookie}`,
    ]) {
      const response = await get("/dashboard", forged);
      expectHtmlRefusal(response, 401);
      expect(response.body).not.toContain("data-figure");
    }
  });

  it("ends at its expiry", async () => {
    const cookie = await signIn();
    await t.db.update(dashboardSessions).set({ expiresAt: sql`now() - interval '1 second'` });
    const response = await get("/dashboard", cookie);
    expectHtmlRefusal(response, 401);
    expect(response.body).toContain("Your session has ended");
  });

  it("refuses a cookie of another deployment, and of an admin key since taken out", async () => {
    const other = await createTestApp(env, {}, { ADMIN_API_KEY: OTHER_ADMIN });
    try {
      const foreign = await signIn(other.app, OTHER_ADMIN);
      expect(
        (await other.app.inject({ method: "GET", url: "/dashboard", headers: { cookie: foreign } })).statusCode,
      ).toBe(200);
      // Same database, same token row: only the keys differ.
      expectHtmlRefusal(await get("/dashboard", foreign), 401);
    } finally {
      await other.close();
    }
  });

  it("signs out with the page's form only, and the copied cookie is dead afterwards, everywhere", async () => {
    const cookie = await signIn();
    const page = await get("/dashboard", cookie);
    const csrf = csrfOf(page.body);
    expect(csrf).not.toBe("");
    const noToken = await t.app.inject({
      method: "POST",
      url: "/dashboard/sign-out",
      headers: { cookie, "content-type": FORM },
      payload: form({}),
    });
    expectHtmlRefusal(noToken, 403);
    expect((await get("/dashboard", cookie)).statusCode).toBe(200);

    const second = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
    try {
      expect((await second.app.inject({ method: "GET", url: "/dashboard", headers: { cookie } })).statusCode).toBe(200);
      const out = await t.app.inject({
        method: "POST",
        url: "/dashboard/sign-out",
        headers: { cookie, "content-type": FORM },
        payload: form({ csrf }),
      });
      expect(out.statusCode).toBe(303);
      expect(out.headers.location).toBe("/dashboard/sign-in");
      expect(String(out.headers["set-cookie"])).toMatch(/^__Host-aitasks-session=; .*Max-Age=0/);
      expectHtmlRefusal(await get("/dashboard", cookie), 401);
      // Another API process shares the sessions: signed out there too.
      expectHtmlRefusal(await second.app.inject({ method: "GET", url: "/dashboard", headers: { cookie } }), 401);
    } finally {
      await second.close();
    }
  });

  it("refuses forms posted from another site, even with a good cookie and token", async () => {
    const cookie = await signIn();
    const csrf = csrfOf((await get("/dashboard", cookie)).body);
    for (const headers of [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }]) {
      const response = await t.app.inject({
        method: "POST",
        url: "/dashboard/sign-out",
        headers: { cookie, "content-type": FORM, ...headers },
        payload: form({ csrf }),
      });
      expectHtmlRefusal(response, 403);
    }
    expect((await get("/dashboard", cookie)).statusCode).toBe(200);
  });
});

describe("the pages", () => {
  let cookie: string;
  let taskId: number;
  let finishedId: number;

  beforeAll(async () => {
    cookie = await signIn();
    const [user] = await t.db
      .insert(users)
      .values({ identifier: "ada@example.com", email: "ada@example.com" })
      .returning({ id: users.id });
    if (!user) throw new Error("no user");
    await t.db.insert(creditEntries).values({
      userId: user.id,
      amount: "25.5",
      source: "admin",
      sourceKey: "grant-dashboard-1",
      occurredAt: new Date(),
    });
    const [pending] = await t.db
      .insert(tasks)
      .values({
        provider: "openai",
        model: "gpt-4o-mini",
        input: "<script>alert('x')</script> summarise",
        userId: user.id,
      })
      .returning({ id: tasks.id });
    const [finished] = await t.db
      .insert(tasks)
      .values({
        provider: "mistral",
        model: "mistral-small-latest",
        input: "done already",
        output: "an answer",
        status: "completed",
        tokensUsed: 30,
        costUsd: "0.000123",
        completedAt: new Date(`${DAY}T12:00:00Z`),
        userId: user.id,
      })
      .returning({ id: tasks.id });
    if (!pending || !finished) throw new Error("no tasks");
    taskId = pending.id;
    finishedId = finished.id;
    const at = new Date(`${DAY}T12:00:00Z`);
    await t.db.insert(ledgerEntries).values([
      { kind: "income", category: "subscription", amountUsd: "20", occurredAt: at, stripeObjectId: "in_dash_1" },
      { kind: "income", category: "micro_payment", amountUsd: "0.5", occurredAt: at, stripeObjectId: "pi_dash_1" },
      { kind: "income", category: "refund", amountUsd: "-1.25", occurredAt: at, stripeObjectId: "re_dash_1" },
      {
        kind: "expense",
        category: "api_cost",
        amountUsd: "0.000123",
        occurredAt: at,
        taskId: finished.id,
        provider: "mistral",
        model: "mistral-small-latest",
      },
    ]);
    await rollupReports(t.db);
  });

  it("shows the day, week and month of a date with the figures of the reports, exactly", async () => {
    const page = await get(`/dashboard?date=${DAY}`, cookie);
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["cache-control"]).toBe("no-store");
    for (const [period, type] of [
      ["daily", "daily"],
      ["weekly", "weekly"],
      ["monthly", "monthly"],
    ] as const) {
      const report = await t.app.inject({
        method: "GET",
        url: `/api/report/${type}?date=${DAY}`,
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const expected = report.json<{ income: number; expenses: number; profit: number }>();
      for (const name of ["income", "expenses", "profit"] as const) {
        expect(Number(figure(page.body, `${period}-${name}`)), `${period} ${name}`).toBe(expected[name]);
      }
    }
    expect(figure(page.body, "daily-income")).toBe("19.25");
    expect(figure(page.body, "daily-expenses")).toBe("0.000123");
    expect(figure(page.body, "daily-profit")).toBe("19.249877");
    expect(page.body).toContain('data-figure="daily-margin">99.9 %');
  });

  it("carries the 30 days' chart data and the queues' depth", async () => {
    const page = await get(`/dashboard?date=${DAY}`, cookie);
    const data = JSON.parse(
      /<script type="application\/json" id="chart-data">(.*?)<\/script>/s.exec(page.body)?.[1] ?? "{}",
    );
    expect(data.days).toHaveLength(30);
    expect(data.days.at(-1)).toBe(DAY);
    expect(data.money.income.at(-1)).toBe(19.25);
    expect(data.costByModel).toEqual([{ label: "mistral mistral-small-latest", apiCost: 0.000123, charged: 0 }]);
    for (const queue of ["tasks", "callbacks", "maintenance"])
      expect(page.body).toContain(`<tr data-queue="${queue}">`);
    expect(page.body).toContain('<script defer src="/dashboard/assets/charts.js"></script>');
    const script = await get("/dashboard/assets/charts.js");
    expect(script.statusCode).toBe(200);
    expect(script.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(script.body.length).toBeGreaterThan(50_000);
  });

  it("lists tasks, escapes what users wrote, opens one by id, and cancels it once", async () => {
    const list = await get("/dashboard/tasks?status=pending&user_id=", cookie);
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain(`data-task-id="${taskId}"`);
    expect(list.body).not.toContain(`data-task-id="${finishedId}"`);
    const open = await get(`/dashboard/tasks/open?id=${taskId}`, cookie);
    expect(open.statusCode).toBe(303);
    expect(open.headers.location).toBe(`/dashboard/tasks/${taskId}`);
    const page = await get(`/dashboard/tasks/${taskId}`, cookie);
    expect(page.body).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; summarise");
    expect(page.body).not.toContain("<script>alert");

    const cancel = (csrf: string) =>
      t.app.inject({
        method: "POST",
        url: `/dashboard/tasks/${taskId}/cancel`,
        headers: { cookie, "content-type": FORM },
        payload: form({ csrf }),
      });
    expectHtmlRefusal(await cancel("forged"), 403);
    expect((await t.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, taskId)))[0]?.status).toBe(
      "pending",
    );
    const done = await cancel(csrfOf(page.body));
    expect(done.statusCode).toBe(303);
    expect((await t.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, taskId)))[0]?.status).toBe(
      "canceled",
    );
    const again = await cancel(csrfOf(page.body));
    expectHtmlRefusal(again, 409);
    expect(again.body).toContain("already ended (canceled)");
  });

  it("shows users with their balance, usage and margin", async () => {
    const page = await get("/dashboard/users?month=2026-03", cookie);
    expect(page.statusCode).toBe(200);
    const row = /<tr data-user="ada@example.com">([\s\S]*?)<\/tr>/.exec(page.body)?.[1] ?? "";
    const amounts = [...row.matchAll(/data-amount="([^"]+)"/g)].map((match) => match[1]);
    // balance, held, available, charged, provider cost, margin
    expect(amounts).toEqual(["25.50", "0.00", "25.50", "0.00", "0.000123", "-0.000123"]);
  });

  it("shows the ledger and downloads the same CSV as the API", async () => {
    const page = await get(`/dashboard/ledger?from=${DAY}&to=${DAY}`, cookie);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("in_dash_1");
    const csv = await get(`/dashboard/ledger.csv?from=${DAY}&to=${DAY}`, cookie);
    expect(csv.headers["content-type"]).toMatch(/^text\/csv/);
    expect(csv.headers["content-disposition"]).toBe(`attachment; filename="ledger-${DAY}-${DAY}.csv"`);
    const api = await t.app.inject({
      method: "GET",
      url: `/api/ledger?from=${DAY}&to=${DAY}&format=csv`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(csv.body).toBe(api.body);
    expect(csv.body.split("\r\n").length).toBeGreaterThan(4);
  });

  it("answers bad addresses with clear pages: 400, 404, 414", async () => {
    const cases: [string, number, string][] = [
      ["/dashboard?date=2026-02-30", 400, "not a real calendar date"],
      ["/dashboard?date=yesterday", 400, "YYYY-MM-DD"],
      ["/dashboard/tasks?status=lost", 400, "status must be one of"],
      [`/dashboard/tasks?user_id=${"u".repeat(321)}`, 400, "user_id must be at most 320 characters"],
      ["/dashboard/tasks?cursor=bm9wZQ", 400, "cursor is not valid"],
      ["/dashboard/tasks/abc", 400, "task id"],
      ["/dashboard/tasks/open?id=-1", 400, "positive whole number"],
      ["/dashboard/tasks/987654321", 404, "not found"],
      ["/dashboard/users?month=2026-13", 400, "YYYY-MM"],
      ["/dashboard/ledger?from=2026-03-10&to=2026-03-01", 400, "from must not be after to"],
      ["/dashboard/no-such-page", 404, "no page /dashboard/no-such-page"],
      ["/dashboard/assets/secrets.txt", 404, "no asset"],
      [`/dashboard/tasks?user_id=${"x".repeat(5000)}`, 414, "longer than any page"],
    ];
    for (const [url, status, message] of cases) {
      const response = await get(url, cookie);
      expectHtmlRefusal(response, status);
      expect(response.body, url.slice(0, 80)).toContain(message);
    }
  });
});

describe("signing in over plain HTTP at a name other than localhost", () => {
  const NOTICE = 'data-notice="plain-http"';
  const signInAt = (headers: Record<string, string>, key = ADMIN) =>
    t.app.inject({
      method: "POST",
      url: "/dashboard/sign-in",
      headers: { "content-type": FORM, ...headers },
      payload: form({ key, next: "/dashboard/users" }),
    });

  it("says on the sign-in page that the session needs HTTPS", async () => {
    for (const url of ["/dashboard", "/dashboard/sign-in"]) {
      const page = await t.app.inject({ method: "GET", url, headers: { host: "tasks.example.com:5000" } });
      expect(page.body, url).toContain(NOTICE);
      expect(page.body).toContain("plain HTTP at <code>tasks.example.com:5000</code>");
      expect(page.body).toContain("only over\n    HTTPS (or at localhost)");
    }
    // Loopback names are secure contexts to a browser; a TLS proxy says so with X-Forwarded-Proto.
    for (const headers of [
      { host: "localhost:5000" },
      { host: "127.0.0.1:5000" },
      { host: "[::1]:5000" },
      { host: "dash.localhost" },
      { host: "tasks.example.com", "x-forwarded-proto": "https" },
      { host: "tasks.example.com", forwarded: "for=192.0.2.1;proto=https" },
    ]) {
      const page = await t.app.inject({ method: "GET", url: "/dashboard/sign-in", headers });
      expect(page.statusCode).toBe(200);
      expect(page.body, JSON.stringify(headers)).not.toContain(NOTICE);
    }
  });

  it("answers a right key with the reason instead of a silent redirect back to the form", async () => {
    const plain: Record<string, string>[] = [
      { host: "tasks.example.com", origin: "http://tasks.example.com" },
      { host: "192.0.2.10:5000", origin: "http://192.0.2.10:5000" },
      // No Origin (not a browser): judged by the connection.
      { host: "tasks.example.com" },
    ];
    for (const headers of plain) {
      const response = await signInAt(headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(200);
      expect(response.headers.location).toBeUndefined();
      expect(response.body).toContain("<h1>Sign-in needs HTTPS</h1>");
      expect(response.body).toContain("The key is right, but your browser will not keep the session");
      expect(response.body).toContain('<a href="/dashboard/users">');
    }
    // The browser's Origin is its own word on the scheme, whatever reached us in between.
    for (const headers of [
      { host: "tasks.example.com", origin: "https://tasks.example.com" },
      { host: "localhost:5000", origin: "http://localhost:5000" },
    ]) {
      const response = await signInAt(headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(303);
      expect(response.headers.location).toBe("/dashboard/users");
    }
    const wrong = await signInAt({ host: "tasks.example.com", origin: "http://tasks.example.com" }, "not-the-key");
    expectHtmlRefusal(wrong, 401);
    expect(wrong.body).toContain("This is not an admin key.");
    expect(wrong.body).toContain(NOTICE);
  });
});

describe("amounts, durations, errors and reasons as an operator reads them", () => {
  it("shows money to the cent, a non-zero amount under a cent with two digits, and the exact amount on hover", () => {
    const pico = (amount: string) => parseAmount(amount);
    const cases: [string, string][] = [
      ["0", "$0.00"],
      ["1234.5", "$1,234.50"],
      ["19.249877", "$19.25"],
      ["0.005", "$0.0050"],
      ["0.0149", "$0.01"],
      ["0.01", "$0.01"],
      ["0.009999", "$0.010"],
      ["0.000123", "$0.00012"],
      ["0.000001", "$0.0000010"],
      ["0.000000000001", "$0.000000000001"],
      ["-0.000123", "−$0.00012"],
      ["-1000000000", "−$1,000,000,000.00"],
    ];
    for (const [amount, shown] of cases) expect(usd(pico(amount)), amount).toBe(shown);
    expect(money(pico("19.249877"), "x").text).toBe(
      '<span class="money" data-amount="19.249877" data-figure="x" title="$19.249877">$19.25</span>',
    );
    expect(money(pico("2.5")).text).toBe('<span class="money" data-amount="2.50">$2.50</span>');
  });

  it("rounds the overview's cards to the cent, and never shows a sub-cent expense as $0.00", async () => {
    const cookie = await signIn();
    const page = (await get(`/dashboard?date=${DAY}`, cookie)).body;
    expect(page).toContain('data-figure="daily-profit" title="$19.249877">$19.25</span>');
    expect(page).toContain('data-figure="daily-expenses" title="$0.000123">$0.00012</span>');
    const shown = [...page.matchAll(/data-amount="([^"]+)"[^>]*>([^<]+)<\/span>/g)].map(([, exact, text]) => ({
      exact: parseAmount(exact!),
      text: text!,
    }));
    expect(shown).toHaveLength(18);
    for (const { exact, text } of shown) {
      const abs = exact < 0n ? -exact : exact;
      if (abs === 0n || abs >= parseAmount("0.01")) expect(text).toMatch(/^−?\$[\d,]+\.\d{2}$/);
      else expect(text).toMatch(/^−?\$0\.0+[1-9]\d?$/);
    }
  });

  it("lists each task's duration and error", async () => {
    const cookie = await signIn();
    const startedAt = new Date(`${DAY}T08:00:00Z`);
    const [failed] = await t.db
      .insert(tasks)
      .values({
        provider: "openai",
        model: "gpt-4o-mini",
        input: "fails",
        status: "failed",
        error: `openai: 400 the model refused <this> prompt ${"and more ".repeat(30)}`,
        startedAt,
        completedAt: new Date(startedAt.getTime() + 12_345),
      })
      .returning({ id: tasks.id });
    const list = (await get("/dashboard/tasks?status=failed", cookie)).body;
    expect(list).toContain("<th>Duration</th>");
    expect(list).toContain("<th>Error</th>");
    const row = new RegExp(`<tr data-task-id="${failed!.id}">([\\s\\S]*?)</tr>`).exec(list)?.[1] ?? "";
    expect(row).toContain('<td class="number" data-column="duration">12.3 s</td>');
    expect(row).toContain('title="openai: 400 the model refused &lt;this&gt; prompt and more');
    expect(row).toMatch(/>openai: 400 the model refused &lt;this&gt; prompt (and more )+and…<\/td>/);
    const detail = (await get(`/dashboard/tasks/${failed!.id}`, cookie)).body;
    expect(detail).toContain("<dt>Duration</dt><dd>12.3 s</dd>");
  });

  it("shows an admin grant's reason in the ledger", async () => {
    const cookie = await signIn();
    const admin = { authorization: `Bearer ${ADMIN}` };
    const call = (url: string, payload: object) => t.app.inject({ method: "POST", url, headers: admin, payload });
    expect((await call("/api/users", { user_id: "reasons@example.com" })).statusCode).toBe(201);
    const grant = await call("/api/credits", {
      user_id: "reasons@example.com",
      amount: "7",
      reason: "goodwill <after> the outage",
    });
    expect(grant.statusCode, grant.body).toBe(201);
    const today = new Date().toISOString().slice(0, 10);
    const page = (await get(`/dashboard/ledger?from=${today}&to=${today}`, cookie)).body;
    expect(page).toContain("<th>Reason</th>");
    const row = /<tr>(?:(?!<\/tr>)[\s\S])*reasons@example\.com[\s\S]*?<\/tr>/.exec(page)?.[0] ?? "";
    expect(row).toContain("<td>goodwill &lt;after&gt; the outage</td>");
  });
});

describe("open mode (no ADMIN_API_KEY)", () => {
  it("opens the dashboard to anyone, as the API is, and says so", async () => {
    const open = await createTestApp(env);
    try {
      const page = await open.app.inject({ method: "GET", url: "/dashboard" });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain("open mode: no sign-in");
      const signIn = await open.app.inject({ method: "GET", url: "/dashboard/sign-in" });
      expect(signIn.statusCode).toBe(303);
    } finally {
      await open.close();
    }
  });
});
