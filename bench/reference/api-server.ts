// The bare-stack reference API: Fastify, postgres.js and a BullMQ queue, nothing of ours.
// POST /api/task is one INSERT … RETURNING and one queue.add; GET /api/task/:id one primary-key read.
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
app.get("/api/task/:id", async (request, reply) => {
  const [row] = await sql`select * from ${readTable} where id = ${Number((request.params as { id: string }).id)}`;
  return row ? row : reply.code(404).send({ error: "not found" });
});
app.get("/health", async () => ({ status: "healthy" }));

await app.listen({ port: Number(env.PORT), host: "127.0.0.1" });
process.once("SIGTERM", async () => {
  await app.close();
  await queue.close();
  await sql.end({ timeout: 5 });
  process.exit(0);
});
