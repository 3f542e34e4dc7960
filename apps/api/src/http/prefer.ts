/**
 * The `wait` preference of a `Prefer` header (RFC 7240): `Prefer: wait=10`, possibly among others
 * (`respond-async, wait=10`, several headers). A preference is a wish, not a command: one that
 * cannot be read is ignored, as the RFC asks, and one above `maxSeconds` is honoured up to it. The
 * answer says what was applied (`Preference-Applied`).
 */
export function preferredWait(header: string | string[] | undefined, maxSeconds: number): number | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const preference of values.flatMap((value) => value.split(","))) {
    const [name, raw] = preference
      .split(";")[0]!
      .split("=")
      .map((part) => part.trim());
    if (name?.toLowerCase() !== "wait" || raw === undefined) continue;
    const seconds = raw.replace(/^"(.*)"$/, "$1");
    if (!/^\d{1,6}$/.test(seconds)) continue;
    const wait = Number(seconds);
    return wait === 0 ? undefined : Math.min(wait, maxSeconds);
  }
  return undefined;
}
