export * from "./batch-per-turn.js";
