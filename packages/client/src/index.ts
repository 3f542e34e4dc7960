export * from "./api-error.js";
export type * from "./api-types.js";
export * from "./create-client.js";
export { isRetryable, type RetryOptions } from "./retry.js";
export * from "./server-sent-events.js";
export * from "./types.js";
