export * from "./task-canceled.js";
export * from "./task-output.js";
export * from "./task-status.js";
