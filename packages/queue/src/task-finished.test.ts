import { useTestEnvironment } from "@aitasks/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTaskFinishedAnnouncer, parseFinishedTaskIds, taskFinishedChannel } from "./index.js";

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

describe("task-finished announcements", () => {
  it("sends the tasks finished in one event-loop turn as one message, and every id arrives", async () => {
    const channel = taskFinishedChannel(`${env.queuePrefix}-announce`);
    const messages: string[] = [];
    subscriber.on("message", (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(channel);
    const announce = createTaskFinishedAnnouncer(publisher, channel);

    await Promise.all([announce(1), announce(2), announce(3)]);
    await announce(4);
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(messages).toEqual(["1,2,3", "4"]);
    expect(messages.flatMap(parseFinishedTaskIds)).toEqual([1, 2, 3, 4]);
  });

  it("settles even when Redis refuses the message: waiters fall back to their deadline", async () => {
    const closed = new Redis(env.redisUrl, { lazyConnect: true, enableOfflineQueue: false });
    const announce = createTaskFinishedAnnouncer(closed, "nowhere");
    await expect(announce(1)).resolves.toBeUndefined();
  });
});
