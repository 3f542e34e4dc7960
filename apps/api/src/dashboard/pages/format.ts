import { formatAmountShort } from "@aitasks/db";
import { type Html, html } from "../html.js";

/** The exact amount as the API's CSV writes it: `1.50`, `0.000123`. */
export const exactAmount = formatAmountShort;

/** US dollars as an operator reads them: `$1,234.50`, `−$0.000123`. Exact: never rounded. */
export function usd(pico: bigint): string {
  const [whole = "0", fraction = "00"] = exactAmount(pico < 0n ? -pico : pico).split(".");
  return `${pico < 0n ? "−" : ""}$${whole.replace(/\B(?=(\d{3})+$)/g, ",")}.${fraction}`;
}

/** An amount in a cell that tests and scripts can read exactly (`data-amount`). */
export const money = (pico: bigint, name?: string): Html =>
  html`<span class="money${pico < 0n ? " negative" : ""}" data-amount="${exactAmount(pico)}"${
    name ? html` data-figure="${name}"` : ""
  }>${usd(pico)}</span>`;

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
