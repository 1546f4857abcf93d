import { describe, expect, it } from "vitest";
import { describeQuality } from "./quality";
import type { Quality } from "./types";

// The grading itself is the engine's (crates/metrics/src/quality.rs, tested there); the UI only
// words what the engine sent.
const q = (over: Partial<Quality>): Quality => ({
  score: 33,
  grade: "D",
  latency: 33.33,
  jitter: 98,
  loss: 100,
  limited_by: "latency",
  ...over,
});

describe("quality wording", () => {
  it("describes the engine's grading for the tooltip", () => {
    expect(describeQuality(null)).toContain("Not graded yet");
    expect(describeQuality(undefined)).toContain("Not graded yet");
    expect(describeQuality(q({ score: 100, grade: "A", latency: 100, limited_by: "latency" }))).toContain("score 100");
    expect(describeQuality(q({}))).toMatch(/^Grade D \(score 33 of 100\), held back by latency\./);
    expect(describeQuality(q({ score: 60, grade: "B", limited_by: "loss" }))).toContain("held back by packet loss");
    expect(describeQuality(q({ score: 60, grade: "B", limited_by: "jitter" }))).toContain("held back by jitter");
  });
});
