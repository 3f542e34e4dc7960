import { useTestEnvironment } from "@aitasks/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskStatusAnnouncer, parseStatusAnnouncement, taskStatusChannel } from "./index.js";

const env = useTestEnvironment();
let publisher: Redis;
let subscriber: Redis;

beforeAll(() => {
  publisher = new Redis(env.redisUrl);
  subscriber = new Redis(env.redisUrl);
});
afterAll(() => {
  publisher.disconnect();
  subscriber.disconnect();
});

describe("task status announcements", () => {
  it("sends the changes of one event-loop turn as one message, and every change arrives", async () => {
    const channel = taskStatusChannel(`${env.queuePrefix}-announce`);
    const messages: string[] = [];
    subscriber.on("message", (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(channel);
    const announce = createTaskStatusAnnouncer(publisher, channel);

    await Promise.all([announce(1, "processing"), announce(2, "completed"), announce(3, "failed")]);
    await announce(4, "completed");
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(messages).toEqual(["1:processing,2:completed,3:failed", "4:completed"]);
    expect(messages.flatMap(parseStatusAnnouncement)).toEqual([
      { taskId: 1, status: "processing" },
      { taskId: 2, status: "completed" },
      { taskId: 3, status: "failed" },
      { taskId: 4, status: "completed" },
    ]);
  });

  it("skips entries it cannot read", () => {
    expect(parseStatusAnnouncement("x:completed,5,0:failed,6:canceled")).toEqual([{ taskId: 6, status: "canceled" }]);
  });

  it("settles even when Redis refuses the message: waiters fall back to their deadline", async () => {
    const closed = new Redis(env.redisUrl, { lazyConnect: true, enableOfflineQueue: false });
    const announce = createTaskStatusAnnouncer(closed, "nowhere");
    await expect(announce(1, "completed")).resolves.toBeUndefined();
  });
});
