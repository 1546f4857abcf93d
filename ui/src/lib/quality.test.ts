import { describe, expect, it } from "vitest";
import { componentScore, describeQuality, gradeOf, quality } from "./quality";

describe("quality grade", () => {
  it("grades on even 20-point bands, edges included", () => {
    expect(gradeOf(100)).toBe("A");
    expect(gradeOf(80)).toBe("A");
    expect(gradeOf(79)).toBe("B");
    expect(gradeOf(60)).toBe("B");
    expect(gradeOf(59)).toBe("C");
    expect(gradeOf(40)).toBe("C");
    expect(gradeOf(39)).toBe("D");
    expect(gradeOf(20)).toBe("D");
    expect(gradeOf(19)).toBe("F");
    expect(gradeOf(0)).toBe("F");
  });

  it("each component is linear to 0 at its limit (150 ms, 50 ms, 5 %)", () => {
    expect(componentScore(0, 150)).toBe(100);
    expect(componentScore(75, 150)).toBe(50);
    expect(componentScore(150, 150)).toBe(0);
    expect(componentScore(400, 150)).toBe(0);
    expect(componentScore(-3, 150)).toBe(100);
    expect(componentScore(Number.NaN, 150)).toBe(0);
    expect(componentScore(Number.POSITIVE_INFINITY, 50)).toBe(0);
  });

  it("band edges for each component alone", () => {
    // latency: A up to 30 ms, B to 60, C to 90, D to 120
    expect(quality(30, null, null)?.grade).toBe("A");
    expect(quality(30.8, null, null)?.grade).toBe("B"); // 79.47 rounds to 79
    expect(quality(60, null, null)?.grade).toBe("B");
    expect(quality(90, null, null)?.grade).toBe("C");
    expect(quality(120, null, null)?.grade).toBe("D");
    expect(quality(121, null, null)?.grade).toBe("F");
    expect(quality(150, null, null)).toMatchObject({ score: 0, grade: "F" });
    // jitter: A up to 10 ms
    expect(quality(null, 10, null)?.grade).toBe("A");
    expect(quality(null, 10.5, null)?.grade).toBe("B");
    expect(quality(null, 50, null)?.grade).toBe("F");
    // loss: A up to 1 %
    expect(quality(null, null, 1)?.grade).toBe("A");
    expect(quality(null, null, 2)?.grade).toBe("B");
    expect(quality(null, null, 4)?.grade).toBe("D");
    expect(quality(null, null, 5)?.grade).toBe("F");
    expect(quality(null, null, 100)?.score).toBe(0);
  });

  it("the score is the minimum component, rounded, and says which one limits it", () => {
    const q = quality(15, 20, 0.5)!;
    expect(q.components.latency).toBe(90);
    expect(q.components.jitter).toBe(60);
    expect(q.components.loss).toBe(90);
    expect(q).toMatchObject({ score: 60, grade: "B", limitedBy: "jitter" });
    // perfect ping does not hide 5 % loss
    expect(quality(1, 0, 5)).toMatchObject({ grade: "F", limitedBy: "loss" });
    // ties go to the first of latency, jitter, loss
    expect(quality(75, 25, 2.5)?.limitedBy).toBe("latency");
  });

  it("missing components are left out; nothing measured means no grade", () => {
    expect(quality(null, null, null)).toBeNull();
    expect(quality(undefined, undefined, undefined)).toBeNull();
    expect(quality(20, null, null)).toMatchObject({ grade: "A", limitedBy: "latency" });
  });

  it("describes itself for the tooltip", () => {
    expect(describeQuality(null)).toContain("Not graded yet");
    expect(describeQuality(quality(0, 0, 0))).toContain("score 100");
    expect(describeQuality(quality(100, 1, 0))).toMatch(/Grade D \(score 33 of 100\), held back by latency/);
  });
});
