/**
 * The error family every layer speaks. Each carries a stable `code`; the API maps codes to
 * HTTP statuses in one table, and the worker maps `retryable` to BullMQ's retry-or-give-up.
 */
export type ErrorCode =
  | "VALIDATION"
  | "NOT_FOUND"
  | "CONFLICT"
  | "UPSTREAM"
  | "UNAVAILABLE"
  | "NOT_CONFIGURED"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "INSUFFICIENT_CREDIT"
  | "KEY_BUDGET_EXCEEDED";

export class AppError extends Error {
  /** Fields the answer carries beside the message (the status of a task that cannot be canceled). */
  details: Readonly<Record<string, string | number | null>> = {};

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string) {
    super("VALIDATION", message);
  }
}

export class NotFoundError extends AppError {
  constructor(message: string) {
    super("NOT_FOUND", message);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super("CONFLICT", message);
  }
}

/** A provider or payment processor failed; `retryable` says whether trying again may help. */
export class UpstreamError extends AppError {
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super("UPSTREAM", message, retryable, options);
  }
}

/** One of our own dependencies (Postgres, Redis) cannot be reached. */
export class UnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("UNAVAILABLE", message, true, options);
  }
}

/** A feature needs configuration that this deployment does not have (an API key, a price id). */
export class NotConfiguredError extends AppError {
  constructor(message: string) {
    super("NOT_CONFIGURED", message);
  }
}

/** No API key, or one that is unknown or revoked. */
export class UnauthorizedError extends AppError {
  constructor(message = "a valid API key is required: send Authorization: Bearer <key> or X-API-Key") {
    super("UNAUTHORIZED", message);
  }
}

/** A valid key that may not do this. */
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}

/** Too much at once: the caller may try again later. */
export class RateLimitedError extends AppError {
  constructor(message: string) {
    super("RATE_LIMITED", message, true);
  }
}

/**
 * A prepaid task whose hold does not fit the user's available credit. Amounts are exact (pico-USD,
 * as `parseAmount` reads them); the API shows them beside the message.
 */
export class InsufficientCreditError extends AppError {
  constructor(
    readonly available: bigint,
    readonly required: bigint,
    message = "not enough credit for this task: add credit, or ask for fewer max_tokens",
  ) {
    super("INSUFFICIENT_CREDIT", message);
  }
}

/** A submission would take its API key's spend in the budget's period past the budget (pico-USD). */
export class KeyBudgetExceededError extends AppError {
  constructor(
    readonly budget: bigint,
    readonly spent: bigint,
    readonly required: bigint,
    message = "this API key's budget for the period does not cover this request",
  ) {
    super("KEY_BUDGET_EXCEEDED", message);
  }
}
