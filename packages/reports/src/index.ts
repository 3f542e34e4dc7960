export * from "./get-daily-series.js";
export * from "./get-report.js";
export * from "./get-stats.js";
export * from "./list-ledger.js";
export * from "./list-user-usage.js";
export * from "./read-money-totals.js";
export * from "./rollup-reports.js";
export * from "./schemas.js";
