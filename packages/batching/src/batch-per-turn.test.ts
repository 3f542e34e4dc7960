import { describe, expect, it } from "vitest";
import { batchPerTurn } from "./batch-per-turn.js";

/** A batched doubler that records how it was called: `one` per item, `many` per group. */
function recorded(failMany?: Error, failItem?: number) {
  const runs: { kind: "one" | "many"; items: number[] }[] = [];
  const one = async (item: number) => {
    runs.push({ kind: "one", items: [item] });
    if (item === failItem) throw new Error(`item ${item} refused`);
    return item * 2;
  };
  const many = async (items: number[]) => {
    runs.push({ kind: "many", items });
    if (failMany) throw failMany;
    return items.map((item) => item * 2);
  };
  return { runs, one, many };
}

const settled = (promises: Promise<number>[]) =>
  Promise.allSettled(promises).then((results) =>
    results.map((result) => (result.status === "fulfilled" ? result.value : (result.reason as Error).message)),
  );

describe("batchPerTurn", () => {
  it("answers the calls of one turn with one run, each caller its own result", async () => {
    const { runs, one, many } = recorded();
    const double = batchPerTurn(one, many);
    expect(await Promise.all([1, 2, 3].map(double))).toEqual([2, 4, 6]);
    expect(runs).toEqual([{ kind: "many", items: [1, 2, 3] }]);
  });

  it("runs a lone call by itself, and calls of later turns in runs of their own", async () => {
    const { runs, one, many } = recorded();
    const double = batchPerTurn(one, many);
    expect(await double(5)).toBe(10);
    expect(await Promise.all([6, 7].map(double))).toEqual([12, 14]);
    expect(runs).toEqual([
      { kind: "one", items: [5] },
      { kind: "many", items: [6, 7] },
    ]);
  });

  it("runs at most 1,000 calls together", async () => {
    const { runs, one, many } = recorded();
    const double = batchPerTurn(one, many);
    const items = Array.from({ length: 2500 }, (_, index) => index);
    expect(await Promise.all(items.map(double))).toEqual(items.map((item) => item * 2));
    expect(runs.map((run) => run.items.length)).toEqual([1000, 1000, 500]);
  });

  it("gives every caller the error of a failed run, unless it is one to retry alone", async () => {
    const { runs, one, many } = recorded(new Error("connection lost"));
    expect(await settled([1, 2].map(batchPerTurn(one, many)))).toEqual(["connection lost", "connection lost"]);
    expect(runs).toEqual([{ kind: "many", items: [1, 2] }]);
  });

  it("retries each item alone when told to, so that only the refused one fails", async () => {
    const { runs, one, many } = recorded(new Error("a value was refused"), 2);
    const double = batchPerTurn(one, many, (error) => (error as Error).message === "a value was refused");
    expect(await settled([1, 2, 3].map(double))).toEqual([2, "item 2 refused", 6]);
    expect(runs.map((run) => run.kind)).toEqual(["many", "one", "one", "one"]);
  });
});
