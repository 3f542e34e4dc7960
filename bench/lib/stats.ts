export function median(values: number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `ours` and `reference` alternately, `rounds` times (A B A B …), so that whatever else the
 * machine is doing weighs on both alike; the caller takes medians.
 */
export async function alternate<T>(
  rounds: number,
  run: { ours: (round: number) => Promise<T>; reference: (round: number) => Promise<T> },
): Promise<{ ours: T[]; reference: T[] }> {
  const ours: T[] = [];
  const reference: T[] = [];
  for (let round = 0; round < rounds; round++) {
    ours.push(await run.ours(round));
    reference.push(await run.reference(round));
  }
  return { ours, reference };
}
