import { ApiError } from "./api-error.js";
import type {
  ApiKey,
  ApiKeyList,
  Balance,
  BalanceQuery,
  CheckoutSession,
  CompletedTask,
  CreatedApiKey,
  CreateTaskBody,
  CreateUserBody,
  CreditGrant,
  CreditGrantBody,
  Health,
  KeyBudgetBody,
  Ledger,
  LedgerQuery,
  ListTasksQuery,
  MicroCheckoutBody,
  Report,
  ReportQuery,
  ReportType,
  Stats,
  SubmittedBatch,
  SubmittedTask,
  SubscriptionCheckoutBody,
  TaskCallbacks,
  TaskList,
  TaskListItem,
  TaskView,
  User,
} from "./api-types.js";
import { isRetryable, type RetryOptions, sleep, withRetries } from "./retry.js";
import { readServerSentEvents, ServerSentEventParser } from "./server-sent-events.js";
import type { TaskEvent } from "./types.js";

export interface ClientOptions {
  /** Where the API is: `https://tasks.example.com` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Another fetch (a proxy agent, a test's recorder); default the global one. */
  fetch?: typeof globalThis.fetch;
  /** How long one request may take, until its answer is read (default 30 s; a `wait` adds to it). */
  timeoutMs?: number;
  /** How submissions are retried unless a call says otherwise (default: on, with RetryOptions' defaults). */
  retry?: boolean | RetryOptions;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** This call's own timeout, instead of the client's. */
  timeoutMs?: number;
}

export interface SubmitOptions extends CallOptions {
  /**
   * Sent as `Idempotency-Key`: the same key and body never store a second task. With retries on
   * and none given, one is made up for this call, so that its retries are safe.
   */
  idempotencyKey?: string;
  /** Seconds (1 to 60) the API holds the answer while the task runs (`?wait=N`). */
  wait?: number;
  /**
   * Retries a dropped connection, a 5xx, a 429 and a 409 IDEMPOTENCY_KEY_IN_FLIGHT with the same
   * key (honouring `Retry-After`); `false`: one attempt.
   */
  retry?: boolean | RetryOptions;
}

/** A submission's answer: `CompletedTask` (it has `response`) when a `wait` saw the task complete. */
export type SubmitTaskAnswer = SubmittedTask | CompletedTask;

export interface EventsOptions {
  /** Resume after this event (an id the stream sent earlier). */
  lastEventId?: string;
  signal?: AbortSignal;
  /** Reconnections in a row that may fail before the stream gives up (default 10). */
  maxReconnects?: number;
}

export interface WaitOptions extends Omit<EventsOptions, "lastEventId"> {
  /** Rejects with a `TimeoutError` if the task has not finished by then. */
  timeoutMs?: number;
}

const FINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "canceled"]);
const DEFAULT_TIMEOUT_MS = 30_000;
/** WHATWG leaves the first reconnection delay to the client; the API sends `retry: 1000` at once anyway. */
const DEFAULT_RECONNECT_MS = 1000;

type Query = Record<string, string | number | undefined | null>;

interface RequestSpec extends CallOptions {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

/** Aborts with a TimeoutError after `ms`, or with the caller's reason when `signal` aborts. */
function deadline(ms: number, signal: AbortSignal | undefined, what: string) {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`${what} timed out after ${ms} ms`, "TimeoutError")),
    ms,
  );
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    /** Stops the timer; the caller's signal still aborts. */
    clearTimer: () => clearTimeout(timer),
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * A typed client of the API (docs/api.md), on `fetch`. Answers are typed from the contract's
 * schemas; a non-2xx answer throws an `ApiError`.
 */
export function createClient(options: ClientOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  // Called unbound: a browser's fetch refuses any `this` but the window.
  const fetchImpl =
    options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
  const defaultTimeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  function urlOf(path: string, query: Query = {}) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) search.set(name, String(value));
    }
    const text = search.toString();
    return `${baseUrl}${path}${text ? `?${text}` : ""}`;
  }

  function init(spec: RequestSpec, signal: AbortSignal, accept: string): RequestInit {
    const headers: Record<string, string> = { accept, ...spec.headers };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    if (spec.body !== undefined) headers["content-type"] = "application/json";
    return {
      method: spec.method ?? "GET",
      headers,
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal,
    };
  }

  /** One request, its answer read whole: the parsed JSON (or text) of a 2xx, an ApiError otherwise. */
  async function request<T>(spec: RequestSpec, read: "json" | "text" = "json", ok = (status: number) => status < 300) {
    const timeoutMs = spec.timeoutMs ?? defaultTimeoutMs;
    const what = `${spec.method ?? "GET"} ${spec.path}`;
    const limit = deadline(timeoutMs, spec.signal, what);
    try {
      const accept = read === "json" ? "application/json" : "text/csv";
      const response = await fetchImpl(urlOf(spec.path, spec.query), init(spec, limit.signal, accept));
      if (!ok(response.status)) throw await ApiError.from(response);
      const body = (read === "json" ? await response.json() : await response.text()) as T;
      return { body, response };
    } finally {
      limit.dispose();
    }
  }

  const json = async <T>(spec: RequestSpec) => (await request<T>(spec)).body;

  function retryPolicy(choice: boolean | RetryOptions | undefined): RetryOptions | undefined {
    const chosen = choice ?? options.retry ?? true;
    if (chosen === false) return undefined;
    return chosen === true ? {} : chosen;
  }

  /** A POST that honours Idempotency-Key, retried with one key when the policy allows. */
  async function idempotentPost<T>(path: string, body: unknown, submit: SubmitOptions, query: Query = {}) {
    const policy = retryPolicy(submit.retry);
    const key = submit.idempotencyKey ?? (policy ? randomKey() : undefined);
    const spec: RequestSpec = {
      method: "POST",
      path,
      query,
      body,
      headers: key ? { "idempotency-key": key } : {},
      signal: submit.signal,
      // The API holds a `wait` open that long before it answers.
      timeoutMs: (submit.timeoutMs ?? defaultTimeoutMs) + (submit.wait ?? 0) * 1000,
    };
    const attempt = () => json<T>(spec);
    return policy ? withRetries(attempt, policy, submit.signal) : attempt();
  }

  /**
   * A task's Server-Sent Events until its final status. A connection that drops (or an API that
   * answers 5xx or 429) is opened again after the stream's `retry:` delay (or `Retry-After`), with
   * `Last-Event-ID`, so that no event is lost or repeated; a 4xx answer throws its ApiError.
   */
  async function* events(
    id: number,
    { lastEventId, signal, maxReconnects = 10 }: EventsOptions = {},
  ): AsyncGenerator<TaskEvent, void, undefined> {
    const path = `/api/v1/task/${id}/events`;
    let position = lastEventId ?? "";
    let reconnectMs = DEFAULT_RECONNECT_MS;
    for (let failures = 0; ; ) {
      let delayMs = reconnectMs;
      const limit = deadline(defaultTimeoutMs, signal, `GET ${path}`);
      const parser = new ServerSentEventParser(position);
      try {
        const headers: Record<string, string> = position ? { "last-event-id": position } : {};
        let response: Response;
        try {
          response = await fetchImpl(urlOf(path), init({ path, headers }, limit.signal, "text/event-stream"));
          if (response.status >= 300) throw await ApiError.from(response);
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (!isRetryable(error) || ++failures > maxReconnects) throw error;
          if (error instanceof ApiError && error.retryAfterMs !== undefined) delayMs = error.retryAfterMs;
          await sleep(delayMs, signal);
          continue;
        }
        // The timeout was for the answer to start; the stream itself lasts as long as the task runs.
        limit.clearTimer();
        if (!response.body || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
          throw new Error(`GET ${path} answered ${response.status} without an event stream`);
        }
        const received = readServerSentEvents(response.body, parser);
        try {
          for (;;) {
            let next: IteratorResult<{ event: string; data: string; id: string }>;
            try {
              next = await received.next();
            } catch {
              if (signal?.aborted) throw signal.reason;
              break; // The connection dropped: reconnect below.
            }
            // Events that came in the same chunk are parsed already: none is handed on after an abort.
            if (signal?.aborted) throw signal.reason;
            if (next.done) break;
            const { event, data, id: eventId } = next.value;
            position = eventId;
            // Only a stream that gets somewhere resets the count: one that drops before any event does not.
            failures = 0;
            if (event === "status") {
              const task = JSON.parse(data) as TaskView;
              yield { type: "status", id: eventId, task } satisfies TaskEvent;
              if (FINAL_STATUSES.has(task.status)) return;
            } else if (event === "delta") {
              yield {
                type: "delta",
                id: eventId,
                text: (JSON.parse(data) as { text: string }).text,
              } satisfies TaskEvent;
            }
            // Event types this client does not know are skipped: a later API may add some.
          }
        } finally {
          await received.return(undefined);
        }
        position = parser.lastEventId;
        if (parser.retryMs !== undefined) reconnectMs = parser.retryMs;
        if (++failures > maxReconnects) throw new Error(`GET ${path}: the stream kept dropping before the task ended`);
        await sleep(reconnectMs, signal);
      } finally {
        limit.dispose();
      }
    }
  }

  return {
    /** GET /health: the answer, healthy (200) or not (503). */
    health: (call: CallOptions = {}): Promise<Health> =>
      request<Health>({ path: "/health", ...call }, "json", (status) => status === 200 || status === 503).then(
        (answer) => answer.body,
      ),

    /**
     * POST /api/task. Retried by default (see SubmitOptions.retry) under one Idempotency-Key. With
     * `wait`, a task that completed in time answers `CompletedTask`; one that failed throws a 502
     * ApiError with its `task_id` (not retried: the task was stored).
     */
    submitTask: (body: CreateTaskBody, submit: SubmitOptions = {}): Promise<SubmitTaskAnswer> =>
      idempotentPost("/api/v1/task", body, submit, { wait: submit.wait }),

    /** POST /api/tasks/batch: 1 to 1,000 tasks, stored all or none; retried as submitTask is. */
    submitBatch: (tasks: CreateTaskBody[], submit: Omit<SubmitOptions, "wait"> = {}): Promise<SubmittedBatch> =>
      idempotentPost("/api/v1/tasks/batch", { tasks }, submit),

    /** GET /api/task/{id}. */
    getTask: (id: number, call: CallOptions = {}): Promise<TaskView> => json({ path: `/api/v1/task/${id}`, ...call }),

    /** GET /api/tasks: one page, newest first. */
    listTasks: (query: ListTasksQuery = {}, call: CallOptions = {}): Promise<TaskList> =>
      json({ path: "/api/v1/tasks", query: { ...query }, ...call }),

    /** Every task of GET /api/tasks, page after page (`next_cursor`). */
    async *iterateTasks(
      query: Omit<ListTasksQuery, "cursor"> = {},
      call: CallOptions = {},
    ): AsyncGenerator<TaskListItem, void, undefined> {
      let cursor: string | null | undefined;
      do {
        const page: TaskList = await json<TaskList>({ path: "/api/v1/tasks", query: { ...query, cursor }, ...call });
        yield* page.tasks;
        cursor = page.next_cursor;
      } while (cursor);
    },

    /** POST /api/task/{id}/cancel: the task, `canceled`; a finished task throws 409 with its `status`. */
    cancelTask: (id: number, call: CallOptions = {}): Promise<TaskView> =>
      json({ method: "POST", path: `/api/v1/task/${id}/cancel`, ...call }),

    events,

    /**
     * Resolves with the task's view once it is `completed`, `failed` or `canceled`, following its
     * events (GET /api/task/{id} has no long poll): no polling, and the answer comes as the task ends.
     */
    async waitForTask(id: number, { timeoutMs, signal, ...rest }: WaitOptions = {}): Promise<TaskView> {
      const limit = timeoutMs === undefined ? undefined : deadline(timeoutMs, signal, `waiting for task ${id}`);
      try {
        for await (const event of events(id, { ...rest, signal: limit?.signal ?? signal })) {
          if (event.type === "status" && FINAL_STATUSES.has(event.task.status)) return event.task;
        }
        throw new Error(`the events of task ${id} ended before it finished`);
      } finally {
        limit?.dispose();
      }
    },

    /** GET /api/task/{id}/callbacks: the callback's state and every delivery attempt. */
    listCallbacks: (id: number, call: CallOptions = {}): Promise<TaskCallbacks> =>
      json({ path: `/api/v1/task/${id}/callbacks`, ...call }),

    /** GET /api/report/{type}. */
    getReport: (type: ReportType, query: ReportQuery = {}, call: CallOptions = {}): Promise<Report> =>
      json({ path: `/api/v1/report/${type}`, query: { ...query }, ...call }),

    /** GET /api/stats. */
    getStats: (call: CallOptions = {}): Promise<Stats> => json({ path: "/api/v1/stats", ...call }),

    /** GET /api/ledger as JSON. */
    getLedger: (query: LedgerQuery = {}, call: CallOptions = {}): Promise<Ledger> =>
      json({ path: "/api/v1/ledger", query: { ...query, format: "json" }, ...call }),

    /** GET /api/ledger as CSV: a header row, then a CRLF-ended line per entry (RFC 4180). */
    getLedgerCsv: async (query: LedgerQuery = {}, call: CallOptions = {}): Promise<string> =>
      (await request<string>({ path: "/api/v1/ledger", query: { ...query, format: "csv" }, ...call }, "text")).body,

    /** GET /api/balance: a user key's own; an admin names the user. */
    getBalance: (query: BalanceQuery = {}, call: CallOptions = {}): Promise<Balance> =>
      json({ path: "/api/v1/balance", query: { ...query }, ...call }),

    /** POST /api/credits (admin): grants credit, or takes it back with a negative amount. */
    grantCredit: (body: CreditGrantBody, call: CallOptions = {}): Promise<CreditGrant> =>
      json({ method: "POST", path: "/api/v1/credits", body, ...call }),

    /** POST /api/users (admin): creates the user, or answers the one that exists. */
    createUser: (body: CreateUserBody, call: CallOptions = {}): Promise<User> =>
      json({ method: "POST", path: "/api/v1/users", body, ...call }),

    /** POST /api/keys (admin): the key is in this answer only. */
    // The API's own route validates this body (its schema is no domain package's to share).
    createKey: (body: { user_id: string; budget?: KeyBudgetBody }, call: CallOptions = {}): Promise<CreatedApiKey> =>
      json({ method: "POST", path: "/api/v1/keys", body, ...call }),

    /** PATCH /api/keys/{id} (admin): sets the key's budget, or removes it (`null`). */
    updateKey: (id: number, body: { budget: KeyBudgetBody | null }, call: CallOptions = {}): Promise<ApiKey> =>
      json({ method: "PATCH", path: `/api/v1/keys/${id}`, body, ...call }),

    /** GET /api/keys (admin), without the keys themselves. */
    listKeys: (call: CallOptions = {}): Promise<ApiKeyList> => json({ path: "/api/v1/keys", ...call }),

    /** DELETE /api/keys/{id} (admin): the revoked key's record. */
    revokeKey: (id: number, call: CallOptions = {}): Promise<ApiKey> =>
      json({ method: "DELETE", path: `/api/v1/keys/${id}`, ...call }),

    /** POST /api/payment/subscription: a Stripe Checkout URL for the subscription. */
    createSubscriptionCheckout: (body: SubscriptionCheckoutBody, call: CallOptions = {}): Promise<CheckoutSession> =>
      json({ method: "POST", path: "/api/v1/payment/subscription", body, ...call }),

    /** POST /api/payment/micro: a Stripe Checkout URL for one micro-payment. */
    createMicroCheckout: (body: MicroCheckoutBody, call: CallOptions = {}): Promise<CheckoutSession> =>
      json({ method: "POST", path: "/api/v1/payment/micro", body, ...call }),
  };
}

export type Client = ReturnType<typeof createClient>;
