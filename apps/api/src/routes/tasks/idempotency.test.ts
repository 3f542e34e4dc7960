// Idempotency-Key on POST /api/task (draft-ietf-httpapi-idempotency-key-header), against real
// Postgres and Redis. No worker runs here: tasks stay pending, so `?wait=N` holds a request open.
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-idempotency-0123456789";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
});
afterAll(() => t?.close());

interface Sent {
  key?: string | undefined;
  /** An object is sent as JSON; a string as it is. */
  body?: unknown;
  url?: string;
  headers?: Record<string, string | string[]>;
  remoteAddress?: string;
}

function post(app: TestApp, bearer: string | undefined, sent: Sent = {}) {
  const { key, body = { prompt: "idempotent" }, url = "/api/task", headers = {}, remoteAddress } = sent;
  return app.app.inject({
    method: "POST",
    url,
    ...(remoteAddress ? { remoteAddress } : {}),
    headers: {
      "content-type": "application/json",
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...(key === undefined ? {} : { "idempotency-key": key }),
      ...headers,
    },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
}

let keys = 0;
/** A new user with an API key of its own. */
async function newUserKey(): Promise<string> {
  const response = await post(t, ADMIN, { url: "/api/keys", body: { user_id: `idem-${++keys}@example.com` } });
  expect(response.statusCode).toBe(201);
  return response.json().key;
}

let unique = 0;
/** A key no other test uses. */
const newKey = () => `key-${++unique}-${Date.now()}`;

async function taskCount(): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`select count(*)::int as n from tasks`;
  return row!.n;
}

async function storedKeys(key: string) {
  return t.sql<{ scope: string; state: string; status_code: number | null; response_headers: object | null }[]>`
    select scope, state, status_code, response_headers from idempotency_keys where key = ${key}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function untilInFlight(key: string) {
  for (let i = 0; i < 200; i++) {
    if ((await storedKeys(key))[0]?.state === "in_flight") return;
    await sleep(10);
  }
  throw new Error(`no request claimed ${key}`);
}

describe("Idempotency-Key on POST /api/task", () => {
  it("replays the first answer (status, body, Location, Retry-After) and creates nothing more", async () => {
    const key = newKey();
    const tasksBefore = await taskCount();
    const jobsBefore = await t.queues.tasks.count();

    const first = await post(t, ADMIN, { key, body: { prompt: "once only" } });
    expect(first.statusCode).toBe(202);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const taskId = first.json().task_id;
    expect(first.headers.location).toBe(`/api/task/${taskId}`);

    for (let i = 0; i < 2; i++) {
      const again = await post(t, ADMIN, { key, body: { prompt: "once only" } });
      expect(again.statusCode).toBe(202);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.payload).toBe(first.payload);
      expect(again.headers.location).toBe(first.headers.location);
      expect(again.headers["retry-after"]).toBe(first.headers["retry-after"]);
      expect(again.headers["content-type"]).toBe(first.headers["content-type"]);
    }

    expect(await taskCount()).toBe(tasksBefore + 1);
    expect(await t.queues.tasks.count()).toBe(jobsBefore + 1);
    const [row] = await storedKeys(key);
    expect(row).toMatchObject({ scope: "admin", state: "done", status_code: 202 });
    expect(row!.response_headers).toMatchObject({ location: `/api/task/${taskId}` });
  });

  it("keeps the answer IDEMPOTENCY_TTL_S from the first request", async () => {
    const key = newKey();
    await post(t, ADMIN, { key });
    const [row] = await t.sql<{ seconds: number }[]>`
      select extract(epoch from expires_at - created_at)::int as seconds from idempotency_keys where key = ${key}`;
    expect(row!.seconds).toBe(86_400);
  });

  it("takes the same JSON with other spacing or key order, and /api/v1/task, as the same request", async () => {
    const key = newKey();
    const first = await post(t, ADMIN, { key, body: '{"prompt":"same","provider":"openai"}' });
    expect(first.statusCode).toBe(202);

    for (const sent of [
      { body: '{ "provider": "openai",\n  "prompt": "same" }' },
      { body: { prompt: "same", provider: "openai" }, url: "/api/v1/task" },
      // The wait only changes how long the first answer waited.
      { body: { prompt: "same", provider: "openai" }, url: "/api/task?wait=1" },
    ]) {
      const again = await post(t, ADMIN, { key, ...sent });
      expect(again.statusCode, JSON.stringify(sent)).toBe(202);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.json().task_id).toBe(first.json().task_id);
    }
  });

  it("reads a quoted structured-field string and the bare value as the same key", async () => {
    const key = `${newKey()}-a"b\\c`;
    const first = await post(t, ADMIN, { key: `"${key.replace(/["\\]/g, "\\$&")}"` });
    expect(first.statusCode).toBe(202);
    const again = await post(t, ADMIN, { key });
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json().task_id).toBe(first.json().task_id);
    expect(await storedKeys(key)).toHaveLength(1);

    const longest = "k".repeat(255);
    expect((await post(t, ADMIN, { key: longest })).statusCode).toBe(202);
    expect((await post(t, ADMIN, { key: `"${longest}"` })).headers["idempotent-replayed"]).toBe("true");
  });

  it("answers 422 IDEMPOTENCY_KEY_REUSED for the key with another body, and creates nothing", async () => {
    const key = newKey();
    const first = await post(t, ADMIN, { key, body: { prompt: "the first" } });
    expect(first.statusCode).toBe(202);
    const before = await taskCount();

    for (const body of [{ prompt: "another" }, { prompt: "the first", provider: "mistral" }]) {
      const reused = await post(t, ADMIN, { key, body });
      expect(reused.statusCode).toBe(422);
      expect(reused.json()).toEqual({
        error: expect.stringMatching(/Idempotency-Key/),
        code: "IDEMPOTENCY_KEY_REUSED",
        request_id: expect.any(String),
      });
      expect(reused.headers["idempotent-replayed"]).toBeUndefined();
      expect(reused.headers.location).toBeUndefined();
    }
    expect(await taskCount()).toBe(before);
    // The first answer is still there for the first request.
    expect((await post(t, ADMIN, { key, body: { prompt: "the first" } })).json().task_id).toBe(first.json().task_id);
  });

  it("answers 409 IDEMPOTENCY_KEY_IN_FLIGHT with Retry-After: 1 while the first request runs, then replays it", async () => {
    const key = newKey();
    const before = await taskCount();
    const started = Date.now();
    const slow = post(t, ADMIN, { key, url: "/api/task?wait=2" });
    await untilInFlight(key);

    const meanwhile = await post(t, ADMIN, { key });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(meanwhile.statusCode).toBe(409);
    expect(meanwhile.headers["retry-after"]).toBe("1");
    expect(meanwhile.json()).toEqual({
      error: expect.any(String),
      code: "IDEMPOTENCY_KEY_IN_FLIGHT",
      request_id: expect.any(String),
    });
    // Another body is a reuse even while the first runs.
    expect((await post(t, ADMIN, { key, body: { prompt: "other" } })).statusCode).toBe(422);

    const first = await slow;
    expect(first.statusCode).toBe(202);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    const after = await post(t, ADMIN, { key });
    expect(after.statusCode).toBe(202);
    expect(after.headers["idempotent-replayed"]).toBe("true");
    expect(after.payload).toBe(first.payload);
    expect(await taskCount()).toBe(before + 1);
  });

  it("lets exactly one of many simultaneous first requests run", async () => {
    const key = newKey();
    const before = await taskCount();
    const responses = await Promise.all(Array.from({ length: 12 }, () => post(t, ADMIN, { key })));

    const ran = responses.filter((r) => r.statusCode === 202 && r.headers["idempotent-replayed"] === undefined);
    expect(ran).toHaveLength(1);
    for (const response of responses) {
      if (response.statusCode === 409) expect(response.json().code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
      else expect(response.payload).toBe(ran[0]!.payload);
    }
    expect(await taskCount()).toBe(before + 1);
  });

  it("keeps each API key's keys apart: the same key string from two callers runs twice", async () => {
    const [alice, bob] = [await newUserKey(), await newUserKey()];
    const key = newKey();

    const fromAlice = await post(t, alice, { key, body: { prompt: "alice's" } });
    const fromBob = await post(t, bob, { key, body: { prompt: "bob's" } });
    const fromAdmin = await post(t, ADMIN, { key, body: { prompt: "alice's" } });
    for (const response of [fromAlice, fromBob, fromAdmin]) {
      expect(response.statusCode).toBe(202);
      expect(response.headers["idempotent-replayed"]).toBeUndefined();
    }
    expect(new Set([fromAlice, fromBob, fromAdmin].map((r) => r.json().task_id)).size).toBe(3);

    const aliceAgain = await post(t, alice, { key, body: { prompt: "alice's" } });
    expect(aliceAgain.headers["idempotent-replayed"]).toBe("true");
    expect(aliceAgain.payload).toBe(fromAlice.payload);
    expect((await post(t, bob, { key, body: { prompt: "alice's" } })).statusCode).toBe(422);
    const scopes = (await storedKeys(key)).map((row) => row.scope).sort();
    expect(scopes).toEqual(["admin", expect.stringMatching(/^key:\d+$/), expect.stringMatching(/^key:\d+$/)]);
    expect(scopes[1]).not.toBe(scopes[2]);
  });

  it("keeps clients apart by address in open mode", async () => {
    const open = await createTestApp(env);
    try {
      const key = newKey();
      const one = await post(open, undefined, { key, remoteAddress: "192.0.2.1" });
      const other = await post(open, undefined, { key, remoteAddress: "192.0.2.2" });
      expect(other.headers["idempotent-replayed"]).toBeUndefined();
      expect(other.json().task_id).not.toBe(one.json().task_id);
      const again = await post(open, undefined, { key, remoteAddress: "192.0.2.1" });
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.payload).toBe(one.payload);
    } finally {
      await open.close();
    }
  });

  describe("refuses a malformed key with 400 and creates nothing", () => {
    const cases: [string, string | string[]][] = [
      ["an empty value", ""],
      ["only spaces", "   "],
      ["256 characters", "x".repeat(256)],
      ["256 characters quoted", `"${"x".repeat(256)}"`],
      ["an empty quoted string", '""'],
      ["an unterminated quoted string", '"abc'],
      ["a bad escape in a quoted string", '"a\\qb"'],
      ["a tab", "a\tb"],
      ["a character outside ASCII", "clé"],
      ["two headers", ["one", "two"]],
    ];
    it.each(cases)("%s", async (_name, value) => {
      const before = await taskCount();
      const [row] = await t.sql<{ n: number }[]>`select count(*)::int as n from idempotency_keys`;
      const response = await post(t, ADMIN, { headers: { "idempotency-key": value } });

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({
        error: expect.stringMatching(/Idempotency-Key/),
        code: "VALIDATION",
        request_id: expect.any(String),
      });
      expect(await taskCount()).toBe(before);
      const [after] = await t.sql<{ n: number }[]>`select count(*)::int as n from idempotency_keys`;
      expect(after!.n).toBe(row!.n);
    });
  });

  it("keeps and replays a 4xx answer", async () => {
    const key = newKey();
    const first = await post(t, ADMIN, { key, body: { prompt: "" } });
    expect(first.statusCode).toBe(400);
    const again = await post(t, ADMIN, { key, body: { prompt: "" } });
    expect(again.statusCode).toBe(400);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.payload).toBe(first.payload);
  });

  it("refuses a body nested too deeply to fingerprint with 400, not a 500 (found by the fuzz test)", async () => {
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    for (const url of ["/api/task", "/api/tasks/batch"]) {
      const refused = await post(t, ADMIN, { key: newKey(), url, body: deep });
      expect(refused.statusCode, url).toBe(400);
      expect(refused.json().error).toBe("body must not be nested more than 64 levels deep");
    }
  });

  it("lets the key go after a 5xx that stored nothing, so that a retry runs afresh", async () => {
    // The callback URL's check fails once, before anything is stored.
    let checks = 0;
    const flaky = await createTestApp(
      env,
      {
        checkCallbackUrl: async () => {
          if (++checks === 1) throw new Error("resolver crashed");
        },
      },
      { ADMIN_API_KEY: ADMIN },
    );
    try {
      const key = newKey();
      const body = { prompt: "callback", callback_url: "https://example.com/hook" };
      const tasksBefore = await taskCount();
      const failed = await post(flaky, ADMIN, { key, body });
      expect(failed.statusCode).toBe(500);
      expect(await storedKeys(key)).toEqual([]);
      expect(await taskCount()).toBe(tasksBefore);

      const retried = await post(flaky, ADMIN, { key, body });
      expect(retried.statusCode).toBe(202);
      expect(retried.headers["idempotent-replayed"]).toBeUndefined();
      expect((await storedKeys(key))[0]).toMatchObject({ state: "done", status_code: 202 });
      expect(await taskCount()).toBe(tasksBefore + 1);
    } finally {
      await flaky.close();
    }
  });

  it("answers 202 when the wait fails after the task is stored, and keeps it: a retry replays it, one task", async () => {
    const broken = await createTestApp(
      env,
      {
        taskFinished: {
          wait: () => {
            throw new Error("subscriber lost");
          },
        },
      },
      { ADMIN_API_KEY: ADMIN },
    );
    try {
      const key = newKey();
      const tasksBefore = await taskCount();
      const first = await post(broken, ADMIN, { key, url: "/api/task?wait=1" });
      expect(first.statusCode).toBe(202);
      expect(first.json()).toMatchObject({ status: "pending" });
      expect((await storedKeys(key))[0]).toMatchObject({ state: "done", status_code: 202 });

      const retried = await post(t, ADMIN, { key, url: "/api/task?wait=1" });
      expect(retried.statusCode).toBe(202);
      expect(retried.headers["idempotent-replayed"]).toBe("true");
      expect(retried.json()).toEqual(first.json());
      expect(await taskCount()).toBe(tasksBefore + 1);
    } finally {
      await broken.close();
    }
  });

  it("does not keep a 429 (too many unfinished tasks): the retry is judged again", async () => {
    const quota = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN, MAX_PENDING_TASKS_PER_USER: "1" });
    try {
      const user = await newUserKey();
      expect((await post(quota, user)).statusCode).toBe(202);
      const key = newKey();
      for (let i = 0; i < 2; i++) {
        const refused = await post(quota, user, { key });
        expect(refused.statusCode).toBe(429);
        expect(refused.headers["idempotent-replayed"]).toBeUndefined();
      }
      expect(await storedKeys(key)).toEqual([]);
    } finally {
      await quota.close();
    }
  });

  describe("after the TTL", () => {
    it("frees the key (IDEMPOTENCY_TTL_S=1): the same request runs again, replacing the row", async () => {
      const shortLived = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN, IDEMPOTENCY_TTL_S: "1" });
      try {
        const key = newKey();
        const first = await post(shortLived, ADMIN, { key });
        expect((await post(shortLived, ADMIN, { key })).headers["idempotent-replayed"]).toBe("true");
        await sleep(1100);

        const later = await post(shortLived, ADMIN, { key });
        expect(later.statusCode).toBe(202);
        expect(later.headers["idempotent-replayed"]).toBeUndefined();
        expect(later.json().task_id).not.toBe(first.json().task_id);
        expect(await storedKeys(key)).toHaveLength(1);
      } finally {
        await shortLived.close();
      }
    });

    it("frees the key for another body too (expires_at rewritten)", async () => {
      const key = newKey();
      await post(t, ADMIN, { key, body: { prompt: "before" } });
      expect((await post(t, ADMIN, { key, body: { prompt: "after" } })).statusCode).toBe(422);
      await t.sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`;

      const after = await post(t, ADMIN, { key, body: { prompt: "after" } });
      expect(after.statusCode).toBe(202);
      expect(after.headers["idempotent-replayed"]).toBeUndefined();
    });

    it("frees a key whose request's process died, once its claim's lease ends", async () => {
      const key = newKey();
      await post(t, ADMIN, { key });
      // As a process leaves its claim when it dies mid-request.
      await t.sql`
        update idempotency_keys set state = 'in_flight', status_code = null, response_body = null,
          response_headers = null, expires_at = now() + interval '1 minute'
        where key = ${key}`;
      expect((await post(t, ADMIN, { key })).statusCode).toBe(409);
      await t.sql`update idempotency_keys set expires_at = now() where key = ${key}`;

      const after = await post(t, ADMIN, { key });
      expect(after.statusCode).toBe(202);
      expect(after.headers["idempotent-replayed"]).toBeUndefined();
      expect((await storedKeys(key))[0]).toMatchObject({ state: "done", status_code: 202 });
    });

    it("deletes expired rows of other keys as new keys are claimed, two at a time", async () => {
      await t.sql`delete from idempotency_keys where expires_at <= now()`;
      await t.sql`
        insert into idempotency_keys (scope, key, request_hash, state, claim, expires_at)
        select 'ip:203.0.113.9', 'old-' || i, 'h', 'in_flight', gen_random_uuid(), now() - interval '1 hour'
        from generate_series(1, 5) as i`;
      const expired = async () =>
        (
          await t.sql<{ n: number }[]>`select count(*)::int as n from idempotency_keys where scope = 'ip:203.0.113.9'`
        )[0]!.n;

      await post(t, ADMIN, { key: newKey() });
      expect(await expired()).toBe(3);
      await post(t, ADMIN, { key: newKey() });
      await post(t, ADMIN, { key: newKey() });
      expect(await expired()).toBe(0);
    });
  });

  describe("across API processes", () => {
    it("replays on another process, and on a process started after the first one closed", async () => {
      const first = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
      const second = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
      const key = newKey();
      const before = await taskCount();
      let answer: Awaited<ReturnType<typeof post>>;
      try {
        answer = await post(first, ADMIN, { key, body: { prompt: "two processes" } });
        expect(answer.statusCode).toBe(202);

        const elsewhere = await post(second, ADMIN, { key, body: { prompt: "two processes" } });
        expect(elsewhere.statusCode).toBe(202);
        expect(elsewhere.headers["idempotent-replayed"]).toBe("true");
        expect(elsewhere.payload).toBe(answer.payload);
        expect(elsewhere.headers.location).toBe(answer.headers.location);
        expect((await post(second, ADMIN, { key, body: { prompt: "changed" } })).statusCode).toBe(422);
      } finally {
        await first.close();
        await second.close();
      }

      const restarted = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
      try {
        const replayed = await post(restarted, ADMIN, { key, body: { prompt: "two processes" } });
        expect(replayed.statusCode).toBe(202);
        expect(replayed.headers["idempotent-replayed"]).toBe("true");
        expect(replayed.payload).toBe(answer.payload);
        expect(replayed.headers.location).toBe(answer.headers.location);
      } finally {
        await restarted.close();
      }
      expect(await taskCount()).toBe(before + 1);
    });

    it("answers 409 on one process while the first request runs on another", async () => {
      const other = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
      try {
        const key = newKey();
        const slow = post(t, ADMIN, { key, url: "/api/task?wait=2" });
        await untilInFlight(key);
        const meanwhile = await post(other, ADMIN, { key });
        expect(meanwhile.statusCode).toBe(409);
        expect(meanwhile.headers["retry-after"]).toBe("1");
        const first = await slow;
        expect((await post(other, ADMIN, { key })).payload).toBe(first.payload);
      } finally {
        await other.close();
      }
    });
  });
});
