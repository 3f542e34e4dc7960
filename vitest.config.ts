import { defaultServerConditions } from "vite";
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  // Workspace packages built for npm (packages/client) export their sources under this condition.
  ssr: { resolve: { conditions: ["@aitasks/source", ...defaultServerConditions] } },
  test: {
    include: ["apps/**/*.test.ts", "packages/**/*.test.ts", "tests/**/*.test.ts"],
    // The heavy fault-injection suites run with `npm run test:chaos` (and in .ci/run).
    exclude: [...configDefaults.exclude, "tests/chaos/**"],
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    pool: "forks",
    // Vitest's default is one worker fewer than the CPUs: one, on a 2-core CI machine. The tests
    // mostly wait on Postgres, Redis and child processes, so two run the suite in about 270 s
    // instead of 400 (measured on this machine).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
