export * from "./checkout.js";
export * from "./schemas.js";
export * from "./stripe-client.js";
export * from "./stripe-events/apply-stripe-event.js";
export * from "./users/create-user.js";
export * from "./users/user-account.js";
