// Requests that arrive together share their statements (batchPerTurn, opted in by the API's wiring): single submissions are
// stored by one statement and queued by one call, reads of tasks by id are one select. Each client
// still gets its own answer: its own task, prompt and priority; a value Postgres refuses fails only
// the submission it belongs to; another user's task stays hidden.
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-together-0123456789";
const env = useTestEnvironment();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
/** The same database, with API keys: an admin and two users. */
let keyed: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  testApp = await createTestApp(env);
  // No worker here: the queue only collects jobs.
  await testApp.queues.tasks.pause();
  // What a statement inserted, counted by Postgres, and a prompt that a trigger refuses: the test's
  // own database, so neither reaches another test.
  await testApp.sql.unsafe(`
    create table inserted_together (rows int not null);
    create function count_inserted_together() returns trigger language plpgsql as $$
      begin insert into inserted_together select count(*) from new_rows; return null; end $$;
    create trigger count_inserted_together after insert on tasks referencing new table as new_rows
      for each statement execute function count_inserted_together();
    create function refuse_poison() returns trigger language plpgsql as $$
      begin raise exception 'poisoned prompt'; end $$;
    create trigger refuse_poison before insert on tasks for each row when (new.input = 'poison')
      execute function refuse_poison();`);
});
afterAll(async () => {
  await testApp?.close();
  await keyed?.close();
});

const submit = (payload: object) => testApp.app.inject({ method: "POST", url: "/api/task", payload: { ...payload } });

describe("submissions", () => {
  it("stores 50 concurrent submissions in few statements, each as its own task with its own job", async () => {
    const submissions = Array.from({ length: 50 }, (_, index) => ({
      prompt: `together ${index}`,
      priority: (index % 10) + 1,
      ...(index % 7 === 0 ? { provider: "mistral" } : {}),
    }));
    const answers = await Promise.all(submissions.map(submit));

    expect(answers.map((answer) => answer.statusCode)).toEqual(submissions.map(() => 202));
    const ids = answers.map((answer) => answer.json().task_id as number);
    expect(new Set(ids).size).toBe(50);
    const rows = await testApp.sql<{ id: number; input: string; provider: string; priority: number }[]>`
    select id::int, input, provider::text, priority from tasks where id = any(${ids}::bigint[])`;
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const [index, submission] of submissions.entries()) {
      expect(byId.get(ids[index]!)).toEqual({
        id: ids[index],
        input: submission.prompt,
        provider: submission.provider ?? "openai",
        priority: submission.priority,
      });
      const job = await testApp.queues.tasks.getJob(`task-${ids[index]}`);
      expect(job?.opts.priority, `job of ${submission.prompt}`).toBe(submission.priority);
    }
    const statements = await testApp.sql<{ rows: number }[]>`select rows from inserted_together`;
    expect(statements.reduce((sum, statement) => sum + statement.rows, 0)).toBe(50);
    expect(statements.length).toBeLessThan(10);
  });

  it("fails only the submission whose value Postgres refuses; the others arriving with it are stored", async () => {
    const prompts = ["before poison", "poison", "after poison"];
    const answers = await Promise.all(prompts.map((prompt) => submit({ prompt })));

    expect(answers.map((answer) => answer.statusCode)).toEqual([202, 500, 202]);
    expect(answers[1]!.json()).toMatchObject({ code: "INTERNAL" });
    const stored = await testApp.sql<{ input: string }[]>`
    select input from tasks where input = any(${prompts}::text[]) order by id`;
    expect(stored.map((row) => row.input)).toEqual(["before poison", "after poison"]);
  });
});

describe("reads", () => {
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  let keys: { ada: string; bob: string };

  beforeAll(async () => {
    keyed = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
    const keyOf = async (user: string) => {
      const response = await keyed.app.inject({
        method: "POST",
        url: "/api/keys",
        headers: bearer(ADMIN),
        payload: { user_id: user },
      });
      expect(response.statusCode).toBe(201);
      return response.json().key as string;
    };
    keys = { ada: await keyOf("ada@example.com"), bob: await keyOf("bob@example.com") };
  });

  const submitAs = async (key: string, prompt: string) => {
    const response = await keyed.app.inject({
      method: "POST",
      url: "/api/task",
      headers: bearer(key),
      payload: { prompt },
    });
    expect(response.statusCode).toBe(202);
    return response.json().task_id as number;
  };
  const read = (key: string, id: number) =>
    keyed.app.inject({ method: "GET", url: `/api/task/${id}`, headers: bearer(key) });

  it("answers each of many concurrent reads with its own task, hiding another user's", async () => {
    const ada = await Promise.all(Array.from({ length: 20 }, (_, index) => submitAs(keys.ada, `ada's ${index}`)));
    const bob = await submitAs(keys.bob, "bob's");
    const missing = Math.max(...ada, bob) + 1000;
    // Ada's tasks, one of them twice; Bob's, read by Bob and by Ada; one that does not exist.
    const reads: [string, number, number, string | undefined][] = [
      ...ada.map((id, index): [string, number, number, string] => [keys.ada, id, 200, `ada's ${index}`]),
      [keys.ada, ada[3]!, 200, "ada's 3"],
      [keys.bob, bob, 200, "bob's"],
      [keys.ada, bob, 404, undefined],
      [ADMIN, bob, 200, "bob's"],
      [keys.ada, missing, 404, undefined],
    ];
    const answers = await Promise.all(reads.map(([key, id]) => read(key, id)));

    for (const [index, [, id, status, input]] of reads.entries()) {
      const answer = answers[index]!;
      expect(answer.statusCode, `read ${index} of task ${id}`).toBe(status);
      if (status === 200) expect(answer.json()).toMatchObject({ id, input });
      else expect(answer.json()).toMatchObject({ error: `task ${id} not found` });
    }
    expect(answers[0]!.json().user_id).toBe("ada@example.com");
    expect(answers[20]!.json().user_id).toBe("ada@example.com");
    expect(answers[21]!.json().user_id).toBe("bob@example.com");
  });
});
