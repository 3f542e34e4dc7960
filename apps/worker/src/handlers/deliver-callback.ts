import { deliverCallback } from "@aitasks/callbacks";
import { DelayedError, UnrecoverableError } from "bullmq";
import type { JobHandler } from "./job-handler.js";

/** An attempt that did not deliver: the job is retried after `retryInMs` (the `callback` backoff). */
export class CallbackNotDeliveredError extends Error {
  override name = "CallbackNotDeliveredError";
  constructor(
    message: string,
    readonly retryInMs: number,
  ) {
    super(message);
  }
}

export const handleDeliverCallback: JobHandler<"deliver-callback"> = async (deps, job, { taskId }) => {
  const result = await deliverCallback({ db: deps.db, ...deps.callbacks }, taskId);
  deps.logger.info({ outcome: result.outcome }, "callback attempt ended");
  if (result.outcome === "retry") throw new CallbackNotDeliveredError(result.error, result.delayMs);
  // The delivery row says `failed`; this keeps the job in BullMQ's failed set, without retries.
  if (result.outcome === "failed") throw new UnrecoverableError(result.error);
  // Another run's attempt holds the delivery: come back when its lease ends, using up no attempt.
  if (result.outcome === "leased") {
    await job.moveToDelayed(result.until.getTime() + 100, job.token);
    throw new DelayedError();
  }
  return result.outcome;
};
