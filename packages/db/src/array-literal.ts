const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * A Postgres array literal (`{1,NULL,3}`) of values that need no quoting: numbers, booleans,
 * bigints, and decimals written as strings (amounts, as `formatAmount` writes them). Sent as one
 * text parameter and cast by the statement (`$1::int[]`), a batch's column costs a join here
 * instead of postgres.js's array serializer, which quotes every element and escapes it with two
 * regular expressions (docs/performance.md).
 */
export function arrayLiteral(values: readonly (number | boolean | bigint | string | null)[]): string {
  let literal = "{";
  for (const value of values) {
    if (literal.length > 1) literal += ",";
    if (value === null) literal += "NULL";
    else if (value === true) literal += "t";
    else if (value === false) literal += "f";
    else if (typeof value === "number") {
      if (!Number.isFinite(value)) throw new RangeError(`an array literal takes finite numbers, not ${value}`);
      literal += String(value);
    } else if (typeof value === "string") {
      if (!DECIMAL.test(value)) throw new RangeError(`an array literal takes decimals, not "${value}"`);
      literal += value;
    } else literal += value.toString();
  }
  return `${literal}}`;
}
