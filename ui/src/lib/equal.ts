// Structural sharing for view data: the engine sends a fresh copy of everything once a second,
// and Svelte re-runs whatever reads a value that is a new object. Keeping the previous object
// when the new one is equal lets the parts of a page whose data did not change stay as they are.

/** Deep equality of JSON-like values (plain objects, arrays, primitives; NaN equals NaN). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !deepEqual(ao[k], bo[k])) return false;
  }
  return true;
}

/** `next`, or `prev` itself when they are deeply equal. */
export function keepIfEqual<T>(prev: T | undefined, next: T): T {
  return prev !== undefined && deepEqual(prev, next) ? prev : next;
}

/**
 * A list whose items that are equal to the previous list's item with the same key are the
 * previous objects; the previous list itself when every item is kept in the same order.
 */
export function reuseItems<T>(prev: readonly T[] | undefined, next: readonly T[], key: (x: T) => string): T[] {
  if (!prev || prev.length === 0) return next as T[];
  const old = new Map(prev.map((x) => [key(x), x]));
  let same = prev.length === next.length;
  const out = next.map((x, i) => {
    const o = old.get(key(x));
    const v = o !== undefined && deepEqual(o, x) ? o : x;
    if (v !== prev[i]) same = false;
    return v;
  });
  return same ? (prev as T[]) : out;
}

/** True when every own field of `a` and `b` but the ignored ones is the same reference. */
export function sameFieldsExcept<T extends object>(a: T | null | undefined, b: T | null | undefined, ignore: readonly (keyof T)[]): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof T)[]);
  for (const k of keys) if (!ignore.includes(k) && a[k] !== b[k]) return false;
  return true;
}

/**
 * A gate for live values: the returned function gives `get()` while `active` (and the first
 * time), and the last value it gave otherwise. Inside a `$derived`, an inactive gate reads
 * nothing but `active`, so a hidden page holds still while numbers keep arriving, and catches
 * up the moment it is shown.
 */
export function holder<T>(): (active: boolean, get: () => T) => T {
  let last: T;
  let has = false;
  return (active, get) => {
    if (active || !has) {
      last = get();
      has = true;
    }
    return last;
  };
}
