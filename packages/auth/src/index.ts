export * from "./access.js";
export * from "./api-keys.js";
export * from "./dashboard-sessions.js";
export * from "./principal.js";
