import type { tasks } from "@aitasks/db";

/** A task as the domain returns it: its row, with its user's identifier. */
export type TaskRecord = typeof tasks.$inferSelect & { userIdentifier: string | null };
