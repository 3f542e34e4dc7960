import { createServer } from "node:net";
import { describe, expect, inject, it } from "vitest";
import { findTestServices } from "./test-services.js";

/** A port nothing listens on: taken, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const noContainers = async () => {
  throw new Error("Could not find a working container runtime strategy");
};

describe("findTestServices: what npm test runs against", () => {
  // The services this run found are up; they stand for "the services at the npm start defaults".
  const running = { databaseUrl: inject("databaseUrl"), redisUrl: inject("redisUrl") };

  it("uses the services at the npm start defaults when no variable is set and they answer", async () => {
    const services = await findTestServices({}, { defaults: running, startContainer: noContainers });

    expect(services.databaseUrl).toBe(running.databaseUrl);
    expect(services.redisUrl).toBe(running.redisUrl);
    expect(services.summary).toMatch(
      /^tests use Postgres .* \(the npm start default\) and Redis .* \(the npm start default\)$/,
    );
    await services.stop();
  });

  it("prefers DATABASE_URL and REDIS_URL, as npm start does, over the defaults", async () => {
    const dead = {
      databaseUrl: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`,
      redisUrl: "redis://127.0.0.1:1",
    };
    const services = await findTestServices(
      { DATABASE_URL: running.databaseUrl, REDIS_URL: running.redisUrl },
      { defaults: dead, startContainer: noContainers },
    );

    expect(services.databaseUrl).toBe(running.databaseUrl);
    expect(services.summary).toContain("(DATABASE_URL)");
    expect(services.summary).toContain("(REDIS_URL)");
  });

  it("takes TEST_DATABASE_URL and TEST_REDIS_URL as they are", async () => {
    const services = await findTestServices(
      { TEST_DATABASE_URL: "postgres://u:secret@db.example:5432/x", TEST_REDIS_URL: "redis://cache.example:6379" },
      { startContainer: noContainers },
    );

    expect(services.databaseUrl).toBe("postgres://u:secret@db.example:5432/x");
    expect(services.redisUrl).toBe("redis://cache.example:6379");
    // The run's first line never shows a password.
    expect(services.summary).not.toContain("secret");
    expect(services.summary).toContain("(TEST_DATABASE_URL)");
  });

  it("starts a container for a service that does not answer", async () => {
    const started: string[] = [];
    const services = await findTestServices(
      {},
      {
        defaults: { databaseUrl: running.databaseUrl, redisUrl: `redis://127.0.0.1:${await closedPort()}` },
        startContainer: async (service) => {
          started.push(service);
          return { url: running.redisUrl, stop: async () => started.push(`stopped ${service}`) };
        },
      },
    );

    expect(services.redisUrl).toBe(running.redisUrl);
    expect(services.summary).toContain("(a testcontainers container)");
    await services.stop();
    expect(started).toEqual(["Redis", "stopped Redis"]);
  });

  it("says what to do when nothing answers and no container can start", async () => {
    const port = await closedPort();
    await expect(
      findTestServices(
        {},
        {
          defaults: { databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, redisUrl: running.redisUrl },
          startContainer: noContainers,
        },
      ),
    ).rejects.toThrow(
      new RegExp(
        `The tests need a real Postgres\\. postgres://postgres@127\\.0\\.0\\.1:${port}/postgres \\(the npm start default\\) did not answer: .*Could not find a working container runtime strategy.*set TEST_DATABASE_URL`,
      ),
    );
  });
});
