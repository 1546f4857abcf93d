// The connection quality score and grade: the one place in the UI where they are defined.
// Same formula as the engine's metrics crate (crates/metrics/src/quality.rs), so the UI,
// `lanrage status` and Prometheus agree:
//
//   component = clamp(100 × (1 − value / limit), 0, 100)
//     latency  RTT in ms        limit 150 ms
//     jitter   jitter in ms     limit  50 ms
//     loss     loss in percent  limit   5 %
//   score = round(min(components that were measured))      0..100
//   grade: A ≥ 80, B ≥ 60, C ≥ 40, D ≥ 20, else F
//
// The minimum, not a mean: a game is as playable as its worst property. A missing component
// (no jitter yet) is left out; with nothing measured there is no score. NaN counts as beyond
// the limit, negative values as perfect.

export const RTT_LIMIT_MS = 150;
export const JITTER_LIMIT_MS = 50;
export const LOSS_LIMIT_PCT = 5;

export type Grade = "A" | "B" | "C" | "D" | "F";
export type Component = "latency" | "jitter" | "loss";

export type Quality = {
  score: number;
  grade: Grade;
  /** the component with the lowest score (first of latency, jitter, loss on a tie) */
  limitedBy: Component;
  components: { latency: number | null; jitter: number | null; loss: number | null };
};

/** 100 at zero, 0 at `limit` and beyond. */
export function componentScore(value: number, limit: number): number {
  if (Number.isNaN(value)) return 0;
  const v = Math.max(0, value);
  return Math.min(100, Math.max(0, 100 * (1 - v / limit)));
}

export function gradeOf(score: number): Grade {
  if (score >= 80) return "A";
  if (score >= 60) return "B";
  if (score >= 40) return "C";
  if (score >= 20) return "D";
  return "F";
}

const present = (v: number | null | undefined): v is number => typeof v === "number";

/** Quality from RTT (ms), jitter (ms) and loss (percent 0..100); null when nothing is measured. */
export function quality(
  rttMs: number | null | undefined,
  jitterMs: number | null | undefined,
  lossPct: number | null | undefined,
): Quality | null {
  const components = {
    latency: present(rttMs) ? componentScore(rttMs, RTT_LIMIT_MS) : null,
    jitter: present(jitterMs) ? componentScore(jitterMs, JITTER_LIMIT_MS) : null,
    loss: present(lossPct) ? componentScore(lossPct, LOSS_LIMIT_PCT) : null,
  };
  let worst: { c: Component; v: number } | null = null;
  for (const c of ["latency", "jitter", "loss"] as const) {
    const v = components[c];
    if (v !== null && (worst === null || v < worst.v)) worst = { c, v };
  }
  if (!worst) return null;
  const score = Math.round(worst.v);
  return { score, grade: gradeOf(score), limitedBy: worst.c, components };
}

const COMPONENT_WORDS: Record<Component, string> = { latency: "latency", jitter: "jitter", loss: "packet loss" };

/** "Grade B (score 72), held back by latency." or "No measurements yet." */
export function describeQuality(q: Quality | null): string {
  if (!q) return "Not graded yet: no measurements from this peer.";
  if (q.score >= 100) return `Grade A (score 100 of 100): nothing to improve.`;
  return `Grade ${q.grade} (score ${q.score} of 100), held back by ${COMPONENT_WORDS[q.limitedBy]}. A is at most 30 ms latency, 10 ms jitter and 1% loss.`;
}
