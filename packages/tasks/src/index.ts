export * from "./find-stale-tasks.js";
export * from "./get-task.js";
export * from "./list-tasks.js";
export * from "./run-task.js";
export * from "./schemas.js";
export * from "./submit-task.js";
export * from "./task-record.js";
export * from "./wait-for-task.js";
