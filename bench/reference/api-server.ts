// The bare-stack reference API: Fastify, postgres.js and a BullMQ queue, nothing of ours.
// POST /api/task is one INSERT … RETURNING and one queue.add; POST /api/tasks/batch one
// INSERT … SELECT unnest(…) RETURNING and one queue.addBulk; GET /api/task/:id one primary-key read.
import { Queue } from "bullmq";
import Fastify from "fastify";
import { Redis } from "ioredis";
import postgres from "postgres";

const env = process.env as Record<string, string>;
const sql = postgres(env.DATABASE_URL!, { max: 10, onnotice: () => {} });
const redis = new Redis(env.REDIS_URL!, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
const queue = new Queue("ref-tasks", { connection: redis, prefix: env.QUEUE_PREFIX! });
queue.on("error", () => {});
// Scenario 5 points the read at `tasks` (a million rows): the same primary-key read, bare.
const readTable = sql(env.REF_READ_TABLE ?? "ref_tasks");

const app = Fastify();
app.post("/api/task", async (request, reply) => {
  const { prompt } = request.body as { prompt?: unknown };
  if (typeof prompt !== "string" || prompt === "") return reply.code(400).send({ error: "prompt is required" });
  const [row] = await sql<{ id: string }[]>`insert into ref_tasks (input) values (${prompt}) returning id`;
  const id = Number(row!.id);
  await queue.add("run", { id, prompt }, { removeOnComplete: { count: 1000 } });
  return reply.code(202).send({ task_id: id, status: "pending", provider: "openai" });
});
app.post("/api/tasks/batch", async (request, reply) => {
  const { tasks } = (request.body ?? {}) as { tasks?: { prompt?: unknown }[] };
  if (!Array.isArray(tasks) || tasks.length === 0 || tasks.length > 1000) {
    return reply.code(400).send({ error: "tasks must hold 1 to 1000 tasks" });
  }
  const prompts: string[] = [];
  for (const task of tasks) {
    if (typeof task?.prompt !== "string" || task.prompt === "") {
      return reply.code(400).send({ error: "prompt is required" });
    }
    prompts.push(task.prompt);
  }
  const rows = await sql<{ id: string }[]>`
    insert into ref_tasks (input) select unnest(${sql.array(prompts)}::text[]) returning id`;
  const ids = rows.map((row) => Number(row.id));
  await queue.addBulk(
    ids.map((id, i) => ({
      name: "run",
      data: { id, prompt: prompts[i] },
      opts: { removeOnComplete: { count: 1000 } },
    })),
  );
  return reply.code(202).send({ tasks: ids.map((id) => ({ task_id: id, status: "pending", provider: "openai" })) });
});
app.get("/api/task/:id", async (request, reply) => {
  const [row] = await sql`select * from ${readTable} where id = ${Number((request.params as { id: string }).id)}`;
  return row ? row : reply.code(404).send({ error: "not found" });
});
app.get("/health", async () => ({ status: "healthy" }));

// postgres.js serialises arrays (the batch's unnest) only once it has read the server's array
// types, which it does on its first connection: read them before the first request can race them.
await sql`select 1`;
await app.listen({ port: Number(env.PORT), host: "127.0.0.1" });
process.once("SIGTERM", async () => {
  await app.close();
  await queue.close();
  await sql.end({ timeout: 5 });
  process.exit(0);
});
