// Makes docs/dashboard.png, the README's picture of the dashboard: a month of invented but
// consistent activity in a scratch database of its own (a random name, dropped at the end), the
// built API on it, and Chromium's screenshot of the overview.
// `npm run build && npx tsx scripts/dashboard-screenshot.ts [output.png]` (Postgres and Redis at
// the `npm start` defaults, or DATABASE_URL / REDIS_URL: only the scratch database and queue prefix
// are written to, and removed after).
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { createDatabase, creditEntries, DEFAULT_DATABASE_URL, ledgerEntries, tasks, users } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import { killAll, repoRoot, startApi } from "@aitasks/testing";
import { Redis } from "ioredis";
import { chromium } from "playwright-core";
import postgres from "postgres";

const ADMIN = "admin-key-for-the-screenshot-0123456789";
const output = resolve(repoRoot, process.argv[2] ?? "docs/dashboard.png");
const adminUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const scratch = `aitasks_screenshot_${randomBytes(5).toString("hex")}`;
const queuePrefix = `screenshot-${randomBytes(5).toString("hex")}`;
const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${scratch}` }).toString();

const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`create database ${scratch}`);
console.log(`scratch database ${scratch}`);

/** Removes what this run made, and only that: its database and its queue prefix's keys. */
async function removeScratch() {
  await killAll();
  await admin.unsafe(`drop database if exists ${scratch} with (force)`);
  await admin.end();
  const redis = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${queuePrefix}:*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
  await redis.quit();
}

try {
  await makeScreenshot();
} finally {
  await removeScratch();
}

async function makeScreenshot() {
  // The API migrates the new database as it starts.
  const api = await startApi({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    ADMIN_API_KEY: ADMIN,
  });
  const database = createDatabase(databaseUrl);
  const { db } = database;

  // A pseudo-random sequence, so the picture is the same every time.
  let seed = 7;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const MODELS = [
    { provider: "openai", model: "gpt-4o-mini", costPerTask: 0.0009 },
    { provider: "openai", model: "gpt-4o", costPerTask: 0.012 },
    { provider: "mistral", model: "mistral-small-latest", costPerTask: 0.0006 },
  ] as const;
  const people = await db
    .insert(users)
    .values(["ada", "grace", "alan", "edsger", "barbara"].map((name) => ({ identifier: `${name}@example.com` })))
    .returning({ id: users.id });

  const today = new Date();
  today.setUTCHours(0, 0, 0, 0);
  let stripeObject = 0;
  for (let daysAgo = 29; daysAgo >= 0; daysAgo--) {
    const day = new Date(today.getTime() - daysAgo * 86_400_000);
    const at = (hour: number) => new Date(day.getTime() + hour * 3_600_000);
    const growth = 1 + (29 - daysAgo) / 15;
    const subscriptions = Math.round(random() * 3 * growth);
    for (let index = 0; index < subscriptions; index++) {
      const user = people[Math.floor(random() * people.length)];
      if (!user) continue;
      await db.insert(ledgerEntries).values([
        {
          kind: "income",
          category: "subscription",
          amountUsd: "29",
          occurredAt: at(9),
          stripeObjectId: `in_${++stripeObject}`,
        },
        {
          kind: "expense",
          category: "payment_fee",
          amountUsd: "1.14",
          occurredAt: at(9),
          stripeObjectId: `txn_${stripeObject}`,
        },
      ]);
      await db.insert(creditEntries).values({
        userId: user.id,
        source: "invoice",
        sourceKey: `in_${stripeObject}`,
        amount: "29",
        occurredAt: at(9),
      });
    }
    const micro = Math.round(random() * 6 * growth);
    for (let index = 0; index < micro; index++) {
      await db.insert(ledgerEntries).values({
        kind: "income",
        category: "micro_payment",
        amountUsd: "5",
        occurredAt: at(12),
        stripeObjectId: `pi_${++stripeObject}`,
      });
    }
    if (daysAgo % 9 === 4) {
      await db.insert(ledgerEntries).values({
        kind: "income",
        category: "refund",
        amountUsd: "-5",
        occurredAt: at(15),
        stripeObjectId: `re_${++stripeObject}`,
      });
    }
    // One statement per day for the tasks and one for their costs: thousands of rows in all.
    const taskCount = Math.round((40 + random() * 40) * growth);
    const dayTasks: (typeof tasks.$inferInsert)[] = [];
    const costs: { cost: string; choice: (typeof MODELS)[number] }[] = [];
    for (let index = 0; index < taskCount; index++) {
      const choice = MODELS[Math.floor(random() * MODELS.length)] ?? MODELS[0];
      const user = people[Math.floor(random() * people.length)];
      const roll = random();
      const status =
        daysAgo === 0 && roll < 0.1 ? "pending" : roll < 0.04 ? "failed" : roll < 0.07 ? "canceled" : "completed";
      const cost = (choice.costPerTask * (0.5 + random())).toFixed(6);
      dayTasks.push({
        provider: choice.provider,
        model: choice.model,
        input: "Summarise the attached support ticket in two sentences.",
        status,
        userId: user?.id,
        createdAt: at(8 + random() * 12),
        ...(status === "completed"
          ? {
              output: "The customer cannot sign in since the last update; a password reset fixed it.",
              tokensUsed: 400,
              costUsd: cost,
              chargedUsd: (Number(cost) * 1.5).toFixed(6),
              completedAt: at(21),
            }
          : {}),
      });
      costs.push({ cost, choice });
    }
    const inserted = await db.insert(tasks).values(dayTasks).returning({ id: tasks.id, status: tasks.status });
    const apiCosts = inserted.flatMap((task, index) => {
      const { cost, choice } = costs[index]!;
      if (task.status !== "completed") return [];
      return [
        {
          kind: "expense" as const,
          category: "api_cost" as const,
          amountUsd: cost,
          occurredAt: at(21),
          taskId: task.id,
          provider: choice.provider,
          model: choice.model,
        },
      ];
    });
    if (apiCosts.length > 0) await db.insert(ledgerEntries).values(apiCosts);
  }
  await rollupReports(db);

  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 980 } });
  await page.goto(`${api.baseUrl}/dashboard`);
  await page.fill('input[name="key"]', ADMIN);
  await Promise.all([page.waitForURL(`${api.baseUrl}/dashboard`), page.click('button[type="submit"]')]);
  await page.waitForTimeout(500);
  await page.screenshot({ path: output, fullPage: true });
  console.log(`wrote ${output}`);
  await browser.close();
  await database.close();
}
