import type { ErrorAnswer, ErrorCode } from "./api-types.js";

/**
 * An error answer as the client reads it: the API's `ErrorAnswer` with the fields some errors add
 * (`available`, `task_id`, ...), or only the words of an answer that is not the API's (a proxy's
 * page), which has no `code` or `request_id`.
 */
export type ErrorBody = Partial<ErrorAnswer> & { error: string; [field: string]: unknown };

/**
 * `Retry-After` (RFC 9110 §10.2.3) in milliseconds from `now`: delay-seconds or an HTTP-date;
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A non-2xx answer of the API. `code` is the stable code to branch on (docs/errors.md); `message`
 * is the answer's `error` sentence; `body` is the whole answer, with the fields some errors add
 * (402: `available`, `required`; 409 of a cancel: the task's `status`; a `?wait` that failed:
 * `task_id`, `status`).
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  /** The HTTP status. */
  readonly status: number;
  readonly code: ErrorCode | undefined;
  /** The answer's `error`: what went wrong, in words (the same as `message`). */
  readonly error: string;
  readonly requestId: string | undefined;
  readonly body: ErrorBody;
  /** How long the API asked the client to wait before trying again (`Retry-After`), in ms. */
  readonly retryAfterMs: number | undefined;
  readonly headers: Headers;

  constructor(status: number, body: ErrorBody, headers: Headers) {
    super(body.error);
    this.status = status;
    this.code = body.code;
    this.error = body.error;
    this.requestId = body.request_id;
    this.body = body;
    this.headers = headers;
    this.retryAfterMs = parseRetryAfter(headers.get("retry-after"));
  }

  /** The error of `response`, whose body is read: the API's JSON, or (from a proxy, say) its text. */
  static async from(response: Response): Promise<ApiError> {
    const text = await response.text().catch(() => "");
    let body: ErrorBody | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object" && typeof (parsed as { error?: unknown }).error === "string") {
        body = parsed as ErrorBody;
      }
    } catch {
      // Not JSON: described below.
    }
    body ??= { error: `${response.status} ${response.statusText}${text ? `: ${text.slice(0, 500)}` : ""}`.trim() };
    return new ApiError(response.status, body, response.headers);
  }
}
