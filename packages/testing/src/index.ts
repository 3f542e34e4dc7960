export * from "./callback-receiver.js";
export * from "./event-stream.js";
export * from "./fake-chat-server.js";
export * from "./fake-stripe-server.js";
export * from "./processes.js";
export * from "./tasks-api.js";
export * from "./tcp-proxy.js";
export * from "./test-environment.js";
