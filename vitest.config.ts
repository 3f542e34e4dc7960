import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["apps/**/*.test.ts", "packages/**/*.test.ts", "tests/**/*.test.ts"],
    // The heavy fault-injection suites run with `npm run test:chaos` (and in .ci/run).
    exclude: [...configDefaults.exclude, "tests/chaos/**"],
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
