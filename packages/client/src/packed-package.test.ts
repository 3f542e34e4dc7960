// The client as a user gets it: `npm pack` in packages/client, the tarball installed into a project of
// its own outside the workspace, then used from plain `node` (no tsx, no workspace package to lean
// on) against the API and a worker as an operator runs them, and type-checked by `tsc` with only
// the package's own declarations: no zod, no @aitasks package, skipLibCheck off.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type FakeChatServer,
  fakeAnswer,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const typescriptCompiler = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const PROMPT = "what does the packed client see?";

const env = useTestEnvironment();
let fake: FakeChatServer;
let api: StartedApi;
let worker: RunningProcess;
/** The user's project, with the tarball installed: a temporary folder outside the workspace. */
let project: string;
/** The id of the task the packed client submitted, as the API answered it. */
let submittedTaskId: number;

/** Runs `command` in the user's project, with none of this test process's loaders or options. */
function runInProject(command: string, args: string[]) {
  const { NODE_OPTIONS: _, ...clean } = process.env;
  return run(command, args, { cwd: project, env: clean, timeout: 120_000 });
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "aitasks-client-user-"));
  const startServices = async () => {
    fake = await startFakeChatServer();
    api = await startApi({ DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl, QUEUE_PREFIX: env.queuePrefix });
    worker = startWorkerProcess(env, fake);
  };
  const packAndInstall = async () => {
    // prepack builds dist/ first: `npm pack` is all a user runs.
    await run("npm", ["pack", "--pack-destination", project], { cwd: packageRoot, timeout: 120_000 });
    const [tarball] = (await readdir(project)).filter((name) => name.endsWith(".tgz"));
    if (!tarball) throw new Error("npm pack wrote no tarball");
    await writeFile(
      join(project, "package.json"),
      JSON.stringify({ name: "user-project", private: true, type: "module" }),
    );
    await runInProject("npm", ["install", `./${tarball}`, "--no-audit", "--no-fund", "--offline"]);
  };
  await Promise.all([startServices(), packAndInstall()]);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await api?.proc.stop();
  await fake?.close();
  if (project) await rm(project, { recursive: true, force: true });
});

describe("the packed client", () => {
  it("declares no dependency: the tarball holds the built package alone", async () => {
    const installed = join(project, "node_modules/@aitasks/client");
    const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
    expect(manifest).toMatchObject({ name: "@aitasks/client", version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.private).toBeUndefined();
    expect((await readdir(installed)).sort()).toEqual(["dist", "package.json"]);
  });

  it("runs in plain node: submits a task and reads it back, completed", async () => {
    await writeFile(
      join(project, "submit.mjs"),
      `import { createClient } from "@aitasks/client";
const client = createClient({ baseUrl: process.argv[2] });
const submitted = await client.submitTask({ prompt: ${JSON.stringify(PROMPT)}, priority: 2 });
const finished = await client.waitForTask(submitted.task_id, { timeoutMs: 30_000 });
const task = await client.getTask(submitted.task_id);
console.log(JSON.stringify({ resolved: import.meta.resolve("@aitasks/client"), submitted, finished, task }));
`,
    );
    const { stdout } = await runInProject(process.execPath, ["submit.mjs", api.baseUrl]);
    const { resolved, submitted, finished, task } = JSON.parse(stdout);

    expect(resolved).toBe(`file://${project}/node_modules/@aitasks/client/dist/index.js`);
    expect(submitted).toEqual({ task_id: expect.any(Number), status: "pending", provider: "openai" });
    expect(Number.isInteger(submitted.task_id)).toBe(true);
    submittedTaskId = submitted.task_id;
    expect(finished).toMatchObject({ id: submitted.task_id, status: "completed", output: fakeAnswer(PROMPT) });
    expect(task).toEqual(finished);
    expect(task).toMatchObject({ priority: 2, input: PROMPT });
  });

  it("type-checks a user's code on its declarations alone, and refuses a wrong body", async () => {
    expect(submittedTaskId).toEqual(expect.any(Number));
    await writeFile(
      join(project, "use.ts"),
      `import { ApiError, type CreateTaskBody, createClient, type ErrorCode, type TaskView } from "@aitasks/client";

const client = createClient({ baseUrl: "http://127.0.0.1:5000" });
const body: CreateTaskBody = { prompt: "hi", provider: "mistral", priority: 3, max_tokens: 100, stream: true };
const { task_id } = await client.submitTask(body, { wait: 5 });
const received: TaskView = await client.getTask(${submittedTaskId});
const again: TaskView = await client.getTask(task_id);
for await (const event of client.events(received.id)) {
  if (event.type === "delta") console.log(event.text.length);
  else console.log(event.task.status satisfies "pending" | "processing" | "completed" | "failed" | "canceled");
}
const page = await client.listTasks({ status: "completed", limit: 10 });
console.log(page.next_cursor, again.cost, received.price?.sale.output);
try {
  await client.grantCredit({ user_id: "ada@example.com", amount: "1.50", reason: "welcome" });
} catch (error) {
  const code: ErrorCode | undefined = error instanceof ApiError ? error.code : undefined;
  console.log(code === "INSUFFICIENT_CREDIT");
}
`,
    );
    await writeFile(
      join(project, "wrong.ts"),
      `import { createClient } from "@aitasks/client";

await createClient({ baseUrl: "http://127.0.0.1:5000" }).submitTask({ prompt: "hi", priority: "high" });
`,
    );
    // A browser or Node project without @types/node: lib DOM for fetch's types; every check on.
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2023", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          types: [],
          noEmit: true,
        },
        files: ["use.ts", "wrong.ts"],
      }),
    );
    const failure = await runInProject(process.execPath, [typescriptCompiler, "-p", "tsconfig.json"]).then(
      () => undefined,
      (error: { code: number; stdout: string }) => error,
    );

    // Exactly one error, and it is the wrong body's: use.ts and the declarations check cleanly.
    expect(failure?.code).toBe(2);
    const errors = failure?.stdout.split("\n").filter((line) => /error TS\d+/.test(line));
    expect(errors).toEqual([expect.stringMatching(/^wrong\.ts\(3,\d+\): error TS2322: .*'string'.*'number'/)]);
  });
});
