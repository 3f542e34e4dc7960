export * from "./connections.js";
export * from "./enqueue.js";
export * from "./job-catalog.js";
export * from "./job-options.js";
export * from "./queues.js";
export * from "./task-canceled.js";
export * from "./task-output.js";
export * from "./task-status.js";
