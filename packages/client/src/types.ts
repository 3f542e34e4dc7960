// What the client sends, typed from docs/api.md. The contract package holds the API's answers
// only; the request schemas stay with the server-side domain that validates them, so these are
// written here, as narrow as the API's rules allow a type to be.
import type { ProviderName, ReportType, TaskStatus, TaskView } from "@aitasks/contract";

/** The body of POST /api/task, and each item of a batch. */
export interface CreateTaskBody {
  /** Non-empty. */
  prompt: string;
  /** Default `openai`. */
  provider?: ProviderName;
  /** An email or user name; a new one creates the user. A user key's own user always wins. */
  user_id?: string | null;
  /** A model of that provider with a price; default the provider's configured model. */
  model?: string;
  /** The output limit sent to the provider, from 1 to the model's own limit. */
  max_tokens?: number;
  /** 1 (runs first) to 10; default 5. */
  priority?: number;
  /** Stream the output as it arrives, as `delta` events of the task's stream. */
  stream?: boolean;
  /** An http(s) URL that gets the task's view when it ends, signed per Standard Webhooks. */
  callback_url?: string;
}

/** GET /api/tasks. */
export interface ListTasksQuery {
  status?: TaskStatus;
  /** 1 to 1000, default 50. */
  limit?: number;
  user_id?: string;
  /** The previous page's `next_cursor`. */
  cursor?: string;
}

/** GET /api/report/{report_type}. */
export interface ReportQuery {
  /** `YYYY-MM-DD`: the period containing that day (default today, UTC). */
  date?: string;
  group_by?: "model" | "provider" | "user";
}

/** GET /api/ledger: UTC days, both included, each today when absent. */
export interface LedgerQuery {
  from?: string;
  to?: string;
}

/** POST /api/credits (admin): a grant, or a take-back with a negative amount. */
export interface CreditGrantBody {
  user_id: string;
  /** USD, not 0, at most 6 decimals; a decimal string keeps it exact. */
  amount: number | string;
  reason: string;
}

/** POST /api/payment/micro. */
export interface MicroCheckoutBody {
  /** The numeric user id, or the identifier string the user's tasks carry. */
  user_id: number | string;
  description?: string;
}

/** One attempt at delivering a task's callback. */
export interface CallbackAttempt {
  attempt: number;
  /** ISO 8601, UTC. */
  attempted_at: string;
  /** null: no answer came (`error` says why), or the attempt is in progress. */
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
}

/**
 * GET /api/task/{task_id}/callbacks. Written here because the contract has no schema of it yet
 * (docs/api.md, "GET /api/task/{task_id}/callbacks").
 */
export interface TaskCallbacks {
  task_id: number;
  callback_url: string | null;
  state: "none" | "waiting" | "pending" | "delivered" | "failed" | "stopped";
  webhook_id: string | null;
  next_attempt_at: string | null;
  attempts: CallbackAttempt[];
}

/**
 * An event of a task's stream: `status` with the task's view at once and at every change, `delta`
 * with a piece of streamed output. A `processing` status of a new attempt starts the output again:
 * drop the pieces before it. `id` is where the stream stands (`Last-Event-ID` to resume).
 */
export type TaskEvent = { type: "status"; id: string; task: TaskView } | { type: "delta"; id: string; text: string };

export type { ReportType };
