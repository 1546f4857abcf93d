// Live grades without metrics. The engine grades every peer once a second in its `metrics`
// event; when those do not arrive (metrics switched off at start-up, or an engine without
// them), the UI asks the engine to grade the numbers of each `tunnel_stats` event instead
// (`grade_connection`). Either way the grade is the engine's; the UI never computes one.

import type { Bridge } from "./bridge";
import type { DeviceStats, Quality } from "./types";

/** Without a `metrics` event for this long, the tunnel numbers are graded through the engine. */
export const METRICS_STALE_MS = 2500;

/** Whether the live grades must come from grade_connection now. */
export function needsGrading(lastMetricsAt: number | null, now: number): boolean {
  return lastMetricsAt === null || now - lastMetricsAt > METRICS_STALE_MS;
}

const num = (v: number | null | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * Every tunnel peer's numbers graded by the engine, by public key: the smoothed RTT when there
 * is one (what the engine grades, so the grade does not flicker), jitter, loss in percent.
 */
export async function gradeTunnel(
  bridge: Pick<Bridge, "gradeConnection">,
  tunnel: DeviceStats,
): Promise<Record<string, Quality | null>> {
  const graded = await Promise.all(
    tunnel.peers.map(async (p) => {
      const loss = num(p.probe?.loss);
      const q = await bridge.gradeConnection(
        num(p.probe?.srtt_ms) ?? num(p.probe?.rtt_ms),
        num(p.probe?.jitter_ms),
        loss === null ? null : loss * 100,
      );
      return [p.public_key, q] as const;
    }),
  );
  return Object.fromEntries(graded);
}
