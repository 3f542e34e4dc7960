import { type IncomingMessage, request } from "node:http";
import postgres from "postgres";
import { type BenchContext, type Scenario, scenarioEnv } from "../lib/context.js";
import type { Figure } from "../lib/report.js";
import { type Api, redisConnection, rssMb, startApi, stopAll } from "../lib/stack.js";
import { median, sleep } from "../lib/stats.js";
import { PROMPT } from "../lib/tasks-db.js";

const STREAMS = 1_000;
/** Completions per wave and the pause between waves: about 1,000 status changes a second. */
const WAVE = 50;
const WAVE_PAUSE_MS = 50;
const GOAL_KB_PER_STREAM = 64;
const GOAL_P99_MS = 250;

/** Milliseconds on one clock for the whole process, with sub-millisecond resolution. */
const now = () => performance.timeOrigin + performance.now();

/** One open `GET /api/task/:id/events`: the statuses it received, when, and how it ended. */
interface Stream {
  taskId: number;
  statuses: { status: string; at: number }[];
  ended: Promise<void>;
  error?: string;
  response?: IncomingMessage;
}

/** Opens a task's event stream and records each `status` event's status and arrival time. */
function openStream(baseUrl: string, taskId: number): { stream: Stream; first: Promise<void> } {
  const stream = { taskId, statuses: [] } as unknown as Stream;
  let firstResolve!: () => void;
  let firstReject!: (error: Error) => void;
  const first = new Promise<void>((resolve, reject) => {
    firstResolve = resolve;
    firstReject = reject;
  });
  stream.ended = new Promise<void>((resolve) => {
    const fail = (message: string) => {
      stream.error ??= message;
      firstReject(new Error(message));
      resolve();
    };
    const req = request(`${baseUrl}/api/task/${taskId}/events`, { headers: { accept: "text/event-stream" } });
    req.on("error", (error) => fail(error.message));
    req.on("response", (response) => {
      stream.response = response;
      if (response.statusCode !== 200 || !String(response.headers["content-type"]).startsWith("text/event-stream")) {
        fail(`HTTP ${response.statusCode} ${response.headers["content-type"]}`);
        response.resume();
        return;
      }
      response.setEncoding("utf8");
      let buffer = "";
      response.on("data", (chunk: string) => {
        const at = now();
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
          const lines = block.split("\n");
          if (!lines.includes("event: status")) continue;
          const data = lines.find((line) => line.startsWith("data: "));
          const status = data ? (JSON.parse(data.slice(6)) as { status?: string }).status : undefined;
          stream.statuses.push({ status: status ?? "?", at });
          if (stream.statuses.length === 1) firstResolve();
        }
      });
      response.on("end", () => {
        if (stream.statuses.length === 0) fail("stream ended without a status");
        resolve();
      });
      response.on("error", (error) => fail(error.message));
    });
    req.end();
  });
  return { stream, first };
}

/** Creates `count` pending tasks through our batch endpoint (no worker runs, so they stay pending). */
async function createTasks(baseUrl: string, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let from = 0; from < count; from += 1_000) {
    const tasks = Array.from({ length: Math.min(1_000, count - from) }, () => ({ prompt: PROMPT }));
    const response = await fetch(`${baseUrl}/api/tasks/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tasks }),
    });
    if (response.status !== 202) throw new Error(`batch: HTTP ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { tasks: { task_id: number }[] };
    ids.push(...body.tasks.map((task) => task.task_id));
  }
  return ids;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
};

/**
 * 1,000 open `GET /api/task/:id/events` streams on one API process, on pending tasks (no worker
 * runs). Measures the API's RSS growth per open stream, then completes the tasks the way a worker
 * does (an UPDATE in Postgres, then the status announcement on Redis, in waves of 50 every 50 ms)
 * and measures the delay from each committed change to its `status` event arriving on its stream.
 */
export const events: Scenario = {
  name: "events",
  async run(context: BenchContext) {
    const plan = context.quick
      ? { rounds: 1, warmup: 100, settleMs: 1_000 }
      : { rounds: 3, warmup: 200, settleMs: 3_000 };
    const scenario = await scenarioEnv(context, "events");
    const sql = postgres(scenario.databaseUrl, { max: 1, onnotice: () => {} });
    const publisher = redisConnection(scenario.env.REDIS_URL);
    // The channel the workers announce on (packages/queue/src/task-status.ts).
    const channel = `${scenario.queuePrefix}:task-status`;
    let api: Api | undefined;
    const checks: string[] = [];
    let correct = true;
    try {
      api = await startApi("ours", scenario.env);
      const baseUrl = api.baseUrl;

      /** Completes the tasks in waves as a worker would; returns when each one's change was committed. */
      const complete = async (ids: number[]) => {
        const changedAt = new Map<number, number>();
        for (let from = 0; from < ids.length; from += WAVE) {
          const wave = ids.slice(from, from + WAVE);
          const rows = await sql<{ id: string }[]>`
            update tasks set status = 'completed', output = 'done', attempts = 1, started_at = now(),
              completed_at = now(), updated_at = now()
            where id = any(${`{${wave.join(",")}}`}::bigint[]) and status = 'pending'
            returning id`;
          const at = now();
          for (const row of rows) changedAt.set(Number(row.id), at);
          // One announcement per wave, as the worker batches the changes of one event-loop turn.
          await publisher.publish(channel, wave.map((id) => `${id}:completed`).join(","));
          await sleep(WAVE_PAUSE_MS);
        }
        return changedAt;
      };

      /** Opens one stream per task (100 at a time) and waits until each has its first status. */
      const openAll = async (ids: number[]) => {
        const streams: Stream[] = [];
        for (let from = 0; from < ids.length; from += 100) {
          const opened = ids.slice(from, from + 100).map((id) => openStream(baseUrl, id));
          streams.push(...opened.map((o) => o.stream));
          await Promise.all(opened.map((o) => o.first));
        }
        return streams;
      };

      /** Every stream said `pending`, then `completed`, and ended; returns the problems. */
      const verify = (streams: Stream[]) => {
        const problems = streams.filter(
          (s) =>
            s.error !== undefined ||
            s.statuses.length !== 2 ||
            s.statuses[0]!.status !== "pending" ||
            s.statuses[1]!.status !== "completed",
        );
        return problems.map((s) => `task ${s.taskId}: ${s.error ?? s.statuses.map((x) => x.status).join(" → ")}`);
      };

      const finish = async (streams: Stream[], ids: number[]) => {
        const changedAt = await complete(ids);
        const timeout = sleep(30_000).then(() => "timeout" as const);
        if ((await Promise.race([Promise.all(streams.map((s) => s.ended)), timeout])) === "timeout") {
          for (const s of streams) s.response?.destroy();
          throw new Error("not every stream ended within 30 s of its task's completion");
        }
        return changedAt;
      };

      // Warm-up: the same path, fewer streams, so the code is compiled and the pools are open.
      {
        const ids = await createTasks(baseUrl, plan.warmup);
        const streams = await openAll(ids);
        await finish(streams, ids);
        const problems = verify(streams);
        if (problems.length > 0) throw new Error(`warm-up: ${problems.slice(0, 5).join("; ")}`);
      }

      const rounds: {
        rssBeforeMb: number;
        rssOpenMb: number;
        rssAfterMb: number;
        kbPerStream: number;
        openSeconds: number;
        delayMs: { p50: number; p90: number; p99: number; max: number };
      }[] = [];
      for (let round = 0; round < plan.rounds; round++) {
        const ids = await createTasks(baseUrl, STREAMS);
        await sleep(plan.settleMs);
        const rssBeforeMb = rssMb(api.pid);
        const opening = Date.now();
        const streams = await openAll(ids);
        const openSeconds = (Date.now() - opening) / 1000;
        await sleep(plan.settleMs);
        const rssOpenMb = rssMb(api.pid);
        const changedAt = await finish(streams, ids);
        const problems = verify(streams);
        if (problems.length > 0 || changedAt.size !== ids.length) {
          correct = false;
          checks.push(
            `round ${round + 1}: ${problems.length} streams wrong (${problems.slice(0, 3).join("; ")}), ` +
              `${changedAt.size} of ${ids.length} tasks completed`,
          );
        }
        const delays = streams.flatMap((s) => {
          const completed = s.statuses.find((x) => x.status === "completed");
          const at = changedAt.get(s.taskId);
          return completed && at !== undefined ? [completed.at - at] : [];
        });
        await sleep(plan.settleMs);
        const result = {
          rssBeforeMb,
          rssOpenMb,
          rssAfterMb: rssMb(api.pid),
          kbPerStream: ((rssOpenMb - rssBeforeMb) * 1024) / STREAMS,
          openSeconds,
          delayMs: {
            p50: quantile(delays, 0.5),
            p90: quantile(delays, 0.9),
            p99: quantile(delays, 0.99),
            max: quantile(delays, 1),
          },
        };
        rounds.push(result);
        context.log(
          `  round ${round + 1}: RSS ${rssBeforeMb.toFixed(1)} → ${rssOpenMb.toFixed(1)} MB with ${STREAMS} streams ` +
            `(${result.kbPerStream.toFixed(1)} KB each; ${result.rssAfterMb.toFixed(1)} MB once closed), opened in ` +
            `${openSeconds.toFixed(1)} s; delay to the status event p50 ${result.delayMs.p50.toFixed(1)} ms, ` +
            `p99 ${result.delayMs.p99.toFixed(1)} ms, max ${result.delayMs.max.toFixed(1)} ms`,
        );
      }
      if (correct) {
        checks.push(
          `${plan.rounds} × ${STREAMS} streams: each sent pending, then completed once its task was, and ended`,
        );
      }

      const kb = median(rounds.map((r) => r.kbPerStream));
      const p99 = median(rounds.map((r) => r.delayMs.p99));
      const p50 = median(rounds.map((r) => r.delayMs.p50));
      const figures: Figure[] = [
        {
          metric: `API RSS growth per open stream (${STREAMS} streams)`,
          unit: "KB",
          ours: kb,
          reference: null,
          ratio: null,
          goal: `≤ ${GOAL_KB_PER_STREAM} KB`,
          met: kb <= GOAL_KB_PER_STREAM,
        },
        {
          metric: "status change to status event, p99",
          unit: "ms",
          ours: p99,
          reference: null,
          ratio: null,
          goal: `≤ ${GOAL_P99_MS} ms`,
          met: p99 <= GOAL_P99_MS,
        },
        {
          metric: "status change to status event, p50",
          unit: "ms",
          ours: p50,
          reference: null,
          ratio: null,
          goal: "–",
          met: null,
        },
      ];
      return {
        figures,
        correct,
        checks,
        raw: { plan, streams: STREAMS, wave: WAVE, wavePauseMs: WAVE_PAUSE_MS, rounds },
      };
    } finally {
      await stopAll(api ? [api.proc] : []);
      publisher.disconnect();
      await sql.end();
      await scenario.drop();
    }
  },
};
