export function median(values: number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `ours` and `reference` (and any other side given) alternately, `rounds` times (A B A B …),
 * so that whatever else the machine is doing weighs on every side alike; the caller takes medians.
 */
export async function alternate<K extends string, T>(
  rounds: number,
  run: Record<K, (round: number) => Promise<T>>,
): Promise<Record<K, T[]>> {
  const sides = Object.keys(run) as K[];
  const results = Object.fromEntries(sides.map((side) => [side, [] as T[]])) as Record<K, T[]>;
  for (let round = 0; round < rounds; round++) {
    for (const side of sides) results[side].push(await run[side](round));
  }
  return results;
}
