// How the UI words a connection's grading. The grading itself (score, grade, components) is the
// engine's (crates/metrics/src/quality.rs): party status, `metrics` events and the
// `grade_connection` command carry it, and the UI shows it as it is.

import type { Quality, QualityComponent } from "./types";

export type { Grade, Quality, QualityComponent } from "./types";

const COMPONENT_WORDS: Record<QualityComponent, string> = { latency: "latency", jitter: "jitter", loss: "packet loss" };

/** "Grade B (score 72 of 100), held back by latency. …" or "Not graded yet: …" (the grade's tooltip). */
export function describeQuality(q: Quality | null | undefined): string {
  if (!q) return "Not graded yet: no measurements from this peer.";
  if (q.score >= 100) return `Grade A (score 100 of 100): nothing to improve.`;
  const what = COMPONENT_WORDS[q.limited_by] ?? q.limited_by;
  return `Grade ${q.grade} (score ${q.score} of 100), held back by ${what}. A is at most 30 ms latency, 10 ms jitter and 1% loss.`;
}
