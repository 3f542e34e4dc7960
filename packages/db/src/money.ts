/**
 * Exact decimal money for `numeric` columns. Amounts travel as strings with 12 decimals
 * (pico-units) and are added as BigInt; a JS number appears only at the JSON edge.
 */
const SCALE = 12;
const UNIT = 10n ** BigInt(SCALE);

export function parseAmount(numeric: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{0,12}))?$/.exec(numeric.trim());
  if (!match) throw new Error(`not a decimal amount: ${numeric}`);
  const [, sign, whole = "0", fraction = ""] = match;
  const value = BigInt(whole) * UNIT + BigInt(fraction.padEnd(SCALE, "0"));
  return sign === "-" ? -value : value;
}

export function formatAmount(pico: bigint): string {
  const sign = pico < 0n ? "-" : "";
  const abs = pico < 0n ? -pico : pico;
  return `${sign}${abs / UNIT}.${(abs % UNIT).toString().padStart(SCALE, "0")}`;
}

/** For JSON only: the nearest double to an exact amount (SPEC: money is a JSON number). */
export const amountToNumber = (pico: bigint): number => Number(formatAmount(pico));

/** Stripe's integer minor units (cents) of a two-decimal currency, as an exact decimal string. */
export const centsToAmount = (cents: number): string => formatAmount(BigInt(cents) * (UNIT / 100n));
