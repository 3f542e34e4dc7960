export * from "./get-report.js";
export * from "./get-stats.js";
export * from "./rollup-reports.js";
export * from "./schemas.js";
