import type { UserAccount } from "@aitasks/billing";
import type { User } from "@aitasks/contract";
import { toBalanceView } from "./credits.js";

/** A user as POST /api/users answers it: its credit view, its email and since when it exists. */
export function toUserView(user: UserAccount): User {
  return { ...toBalanceView(user), email: user.email, created_at: user.createdAt.toISOString() };
}
