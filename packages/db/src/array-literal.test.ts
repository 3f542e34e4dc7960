import { describe, expect, it } from "vitest";
import { arrayLiteral } from "./array-literal.js";

describe("arrayLiteral", () => {
  it("writes numbers, booleans, bigints, decimals and nulls as Postgres reads them", () => {
    expect(arrayLiteral([1, null, -3, 2.5])).toBe("{1,NULL,-3,2.5}");
    expect(arrayLiteral([true, false])).toBe("{t,f}");
    expect(arrayLiteral([12345678901234567890n, null])).toBe("{12345678901234567890,NULL}");
    expect(arrayLiteral(["0.000131100000", "-5", null])).toBe("{0.000131100000,-5,NULL}");
    expect(arrayLiteral([])).toBe("{}");
  });

  it("refuses what Postgres would not read back as the same value", () => {
    expect(() => arrayLiteral([Number.NaN])).toThrow(RangeError);
    expect(() => arrayLiteral([Number.POSITIVE_INFINITY])).toThrow(RangeError);
    expect(() => arrayLiteral(['1,"2"'])).toThrow(RangeError);
    expect(() => arrayLiteral(["NULL"])).toThrow(RangeError);
  });
});
