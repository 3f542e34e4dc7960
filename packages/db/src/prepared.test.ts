import { useTestEnvironment } from "@aitasks/testing";
import { eq, getTableColumns, sql, TransactionRollbackError } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createDatabase } from "./client.js";
import { directStatement } from "./prepared.js";
import { tasks, users } from "./schema/index.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
let taskId: number;

const findTask = directStatement(getTableColumns(tasks), (db, columns) =>
  db
    .select(columns)
    .from(tasks)
    .where(eq(tasks.id, sql.placeholder("id"))),
);
const insertUser = directStatement({ id: users.id, identifier: users.identifier }, (db, columns) =>
  db
    .insert(users)
    .values({ identifier: sql.placeholder("identifier") })
    .returning(columns),
);

beforeAll(async () => {
  database = createDatabase(env.databaseUrl, { max: 2 });
  const [user] = await insertUser(database.db, { identifier: "ada" });
  // Every column set, so that each one's decoding is compared.
  const [task] = await database.db
    .insert(tasks)
    .values({
      status: "completed",
      provider: "mistral",
      model: "mistral-small-latest",
      input: "prompt",
      output: "answer",
      promptTokens: 3,
      completionTokens: 4,
      tokensUsed: 7,
      cachedTokens: 1,
      reasoningTokens: 2,
      maxOutputTokens: 100,
      price: { cost: { input: "0.2" }, sale: { input: "0.3" } },
      holdUsd: "0.000123456789",
      chargedUsd: "0.000012345678",
      costUsd: "0.000001234567",
      userId: user!.id,
      attempts: 2,
      priority: 3,
      stream: true,
      callbackUrl: "https://example.com/hook",
      leaseOwner: "worker-1",
      leaseExpiresAt: new Date("2026-01-02T03:04:05.678Z"),
      error: "none",
      startedAt: new Date("2026-01-02T03:04:00.001Z"),
      completedAt: new Date("2026-01-02T03:04:06.999Z"),
    })
    .returning({ id: tasks.id });
  taskId = task!.id;
});
afterAll(() => database.close());

it("reads and writes the same rows as drizzle does, every column decoded alike", async () => {
  const [byDrizzle] = await database.db.select().from(tasks).where(eq(tasks.id, taskId));
  const [direct] = await findTask(database.db, { id: taskId });
  expect(direct).toEqual(byDrizzle);
  expect(direct!.completedAt).toEqual(new Date("2026-01-02T03:04:06.999Z"));
  expect(direct!.userId).toBeTypeOf("number");

  const [user] = await insertUser(database.db, { identifier: "grace" });
  expect(user).toEqual({ id: expect.any(Number), identifier: "grace" });
  expect(await findTask(database.db, { id: taskId + 1000 })).toEqual([]);
});

it("runs in a transaction through drizzle, seeing the transaction's own writes", async () => {
  const seen: { identifier?: string; output?: string | null } = {};
  const outcome = await database.db
    .transaction(async (tx) => {
      const [user] = await insertUser(tx, { identifier: "only-in-this-transaction" });
      const [row] = await tx.select().from(users).where(eq(users.id, user!.id));
      seen.identifier = row?.identifier;
      const [task] = await findTask(tx, { id: taskId });
      seen.output = task?.output;
      tx.rollback();
    })
    .catch((error: unknown) => error);
  expect(outcome).toBeInstanceOf(TransactionRollbackError);
  expect(seen).toEqual({ identifier: "only-in-this-transaction", output: "answer" });
  const left = await database.db.select().from(users).where(eq(users.identifier, "only-in-this-transaction"));
  expect(left).toEqual([]);
});
