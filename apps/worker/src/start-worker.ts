import { callbackRetryDelay } from "@aitasks/callbacks";
import { ProviderError } from "@aitasks/providers";
import { FINISHED_JOBS_KEPT, type JobName, jobCatalog, QUEUE_NAMES, type QueueName } from "@aitasks/queue";
import { type ConnectionOptions, type Job, type MinimalJob, UnrecoverableError, Worker } from "bullmq";
import type { WorkerDeps } from "./deps.js";
import { CallbackNotDeliveredError } from "./handlers/deliver-callback.js";
import { handlers } from "./handlers/index.js";

export interface WorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  reconcileEveryMs: number;
  rollupEveryMs: number;
  /**
   * How often this process writes the maintenance schedules again. Redis replicates asynchronously:
   * a failover can lose a schedule's next run, and nothing would create it until a worker restarts.
   */
  renewSchedulesEveryMs: number;
  /** A worker that ran nothing and took no job this long while jobs were ready is replaced. */
  replaceStuckAfterMs: number;
}

/** What shows whether a worker still takes jobs: when it last started one, and how many run. */
interface WorkerActivity {
  lastStartedAt: number;
  running: number;
}

/** One queue's worker in this process. */
interface WorkerSlot {
  queueName: QueueName;
  worker: Worker;
  activity: WorkerActivity;
  /** Since when jobs have been seen ready while the worker was idle and quiet. */
  readySince: number | undefined;
}

const MAX_BACKOFF_MS = 60_000;
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** The first retry of a failed schedule write; each next one waits twice as long, up to the renewal period. */
const SCHEDULE_RETRY_MS = 1000;

/** The `provider` backoff of run-task jobs: exponential from 1 s, capped; never sooner than the provider's Retry-After. */
export function providerBackoff(attemptsMade: number, _type?: string, error?: Error): number {
  const exponential = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attemptsMade - 1));
  const retryAfter = error instanceof ProviderError ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(exponential, Math.min(retryAfter, MAX_RETRY_AFTER_MS));
}

/**
 * The `callback` backoff of deliver-callback jobs: the delay the delivery computed from its own
 * attempt count (CALLBACK_RETRY_BASE_MS × 3^(n−1), capped), so a job the reconciler re-created
 * keeps the schedule; an error before any attempt waits by the job's count.
 */
function callbackBackoff(attemptsMade: number, _type?: string, error?: Error, job?: MinimalJob): number {
  if (error instanceof CallbackNotDeliveredError) return error.retryInMs;
  const backoff = job?.opts.backoff;
  const base = typeof backoff === "object" ? (backoff.delay ?? 5000) : (backoff ?? 5000);
  return callbackRetryDelay(base, attemptsMade);
}

/** What a job's log lines carry: its id, and the task it is about (`task_id`, as the API's lines have it). */
function jobLogBindings(job: Job): Record<string, unknown> {
  const taskId = (job.data as { taskId?: unknown } | undefined)?.taskId;
  return { job_id: job.id, ...(typeof taskId === "number" ? { task_id: taskId } : {}) };
}

async function processJob(deps: WorkerDeps, job: Job, lockLost: AbortSignal | undefined): Promise<unknown> {
  const name = job.name as JobName;
  const entry = jobCatalog[name];
  if (!entry) throw new UnrecoverableError(`unknown job "${job.name}"`);
  const payload = entry.payload.safeParse(job.data);
  if (!payload.success) throw new UnrecoverableError(`bad payload for ${name}: ${payload.error.message}`);
  // The handler logs through a child bound to this job, so each of its lines names the task.
  // Object.assign, not a spread followed by `logger`: Node 20's slow path (docs/performance.md).
  const jobDeps: WorkerDeps = Object.assign({}, deps, { logger: deps.logger.child(jobLogBindings(job)) });
  return (handlers[name] as (d: WorkerDeps, j: Job, p: unknown, l?: AbortSignal) => Promise<unknown>)(
    jobDeps,
    job,
    payload.data,
    lockLost,
  );
}

/**
 * Starts a worker on every queue of the catalog, and the reconciler's and the report rollup's
 * schedules (one schedule each
 * whatever the number of worker processes: `upsertJobScheduler` is idempotent by id).
 */
export async function startWorkers(deps: WorkerDeps, options: WorkerOptions) {
  // Deliveries mostly wait on receivers: as many at once as tasks.
  const concurrencyOf: Record<QueueName, number> = {
    tasks: options.concurrency,
    callbacks: options.concurrency,
    maintenance: 1,
  };
  const createWorker = (queueName: QueueName, activity: WorkerActivity) => {
    const worker = new Worker(
      queueName,
      // Declaring the third parameter makes BullMQ give each job an abort signal (`cancelJob`),
      // aborted below when the job's lock is lost or the worker stops without waiting for it.
      async (job, _token, lockLost) => {
        activity.lastStartedAt = Date.now();
        activity.running += 1;
        try {
          return await processJob(deps, job, lockLost);
        } finally {
          activity.running -= 1;
        }
      },
      {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: concurrencyOf[queueName],
        lockDuration: options.lockDurationMs,
        stalledInterval: options.lockDurationMs,
        maxStalledCount: 2,
        ...FINISHED_JOBS_KEPT,
        settings: { backoffStrategy: queueName === "callbacks" ? callbackBackoff : providerBackoff },
      },
    );
    worker.on("error", (error) => deps.logger.error({ err: error, queue: queueName }, "worker error"));
    // Another worker may take these jobs over once their lock expires: what runs them here stops
    // waiting on anything that the next attempt can do (a booking: its answer is kept in the job).
    worker.on("lockRenewalFailed", (jobIds) => {
      for (const jobId of jobIds) worker.cancelJob(jobId, "the job's lock could not be renewed");
    });
    worker.on("failed", (job, error) => {
      if (job && !(error instanceof UnrecoverableError)) {
        deps.logger.warn(
          { ...jobLogBindings(job), queue: queueName, attempt: job.attemptsMade, err: error.message },
          "job attempt failed",
        );
      }
    });
    return worker;
  };
  const slots = QUEUE_NAMES.map((queueName): WorkerSlot => {
    const activity = { lastStartedAt: Date.now(), running: 0 };
    return { queueName, worker: createWorker(queueName, activity), activity, readySince: undefined };
  });

  // A BullMQ worker can stop taking jobs for good and say nothing: after a Redis Cluster failover,
  // the idle ones (the maintenance queue's, between its runs) were seen waiting on a blocking
  // connection that never came back, while jobs waited. Such a worker is replaced: jobs ready
  // for `replaceStuckAfterMs` while it ran none and started none. A worker running a job is left
  // alone (closing it would drop the job's lock while its call goes on); a stuck one becomes idle
  // once its jobs end.
  const replaceStuck = async () => {
    for (const slot of slots) {
      const idle = slot.activity.running === 0;
      const quietFor = Date.now() - slot.activity.lastStartedAt;
      if (!idle || quietFor < options.replaceStuckAfterMs) {
        slot.readySince = undefined;
        continue;
      }
      const ready = await deps.queues[slot.queueName].getJobCounts("wait", "prioritized");
      if ((ready.wait ?? 0) + (ready.prioritized ?? 0) === 0) {
        slot.readySince = undefined;
        continue;
      }
      slot.readySince ??= Date.now();
      if (Date.now() - slot.readySince < options.replaceStuckAfterMs) continue;
      deps.logger.warn(
        { queue: slot.queueName, quiet_ms: quietFor },
        "worker took no job while jobs were ready: replacing it",
      );
      const stuck = slot.worker;
      // Not awaited: closing a stuck worker may hang where it is stuck.
      stuck.close(true).catch(() => {});
      slot.activity.lastStartedAt = Date.now();
      slot.worker = createWorker(slot.queueName, slot.activity);
      slot.readySince = undefined;
    }
  };
  const watchdog = setInterval(() => {
    replaceStuck().catch((error) => deps.logger.warn({ err: error }, "could not check the workers"));
  }, options.replaceStuckAfterMs / 3);
  watchdog.unref();

  // Writing a schedule again keeps its next run's time when that run is still there
  // (`upsertJobScheduler` replaces it with the same timestamp) and creates it when it is gone.
  const upsertSchedules = async () => {
    await deps.queues.maintenance.upsertJobScheduler(
      "reconcile-tasks",
      { every: options.reconcileEveryMs },
      { name: "reconcile-tasks", data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
    await deps.queues.maintenance.upsertJobScheduler(
      "rollup-reports",
      { every: options.rollupEveryMs },
      { name: "rollup-reports", data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  };
  // Written now, and again every renewSchedulesEveryMs. A write that fails (Redis failing over
  // while this process starts) is tried again within seconds, and never stops the worker: its
  // queues are served meanwhile, and the schedules only drive the reconciler and the rollup.
  let renewal: NodeJS.Timeout | undefined;
  let closed = false;
  const writeSchedules = async (failures: number): Promise<void> => {
    let next = options.renewSchedulesEveryMs;
    try {
      await upsertSchedules();
      failures = 0;
    } catch (error) {
      deps.logger.warn({ err: error }, "maintenance schedules not written; trying again");
      next = Math.min(next, SCHEDULE_RETRY_MS * 2 ** failures);
      failures += 1;
    }
    if (closed) return;
    renewal = setTimeout(() => void writeSchedules(failures), next);
    renewal.unref();
  };
  await writeSchedules(0);

  return {
    /** The worker this process runs on `queueName` now (the watchdog may have replaced it). */
    workerOf: (queueName: QueueName) => slots.find((slot) => slot.queueName === queueName)!.worker,
    /** Stops taking jobs and waits up to `timeoutMs` for running ones; the rest are handed back by lock expiry. */
    async close(timeoutMs: number) {
      closed = true;
      clearTimeout(renewal);
      clearInterval(watchdog);
      const workers = slots.map((slot) => slot.worker);
      let timer: NodeJS.Timeout | undefined;
      const graceful = Promise.all(workers.map((worker) => worker.close()));
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([graceful, timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        for (const worker of workers) worker.cancelAllJobs("the worker is closing");
        await Promise.all(workers.map((worker) => worker.close(true)));
      }
      return result === "timeout" ? "forced" : "drained";
    },
  };
}
