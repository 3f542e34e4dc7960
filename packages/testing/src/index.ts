export * from "./fake-chat-server.js";
export * from "./fake-stripe-server.js";
export * from "./test-environment.js";
