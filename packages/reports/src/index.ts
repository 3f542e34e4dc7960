export * from "./get-report.js";
export * from "./get-stats.js";
export * from "./list-ledger.js";
export * from "./rollup-reports.js";
export * from "./schemas.js";
