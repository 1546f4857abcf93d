// Game sessions as the Games page shows them: each run of a game during a party, as the engine
// kept it (`get_games`), newest first, in words (when, how long, who was there, the round trip
// and loss), graded by the engine's `grade_connection` (never here: the one grading formula is
// in Rust), and when to ask the engine again.

import type { Bridge } from "./bridge";
import { reuseItems } from "./equal";
import { formatMs, formatPct } from "./peers";
import { describeQuality } from "./quality";
import type { GameSession, Quality } from "./types";

/** How many sessions the page asks for. */
export const SESSIONS_LIMIT = 20;

/**
 * Wait after an event before asking again: longer than the engine's one-second tick, which
 * stores a session the moment after the game stopped or the party ended, so the answer has it.
 */
export const SESSIONS_REFRESH_MS = 1500;

/** However many events keep coming, the list is asked for again at most this long after the first. */
export const SESSIONS_MAX_WAIT_MS = 5000;

/** The events after which a session may have been saved (a game stopped, a member's game or the party changed). */
export const SESSIONS_REFRESH_EVENTS: ReadonlySet<string> = new Set(["game_session_saved", "game_stopped", "member_game", "party_changed"]);

/** Whether this engine event may have saved a session. */
export const refreshesSessions = (e: { type: string }): boolean => SESSIONS_REFRESH_EVENTS.has(e.type);

/** A session's identity: a game runs once at a time on a device, so the game and its start. */
export const sessionKey = (s: Pick<GameSession, "game_id" | "started_at">): string => `${s.game_id}@${s.started_at}`;

/** Newest first (by start, then end); the engine's order among equals. */
export function newestFirst(list: readonly GameSession[]): GameSession[] {
  return list
    .map((s, i) => [s, i] as const)
    .sort(([a, ia], [b, ib]) => b.started_at - a.started_at || b.ended_at - a.ended_at || ia - ib)
    .map(([s]) => s);
}

/** "45 s", "12 min", "2 h 14 min", "3 h". */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(secs) ? secs : 0));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h === 0) return `${m} min`;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** Where and how to write dates: the user's locale and time zone unless a test says otherwise. */
export type DateOptions = { locale?: string; timeZone?: string };

/** "3 Mar 2025, 20:10 – 22:24" in the local time (the end's date only when it is another day). */
export function formatWhen(s: Pick<GameSession, "started_at" | "ended_at">, opts: DateOptions = {}): string {
  const start = new Date(s.started_at * 1000);
  const end = new Date(Math.max(s.ended_at, s.started_at) * 1000);
  const fmt = new Intl.DateTimeFormat(opts.locale, { dateStyle: "medium", timeStyle: "short", timeZone: opts.timeZone });
  if (typeof fmt.formatRange === "function") return fmt.formatRange(start, end);
  return `${fmt.format(start)} – ${fmt.format(end)}`;
}

/** "You, Dex, Mira and Sol" (the members present at any time; you were there too), "Only you". */
export function sessionPlayers(members: readonly string[]): string {
  if (!members.length) return "Only you";
  const all = ["You", ...members];
  return `${all.slice(0, -1).join(", ")} and ${all[all.length - 1]}`;
}

/** "39 ms average · 78 ms p95", "–" when nothing was measured. */
export function sessionRtt(rtt: GameSession["rtt_ms"]): string {
  return rtt ? `${formatMs(rtt.avg)} average · ${formatMs(rtt.p95)} p95` : "–";
}

/** What the engine grades a session from: its average round trip and loss (it keeps no jitter); null when nothing was measured. */
export function gradeInputs(s: Pick<GameSession, "rtt_ms" | "loss_pct">): { rttMs: number | null; lossPct: number | null } | null {
  const rttMs = s.rtt_ms?.avg ?? null;
  const lossPct = s.loss_pct ?? null;
  return rttMs === null && lossPct === null ? null : { rttMs, lossPct };
}

/**
 * The engine's grade of every session in `list`, by key: the ones `known` has are kept, the
 * others are asked of `grade_connection` (a failed answer counts as no grade). `known` itself
 * when there was nothing new to ask.
 */
export async function gradeSessions(
  bridge: Pick<Bridge, "gradeConnection">,
  list: readonly GameSession[],
  known: Readonly<Record<string, Quality | null>>,
): Promise<Readonly<Record<string, Quality | null>>> {
  const missing = list.filter((s) => !(sessionKey(s) in known));
  if (!missing.length) return known;
  const graded = await Promise.all(
    missing.map(async (s) => {
      const inputs = gradeInputs(s);
      const q = inputs ? await bridge.gradeConnection(inputs.rttMs, null, inputs.lossPct).catch(() => null) : null;
      return [sessionKey(s), q] as const;
    }),
  );
  return { ...known, ...Object.fromEntries(graded) };
}

/** One line of the sessions table, in words. */
export type SessionRow = {
  key: string;
  gameId: string;
  game: string;
  /** Unix seconds of the start, and as an ISO date for <time datetime> */
  startedAt: number;
  iso: string;
  when: string;
  duration: string;
  players: string;
  rtt: string;
  /** the range of round trips, for the tooltip ("" when none) */
  rttRange: string;
  loss: string;
  quality: Quality | null;
  /** the grade's tooltip */
  gradeTip: string;
};

function gradeTip(s: GameSession, q: Quality | null): string {
  if (q) return `${describeQuality(q)} Graded by LANrage from the session's average round trip and loss.`;
  if (!gradeInputs(s)) return "Not graded: nothing was measured (no other member was connected).";
  return "Not graded.";
}

/** The table's rows: newest first, each session in words with the engine's grade (when it gave one). */
export function sessionRows(
  list: readonly GameSession[],
  grades: Readonly<Record<string, Quality | null>>,
  opts: DateOptions = {},
): SessionRow[] {
  return newestFirst(list).map((s) => {
    const key = sessionKey(s);
    const quality = grades[key] ?? null;
    return {
      key,
      gameId: s.game_id,
      game: s.game_name,
      startedAt: s.started_at,
      iso: new Date(s.started_at * 1000).toISOString(),
      when: formatWhen(s, opts),
      duration: formatDuration(s.duration_secs),
      players: sessionPlayers(s.members),
      rtt: sessionRtt(s.rtt_ms),
      rttRange: s.rtt_ms ? `Round trips from ${formatMs(s.rtt_ms.min)} to ${formatMs(s.rtt_ms.max)}.` : "",
      loss: formatPct(s.loss_pct),
      quality,
      gradeTip: gradeTip(s, quality),
    };
  });
}

/** `next`, keeping the previous list (or its sessions) when they did not change, so the page holds still. */
export function keepSessions(prev: readonly GameSession[] | undefined, next: readonly GameSession[]): GameSession[] {
  return reuseItems(prev, next, sessionKey);
}

/** When the Games page asks the engine for its sessions. */
export type SessionsFeed = {
  /** the page is shown (true) or not: opening it asks at once; while hidden nothing is asked */
  show(shown: boolean): void;
  /** an event that may have saved a session arrived: ask again a moment later, once for a burst */
  changed(): void;
  /** stop: nothing more is asked */
  dispose(): void;
};

/**
 * Asks (`load`) when the page opens, and `delayMs` after an event while it is shown (a burst
 * asks once: each event pushes the question back, but never past `maxWaitMs` after the first).
 * Hidden, events are ignored: opening the page asks anyway.
 */
export function sessionsFeed(
  load: () => void,
  { delayMs = SESSIONS_REFRESH_MS, maxWaitMs = SESSIONS_MAX_WAIT_MS, now = () => Date.now() } = {},
): SessionsFeed {
  let shown = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let firstAt: number | null = null;
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
    firstAt = null;
  };
  return {
    show(next) {
      if (next && !shown) {
        stop();
        load();
      } else if (!next) stop();
      shown = next;
    },
    changed() {
      if (!shown) return;
      const t = now();
      firstAt ??= t;
      const due = Math.min(t + delayMs, firstAt + maxWaitMs);
      clearTimeout(timer);
      timer = setTimeout(() => {
        stop();
        load();
      }, Math.max(0, due - t));
    },
    dispose() {
      stop();
      shown = false;
    },
  };
}
