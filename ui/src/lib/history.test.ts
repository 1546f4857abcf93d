import { describe, expect, it } from "vitest";
import {
  alignSeries,
  alignSystem,
  formatBitrate,
  formatPercent,
  recordSystem,
  sameAligned,
  HISTORY_MAX_SAMPLES,
  HISTORY_WINDOW_MS,
  pushSample,
  recordTunnelStats,
  since,
  sparkLines,
  summarize,
  type Sample,
} from "./history";
import { stats } from "./testFixtures";
import type { MetricsSnapshot, SystemSample } from "./types";

const reading = (t: number, over: Partial<SystemSample> = {}): SystemSample => ({
  t_ms: t,
  cpu_ratio: 0.1,
  memory_used_bytes: 4 * 1024 ** 3,
  memory_total_bytes: 16 * 1024 ** 3,
  net_rx_bytes_per_sec: 125_000,
  net_tx_bytes_per_sec: 1000,
  process_cpu_cores: 0.015,
  process_memory_bytes: 80 * 1024 ** 2,
  ...over,
});
const snap = (system: SystemSample | null, over: Partial<MetricsSnapshot> = {}): MetricsSnapshot => ({
  t_ms: system?.t_ms ?? null,
  peers: [],
  party: null,
  system,
  system_minute: [],
  ...over,
});

const s = (t: number, rtt: number | null = 10, jitter: number | null = 1, loss: number | null = 0): Sample => ({
  t,
  rtt,
  jitter,
  loss,
});

describe("history buffer", () => {
  it("keeps only the window before the newest sample", () => {
    let h: Sample[] = [];
    for (let t = 0; t <= HISTORY_WINDOW_MS + 5000; t += 1000) h = pushSample(h, s(t));
    expect(h[h.length - 1].t).toBe(HISTORY_WINDOW_MS + 5000);
    expect(h[0].t).toBe(5000); // exactly at the cutoff stays
    expect(h.length).toBe(HISTORY_WINDOW_MS / 1000 + 1);
  });

  it("never grows past the cap, whatever the rate", () => {
    let h: Sample[] = [];
    for (let t = 1; t <= HISTORY_MAX_SAMPLES + 500; t++) h = pushSample(h, s(t));
    expect(h.length).toBe(HISTORY_MAX_SAMPLES);
    expect(h[h.length - 1].t).toBe(HISTORY_MAX_SAMPLES + 500);
    expect(pushSample([s(1), s(2)], s(3), 10_000, 2).map((x) => x.t)).toEqual([2, 3]);
  });

  it("ignores duplicate and out-of-order samples and does not mutate its input", () => {
    const h = [s(1000), s(2000)];
    expect(pushSample(h, s(2000))).toBe(h);
    expect(pushSample(h, s(1500))).toBe(h);
    const next = pushSample(h, s(3000));
    expect(next).not.toBe(h);
    expect(h).toHaveLength(2);
  });

  it("since() returns the tail from a time on", () => {
    const h = [s(1), s(2), s(3), s(4)];
    expect(since(h, 3).map((x) => x.t)).toEqual([3, 4]);
    expect(since(h, 0)).toHaveLength(4);
    expect(since(h, 5)).toEqual([]);
    expect(since([], 0)).toEqual([]);
  });

  it("records tunnel_stats by public key, loss as percent, non-finite as gaps", () => {
    let hist = recordTunnelStats({}, stats([{ key: "A", rtt: 12, jitter: 2, loss: 0.1 }, { key: "B" }]), 1000);
    hist = recordTunnelStats(hist, stats([{ key: "A", rtt: Number.NaN, loss: 0 }]), 2000);
    expect(hist.A).toEqual([
      { t: 1000, rtt: 12, jitter: 2, loss: 10 },
      { t: 2000, rtt: null, jitter: null, loss: 0 },
    ]);
    expect(hist.B).toEqual([{ t: 1000, rtt: null, jitter: null, loss: null }]);
    // a peer that went away is dropped once its last sample left the window
    hist = recordTunnelStats(hist, stats([{ key: "A", rtt: 5 }]), 1000 + HISTORY_WINDOW_MS + 1);
    expect(hist.B).toBeUndefined();
    expect(hist.A.length).toBe(2);
  });

  it("aligns several peers on one time axis in seconds, with nulls where a peer has no sample", () => {
    const hist = { A: [s(1000, 10), s(2000, 11), s(3000, 12)], B: [s(2000, 50), s(4000, 60)] };
    expect(alignSeries(hist, ["A", "B", "C"], "rtt", 2000)).toEqual([
      [2, 3, 4],
      [11, 12, null],
      [50, null, 60],
      [null, null, null],
    ]);
    expect(alignSeries({}, [], "loss", 0)).toEqual([[]]);
  });

  it("summarizes a field over the window", () => {
    const h = [s(1, 10), s(2, null), s(3, 30), s(4, 20)];
    expect(summarize(h, 0, "rtt")).toEqual({ last: 20, avg: 20, max: 30, count: 3 });
    expect(summarize(h, 4, "rtt")).toEqual({ last: 20, avg: 20, max: 20, count: 1 });
    expect(summarize([], 0, "rtt")).toEqual({ last: null, avg: null, max: null, count: 0 });
  });
});

describe("sparkline", () => {
  it("draws only the last minute, inside the box, split at gaps", () => {
    const now = 100_000;
    const h = [s(now - 90_000, 500), s(now - 60_000, 20), s(now - 30_000, 40), s(now - 20_000, null), s(now, 10)];
    const { lines, top } = sparkLines(h, now, 120, 28, 60_000, 50);
    expect(top).toBe(50); // the 500 ms sample is outside the window
    expect(lines).toHaveLength(2);
    const pts = lines.flatMap((l) => l.split(" ").map((p) => p.split(",").map(Number)));
    expect(pts[0][0]).toBe(0);
    expect(pts[pts.length - 1][0]).toBe(120);
    for (const [x, y] of pts) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(120);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(28);
    }
  });

  it("scales to the highest value above the floor and is empty without data", () => {
    const now = 10_000;
    const { top, lines } = sparkLines([s(now - 1000, 80), s(now, 160)], now, 100, 20);
    expect(top).toBe(160);
    const ys = lines[0].split(" ").map((p) => Number(p.split(",")[1]));
    expect(Math.min(...ys)).toBe(1); // the top value touches the top (1 px margin)
    expect(sparkLines([], now, 100, 20).lines).toEqual([]);
  });
});

describe("system history", () => {
  it("records readings from metrics snapshots, skipping repeats and missing readings", () => {
    let h = recordSystem([], snap(null));
    expect(h).toEqual([]);
    h = recordSystem(h, snap(reading(1000)));
    h = recordSystem(h, snap(reading(2000, { cpu_ratio: 0.5, process_cpu_cores: null })));
    expect(h.map((r) => [r.t, r.cpu, r.appCpu])).toEqual([
      [1000, 10, 1.5],
      [2000, 50, null],
    ]);
    expect(recordSystem(h, snap(reading(2000)))).toBe(h);
    expect(recordSystem(h, null)).toBe(h);
  });

  it("takes the minute series of a full snapshot first", () => {
    const point = (t: number, cpu: number | null) => ({
      t_ms: t,
      cpu_ratio: cpu,
      memory_used_bytes: cpu === null ? null : 1e9,
      net_rx_bytes_per_sec: 10,
      net_tx_bytes_per_sec: 20,
      process_cpu_cores: null,
      party_quality: null,
      peers: 0,
    });
    const h = recordSystem([], snap(reading(4000), { system_minute: [point(1000, 0.2), point(2000, null), point(3000, 0.3)] }));
    expect(h.map((r) => [r.t, r.cpu])).toEqual([
      [1000, 20],
      [3000, 30],
      [4000, 10],
    ]);
    expect(h[0].memTotal).toBe(16 * 1024 ** 3);
  });

  it("aligns fields on one axis with a scale", () => {
    let h = recordSystem([], snap(reading(1000)));
    h = recordSystem(h, snap(reading(2000, { net_rx_bytes_per_sec: 250_000 })));
    expect(alignSystem(h, ["rx", "tx"], 0, 8)).toEqual([
      [1, 2],
      [1_000_000, 2_000_000],
      [8000, 8000],
    ]);
    expect(alignSystem(h, ["cpu"], 1500)).toEqual([[2], [10]]);
  });

  it("sameAligned: a chart skips a redraw when nothing changed", () => {
    expect(sameAligned([[1, 2], [3, null]], [[1, 2], [3, null]])).toBe(true);
    expect(sameAligned([[1, 2], [3, null]], [[1, 2], [3, 4]])).toBe(false);
    expect(sameAligned([[1], [3]], [[1], [3], [4]])).toBe(false);
    expect(sameAligned(null, [[1]])).toBe(false);
  });

  it("formats rates as bits and percentages", () => {
    expect(formatBitrate(125_000)).toBe("1 Mbit/s");
    expect(formatBitrate(1_550_000)).toBe("12.4 Mbit/s");
    expect(formatBitrate(100)).toBe("800 bit/s");
    expect(formatBitrate(null)).toBe("–");
    expect(formatPercent(3.14)).toBe("3.1%");
    expect(formatPercent(42.4)).toBe("42%");
  });
});
