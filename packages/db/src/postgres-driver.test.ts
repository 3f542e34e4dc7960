import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { startTcpProxy, useTestEnvironment } from "@aitasks/testing";
import postgres from "postgres";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDatabase } from "./client.js";

// The bugs of postgres.js 3.4.9 that patches/postgres+3.4.9.patch fixes (patches/README.md).

// 1. The pool keeps its connections in queues (src/queue.js, not exported): unpatched, a queue that
// never empties keeps every spent slot, and each move of a connection scans them all, so a pool
// under steady load slowed down query by query.
const require = createRequire(import.meta.url);
const driverRoot = join(dirname(require.resolve("postgres")), "..", "..");

interface DriverQueue<T> {
  readonly length: number;
  push(item: T): T;
  shift(): T | undefined;
  remove(item: T): T | null;
}
type QueueFactory = <T>(initial?: T[]) => DriverQueue<T>;

const flavours: Record<string, () => Promise<QueueFactory>> = {
  "ES module (what Node imports)": async () =>
    (await import(pathToFileURL(join(driverRoot, "src/queue.js")).href)).default,
  CommonJS: async () => require(join(driverRoot, "cjs/src/queue.js")),
};

/** The longest array `indexOf` searched while `work` ran: what one queue operation may cost. */
function longestSearch(work: () => void): number {
  let longest = 0;
  const indexOf = Array.prototype.indexOf;
  const spy = vi.spyOn(Array.prototype, "indexOf").mockImplementation(function (this: unknown[], ...args) {
    longest = Math.max(longest, this.length);
    return indexOf.apply(this, args as Parameters<typeof indexOf>);
  });
  try {
    work();
  } finally {
    spy.mockRestore();
  }
  return longest;
}

afterEach(() => vi.restoreAllMocks());

describe.each(Object.entries(flavours))("postgres.js connection queue (%s)", (_name, load) => {
  it("stays as short as what it holds when it never empties", async () => {
    const Queue = await load();
    const connections = Array.from({ length: 10 }, (_, id) => ({ id }));
    const busy = Queue(connections);
    // What the pool does for each query sent to a busy connection: take the first, then move it
    // (remove from where it was, push to the end of busy).
    const longest = longestSearch(() => {
      for (let query = 0; query < 100_000; query++) {
        const connection = busy.shift()!;
        busy.remove(connection);
        busy.push(connection);
      }
    });
    expect(busy.length).toBe(10);
    expect(longest).toBeLessThan(200);
  });

  it("still takes, finds and removes the right items", async () => {
    const Queue = await load();
    const queue = Queue<number>();
    const model: number[] = [];
    for (let step = 0; step < 5_000; step++) {
      const roll = (step * 7919) % 10;
      if (roll < 5) {
        queue.push(step);
        model.push(step);
      } else if (roll < 8) {
        expect(queue.shift()).toBe(model.shift());
      } else if (model.length > 0) {
        const victim = model[Math.floor(model.length / 2)]!;
        expect(queue.remove(victim)).toBe(victim);
        model.splice(model.indexOf(victim), 1);
        expect(queue.remove(victim)).toBeNull();
      }
      expect(queue.length).toBe(model.length);
    }
    while (model.length > 0) expect(queue.shift()).toBe(model.shift());
    expect(queue.length).toBe(0);
  });
});

const env = useTestEnvironment();

describe("a pool under steady load", () => {
  it("answers every one of many pipelined queries with its own result", async () => {
    const database = createDatabase(env.databaseUrl, { max: 3 });
    try {
      let next = 0;
      const mismatches: string[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          while (next < 4_000) {
            const sent = next++;
            const [row] = await database.sql<{ echoed: number }[]>`select ${sent}::int as echoed`;
            if (row?.echoed !== sent) mismatches.push(`${sent} → ${row?.echoed}`);
          }
        }),
      );
      expect(mismatches).toEqual([]);
    } finally {
      await database.close();
    }
  });
});

// 2. A connection whose socket fails emits "error", and only later "close". Unpatched, a query sent
// to it in between (by the failed query's own error handler, say) was never settled: the "close"
// of a failed socket rejected nothing, and the stale failed query made the new one wait behind it.
describe("a connection that fails", () => {
  it("settles a query sent to it between its socket's error and close, and the pool recovers", async () => {
    const target = new URL(env.databaseUrl);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const sql = postgres(proxy.proxied(env.databaseUrl), { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      const failed = sql`select pg_sleep(5)`.then(
        () => "answered",
        (error: Error) => error.message,
      );
      // Sent from the failed query's handler, so it runs while the socket is errored, not yet closed.
      let afterwards: Promise<string> | undefined;
      const sentAfter = failed.then(() => {
        afterwards = sql`select 2 as two`.then(
          ([row]) => `answered ${row?.two}`,
          (error: Error) => `rejected: ${error.message}`,
        );
      });
      setTimeout(() => proxy.down(), 200);
      expect(await failed).toMatch(/ECONNRESET|CONNECTION/);
      await sentAfter;
      const outcome = await Promise.race([
        afterwards!,
        new Promise<string>((resolve) => setTimeout(() => resolve("never settled"), 5_000)),
      ]);
      expect(outcome).toMatch(/^rejected: .*(ECONNRESET|CONNECTION_CLOSED|ECONNREFUSED)/);
      // And the pool serves again once the server is back.
      proxy.up();
      expect(await sql`select 3 as three`).toEqual([{ three: 3 }]);
    } finally {
      await sql.end({ timeout: 1 });
      await proxy.close();
    }
  }, 20_000);

  it("rejects the rollback of a transaction whose connection died, instead of throwing out of a timer", async () => {
    const sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
    const admin = postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
    // Unpatched, the rollback was written to the closed socket from a setImmediate: an uncaught
    // TypeError, which our process handlers turn into an exit of the API.
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", record);
    try {
      const outcome = await sql
        .begin(async (tx) => {
          const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
          setTimeout(() => admin`select pg_terminate_backend(${row!.pid})`.catch(() => {}), 200);
          await tx`select pg_sleep(5)`;
        })
        .then(
          () => "committed",
          (error: Error & { code?: string }) => error.code ?? error.message,
        );
      expect(outcome).toMatch(/CONNECTION_CLOSED|57P01/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(uncaught).toEqual([]);
      expect(await sql`select 4 as four`).toEqual([{ four: 4 }]);
    } finally {
      process.off("uncaughtException", record);
      await sql.end({ timeout: 1 });
      await admin.end({ timeout: 1 });
    }
  }, 20_000);
});
