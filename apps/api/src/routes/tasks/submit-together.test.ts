// Single submissions that arrive together are stored by one statement and queued by one call
// (coalescePerTurn): each client still gets its own task, with its own prompt and priority, and a
// value Postgres refuses fails only the submission it belongs to.
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
let testApp: Awaited<ReturnType<typeof createTestApp>>;

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
afterAll(() => testApp?.close());

const submit = (payload: object) => testApp.app.inject({ method: "POST", url: "/api/task", payload: { ...payload } });

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
