import { describe, expect, it } from "vitest";
import { latestOnly } from "./latest";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("latestOnly", () => {
  it("delivers only the newest call's answer, whatever order they arrive in", async () => {
    const pending = new Map<string, ReturnType<typeof deferred<string>>>();
    const got: string[] = [];
    const l = latestOnly(
      (t: string) => {
        const d = deferred<string>();
        pending.set(t, d);
        return d.promise;
      },
      (r) => got.push(r),
    );
    l.call("A");
    l.call("AB");
    pending.get("AB")!.resolve("answer AB");
    pending.get("A")!.resolve("answer A"); // late: dropped
    await flush();
    expect(got).toEqual(["answer AB"]);
    l.call("ABC");
    pending.get("ABC")!.resolve("answer ABC");
    await flush();
    expect(got).toEqual(["answer AB", "answer ABC"]);
  });

  it("reports the newest call's failure only, and nothing after cancel", async () => {
    const got: unknown[] = [];
    const fails: unknown[] = [];
    const d1 = deferred<number>();
    const d2 = deferred<number>();
    const queue = [d1, d2];
    const l = latestOnly(
      () => queue.shift()!.promise,
      (r) => got.push(r),
      (e) => fails.push(e),
    );
    l.call();
    l.call();
    d1.reject("old");
    d2.reject("new");
    await flush();
    expect(fails).toEqual(["new"]);
    const d3 = deferred<number>();
    queue.push(d3);
    l.call();
    l.cancel();
    d3.resolve(3);
    await flush();
    expect(got).toEqual([]);
    // a call that throws at once is a failure too
    const t = latestOnly(
      () => {
        throw new Error("no bridge");
      },
      () => {},
      (e) => fails.push((e as Error).message),
    );
    t.call();
    await flush();
    expect(fails).toEqual(["new", "no bridge"]);
  });
});
