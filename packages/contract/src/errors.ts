import { z } from "zod";
import { Money, named } from "./registry.js";

/**
 * Every error answer: `error` says what went wrong (what the original clients read), `code` is
 * stable (docs/errors.md lists every code with its status), `request_id` is the one in our logs.
 * Some errors add fields of their own, listed in their schemas below; a client should accept
 * others too.
 */
export const ErrorAnswer = named(
  "Error",
  z.looseObject({
    error: z.string().describe("What went wrong, in words a person can act on."),
    code: z.string().optional().describe("A stable code (docs/errors.md): VALIDATION, NOT_FOUND, ..."),
    request_id: z.string().optional().describe("The request's id, as in our logs (X-Request-Id when well-formed)."),
  }),
);
export type ErrorAnswer = z.infer<typeof ErrorAnswer>;

/** 402 INSUFFICIENT_CREDIT: the credit free for new tasks, and what this request would have held. */
export const InsufficientCreditError = named(
  "InsufficientCreditError",
  ErrorAnswer.extend({ available: Money, required: Money }),
);
export type InsufficientCreditError = z.infer<typeof InsufficientCreditError>;
