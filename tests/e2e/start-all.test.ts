import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { formatAmount } from "@aitasks/db";
// `npm start` (node scripts/start-all.mjs): the API and one worker from one command.
import {
  exitWithin,
  expectedCostPico,
  type FakeChatServer,
  fakeAnswer,
  freePort,
  killAll,
  nodeFlagsOf,
  postTask,
  spawnCommand,
  startFakeChatServer,
  useTestEnvironment,
  waitFor,
  waitForHealth,
} from "@aitasks/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;

beforeAll(async () => {
  fake = await startFakeChatServer();
});

afterAll(async () => {
  await killAll();
  await fake?.close();
});

/** True while any process of the group `pgid` (start-all, the two tsx launchers, the two apps) runs. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

it("serves tasks, and stops with both children on SIGTERM", async () => {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const proc = spawnCommand("start-all", process.execPath, ["scripts/start-all.mjs"], {
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    // `info`, so that each app's last words before exit(0) ("closed") show in the output.
    LOG_LEVEL: "info",
  });
  await waitForHealth(proc, baseUrl, { timeoutMs: 30_000 });

  const prompt = "start-all: are you there?";
  const answer = await postTask(baseUrl, { prompt }, "?wait=10");
  expect(answer, proc.output()).toMatchObject({
    status: 200,
    body: {
      status: "completed",
      response: fakeAnswer(prompt),
      provider: "openai",
      cost: Number(formatAmount(expectedCostPico("openai", prompt))),
    },
  });

  // What an operator opens, from the same command and nothing else installed: metrics, the
  // dashboard with its bundled charts script, and the queue board (open mode: no sign-in).
  for (const [path, type] of [
    ["/metrics", "text/plain"],
    ["/dashboard", "text/html"],
    ["/dashboard/assets/charts.js", "text/javascript"],
    ["/admin/queues", "text/html"],
  ] as const) {
    const response = await fetch(`${baseUrl}${path}`);
    expect(response.status, path).toBe(200);
    expect(response.headers.get("content-type"), path).toMatch(new RegExp(`^${type}`));
  }
  expect(await (await fetch(`${baseUrl}/dashboard`)).text()).toContain('data-figure="daily-income"');

  // A connection that never sends a request (Node's fetch keeps spare ones) must not hold the
  // shutdown up: it used to, for the whole 20 s grace period, and the API then exited 1.
  const silent = connect(port, "127.0.0.1");
  await once(silent, "connect");
  silent.on("error", () => {});

  const stopping = Date.now();
  proc.child.kill("SIGTERM");
  expect(await exitWithin(proc, 40_000), proc.output()).toBe(0);
  expect(Date.now() - stopping, proc.output()).toBeLessThan(10_000);
  silent.destroy();
  console.info(`start-all exited ${Date.now() - stopping} ms after SIGTERM`);
  // Nothing it started is left running...
  await waitFor(() => !groupAlive(proc.child.pid!), 5000, { message: "the children of start-all to be gone" });
  // ...and both apps went through their clean shutdown, which ends with "closed" and exit(0).
  const closed = proc
    .output()
    .split("\n")
    .filter((line) => line.includes('"msg":"closed"'));
  expect(closed, proc.output()).toHaveLength(2);
}, 90_000);

it("runs one role when given one (npm run start:api), with that role's Node flags, and refuses unknown roles", async () => {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const proc = spawnCommand("start-api", process.execPath, ["scripts/start-all.mjs", "api"], {
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    LOG_LEVEL: "info",
  });
  await waitForHealth(proc, baseUrl, { timeoutMs: 30_000 });
  // The API is start-all's only child, and runs with the flags of scripts/node-flags.json.
  const children = readFileSync(`/proc/${proc.child.pid}/task/${proc.child.pid}/children`, "utf8").trim().split(" ");
  expect(children).toHaveLength(1);
  const commandLine = readFileSync(`/proc/${children[0]}/cmdline`, "utf8").split("\0");
  expect(commandLine.slice(1, -1)).toEqual([...nodeFlagsOf("api"), "dist/api/main.mjs"]);

  proc.child.kill("SIGTERM");
  expect(await exitWithin(proc, 40_000), proc.output()).toBe(0);
  expect(proc.output().match(/"msg":"closed"/g), proc.output()).toHaveLength(1);

  const refused = spawnCommand("start-nothing", process.execPath, ["scripts/start-all.mjs", "apis"], {});
  expect(await exitWithin(refused, 10_000)).toBe(2);
  expect(refused.output()).toContain("unknown role apis: give api, worker or nothing (both)");
}, 90_000);
