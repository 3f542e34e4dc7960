// End to end, in a real browser: Debian's Chromium, driven by playwright-core, on the API and a
// worker as `npm start` runs them. An operator signs in, reads a seeded day whose figures must
// equal the reports, sees the charts drawn, opens tasks, users, the ledger and the queue board,
// and signs out; a wrong key is refused. No page may log a console error. Screenshots of every
// page are saved under .ci/results/screenshots/ (CI keeps them).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, ledgerEntries } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import {
  type FakeChatServer,
  killAll,
  repoRoot,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = "admin-key-dashboard-browser-0123456789";
// Today: the tasks the test runs are today's too, so every chart has something to draw.
const DAY = new Date().toISOString().slice(0, 10);
const SCREENSHOTS = join(repoRoot, ".ci/results/screenshots");

const env = useTestEnvironment();
let fake: FakeChatServer;
let api: StartedApi;
let browser: Browser;
let database: ReturnType<typeof createDatabase>;
const consoleErrors: string[] = [];

const bearer = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };

async function submit(body: Record<string, unknown>) {
  const response = await fetch(`${api.baseUrl}/api/task?wait=20`, {
    method: "POST",
    headers: bearer,
    body: JSON.stringify(body),
  });
  expect([200, 202], await response.clone().text()).toContain(response.status);
  return ((await response.json()) as { task_id: number }).task_id;
}

async function newPage(viewport = { width: 1400, height: 1000 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    // A page answered 401 on purpose (the sign-in page for a wrong key) makes Chromium log that its
    // document "failed to load". Not an error of the page: what it loads is checked below.
    if (message.text().startsWith("Failed to load resource") && message.location().url === page.url()) return;
    consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
  // Every script, stylesheet and API call a page makes must succeed, and come from our origin.
  page.on("request", (request) => {
    if (!request.url().startsWith(api.baseUrl) && !request.url().startsWith("data:")) {
      consoleErrors.push(`${page.url()}: requested ${request.url()} from another origin`);
    }
  });
  page.on("response", (response) => {
    if (response.request().resourceType() !== "document" && response.status() >= 400) {
      consoleErrors.push(`${page.url()}: ${response.url()} answered ${response.status()}`);
    }
  });
  return page;
}

const shoot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** The exact amount shown under `data-figure="<name>"`. */
const figure = (page: Page, name: string) => page.getAttribute(`[data-figure="${name}"]`, "data-amount");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  fake = await startFakeChatServer();
  startWorkerProcess(env, fake, { ADMIN_API_KEY: ADMIN });
  api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ADMIN_API_KEY: ADMIN,
  });
  database = createDatabase(env.databaseUrl);

  // Tasks that ran through the worker and the fake provider, and one that fails there.
  for (const prompt of ["first prompt", "second prompt", "third prompt"])
    await submit({ prompt, user_id: "ada@example.com" });
  await submit({ prompt: "a mistral one", provider: "mistral", user_id: "grace@example.com" });
  // A seeded day of money, rolled up as the scheduled job does.
  const at = new Date();
  await database.db.insert(ledgerEntries).values([
    { kind: "income", category: "subscription", amountUsd: "49", occurredAt: at, stripeObjectId: "in_browser_1" },
    { kind: "income", category: "micro_payment", amountUsd: "2.5", occurredAt: at, stripeObjectId: "pi_browser_1" },
    { kind: "income", category: "refund", amountUsd: "-3", occurredAt: at, stripeObjectId: "re_browser_1" },
    { kind: "expense", category: "payment_fee", amountUsd: "1.73", occurredAt: at, stripeObjectId: "txn_browser_1" },
  ]);
  await rollupReports(database.db);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await database?.close();
  await killAll();
  await fake?.close();
});

describe("the dashboard in Chromium", () => {
  it("refuses a wrong key on the sign-in page", async () => {
    const page = await newPage();
    await page.goto(`${api.baseUrl}/dashboard`);
    await page.fill('input[name="key"]', "this-is-not-the-admin-key");
    await page.click('button[type="submit"]');
    await page.waitForSelector(".problem");
    expect(await page.textContent(".problem")).toBe("This is not an admin key.");
    expect((await page.context().cookies()).map((cookie) => cookie.name)).not.toContain("__Host-aitasks-session");
    await shoot(page, "sign-in-refused");
    await page.close();
  });

  it("signs in, shows the reports' figures and draws the charts, walks every page, and signs out", async () => {
    const page = await newPage();
    await page.goto(`${api.baseUrl}/dashboard?date=${DAY}`);
    await shoot(page, "sign-in");
    await page.fill('input[name="key"]', ADMIN);
    await Promise.all([page.waitForURL(`${api.baseUrl}/dashboard?date=${DAY}`), page.click('button[type="submit"]')]);
    const [cookie] = (await page.context().cookies()).filter((c) => c.name === "__Host-aitasks-session");
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict" });

    // The seeded day, week and month: what the reports say, to the last decimal.
    for (const type of ["daily", "weekly", "monthly"] as const) {
      const report = (await (
        await fetch(`${api.baseUrl}/api/report/${type}?date=${DAY}`, { headers: bearer })
      ).json()) as Record<"income" | "expenses" | "profit", number>;
      for (const name of ["income", "expenses", "profit"] as const) {
        expect(Number(await figure(page, `${type}-${name}`)), `${type} ${name}`).toBe(report[name]);
      }
    }
    // Income is the seeded rows alone; expenses add the provider calls of the tasks above.
    expect(await figure(page, "daily-income")).toBe("48.50");

    // Each chart drew something: its canvas has painted pixels.
    for (const id of ["chart-money", "chart-tasks", "chart-models"]) {
      // Runs in the page: the element is a canvas (the test's own types know no DOM).
      const painted = await page.$eval(`#${id}`, (canvas) => {
        const element = canvas as unknown as {
          width: number;
          height: number;
          getContext(
            kind: "2d",
          ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
        };
        const context = element.getContext("2d");
        if (!context || element.width === 0 || element.height === 0) return 0;
        const pixels = context.getImageData(0, 0, element.width, element.height).data;
        let count = 0;
        for (let index = 3; index < pixels.length; index += 4) if ((pixels[index] ?? 0) > 0) count++;
        return count;
      });
      expect(painted, id).toBeGreaterThan(1000);
    }
    await shoot(page, "overview");

    // Today's tasks, the one opened by id, the users, the ledger, the queue board.
    await page.click('nav a[href="/dashboard/tasks"]');
    await page.waitForSelector("tr[data-task-id]");
    expect(await page.locator("tr[data-task-id]").count()).toBe(4);
    await shoot(page, "tasks");
    const firstId = await page.getAttribute("tr[data-task-id]:last-child", "data-task-id");
    await page.fill('input[name="id"]', String(firstId));
    await Promise.all([
      page.waitForURL(`${api.baseUrl}/dashboard/tasks/${firstId}`),
      page.click('form[action="/dashboard/tasks/open"] button'),
    ]);
    expect(await page.textContent("h1")).toBe(`Task ${firstId}`);
    expect(await page.textContent(".status")).toBe("completed");
    await shoot(page, "task");

    await page.click('nav a[href="/dashboard/users"]');
    await page.waitForSelector('tr[data-user="ada@example.com"]');
    await shoot(page, "users");

    await page.goto(`${api.baseUrl}/dashboard/ledger?from=${DAY}&to=${DAY}`);
    expect(await page.locator("table.list tbody tr").count()).toBeGreaterThanOrEqual(8);
    expect(await page.textContent("table.list")).toContain("in_browser_1");
    await shoot(page, "ledger");

    // The queue board (Bull Board) on the same session: each of the service's queues is listed.
    await page.click('nav a[href="/admin/queues"]');
    for (const queue of ["tasks", "callbacks", "maintenance"]) {
      await page.getByRole("link", { name: queue, exact: true }).first().waitFor();
    }
    await page.waitForLoadState("networkidle");
    await shoot(page, "queues");

    // Signing out ends the session: the dashboard asks for the key again.
    await page.goto(`${api.baseUrl}/dashboard`);
    await Promise.all([page.waitForURL(`${api.baseUrl}/dashboard/sign-in`), page.click("form.sign-out button")]);
    const again = await page.goto(`${api.baseUrl}/dashboard/tasks`);
    expect(again?.status()).toBe(401);
    expect(await page.isVisible('input[name="key"]')).toBe(true);
    await page.close();
  });

  it("fits a phone's 390 px on every page: nothing wider than the screen but what scrolls in its own box", async () => {
    const page = await newPage({ width: 390, height: 844 });
    const widths: Record<string, number> = {};
    const measure = async (name: string) => {
      widths[name] = await page.evaluate("document.documentElement.scrollWidth");
      await shoot(page, `narrow-${name}`);
    };
    await page.goto(`${api.baseUrl}/dashboard/sign-in`);
    await measure("sign-in");
    await page.fill('input[name="key"]', ADMIN);
    await Promise.all([page.waitForURL(`${api.baseUrl}/dashboard`), page.click('button[type="submit"]')]);
    await page.goto(`${api.baseUrl}/dashboard?date=${DAY}`);
    await page.waitForFunction("document.querySelector('#chart-money')?.width > 0");
    await measure("overview");
    await page.goto(`${api.baseUrl}/dashboard/tasks`);
    await measure("tasks");
    const id = await page.getAttribute("tr[data-task-id]", "data-task-id");
    await page.goto(`${api.baseUrl}/dashboard/tasks/${id}`);
    await measure("task");
    await page.goto(`${api.baseUrl}/dashboard/users`);
    await measure("users");
    await page.goto(`${api.baseUrl}/dashboard/ledger?from=${DAY}&to=${DAY}`);
    await measure("ledger");
    await page.goto(`${api.baseUrl}/dashboard/nowhere`);
    await measure("not-found");
    expect(Object.keys(widths)).toHaveLength(7);
    expect(Object.entries(widths).filter(([, width]) => width > 390)).toEqual([]);
    await page.close();
  });

  it("logged no console error on any page", () => {
    expect(consoleErrors).toEqual([]);
  });
});
