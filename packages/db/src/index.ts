export * from "./array-literal.js";
export * from "./client.js";
export * from "./migrate.js";
export * from "./money.js";
export * from "./prepared.js";
export * from "./rules.js";
export * from "./schema/index.js";
