import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { useTestEnvironment } from "@aitasks/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDatabase } from "./client.js";

// postgres.js keeps its pool's connections in queues (src/queue.js, not exported), patched by
// patches/postgres+3.4.9.patch: unpatched, a queue that never empties keeps every spent slot, and
// each move of a connection scans them all, so a pool under steady load slowed down query by query.
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

describe("a pool under steady load", () => {
  const env = useTestEnvironment();

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
