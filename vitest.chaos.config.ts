import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Crashes, outages, load and fuzzing: `npm run test:chaos`. One file at a time, since each one
// loads the whole machine on purpose.
export default defineConfig({
  // Workspace packages built for npm (packages/client) export their sources under this condition.
  ssr: { resolve: { conditions: ["@aitasks/source", ...defaultServerConditions] } },
  test: {
    include: ["tests/chaos/**/*.test.ts"],
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
