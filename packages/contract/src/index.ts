// The API's answers as zod schemas, with nothing but zod: the server serializes with them and
// documents them (GET /openapi.json), and a client infers its types from them without importing
// domain code. Request schemas stay with the domain that validates them.
export * from "./accounts.js";
export * from "./errors.js";
export * from "./registry.js";
export * from "./reports.js";
export * from "./service.js";
export * from "./tasks.js";
