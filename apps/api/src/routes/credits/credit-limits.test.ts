// How much credit an admin may grant at once, and how far from zero a grant may take a balance:
// numeric(24,12) holds less than 10^12, so an amount or a balance beyond MAX_CREDIT_USD is a 400,
// never the database's overflow (a 500).
import { formatAmount, parseAmount } from "@aitasks/db";
import { MAX_CREDIT_USD } from "@aitasks/ledger";
import { useTestEnvironment } from "@aitasks/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-credit-limits-0123456789";
const env = useTestEnvironment();
let t: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  t = await createTestApp(env, {}, { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN });
});
afterAll(() => t?.close());

const post = (url: string, payload: unknown) =>
  t.app.inject({ method: "POST", url, headers: { authorization: `Bearer ${ADMIN}` }, payload: payload as object });

let users = 0;
async function newUser(): Promise<string> {
  const identifier = `limits-${++users}@example.com`;
  expect((await post("/api/keys", { user_id: identifier })).statusCode).toBe(201);
  return identifier;
}

const grant = (user_id: string, amount: unknown) => post("/api/credits", { user_id, amount, reason: "limits" });

/** The balance as booked, exact. */
async function balanceOf(identifier: string): Promise<bigint> {
  const [row] = await t.sql<{ balance: string }[]>`
    select coalesce(b.balance, 0)::text as balance
    from users u left join credit_balances b on b.user_id = u.id where u.identifier = ${identifier}`;
  return parseAmount(row!.balance);
}

const LIMIT = parseAmount(String(MAX_CREDIT_USD));
const LIMIT_MESSAGE = `amount must be from -${MAX_CREDIT_USD} to ${MAX_CREDIT_USD} (US dollars)`;

function expectRefused(response: Awaited<ReturnType<typeof post>>, message: string | RegExp) {
  expect(response.statusCode, response.body).toBe(400);
  expect(response.json()).toEqual({
    error: typeof message === "string" ? message : expect.stringMatching(message),
    code: "VALIDATION",
    request_id: expect.any(String),
  });
}

describe("POST /api/credits: amounts and balances within MAX_CREDIT_USD", () => {
  it("refuses an amount beyond the limit, either sign, as a number or a string", async () => {
    const user = await newUser();
    for (const amount of [
      "999999999999.999999",
      "-999999999999.999999",
      "1000000000.000001",
      "-1000000000.000001",
      1_000_000_001,
      "500000000000",
    ]) {
      expectRefused(await grant(user, amount), LIMIT_MESSAGE);
    }
    expect(await balanceOf(user)).toBe(0n);
  });

  it("grants the limit exactly, and refuses what would take the balance past it", async () => {
    const user = await newUser();
    expect((await grant(user, String(MAX_CREDIT_USD))).statusCode).toBe(201);
    expectRefused(await grant(user, "0.000001"), /balance of 1000000000\.000001 USD: a balance may be at most/);
    // Taken back below zero to the limit, and no further.
    expect((await grant(user, -MAX_CREDIT_USD)).statusCode).toBe(201);
    expect((await grant(user, -MAX_CREDIT_USD)).statusCode).toBe(201);
    expect(await balanceOf(user)).toBe(-LIMIT);
    expectRefused(await grant(user, "-0.000001"), /balance of -1000000000\.000001 USD/);
  });

  it("lets a balance already beyond the limit (by payments) be brought back towards zero", async () => {
    const user = await newUser();
    await t.sql`insert into credit_entries (user_id, source, source_key, amount, occurred_at)
      select id, 'payment', ${`pi_limits_${user}`}, 1500000000, now() from users where identifier = ${user}`;
    expectRefused(await grant(user, "1"), /balance of 1500000001\.00 USD/);
    expect((await grant(user, "-1")).statusCode).toBe(201);
    expect(await balanceOf(user)).toBe(parseAmount("1499999999"));
  });

  it("answers any amount with 201 or 400, never more, and books exactly what it accepted", async () => {
    const user = await newUser();
    let expected = 0n;
    const decimal = fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.bigInt({ min: 0n, max: 999_999_999_999n }), fc.bigInt({ min: 0n, max: 2_000_000_000n })),
        fc.option(fc.integer({ min: 0, max: 999_999 }), { nil: undefined }),
      )
      .map(
        ([negative, whole, micros]) =>
          `${negative ? "-" : ""}${whole}${micros === undefined ? "" : `.${String(micros).padStart(6, "0")}`}`,
      );
    const amount = fc.oneof(
      decimal,
      decimal.map(Number),
      fc.double({ noNaN: true }),
      fc.constantFrom("1e9", "0x10", "", " 5 ", "1.0000000", "-0", "1000000000000", null, true, {}, []),
    );
    // A number spelled with more decimals than an amount holds (22 here): refused, once answered 500.
    expect((await grant(user, 1.0000000000000002e-6)).statusCode).toBe(400);
    await fc.assert(
      fc.asyncProperty(amount, async (sent) => {
        const response = await grant(user, sent);
        expect([201, 400], response.body).toContain(response.statusCode);
        if (response.statusCode === 201) {
          const granted = parseAmount(String(sent));
          expect(granted).not.toBe(0n);
          expect(granted >= -LIMIT && granted <= LIMIT).toBe(true);
          expected += granted;
        }
        expect(formatAmount(await balanceOf(user))).toBe(formatAmount(expected));
        expect(expected >= -LIMIT && expected <= LIMIT).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
