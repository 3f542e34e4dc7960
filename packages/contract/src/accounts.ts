import { z } from "zod";
import { Count, Money, named, Timestamp } from "./registry.js";

/** An API key's record: never the key itself, except once, when it is created. */
/** A key's budget and what its current period has used of it, USD. */
export const KeyBudgetView = named(
  "KeyBudget",
  z.object({
    amount: Money.describe("the most the key's tasks of one period may spend"),
    period: z
      .enum(["day", "week", "month", "total"])
      .describe("UTC days, ISO weeks (from Monday), calendar months, or all time"),
    spent: Money.describe("charged sale prices of the period's completed tasks"),
    held: Money.describe("holds of the period's unfinished tasks"),
    remaining: Money.describe("amount − spent − held, never below 0"),
  }),
);
export type KeyBudgetView = z.infer<typeof KeyBudgetView>;

export const ApiKey = named(
  "ApiKey",
  z.object({
    id: Count,
    user_id: z.string(),
    prefix: z.string().describe("the key's first characters, to recognise it"),
    created_at: Timestamp,
    revoked_at: Timestamp.nullable(),
    budget: KeyBudgetView.nullable().describe("null: the key may spend without limit"),
  }),
);
export type ApiKey = z.infer<typeof ApiKey>;

export const CreatedApiKey = named(
  "CreatedApiKey",
  ApiKey.extend({ key: z.string().describe("the key: shown this once, only its SHA-256 is stored") }),
);
export type CreatedApiKey = z.infer<typeof CreatedApiKey>;

export const ApiKeyList = named("ApiKeyList", z.object({ keys: z.array(ApiKey) }));
export type ApiKeyList = z.infer<typeof ApiKeyList>;

/** GET /api/balance: prepaid credit, US dollars. */
export const Balance = named(
  "Balance",
  z.object({
    user_id: z.string(),
    balance: Money,
    held: Money.describe("what the user's unfinished tasks hold"),
    available: Money.describe("what new tasks may hold"),
    currency: z.literal("usd"),
  }),
);
export type Balance = z.infer<typeof Balance>;

/** POST /api/users: a user, and its prepaid credit (zeros before any). */
export const User = named(
  "User",
  Balance.extend({
    email: z.string().nullable().describe("the email a subscription checkout gave; null: none"),
    created_at: Timestamp,
  }),
);
export type User = z.infer<typeof User>;

export const CreditSource = named("CreditSource", z.enum(["payment", "invoice", "refund", "dispute", "task", "admin"]));
export type CreditSource = z.infer<typeof CreditSource>;

/** 201 of POST /api/credits: the grant (or take-back), and the balance after it. */
export const CreditGrant = named(
  "CreditGrant",
  z.object({
    id: Count,
    user_id: z.string(),
    source: CreditSource,
    amount: Money,
    reason: z.string().nullable(),
    created_at: Timestamp,
    balance: Balance,
  }),
);
export type CreditGrant = z.infer<typeof CreditGrant>;

/** POST /api/payment/*: where to send the customer. */
export const CheckoutSession = named("CheckoutSession", z.object({ checkout_url: z.url() }));
export type CheckoutSession = z.infer<typeof CheckoutSession>;
