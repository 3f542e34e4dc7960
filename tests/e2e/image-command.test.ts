// The commands the containers run, taken from the Dockerfile's CMD (the API) and docker-compose.yml's
// worker command, run here from the repository root (the image's /app has the same layout, built by
// `npm run build` as the tests' setup builds it) with the image's ENV. Docker stops a container with
// SIGTERM to its main process, then SIGKILL after the grace period: that process must be node itself,
// so that a worker lets its running task finish and both exit 0 (issue 28: under npm, the worker was
// orphaned and killed mid-call on every deploy).
import {
  exitWithin,
  type FakeChatServer,
  fakeAnswer,
  freePort,
  killAll,
  spawnCommand,
  startFakeChatServer,
  useTestEnvironment,
  waitFor,
  waitForHealth,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { composeCommand, imageCommand, imageEnvironment } from "../deployment-files.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-image-command-0123456789";

// The provider answers only when the test says so: the task is surely running when SIGTERM comes.
let answerProvider!: () => void;
const providerMayAnswer = new Promise<void>((resolve) => {
  answerProvider = resolve;
});
let fake: FakeChatServer;
let sql: postgres.Sql;

beforeAll(async () => {
  fake = await startFakeChatServer(async () => {
    await providerMayAnswer;
    return { kind: "ok" };
  });
  sql = postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  answerProvider();
  await killAll();
  await sql?.end();
  await fake?.close();
});

it("the API and the worker, as the image and compose run them, finish the running task on SIGTERM and exit 0", async () => {
  const shared: Record<string, string> = {
    ...imageEnvironment(),
    ADMIN_API_KEY: ADMIN,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    // `info`, for the lines that say each process is closing and has closed.
    LOG_LEVEL: "info",
  };
  expect(shared.NODE_ENV).toBe("production");
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const [apiProgram, ...apiArgs] = imageCommand();
  const api = spawnCommand("api", apiProgram!, apiArgs, { ...shared, PORT: String(port), HOST: "127.0.0.1" });
  const [workerProgram, ...workerArgs] = composeCommand("worker");
  const worker = spawnCommand("worker", workerProgram!, workerArgs, shared);
  await waitForHealth(api, baseUrl, { timeoutMs: 30_000 });

  // A client waiting for its task, which is at the provider.
  const prompt = "image command: stop gracefully";
  const waiting = fetch(`${baseUrl}/api/task?wait=60`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ prompt }),
  });
  await waitFor(() => fake.requests.length === 1, 30_000, {
    message: () => `the task at the provider; output:\n${api.output()}\n${worker.output()}`,
  });

  // What `docker compose stop` does: SIGTERM to each container's main process.
  api.child.kill("SIGTERM");
  worker.child.kill("SIGTERM");
  await waitFor(() => worker.output().includes("closing: no new jobs, waiting for running ones"), 10_000, {
    message: () => `the worker's closing line; output:\n${worker.output()}`,
  });
  // The worker waits for its task, which is still at the provider.
  expect(worker.alive(), worker.output()).toBe(true);

  // The API answers the waiting client (a closing API stops waiting: 202 with the task's id) and exits 0.
  const answer = await waiting;
  const body = (await answer.json()) as { task_id: number; status: string };
  expect([200, 202], JSON.stringify(body)).toContain(answer.status);
  expect(await exitWithin(api, 30_000), api.output()).toBe(0);
  expect(api.output()).toContain('"msg":"closed"');

  answerProvider();
  expect(await exitWithin(worker, 30_000), worker.output()).toBe(0);
  expect(worker.output()).toContain('"msg":"closed"');
  const [task] = await sql<{ status: string; output: string | null }[]>`
    select status, output from tasks where id = ${body.task_id}`;
  expect(task).toEqual({ status: "completed", output: fakeAnswer(prompt) });
  expect(fake.requests).toHaveLength(1);
}, 90_000);
