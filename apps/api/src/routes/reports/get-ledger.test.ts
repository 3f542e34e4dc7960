import { once } from "node:events";
import { get as httpGet, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { adminKeyDigests } from "@aitasks/auth";
import { createDatabase } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-ledger-123456789";

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;
// The ledgers here are rows written with SQL, one of each kind, for the listing to show: a task's
// charge without its task finishing (the balance is moved by the finishing task's trigger only),
// an api_cost of a task never run. The invariants about balances, charges and costs do not hold.
const ROWS_WRITTEN_BY_HAND = { skipMoneyInvariants: ["credit-balances", "task-charges", "api-costs"] } as const;

beforeAll(async () => {
  testApp = await createTestApp(env, { adminKeyDigests: adminKeyDigests([ADMIN]) });
});
afterAll(() => testApp.close(ROWS_WRITTEN_BY_HAND));

interface Get {
  /** Default: the admin key; null: none. */
  key?: string | null;
  accept?: string;
}

function get(url: string, { key = ADMIN, accept }: Get = {}, app = testApp) {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (accept !== undefined) headers.accept = accept;
  return app.app.inject({ method: "GET", url, headers });
}

async function createUser(identifier: string): Promise<number> {
  const [row] = await testApp.sql<{ id: string }[]>`insert into users (identifier) values (${identifier}) returning id`;
  return Number(row!.id);
}

async function createTask(): Promise<number> {
  const [row] = await testApp.sql<{ id: string }[]>`
    insert into tasks (provider, model, input) values ('openai', 'gpt-4o-mini', 'ledger test') returning id`;
  return Number(row!.id);
}

interface Money {
  kind: "income" | "expense";
  category: "subscription" | "micro_payment" | "refund" | "api_cost" | "payment_fee" | "dispute";
  amount: string;
  occurredAt: string;
  currency?: string;
  userId?: number | null;
  taskId?: number | null;
  reference?: string | null;
  originalAmount?: string | null;
  originalCurrency?: string | null;
}

let objectSequence = 0;

/** A money row written with SQL, amounts as decimal text, as Postgres stores them. */
async function bookMoney(row: Money): Promise<number> {
  const reference = row.reference === undefined ? `obj_ledger_${++objectSequence}` : row.reference;
  const [inserted] = await testApp.sql<{ id: string }[]>`
    insert into ledger_entries (kind, category, amount_usd, currency, occurred_at, user_id, task_id,
      stripe_object_id, original_amount, original_currency)
    values (${row.kind}, ${row.category}, ${row.amount}::numeric, ${row.currency ?? "usd"}, ${row.occurredAt},
      ${row.userId ?? null}, ${row.taskId ?? null}, ${reference}, ${row.originalAmount ?? null}::numeric,
      ${row.originalCurrency ?? null})
    returning id`;
  return Number(inserted!.id);
}

interface Credit {
  userId: number;
  source: "payment" | "invoice" | "refund" | "dispute" | "task" | "admin";
  sourceKey: string;
  amount: string;
  occurredAt: string;
  taskId?: number | null;
}

async function bookCredit(row: Credit): Promise<number> {
  const [inserted] = await testApp.sql<{ id: string }[]>`
    insert into credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
    values (${row.userId}, ${row.source}, ${row.sourceKey}, ${row.amount}::numeric, ${row.taskId ?? null},
      ${row.occurredAt})
    returning id`;
  return Number(inserted!.id);
}

/** The entry as the JSON answer shows it, with every field a book does not have as null. */
function entry(fields: Record<string, unknown>) {
  return {
    user_id: null,
    task_id: null,
    reference: null,
    original_amount: null,
    original_currency: null,
    ...fields,
  };
}

function expectError(response: Awaited<ReturnType<typeof get>>, status: number, code: string, message?: RegExp) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  expect(response.json()).toEqual({
    error: message ? expect.stringMatching(message) : expect.any(String),
    code,
    request_id: expect.any(String),
  });
}

describe("GET /api/ledger", () => {
  it("lists both books in one list, by time, then book, then id", async () => {
    const ada = await createUser("ada@ledger.example");
    const task = await createTask();
    const cost = await bookMoney({
      kind: "expense",
      category: "api_cost",
      amount: "0.000300",
      occurredAt: "2025-01-10T09:00:00.000Z",
      userId: ada,
      taskId: task,
      reference: null,
    });
    // Three movements at one instant: credit before money, and within money by id.
    const at = "2025-01-10T10:30:00.000Z";
    const subscription = await bookMoney({
      kind: "income",
      category: "subscription",
      amount: "120.00",
      occurredAt: at,
      userId: ada,
      reference: "in_ledger_1",
      originalAmount: "110.50",
      originalCurrency: "eur",
    });
    const fee = await bookMoney({ kind: "expense", category: "payment_fee", amount: "3.78", occurredAt: at });
    const grant = await bookCredit({
      userId: ada,
      source: "invoice",
      sourceKey: "in_ledger_1",
      amount: "120",
      occurredAt: at,
    });
    const charge = await bookCredit({
      userId: ada,
      source: "task",
      sourceKey: String(task),
      amount: "-0.25",
      taskId: task,
      occurredAt: "2025-01-11T00:00:00.000Z",
    });
    const refund = await bookMoney({
      kind: "income",
      category: "refund",
      amount: "-20",
      occurredAt: "2025-01-09T23:59:59.999Z",
      userId: ada,
      reference: "re_ledger_1",
    });

    const response = await get("/api/ledger?from=2025-01-09&to=2025-01-11");
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(response.json()).toEqual({
      from: "2025-01-09",
      to: "2025-01-11",
      entries: [
        entry({
          book: "money",
          id: refund,
          occurred_at: "2025-01-09T23:59:59.999Z",
          kind: "income",
          category: "refund",
          amount: -20,
          currency: "usd",
          user_id: "ada@ledger.example",
          reference: "re_ledger_1",
        }),
        entry({
          book: "money",
          id: cost,
          occurred_at: "2025-01-10T09:00:00.000Z",
          kind: "expense",
          category: "api_cost",
          amount: 0.0003,
          currency: "usd",
          user_id: "ada@ledger.example",
          task_id: task,
        }),
        entry({
          book: "credit",
          id: grant,
          occurred_at: at,
          kind: "credit",
          category: "invoice",
          amount: 120,
          currency: "usd",
          user_id: "ada@ledger.example",
          reference: "in_ledger_1",
        }),
        entry({
          book: "money",
          id: subscription,
          occurred_at: at,
          kind: "income",
          category: "subscription",
          amount: 120,
          currency: "usd",
          user_id: "ada@ledger.example",
          reference: "in_ledger_1",
          original_amount: 110.5,
          original_currency: "eur",
        }),
        entry({
          book: "money",
          id: fee,
          occurred_at: at,
          kind: "expense",
          category: "payment_fee",
          amount: 3.78,
          currency: "usd",
          reference: expect.stringMatching(/^obj_ledger_/),
        }),
        entry({
          book: "credit",
          id: charge,
          occurred_at: "2025-01-11T00:00:00.000Z",
          kind: "debit",
          category: "task",
          amount: -0.25,
          currency: "usd",
          user_id: "ada@ledger.example",
          task_id: task,
          reference: String(task),
        }),
      ],
    });
    expect(subscription).toBeLessThan(fee);

    const versioned = await get("/api/v1/ledger?from=2025-01-09&to=2025-01-11");
    expect(versioned.statusCode).toBe(200);
    expect(versioned.json()).toEqual(response.json());
  });

  it("takes from and to as UTC days, both included up to their last millisecond", async () => {
    const grace = await createUser("grace@ledger.example");
    const instants = [
      "2025-03-01T23:59:59.999Z", // the day before
      "2025-03-02T00:00:00.000Z", // from's first instant
      "2025-03-03T12:00:00.000Z",
      "2025-03-04T23:59:59.999Z", // to's last instant
      "2025-03-05T00:00:00.000Z", // the day after
    ];
    for (const [index, occurredAt] of instants.entries()) {
      await bookMoney({ kind: "income", category: "micro_payment", amount: `${index + 1}.00`, occurredAt });
      await bookCredit({ userId: grace, source: "payment", sourceKey: `pi_bounds_${index}`, amount: "1", occurredAt });
    }

    const response = await get("/api/ledger?from=2025-03-02&to=2025-03-04");
    expect(response.statusCode).toBe(200);
    const entries: { book: string; occurred_at: string; amount: number }[] = response.json().entries;
    expect(entries.map((e) => [e.book, e.occurred_at])).toEqual([
      ["credit", "2025-03-02T00:00:00.000Z"],
      ["money", "2025-03-02T00:00:00.000Z"],
      ["credit", "2025-03-03T12:00:00.000Z"],
      ["money", "2025-03-03T12:00:00.000Z"],
      ["credit", "2025-03-04T23:59:59.999Z"],
      ["money", "2025-03-04T23:59:59.999Z"],
    ]);

    const oneDay = await get("/api/ledger?from=2025-03-05&to=2025-03-05");
    expect(oneDay.json().entries.map((e: { amount: number }) => e.amount)).toEqual([1, 5]);
    const nothing = await get("/api/ledger?from=2025-02-01&to=2025-02-28");
    expect(nothing.json()).toEqual({ from: "2025-02-01", to: "2025-02-28", entries: [] });
  });

  it("keeps amounts exact: JSON numbers in JSON, the exact decimals in CSV", async () => {
    const tiny = await bookMoney({
      kind: "expense",
      category: "api_cost",
      amount: "0.000001",
      occurredAt: "2025-04-01T08:00:00Z",
    });
    const large = await bookMoney({
      kind: "income",
      category: "subscription",
      amount: "1234567.891011121314",
      occurredAt: "2025-04-01T09:00:00Z",
      originalAmount: "1000000.000000000001",
      originalCurrency: "eur",
    });
    await bookMoney({ kind: "income", category: "refund", amount: "-0.05", occurredAt: "2025-04-01T10:00:00Z" });
    await bookMoney({ kind: "income", category: "micro_payment", amount: "0.1", occurredAt: "2025-04-01T11:00:00Z" });

    // JSON numbers are doubles (SPEC): each is the nearest one to the exact amount. The CSV is exact.
    const json = await get("/api/ledger?from=2025-04-01&to=2025-04-01");
    expect(json.json().entries.map((e: { id: number; amount: number }) => [e.id, e.amount])).toEqual([
      [tiny, 0.000001],
      [large, Number("1234567.891011121314")],
      [expect.any(Number), -0.05],
      [expect.any(Number), 0.1],
    ]);
    expect(json.json().entries[1]).toMatchObject({ original_amount: 1_000_000, original_currency: "eur" });

    const csv = await get("/api/ledger?from=2025-04-01&to=2025-04-01&format=csv");
    const amounts = csv.body
      .trimEnd()
      .split("\r\n")
      .slice(1)
      .map((line) => [line.split(",")[5], line.split(",")[10]]);
    expect(amounts).toEqual([
      ["0.000001", ""],
      ["1234567.891011121314", "1000000.000000000001"],
      ["-0.05", ""],
      ["0.10", ""],
    ]);
  });

  it("answers CSV for Accept: text/csv or ?format=csv, quoted per RFC 4180 and safe to open in a spreadsheet", async () => {
    const formula = await createUser('=HYPERLINK("https://evil.example","click")');
    const plus = await createUser("+1 555, ext. 2");
    const quoted = await createUser('line one\nsays "hi"');
    const at = "2025-05-01T12:00:00.000Z";
    const first = await bookMoney({
      kind: "income",
      category: "refund",
      amount: "-5",
      occurredAt: at,
      userId: formula,
      reference: "@SUM(A1:A9)",
    });
    const second = await bookMoney({
      kind: "income",
      category: "micro_payment",
      amount: "1.5",
      occurredAt: at,
      userId: plus,
      reference: "-2+3",
    });
    const credit = await bookCredit({
      userId: quoted,
      source: "admin",
      sourceKey: "\tgrant",
      amount: "-7.25",
      occurredAt: at,
    });

    const header =
      "book,id,occurred_at,kind,category,amount,currency,user_id,task_id,reference,original_amount,original_currency";
    const expected = [
      header,
      `credit,${credit},${at},debit,admin,-7.25,usd,"line one\nsays ""hi""",,'\tgrant,,`,
      `money,${first},${at},income,refund,-5.00,usd,"'=HYPERLINK(""https://evil.example"",""click"")",,'@SUM(A1:A9),,`,
      `money,${second},${at},income,micro_payment,1.50,usd,"'+1 555, ext. 2",,'-2+3,,`,
    ]
      .map((line) => `${line}\r\n`)
      .join("");

    for (const [url, accept] of [
      ["/api/ledger?from=2025-05-01&to=2025-05-01", "text/csv"],
      ["/api/ledger?from=2025-05-01&to=2025-05-01", "application/json;q=0.5, text/csv"],
      ["/api/ledger?from=2025-05-01&to=2025-05-01&format=csv", undefined],
      ["/api/ledger?from=2025-05-01&to=2025-05-01&format=csv", "application/json"],
    ] as const) {
      const response = await get(url, accept ? { accept } : {});
      expect(response.statusCode, `${url} ${accept}`).toBe(200);
      expect(response.headers["content-type"]).toBe("text/csv; charset=utf-8");
      expect(response.headers["content-disposition"]).toBe('attachment; filename="ledger-2025-05-01-2025-05-01.csv"');
      expect(response.body).toBe(expected);
    }

    for (const [url, accept] of [
      ["/api/ledger?from=2025-05-01&to=2025-05-01", undefined],
      ["/api/ledger?from=2025-05-01&to=2025-05-01", "application/json, text/csv"],
      ["/api/ledger?from=2025-05-01&to=2025-05-01", "text/csv;q=0, application/json;q=0.1"],
      ["/api/ledger?from=2025-05-01&to=2025-05-01&format=json", "text/csv"],
    ] as const) {
      const response = await get(url, accept ? { accept } : {});
      expect(response.headers["content-type"], `${url} ${accept}`).toBe("application/json; charset=utf-8");
      expect(response.json().entries.map((e: { id: number }) => e.id)).toEqual([credit, first, second]);
    }

    const empty = await get("/api/ledger?from=2025-05-02&to=2025-05-03&format=csv");
    expect(empty.headers["content-disposition"]).toBe('attachment; filename="ledger-2025-05-02-2025-05-03.csv"');
    expect(empty.body).toBe(`${header}\r\n`);
  });

  it("reads page after page, across instants shared by many entries of both books, each entry once", async () => {
    const owner = await createUser("bulk@ledger.example");
    // More entries at one instant than a page holds, in both books: pages end inside a book and
    // inside an instant, and must go on exactly after their last entry.
    const bookMany = async (book: "money" | "credit", count: number, at: string) => {
      const rows =
        book === "money"
          ? await testApp.sql<{ id: string }[]>`
              insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
              select 'income', 'micro_payment', n / 1000.0, ${at}::timestamptz, 'pi_bulk_' || ${at} || '_' || n
              from generate_series(1, ${count}::int) as n
              returning id`
          : await testApp.sql<{ id: string }[]>`
              insert into credit_entries (user_id, source, source_key, amount, occurred_at)
              select ${owner}, 'payment', 'pi_bulk_' || ${at} || '_' || n, n / 1000.0, ${at}::timestamptz
              from generate_series(1, ${count}::int) as n
              returning id`;
      return rows.map((row) => [book, Number(row.id)] as const).sort((x, y) => x[1] - y[1]);
    };
    const first = "2025-06-01T08:00:00.000Z";
    const second = "2025-06-01T08:00:00.001Z";
    const money1 = await bookMany("money", 1300, first);
    const credit1 = await bookMany("credit", 1200, first);
    const credit2 = await bookMany("credit", 999, second);
    const money2 = await bookMany("money", 1001, second);
    const expected = [...credit1, ...money1, ...credit2, ...money2];

    const json = await get("/api/ledger?from=2025-06-01&to=2025-06-01");
    const entries: { book: string; id: number; occurred_at: string }[] = json.json().entries;
    expect(entries.map((e) => [e.book, e.id])).toEqual(expected);
    expect(entries.at(1199)?.occurred_at).toBe(first);
    expect(entries.at(2500)?.occurred_at).toBe(second);

    const csv = await get("/api/ledger?from=2025-06-01&to=2025-06-01", { accept: "text/csv" });
    const lines = csv.body.split("\r\n");
    expect(lines).toHaveLength(expected.length + 2); // the header, the entries, "" after the last CRLF
    expect(lines.slice(1, -1).map((line) => line.split(",").slice(0, 2).join(","))).toEqual(
      expected.map(([book, id]) => `${book},${id}`),
    );
    expect(lines.at(-2)).toBe(
      `money,${money2.at(-1)![1]},${second},income,micro_payment,1.001,usd,,,pi_bulk_${second}_1001,,`,
    );
  });

  describe("on a real socket, with a client that stops reading (`inject` reads the whole answer at once)", () => {
    const APP = "ai-task-service"; // the application_name of the app's sessions (packages/db)
    // Some 50 MB of CSV: more than the loopback sockets can buffer (Linux autotunes a receive buffer
    // up to tcp_rmem's maximum, 32 MB here, besides the 4 MB send buffer); with 20 MB the whole answer
    // sometimes fitted, and the server never had to wait for the client.
    const ROWS = 150_000;
    let app: TestApp;
    let database: ReturnType<typeof createDatabase>;
    let observer: postgres.Sql;
    let serverSide: ServerResponse | undefined;
    beforeAll(async () => {
      // The app, with sessions that wait at most 200 ms for a lock (5 s in production).
      database = createDatabase(env.databaseUrl, { sessionLimits: { lock_timeout: 200 } });
      app = await createTestApp(env, { db: database.db, adminKeyDigests: adminKeyDigests([ADMIN]) });
      await app.app.listen({ port: 0, host: "127.0.0.1" });
      app.app.server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
        serverSide = response;
      });
      observer = postgres(env.databaseUrl, { max: 1, connection: { application_name: "ledger-test" } });
      await observer`
        insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
        select 'expense', 'payment_fee', 0.3, '2025-08-01T00:00:00Z'::timestamptz + n * interval '1 millisecond',
          repeat('x', 300) || n
        from generate_series(1, ${ROWS}::int) as n`;
    });
    afterAll(async () => {
      await app.close(ROWS_WRITTEN_BY_HAND);
      await database.close();
      await observer.end();
    });

    const appSessions = async () => {
      const [row] = await observer<{ sessions: number }[]>`
        select count(*)::int as sessions from pg_stat_activity
        where datname = current_database() and application_name = ${APP}`;
      return row!.sessions;
    };
    const activeAppSessions = async () => {
      const [row] = await observer<{ active: number }[]>`
        select count(*)::int as active from pg_stat_activity
        where datname = current_database() and application_name = ${APP} and state <> 'idle'`;
      return row!.active;
    };

    /** Starts the CSV of 2025-08-01, reads its first piece, then nothing until the server has to wait. */
    async function startPaused() {
      serverSide = undefined;
      const { port } = app.app.server.address() as AddressInfo;
      const request = httpGet({
        host: "127.0.0.1",
        port,
        path: "/api/ledger?from=2025-08-01&to=2025-08-01&format=csv",
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      request.on("error", () => {});
      const [response] = (await once(request, "response")) as [IncomingMessage];
      expect(response.statusCode).toBe(200);
      response.on("error", () => {});
      response.setEncoding("utf8");
      const [firstPiece] = (await once(response, "data")) as [string];
      response.pause();
      // Generous: a loaded CI machine fills the buffers slowly.
      await expect.poll(() => serverSide?.writableNeedDrain, { timeout: 40_000, interval: 50 }).toBe(true);
      return { response, received: [firstPiece] };
    }

    async function readToClose(response: IncomingMessage, received: string[]) {
      response.on("data", (piece: string) => received.push(piece));
      const closed = new Promise((resolve) => response.once("close", resolve));
      response.resume();
      await closed;
      return received.join("");
    }

    it("holds no database connection while the client is not reading", async () => {
      const { response, received } = await startPaused();
      await expect.poll(activeAppSessions).toBe(0);
      for (let check = 0; check < 3; check++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await activeAppSessions()).toBe(0);
      }
      const body = await readToClose(response, received);
      expect(response.complete).toBe(true);
      const lines = body.split("\r\n");
      expect(lines).toHaveLength(ROWS + 2);
      // The last row: ROWS milliseconds after midnight.
      const lastAt = new Date(Date.parse("2025-08-01T00:00:00Z") + ROWS).toISOString().replace(/\./g, "\\.");
      expect(lines.at(-2)).toMatch(
        new RegExp(`^money,\\d+,${lastAt},expense,payment_fee,0\\.30,usd,,,x{300}${ROWS},,$`),
      );
    });

    it("never ends the answer short when the database connections are lost meanwhile", async () => {
      const { response, received } = await startPaused();
      // Every connection of the app's pool is cut, as by a database restart or a failover. The next
      // page is read on a new connection, or (sent to one not yet known to be gone) fails: then the
      // answer is cut off. A cursor would end as if every row had been read (postgres.js 3.4.9).
      await observer`
        select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = ${APP}`;
      await expect.poll(appSessions).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 100));

      const body = await readToClose(response, received);
      const lines = body.split("\r\n").length;
      if (response.complete) expect(lines).toBe(ROWS + 2);
      else expect(lines).toBeLessThan(ROWS + 2);
      const again = await get("/api/ledger?from=2025-08-01&to=2025-08-01&format=csv");
      expect(again.body.split("\r\n")).toHaveLength(ROWS + 2);
    });

    it("cuts the answer off, rather than ending it short, when a page cannot be read", async () => {
      const { response, received } = await startPaused();
      // The next page waits for this lock past the app's lock_timeout, and fails.
      const body = await observer.begin(async (transaction) => {
        await transaction`lock table ledger_entries in access exclusive mode`;
        return readToClose(response, received);
      });
      expect(response.complete).toBe(false);
      expect(body.split("\r\n").length).toBeLessThan(ROWS + 2);
      expect((await get("/api/ledger?from=2025-08-02&to=2025-08-02")).statusCode).toBe(200);
    });
  });

  it("lists today (UTC) when from and to are absent", async () => {
    const before = new Date().toISOString().slice(0, 10);
    const id = await bookMoney({
      kind: "income",
      category: "micro_payment",
      amount: "2",
      occurredAt: new Date().toISOString(),
    });
    const response = await get("/api/ledger");
    const after = new Date().toISOString().slice(0, 10);
    expect(response.statusCode).toBe(200);
    const { from, to, entries } = response.json();
    expect(from).toBe(to);
    expect([before, after]).toContain(from);
    if (before === after) expect(entries.map((e: { id: number }) => e.id)).toContain(id);
    expect((await get(`/api/ledger?from=${from}`)).json()).toMatchObject({ from, to: from });
  });

  it("answers HEAD with the headers of the answer and no body", async () => {
    for (const [accept, type] of [
      ["application/json", /^application\/json/],
      ["text/csv", /^text\/csv/],
    ] as const) {
      const response = await testApp.app.inject({
        method: "HEAD",
        url: "/api/ledger?from=2026-01-01&to=2026-12-31",
        headers: { authorization: `Bearer ${ADMIN}`, accept },
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers["content-type"]).toMatch(type);
      expect(response.body).toBe("");
    }
  });

  it("accepts a range of 366 days, both ends counted", async () => {
    const leapYear = await get("/api/ledger?from=2032-01-01&to=2032-12-31");
    expect(leapYear.json()).toEqual({ from: "2032-01-01", to: "2032-12-31", entries: [] });
    expect((await get("/api/ledger?from=2033-01-01&to=2034-01-01")).statusCode).toBe(200);
  });

  it.each([
    ["/api/ledger?from=2025-01-02&to=2025-01-01", /from must not be after to/],
    ["/api/ledger?from=2025-01-01&to=2026-01-02", /longer than 366 days/],
    ["/api/ledger?from=2000-01-01&to=2025-01-01", /longer than 366 days/],
    ["/api/ledger?from=2025-13-01&to=2025-12-31", /^from /],
    ["/api/ledger?from=2025-02-30", /^from /],
    ["/api/ledger?from=yesterday", /^from /],
    ["/api/ledger?from=2025-01-01&from=2025-01-02", /^from /],
    ["/api/ledger?from=2025-01-01&to=2025-1-5", /^to /],
    ["/api/ledger?to=2025-01-01T00:00:00Z", /^to /],
    ["/api/ledger?to=0000-01-01", /^to /],
    ["/api/ledger?from=1969-12-31&to=1970-01-01", /^from must be a day from 1970-01-01 to 9999-12-26$/],
    ["/api/ledger?from=9999-12-26&to=9999-12-27", /^to must be a day from 1970-01-01 to 9999-12-26$/],
    ["/api/ledger?format=xml", /format must be json or csv/],
    ["/api/ledger?format=CSV", /format must be json or csv/],
  ])("answers 400 for %s", async (url, message) => {
    expectError(await get(url), 400, "VALIDATION", message);
    expectError(await get(url, { accept: "text/csv" }), 400, "VALIDATION", message);
  });

  it("is for admin keys only: 403 for a user key, 401 without a key, allowed in open mode", async () => {
    const created = await testApp.app.inject({
      method: "POST",
      url: "/api/keys",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      payload: JSON.stringify({ user_id: "user-key@ledger.example" }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const userKey: string = created.json().key;

    for (const url of ["/api/ledger?from=2025-01-09&to=2025-01-11", "/api/v1/ledger?format=csv"]) {
      expectError(await get(url, { key: userKey }), 403, "FORBIDDEN", /the ledger needs an admin API key/);
      expectError(await get(url, { key: userKey, accept: "text/csv" }), 403, "FORBIDDEN");
      expectError(await get(url, { key: null }), 401, "UNAUTHORIZED");
      expectError(await get(url, { key: "ak_not_a_key" }), 401, "UNAUTHORIZED");
    }

    const open = await createTestApp(env);
    try {
      const response = await get("/api/ledger?from=2031-07-04&to=2031-07-04", { key: null }, open);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ from: "2031-07-04", to: "2031-07-04", entries: [] });
    } finally {
      await open.close(ROWS_WRITTEN_BY_HAND);
    }
  });
});
