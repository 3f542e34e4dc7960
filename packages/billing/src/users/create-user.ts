import { type AccessContext, requireAdmin } from "@aitasks/auth";
import { users } from "@aitasks/db";
import { readUserAccount, type UserAccount } from "./user-account.js";

/**
 * Creates the user of `identifier` (an email or a name, as tasks send it as `user_id`), so that an
 * admin can grant it credit before it has a key or a task. Idempotent: a user that exists already
 * is returned as it is, with `created: false`.
 */
export async function createUser(
  { db, principal }: AccessContext,
  identifier: string,
): Promise<{ user: UserAccount; created: boolean }> {
  requireAdmin(principal, "creating users");
  const inserted = await db
    .insert(users)
    .values({ identifier })
    .onConflictDoNothing({ target: users.identifier })
    .returning({ id: users.id });
  const user = await readUserAccount(db, identifier);
  // Users are never deleted: the row inserted or found above is still there.
  if (!user) throw new Error(`user ${identifier} vanished after it was created`);
  return { user, created: inserted.length > 0 };
}
