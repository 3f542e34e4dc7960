export * from "./apply-stripe-event.js";
export * from "./checkout.js";
export * from "./stripe-client.js";
