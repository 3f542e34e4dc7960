import { errorCodesOf, isConnectionLostCode } from "@aitasks/db";
import { UnavailableError } from "@aitasks/errors";
import type { TokenUsage } from "@aitasks/providers";

/**
 * What a provider answered to one run, kept until it is booked: the usage is a fact the provider
 * bills, and the text is what the task was run for. A run that finds one (its run was killed, or
 * gave up waiting for Postgres, before booking it) books it instead of calling the provider again.
 */
export interface KeptAnswer {
  /** The run that called the provider (its lease owner): its `api_cost` is booked under this id, once. */
  runId: string;
  /** The answer's text; null for an answer that carried usage and nothing usable (it is booked, then the task retried). */
  text: string | null;
  usage: TokenUsage;
}

/**
 * Where a run keeps its answer outside Postgres and this process (the worker: in its job's data,
 * in Redis), so that neither a database outage nor a killed worker loses it.
 */
export interface AnswerKeeper {
  /** The answer a previous run of this task kept; it may or may not have been booked since. */
  kept: KeptAnswer | undefined;
  /**
   * Keeps this run's answer, before it is booked. Resolves once kept, or once it is clear it cannot
   * be (Redis unreachable too): the run then books it all the same, the booking its only record.
   */
  keep(answer: KeptAnswer): Promise<void>;
}

/** The first wait before a booking is tried again; each next wait doubles, up to the last. */
const FIRST_RETRY_MS = 200;
const LAST_RETRY_MS = 5_000;

/**
 * Runs a booking until Postgres takes it. A provider's answer must be booked whatever Postgres
 * does meanwhile: lost, its cost would be missing; left to the queue's attempts, which claim the
 * task in Postgres too, it would be given up and the provider called again. So the run keeps its
 * job (BullMQ's lock lives in Redis) and tries again while Postgres is unreachable, until it
 * answers or `stop` aborts (the job's lock was lost, the worker is closing): the answer, kept, is
 * then the next run's to book. Any other error is thrown at once, left to the queue's retries.
 * `retried` is told before each new try.
 */
export async function untilBooked<T>(
  booking: () => Promise<T>,
  stop: AbortSignal | undefined,
  retried?: () => void,
): Promise<T> {
  for (let wait = FIRST_RETRY_MS; ; wait = Math.min(2 * wait, LAST_RETRY_MS)) {
    try {
      return await booking();
    } catch (error) {
      if (!isPostgresUnavailable(error)) throw error;
      await new Promise<void>((resolve) => {
        if (stop?.aborted) return resolve();
        const stopped = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          stop?.removeEventListener("abort", stopped);
          resolve();
        }, wait);
        stop?.addEventListener("abort", stopped, { once: true });
      });
      if (stop?.aborted) {
        throw new UnavailableError("the provider's answer could not be booked yet: it is kept for the next run", {
          cause: error,
        });
      }
      retried?.();
    }
  }
}

/**
 * Postgres could not run the statement now, though it may in a moment: unreachable, restarting,
 * out of connections, or a lock or statement that outlasted our session limits. SQLSTATE classes
 * 08 (connection), 53 (resources), 57 (operator intervention, timeouts), 40 (rolled back: a
 * deadlock) and 55P03 (lock not available).
 */
function isPostgresUnavailable(error: unknown): boolean {
  return errorCodesOf(error).some(
    (code) => isConnectionLostCode(code) || /^(08|53|57|40)[0-9A-Z]{3}$/.test(code) || code === "55P03",
  );
}
