export * from "./check-callback-url.js";
export * from "./deliver-callback.js";
export * from "./find-overdue-deliveries.js";
export * from "./list-callback-attempts.js";
export * from "./network-policy.js";
export * from "./retry-schedule.js";
export * from "./send-callback.js";
export * from "./sign-webhook.js";
