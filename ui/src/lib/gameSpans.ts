// Game sessions marked on the Metrics charts: the spans during which a game was played, as
// translucent bands with the game's name. The spans are worked out when the sessions or the
// running games change (gameSpans); each draw only clips them to the chart's time window
// (clipSpans), so the once-a-second chart updates cost a few rectangles.

import type { GameRef, GameSession } from "./types";

/** A game played from `from` to `to` (Unix seconds, like the charts' x axis); `to` null: still running. */
export type GameSpan = { key: string; name: string; from: number; to: number | null };

/** A span as a chart shows it: clipped to its window, ending "now" (the window's end) while running. */
export type ShownSpan = { key: string; name: string; from: number; to: number; running: boolean };

/** Since when (epoch ms) each running game is known, by id. */
export type RunningSince = Readonly<Record<string, number>>;

/**
 * This device's running games since when: a game already known keeps its time, a new one is
 * known from `nowMs` (the UI learns no start from the engine, so it is when the UI saw
 * `game_started`, or the status naming it), a stopped one is dropped. The same object when
 * nothing changed.
 */
export function runningSince(prev: RunningSince, games: readonly GameRef[], nowMs: number): RunningSince {
  const ids = new Set(games.map((g) => g.id));
  const same = Object.keys(prev).length === ids.size && [...ids].every((id) => id in prev);
  if (same) return prev;
  const next: Record<string, number> = {};
  for (const id of ids) next[id] = prev[id] ?? nowMs;
  return next;
}

/**
 * The spans to mark: each finished session (skipping ones that end before they start) and each
 * running game from when it is known to have started, oldest first.
 */
export function gameSpans(sessions: readonly GameSession[], running: readonly GameRef[], since: RunningSince): GameSpan[] {
  const out: GameSpan[] = [];
  for (const s of sessions) {
    if (!Number.isFinite(s.started_at) || !Number.isFinite(s.ended_at) || s.ended_at < s.started_at) continue;
    out.push({ key: `${s.game_id}@${s.started_at}`, name: s.game_name, from: s.started_at, to: s.ended_at });
  }
  for (const g of running) {
    const t = since[g.id];
    if (t === undefined) continue;
    out.push({ key: `${g.id}@running`, name: g.name, from: t / 1000, to: null });
  }
  return out.sort((a, b) => a.from - b.from || (a.to ?? Infinity) - (b.to ?? Infinity) || (a.key < b.key ? -1 : 1));
}

/**
 * The spans that overlap the window `min`..`max` (seconds), clipped to it; a running span ends
 * at `max` (now). Overlapping spans are all kept, each as it is.
 */
export function clipSpans(spans: readonly GameSpan[], min: number, max: number): ShownSpan[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return [];
  const out: ShownSpan[] = [];
  for (const s of spans) {
    const end = s.to ?? max;
    if (end < min || s.from > max) continue;
    out.push({ key: s.key, name: s.name, from: Math.max(min, s.from), to: Math.min(max, end), running: s.to === null });
  }
  return out;
}

/** What a chart tells about its spans (its `data-spans`): "OpenTTD|Factorio (playing)". */
export function spansLabel(shown: readonly ShownSpan[]): string {
  return shown.map((s) => (s.running ? `${s.name} (playing)` : s.name)).join("|");
}
