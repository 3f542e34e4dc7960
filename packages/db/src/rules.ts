import { z } from "zod";

/** Where Postgres is when DATABASE_URL is not set: `npm start`, the migration command and the tests alike. */
export const DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/** An id of our bigserial tables as text: positive, and small enough to be exact as a JS number. */
export const POSITIVE_ID = /^[1-9]\d{0,14}$/;

/**
 * An unpaired UTF-16 surrogate: UTF-8 cannot encode it, so Postgres would store U+FFFD instead of
 * what was sent. Text with one (or with U+0000, which Postgres cannot store at all) is refused.
 */
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const text = (field: string) => z.string({ error: `${field} must be a string` });

/**
 * Text that Postgres stores exactly as sent: it cannot hold U+0000 (the query would fail), and an
 * unpaired surrogate would become U+FFFD. Both are refused with a 400 rather than lost silently.
 */
export const storableText = (field: string) =>
  text(field)
    .refine((value) => !value.includes("\u0000"), `${field} must not contain NUL (\\u0000) characters`)
    .refine((value) => !LONE_SURROGATE.test(value), `${field} must be valid Unicode (it has a lone surrogate)`);

/** A user's identifier as clients send it (`user_id`): an email or a name. */
export const UserIdentifier = storableText("user_id")
  .min(1, "user_id must not be empty")
  .max(320, "user_id must be at most 320 characters");

/**
 * A decimal amount as clients and operators write it, a JSON number or a string, to the
 * micro-dollar (at most 6 decimals), read as its exact decimal string: "12.5", "-0.000001".
 * A number is taken by its shortest spelling, so 0.1 is "0.1", and 1e-7 is refused.
 */
export const decimalAmount = (field: string, { signed = false }: { signed?: boolean } = {}) =>
  z
    .union([z.number(), z.string()], { error: `${field} must be a number` })
    .transform((value) => (typeof value === "number" ? String(value) : value.trim()))
    .pipe(
      z
        .string()
        .regex(
          signed ? /^-?\d{1,12}(\.\d{1,6})?$/ : /^\d{1,12}(\.\d{1,6})?$/,
          `${field} must be ${signed ? "an" : "a non-negative"} amount with at most 6 decimals`,
        ),
    );
