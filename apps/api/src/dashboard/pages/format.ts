import { formatAmountShort } from "@aitasks/db";
import { type Html, html } from "../html.js";

/** The exact amount as the API's CSV writes it: `1.50`, `0.000123`. */
export const exactAmount = formatAmountShort;

const groupThousands = (whole: string) => whole.replace(/\B(?=(\d{3})+$)/g, ",");
const signOf = (pico: bigint) => (pico < 0n ? "−" : "");

/** US dollars, exact, never rounded: `$1,234.50`, `−$0.000123`. */
export function exactUsd(pico: bigint): string {
  const [whole = "0", fraction = "00"] = exactAmount(pico < 0n ? -pico : pico).split(".");
  return `${signOf(pico)}$${groupThousands(whole)}.${fraction}`;
}

/** A cent, in the pico-dollars amounts are kept in. */
const CENT = 10n ** 10n;

/**
 * US dollars as a reader expects them: to the cent (`$1,234.57`), except a non-zero amount under a
 * cent, which is never shown as `$0.00` but with two significant digits (`$0.00012`, a task's cost).
 * Rounded half away from zero; the exact amount is beside it wherever it is shown (`money`).
 */
export function usd(pico: bigint): string {
  const abs = pico < 0n ? -pico : pico;
  if (abs === 0n || abs >= CENT) {
    const cents = (abs + CENT / 2n) / CENT;
    return `${signOf(pico)}$${groupThousands(String(cents / 100n))}.${String(cents % 100n).padStart(2, "0")}`;
  }
  const digits = abs.toString().length;
  // Keep the two leading digits: 12 decimals hold one or two of them.
  if (digits <= 2) return `${signOf(pico)}$0.${abs.toString().padStart(12, "0")}`;
  const unit = 10n ** BigInt(digits - 2);
  let decimals = 14 - digits;
  let kept = (abs + unit / 2n) / unit;
  if (kept === 100n) {
    kept = 10n;
    decimals -= 1;
  }
  return `${signOf(pico)}$0.${kept.toString().padStart(decimals, "0")}`;
}

const moneySpan = (pico: bigint, shown: string, name: string | undefined): Html => {
  const exact = exactUsd(pico);
  return html`<span class="money${pico < 0n ? " negative" : ""}" data-amount="${exactAmount(pico)}"${
    name ? html` data-figure="${name}"` : ""
  }${exact === shown ? "" : html` title="${exact}"`}>${shown}</span>`;
};

/**
 * An amount as a reader expects it (`usd`), with the exact amount on hover (`title`) and for tests
 * and scripts (`data-amount`).
 */
export const money = (pico: bigint, name?: string): Html => moneySpan(pico, usd(pico), name);

/** An amount shown exact (`exactUsd`): where one record's every digit is the point (a task's cost). */
export const exactMoney = (pico: bigint, name?: string): Html => moneySpan(pico, exactUsd(pico), name);

/** Profit as a share of income, to one decimal; a dash without income. */
export function marginPercent(profit: bigint, income: bigint): string {
  if (income === 0n) return "–";
  const tenths = (profit * 1000n) / income;
  const sign = tenths < 0n ? "−" : "";
  const abs = tenths < 0n ? -tenths : tenths;
  return `${sign}${abs / 10n}.${abs % 10n} %`;
}

export const count = (value: number) => value.toLocaleString("en-US");

/** `2026-12-02 16:45:02 UTC`, or a dash. */
export const when = (date: Date | null | undefined) =>
  date ? `${date.toISOString().slice(0, 19).replace("T", " ")} UTC` : "–";

/**
 * How long something took, as a reader expects it: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`;
 * a dash when it has not both started and ended.
 */
export function duration(start: Date | null | undefined, end: Date | null | undefined): string {
  if (!start || !end) return "–";
  const ms = Math.max(0, end.getTime() - start.getTime());
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}
