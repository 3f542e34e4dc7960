import { defineConfig } from "drizzle-kit";
import { DEFAULT_DATABASE_URL } from "./packages/db/src/rules.js";

export default defineConfig({
  dialect: "postgresql",
  schema: "./packages/db/src/schema/index.ts",
  out: "./packages/db/migrations",
  dbCredentials: { url: process.env.DATABASE_URL || DEFAULT_DATABASE_URL },
});
