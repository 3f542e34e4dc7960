export * from "./connections.js";
export * from "./enqueue.js";
export * from "./eviction-policy.js";
export * from "./job-catalog.js";
export * from "./job-options.js";
export * from "./queues.js";
