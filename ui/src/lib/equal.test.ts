import { describe, expect, it } from "vitest";
import { deepEqual, holder, keepIfEqual, reuseItems, sameFieldsExcept } from "./equal";

describe("structural sharing", () => {
  it("deepEqual compares JSON-like values", () => {
    expect(deepEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(deepEqual([1, 2], [1, 2, 3])).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
    expect(deepEqual(Number.NaN, Number.NaN)).toBe(true);
    expect(deepEqual(null, {})).toBe(false);
    expect(deepEqual("1", 1)).toBe(false);
  });

  it("keepIfEqual keeps the old object when nothing changed", () => {
    const old = { x: [1] };
    expect(keepIfEqual(old, { x: [1] })).toBe(old);
    const next = { x: [2] };
    expect(keepIfEqual(old, next)).toBe(next);
    expect(keepIfEqual(undefined, next)).toBe(next);
  });

  it("reuseItems keeps unchanged items, and the whole list when all are kept in order", () => {
    const key = (x: { k: string }) => x.k;
    const prev = [
      { k: "a", v: 1 },
      { k: "b", v: 2 },
    ];
    expect(reuseItems(prev, [{ k: "a", v: 1 }, { k: "b", v: 2 }], key)).toBe(prev);
    const changed = reuseItems(prev, [{ k: "a", v: 1 }, { k: "b", v: 3 }], key);
    expect(changed).not.toBe(prev);
    expect(changed[0]).toBe(prev[0]);
    expect(changed[1]).toEqual({ k: "b", v: 3 });
    const reordered = reuseItems(prev, [{ k: "b", v: 2 }, { k: "a", v: 1 }], key);
    expect(reordered).not.toBe(prev);
    expect(reordered[0]).toBe(prev[1]);
    expect(reuseItems(prev, [{ k: "a", v: 1 }], key)).toEqual([{ k: "a", v: 1 }]);
    expect(reuseItems(undefined, prev, key)).toBe(prev);
  });

  it("sameFieldsExcept ignores the given fields", () => {
    const d = { n: 1 };
    expect(sameFieldsExcept({ d, t: 1 }, { d, t: 2 }, ["t"])).toBe(true);
    expect(sameFieldsExcept({ d, t: 1 }, { d: { n: 1 }, t: 1 }, ["t"])).toBe(false);
    expect(sameFieldsExcept(null, { d }, [])).toBe(false);
  });

  it("holder follows the value while active and holds the last one otherwise", () => {
    const hold = holder<number>();
    let reads = 0;
    const get = (v: number) => () => (reads++, v);
    expect(hold(false, get(1))).toBe(1); // the first value is always read
    expect(hold(false, get(2))).toBe(1);
    expect(hold(true, get(3))).toBe(3);
    expect(hold(false, get(4))).toBe(3);
    expect(reads).toBe(2);
  });
});
