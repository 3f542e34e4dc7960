export * from "./access.js";
export * from "./api-keys.js";
export * from "./principal.js";
