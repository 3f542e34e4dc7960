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

/** The exact amount, its 12 decimals trimmed of trailing zeros down to 2: `-5.00`, `0.000001`. */
export const formatAmountShort = (pico: bigint): string => formatAmount(pico).replace(/(\.\d{2}\d*?)0+$/, "$1");

/** For JSON only: the nearest double to an exact amount (SPEC: money is a JSON number). */
export const amountToNumber = (pico: bigint): number => Number(formatAmount(pico));

// Stripe sends amounts in a currency's smallest unit, and how many of them make a unit is the
// currency's: https://docs.stripe.com/currencies#zero-decimal and #three-decimal. ISK, HUF and TWD
// are zero-decimal in ISO 4217 but two-decimal in Stripe's API (amounts divisible by 100), so they
// take the default here. Every other currency has two decimals.
const ZERO_DECIMAL = new Set([
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "ugx",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
]);
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

/** How many decimals Stripe's smallest unit of `currency` (lowercase ISO 4217) stands for: 0, 2 or 3. */
export function currencyExponent(currency: string): 0 | 2 | 3 {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

/** An amount in `currency`'s smallest unit (as Stripe sends it: cents, yen, fils) as an exact decimal string. */
export const minorUnitsToAmount = (minor: number, currency: string): string =>
  formatAmount(BigInt(minor) * 10n ** BigInt(SCALE - currencyExponent(currency)));
