// Bounded per-peer measurement histories, fed by `tunnel_stats` events (one a second), matched
// by public key. The sparkline reads the last minute, the metrics dashboard the whole window.
// Everything is immutable: recording returns new arrays, so the reducer stays pure.

import type { DeviceStats, MetricsSnapshot, SystemPoint, SystemSample } from "./types";

export type Sample = {
  /** ms since the epoch (when the UI received the measurement) */
  t: number;
  rtt: number | null;
  jitter: number | null;
  /** percent 0..100 */
  loss: number | null;
};

/** public key -> samples, oldest first */
export type Histories = Readonly<Record<string, readonly Sample[]>>;

/** How far back the dashboard can look. */
export const HISTORY_WINDOW_MS = 10 * 60_000;
/** Hard cap per peer (a burst of events must not grow memory): 2 a second over the window. */
export const HISTORY_MAX_SAMPLES = 1200;
/** What the per-peer sparkline shows. */
export const SPARK_WINDOW_MS = 60_000;

const finite = (v: number | null | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;

/**
 * Append a sample and drop what is older than `windowMs` before it or beyond `max` entries.
 * A sample not newer than the last one is ignored (out of order or duplicate).
 */
export function pushSample<T extends { t: number }>(
  h: readonly T[],
  s: T,
  windowMs = HISTORY_WINDOW_MS,
  max = HISTORY_MAX_SAMPLES,
): T[] {
  const last = h.length ? h[h.length - 1] : null;
  if (last && s.t <= last.t) return h as T[];
  const cutoff = s.t - windowMs;
  let start = 0;
  while (start < h.length && h[start].t < cutoff) start++;
  const out = h.slice(start);
  out.push(s);
  return out.length > max ? out.slice(out.length - max) : out;
}

/** Samples at or after `from`. */
export function since<T extends { t: number }>(h: readonly T[], from: number): T[] {
  let i = h.length;
  while (i > 0 && h[i - 1].t >= from) i--;
  return h.slice(i);
}

/** One tunnel_stats event into the histories: one sample per tunnel peer at time `t`. */
export function recordTunnelStats(hist: Histories, stats: DeviceStats, t: number): Record<string, Sample[]> {
  const out: Record<string, Sample[]> = {};
  const cutoff = t - HISTORY_WINDOW_MS;
  // keep peers that went quiet until their last sample leaves the window
  for (const [key, h] of Object.entries(hist)) {
    if (h.length && h[h.length - 1].t >= cutoff) out[key] = h as Sample[];
  }
  for (const p of stats.peers) {
    const loss = finite(p.probe?.loss);
    out[p.public_key] = pushSample(out[p.public_key] ?? [], {
      t,
      rtt: finite(p.probe?.rtt_ms),
      jitter: finite(p.probe?.jitter_ms),
      loss: loss === null ? null : loss * 100,
    });
  }
  return out;
}

/** uPlot's aligned data: [xs in seconds, ...one y array per key]. */
export type Aligned = [number[], ...(number | null)[][]];

/**
 * Histories of several peers on one time axis (seconds, as uPlot wants), from `from` on.
 * Peers sampled at the same tick share an x; a peer without a sample at an x gets null.
 */
export function alignSeries(
  hist: Histories,
  keys: readonly string[],
  field: "rtt" | "jitter" | "loss",
  from: number,
): Aligned {
  const ts = new Set<number>();
  const per = keys.map((k) => since(hist[k] ?? [], from));
  for (const h of per) for (const s of h) ts.add(s.t);
  const xsMs = [...ts].sort((a, b) => a - b);
  const index = new Map(xsMs.map((t, i) => [t, i]));
  const ys = per.map((h) => {
    const y: (number | null)[] = new Array(xsMs.length).fill(null);
    for (const s of h) y[index.get(s.t)!] = s[field];
    return y;
  });
  return [xsMs.map((t) => t / 1000), ...ys];
}

/**
 * An SVG polyline for a sparkline of RTT over the last `windowMs` before `now`: x by time,
 * y from 0 (bottom) to the larger of `minTop` and the highest value. Gaps (no measurement)
 * split the line into several polylines.
 */
export function sparkLines(
  h: readonly Sample[],
  now: number,
  width: number,
  height: number,
  windowMs = SPARK_WINDOW_MS,
  minTop = 50,
): { lines: string[]; top: number } {
  const from = now - windowMs;
  const pts = since(h, from);
  let top = minTop;
  for (const s of pts) if (s.rtt !== null && s.rtt > top) top = s.rtt;
  const lines: string[] = [];
  let cur: string[] = [];
  for (const s of pts) {
    if (s.rtt === null) {
      if (cur.length) lines.push(cur.join(" "));
      cur = [];
      continue;
    }
    const x = ((s.t - from) / windowMs) * width;
    const y = height - (s.rtt / top) * (height - 2) - 1;
    cur.push(`${round1(Math.min(width, Math.max(0, x)))},${round1(y)}`);
  }
  if (cur.length) lines.push(cur.join(" "));
  return { lines, top };
}

const round1 = (v: number) => Math.round(v * 10) / 10;

export type Summary = { last: number | null; avg: number | null; max: number | null; count: number };

/** Same xs and ys: a chart fed this does not need to redraw. */
export function sameAligned(a: Aligned | null | undefined, b: Aligned | null | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (!Object.is(x[j], y[j])) return false;
  }
  return true;
}

// ---- the machine: CPU, memory and network from the `metrics` event

/** One system reading as the dashboard keeps it. */
export type SystemRecord = {
  /** ms since the epoch (the engine's reading time) */
  t: number;
  /** whole machine, percent 0..100 */
  cpu: number | null;
  memUsed: number | null;
  memTotal: number | null;
  /** bytes per second */
  rx: number | null;
  tx: number | null;
  /** LANrage itself: percent of one core, and resident bytes */
  appCpu: number | null;
  appMem: number | null;
};

export type SystemField = "cpu" | "memUsed" | "rx" | "tx" | "appCpu";

const fromSample = (s: SystemSample): SystemRecord => {
  const cpu = finite(s.cpu_ratio);
  const app = finite(s.process_cpu_cores);
  return {
    t: s.t_ms,
    cpu: cpu === null ? null : cpu * 100,
    memUsed: finite(s.memory_used_bytes),
    memTotal: finite(s.memory_total_bytes),
    rx: finite(s.net_rx_bytes_per_sec),
    tx: finite(s.net_tx_bytes_per_sec),
    appCpu: app === null ? null : app * 100,
    appMem: finite(s.process_memory_bytes),
  };
};

const fromPoint = (p: SystemPoint, memTotal: number | null): SystemRecord => {
  const cpu = finite(p.cpu_ratio);
  const app = finite(p.process_cpu_cores);
  return {
    t: p.t_ms,
    cpu: cpu === null ? null : cpu * 100,
    memUsed: finite(p.memory_used_bytes),
    memTotal,
    rx: finite(p.net_rx_bytes_per_sec),
    tx: finite(p.net_tx_bytes_per_sec),
    appCpu: app === null ? null : app * 100,
    appMem: null,
  };
};

/**
 * A `metrics` snapshot into the system history: the minute series when it has one (a full
 * snapshot), then the latest reading. The engine repeats its last reading when a tick has none,
 * so a reading not newer than the last one is skipped: the same array comes back, and nothing
 * that shows it has to change.
 */
export function recordSystem(h: readonly SystemRecord[], snap: MetricsSnapshot | null | undefined): readonly SystemRecord[] {
  if (!snap) return h;
  let out = h;
  const total = finite(snap.system?.memory_total_bytes);
  for (const p of snap.system_minute ?? []) {
    if (typeof p?.t_ms !== "number" || (p.cpu_ratio === null && p.memory_used_bytes === null)) continue;
    out = pushSample(out, fromPoint(p, total));
  }
  if (snap.system && typeof snap.system.t_ms === "number") out = pushSample(out, fromSample(snap.system));
  return out;
}

/** System series on one time axis (seconds), from `from` on, each value times `scale`. */
export function alignSystem(h: readonly SystemRecord[], fields: readonly SystemField[], from: number, scale = 1): Aligned {
  const pts = since(h, from);
  return [
    pts.map((p) => p.t / 1000),
    ...fields.map((f) =>
      pts.map((p) => {
        const v = p[f];
        return v === null ? null : v * scale;
      }),
    ),
  ];
}

/** "12%"; "–" */
export function formatPercent(v: number | null | undefined): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  return v < 10 ? `${v.toFixed(1)}%` : `${Math.round(v)}%`;
}

/** Bytes per second as bits, the way speed tests say it: "850 kbit/s", "12.4 Mbit/s". */
export function formatBitrate(bytesPerSec: number | null | undefined): string {
  if (typeof bytesPerSec !== "number" || !Number.isFinite(bytesPerSec)) return "–";
  return formatBits(bytesPerSec * 8);
}

/** Bits per second: "0 bit/s", "850 kbit/s", "12.4 Mbit/s". */
export function formatBits(bitsPerSec: number): string {
  if (!Number.isFinite(bitsPerSec)) return "–";
  const bits = Math.max(0, bitsPerSec);
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let v = bits;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const n = i === 0 || v >= 100 ? Math.round(v) : v >= 10 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100;
  return `${n} ${units[i]}`;
}

/** Latest, mean and highest of one field from `from` on, over the samples that measured it. */
export function summarize(h: readonly Sample[], from: number, field: "rtt" | "jitter" | "loss"): Summary {
  const vals = since(h, from)
    .map((s) => s[field])
    .filter((v): v is number => v !== null);
  if (!vals.length) return { last: null, avg: null, max: null, count: 0 };
  return {
    last: vals[vals.length - 1],
    avg: vals.reduce((a, b) => a + b, 0) / vals.length,
    max: Math.max(...vals),
    count: vals.length,
  };
}

/** Stable colors for chart series, by a peer's place in the party list. */
export const SERIES_COLORS = ["#22e3f0", "#ff9f43", "#a78bfa", "#4ade80", "#f472b6", "#facc15", "#60a5fa", "#f87171"];
export const seriesColor = (i: number) => SERIES_COLORS[((i % SERIES_COLORS.length) + SERIES_COLORS.length) % SERIES_COLORS.length];
