import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from "fastify";
import type { Bindings, ChildLoggerOptions, Level } from "pino";

// `/api/task/42`, `/api/v1/task/42/events`, ...: every route about one task has its id here.
const TASK_PATH = /^\/api(?:\/v1)?\/task\/(\d{1,15})(?:[/?#]|$)/;

type PinoLogger = FastifyBaseLogger & {
  isLevelEnabled(level: string): boolean;
  setBindings(bindings: Bindings): void;
};

/**
 * A request's logger that becomes its pino child only when it first writes a line. Fastify makes
 * one child logger per request whenever logging is on, and pino's `child` copies the bindings and
 * rebuilds every level method, a measurable share of the API's CPU at `LOG_LEVEL=warn`, where most
 * requests write nothing (docs/performance.md). A line at a disabled level is dropped
 * here without making the child; anything else gets the same child pino would have made.
 */
class RequestLogger {
  #child: PinoLogger | undefined;
  #bindings: Bindings;

  constructor(
    readonly parent: PinoLogger,
    bindings: Bindings,
    readonly url: string,
  ) {
    this.#bindings = bindings;
  }

  #made(): PinoLogger {
    if (this.#child === undefined) {
      const taskId = TASK_PATH.exec(this.url)?.[1];
      const bindings = taskId ? { ...this.#bindings, task_id: Number(taskId) } : this.#bindings;
      this.#child = this.parent.child(bindings) as PinoLogger;
    }
    return this.#child;
  }

  #write(level: Level, args: unknown[]) {
    if (this.#child === undefined && !this.parent.isLevelEnabled(level)) return;
    (this.#made()[level] as (...line: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]) {
    this.#write("fatal", args);
  }
  error(...args: unknown[]) {
    this.#write("error", args);
  }
  warn(...args: unknown[]) {
    this.#write("warn", args);
  }
  info(...args: unknown[]) {
    this.#write("info", args);
  }
  debug(...args: unknown[]) {
    this.#write("debug", args);
  }
  trace(...args: unknown[]) {
    this.#write("trace", args);
  }
  silent() {}

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.#made().level = level;
  }
  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.parent).isLevelEnabled(level);
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#made().child(bindings, options);
  }
  setBindings(bindings: Bindings) {
    if (this.#child !== undefined) this.#child.setBindings(bindings);
    else this.#bindings = { ...this.#bindings, ...bindings };
  }
}

/**
 * Fastify's request loggers, with `task_id` bound when the URL names a task, so that every line
 * of such a request (its "incoming request" line too) carries it, as every line of the worker's
 * job for that task does: one grep for `"task_id":42` follows the task. A route's own log level or
 * serializers (we set none), and Fastify's null logger (`logger: false`), get their child at once.
 */
export const taskChildLogger: NonNullable<FastifyServerOptions["childLoggerFactory"]> = (
  logger,
  bindings,
  options,
  rawRequest,
) => {
  const lazy = options.level === undefined && options.serializers === undefined && "isLevelEnabled" in logger;
  if (lazy)
    return new RequestLogger(logger as PinoLogger, bindings, rawRequest.url ?? "") as unknown as FastifyBaseLogger;
  const taskId = TASK_PATH.exec(rawRequest.url ?? "")?.[1];
  return logger.child(taskId ? { ...bindings, task_id: Number(taskId) } : bindings, options);
};

/**
 * Binds a task created by this request to the request's remaining log lines ("request completed"),
 * in place: a second child per submission was a measurable share of its CPU. Without a logger
 * (`logger: false`) there is nothing to bind.
 */
export function bindTaskToLog(request: FastifyRequest, taskId: number) {
  const log = request.log as typeof request.log & { setBindings?: (bindings: Bindings) => void };
  log.setBindings?.({ task_id: taskId });
}
