// The API's shapes, derived from the schemas the API itself validates and answers with, never
// written twice: answers from @aitasks/contract (what the server serializes and documents), requests
// from the domain packages whose schemas validate them (z.input: what may be sent, defaults left
// optional). Only types come from there: the built package carries each alias below flattened into
// a plain object type (scripts/build-package.mjs), with no zod and no workspace package behind it.
import type * as billing from "@aitasks/billing";
import type * as contract from "@aitasks/contract";
import type * as ledger from "@aitasks/ledger";
import type * as reports from "@aitasks/reports";
import type * as tasks from "@aitasks/tasks";
import type { z } from "zod";

/**
 * A query string's parameters: each optional (the API fills in its defaults), typed as the API reads
 * them rather than as the URL carries them (`limit` a number, not the text it is coerced from).
 */
type QueryOf<Schema extends z.ZodType> = {
  [Name in keyof z.input<Schema>]?: Name extends keyof z.output<Schema> ? z.output<Schema>[Name] : never;
};

/** The body of POST /api/task, and each item of a batch. */
export type CreateTaskBody = z.input<typeof tasks.CreateTaskBody>;
/** GET /api/tasks. */
export type ListTasksQuery = QueryOf<typeof tasks.ListTasksQuery>;
/** GET /api/report/{report_type}. */
export type ReportQuery = QueryOf<typeof reports.ReportQuery>;
/** GET /api/ledger: UTC days, both included, each today when absent (the method chooses the format). */
export type LedgerQuery = Omit<QueryOf<typeof reports.LedgerQuery>, "format">;
/** GET /api/balance: an admin names the user; a user key may leave it out. */
export type BalanceQuery = QueryOf<typeof ledger.BalanceQuery>;
/** POST /api/credits (admin): a grant, or a take-back with a negative amount. */
export type CreditGrantBody = z.input<typeof ledger.CreditGrantBody>;
/** A key's budget, as `POST /api/keys` and `PATCH /api/keys/{id}` take it. */
export type KeyBudgetBody = z.input<typeof ledger.KeyBudget>;
/** POST /api/users (admin). */
export type CreateUserBody = z.input<typeof billing.CreateUserBody>;
/** POST /api/payment/micro. */
export type MicroCheckoutBody = z.input<typeof billing.MicroCheckoutBody>;
/** POST /api/payment/subscription. */
export type SubscriptionCheckoutBody = z.input<typeof billing.SubscriptionCheckoutBody>;

/** GET /api/task/{task_id}, a status event's task, and the body of a task's callback. */
export type TaskView = contract.TaskView;
export type TaskStatus = contract.TaskStatus;
export type ProviderName = contract.ProviderName;
export type TaskPrice = contract.TaskPrice;
export type PerMillion = contract.PerMillion;
/** 202 of POST /api/task: accepted, not finished. */
export type SubmittedTask = contract.SubmittedTask;
export type SubmittedBatch = contract.SubmittedBatch;
/** 200 of POST /api/task?wait=N: the task completed in time. */
export type CompletedTask = contract.CompletedTask;
export type TaskList = contract.TaskList;
export type TaskListItem = contract.TaskListItem;
export type TaskCallbacks = contract.TaskCallbacks;
export type CallbackAttempt = contract.CallbackAttempt;
export type ReportType = contract.ReportType;
export type Report = contract.Report;
export type ReportFigures = contract.ReportFigures;
export type Usage = contract.Usage;
export type UsageGroup = contract.UsageGroup;
export type Stats = contract.Stats;
export type Ledger = contract.Ledger;
export type LedgerEntry = contract.LedgerEntry;
export type Balance = contract.Balance;
export type CreditGrant = contract.CreditGrant;
export type CreditSource = contract.CreditSource;
export type ApiKey = contract.ApiKey;
/** POST /api/users: a user, with its credit. */
export type User = contract.User;
/** POST /api/keys: the key is in this answer only. */
export type CreatedApiKey = contract.CreatedApiKey;
export type ApiKeyList = contract.ApiKeyList;
export type CheckoutSession = contract.CheckoutSession;
export type Health = contract.Health;
/** Every error answer; some errors add fields of their own (below). */
export type ErrorAnswer = contract.ErrorAnswer;
/** The stable codes of errors, to branch on (docs/errors.md). */
export type ErrorCode = contract.ErrorAnswer["code"];
/** 402 INSUFFICIENT_CREDIT. */
export type InsufficientCreditError = contract.InsufficientCreditError;
/** A key's budget with its current period's use, as key views show it. */
export type KeyBudget = contract.KeyBudgetView;
/** 402 KEY_BUDGET_EXCEEDED. */
export type KeyBudgetExceededError = contract.KeyBudgetExceededError;
/** A `?wait` whose task failed (502) or was canceled (409) meanwhile. */
export type WaitedTaskError = contract.WaitedTaskError;
/** 409 of a cancel: the task had finished, with this status. */
export type TaskFinishedError = contract.TaskFinishedError;
