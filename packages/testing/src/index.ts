export * from "./fake-chat-server.js";
export * from "./fake-stripe-server.js";
export * from "./tcp-proxy.js";
export * from "./test-environment.js";
