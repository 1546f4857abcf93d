import { describe, expect, it, vi } from "vitest";
import { gradeTunnel, METRICS_STALE_MS, needsGrading } from "./grading";
import { graded, stats } from "./testFixtures";

describe("grading without metrics", () => {
  it("grades through the engine only while no metrics event arrived lately", () => {
    expect(needsGrading(null, 1000)).toBe(true);
    expect(needsGrading(1000, 1000 + METRICS_STALE_MS)).toBe(false);
    expect(needsGrading(1000, 1001 + METRICS_STALE_MS)).toBe(true);
  });

  it("asks the engine to grade each tunnel peer: smoothed RTT when there is one, loss in percent", async () => {
    const gradeConnection = vi.fn(async (rtt: number | null) => (rtt === null ? null : graded(rtt > 50 ? 40 : 90, rtt > 50 ? "C" : "A")));
    const tunnel = stats([
      { key: "A=", rtt: 12, jitter: 2, loss: 0.02 },
      { key: "B=", rtt: 80, jitter: null, loss: null },
      { key: "C=", rtt: null, jitter: null, loss: null },
    ]);
    tunnel.peers[0].probe.srtt_ms = 14;
    expect(await gradeTunnel({ gradeConnection }, tunnel)).toEqual({ "A=": graded(90, "A"), "B=": graded(40, "C"), "C=": null });
    expect(gradeConnection.mock.calls).toEqual([
      [14, 2, 2],
      [80, null, null],
      [null, null, null],
    ]);
  });
});
