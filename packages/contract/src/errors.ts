import { z } from "zod";
import { Money, named } from "./registry.js";

/**
 * Every `code` an error answer can carry, with its status: the domain's codes (`AppError`) and the
 * HTTP layer's own. The API answers with these statuses (apps/api/src/http/errors.ts), the OpenAPI
 * document lists the codes (`ErrorCode`), and docs/errors.md lists them for clients; tests keep
 * the three the same.
 */
export const ERROR_CODES = {
  VALIDATION: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDIT: 402,
  KEY_BUDGET_EXCEEDED: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  IDEMPOTENCY_KEY_IN_FLIGHT: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  UPSTREAM: 502,
  UNAVAILABLE: 503,
  NOT_CONFIGURED: 503,
  TIMEOUT: 503,
} as const satisfies Record<string, number>;

type CodeName = keyof typeof ERROR_CODES;
export const ApiErrorCode = named(
  "ErrorCode",
  z
    .enum(Object.keys(ERROR_CODES) as [CodeName, ...CodeName[]])
    .describe("A stable code to branch on; docs/errors.md gives each its status and meaning."),
);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/**
 * Every error answer: `error` says what went wrong (what the original clients read), `code` is
 * stable, `request_id` is the one in our logs. The errors that add fields of their own have
 * schemas of their own below, named by the answers that carry them.
 */
export const ErrorAnswer = named(
  "Error",
  z.object({
    error: z.string().describe("What went wrong, in words a person can act on."),
    code: ApiErrorCode,
    request_id: z.string().describe("The request's id, as in our logs (X-Request-Id when well-formed)."),
  }),
);
export type ErrorAnswer = z.infer<typeof ErrorAnswer>;

/** 402 INSUFFICIENT_CREDIT: the credit free for new tasks, and what this request would have held. */
export const InsufficientCreditError = named(
  "InsufficientCreditError",
  ErrorAnswer.extend({
    available: Money.describe("the user's credit free for new tasks, USD"),
    required: Money.describe("what this request would have held, USD"),
  }),
);
export type InsufficientCreditError = z.infer<typeof InsufficientCreditError>;

/** 402 KEY_BUDGET_EXCEEDED: the key's budget, its spend in the period so far, and what this request needs. */
export const KeyBudgetExceededError = named(
  "KeyBudgetExceededError",
  ErrorAnswer.extend({
    budget: Money.describe("the key's budget for its period, USD"),
    spent: Money.describe("the key's spend in the period: charged sale prices plus unfinished tasks' holds, USD"),
    required: Money.describe("what this request would have held, USD"),
  }),
);
export type KeyBudgetExceededError = z.infer<typeof KeyBudgetExceededError>;
