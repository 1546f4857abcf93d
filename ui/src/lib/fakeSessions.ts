// The fake engine's game sessions: a few earlier game nights to show, and each run of a game on
// this device during the fake party, recorded like the engine's `Recorder` (crates/games/src/
// session.rs): started when a game runs in a party, fed the online members' RTT and loss once a
// simulated second, finished when the game stops or changes, or the party ends. The earlier
// sessions' numbers are in fixtures/grades.json, so the fake's grade_connection answers for them
// with the engine's own grading; a session the fake records gets none (the fake never grades).

import type { GameRef, GameSession, PeerStatus } from "./types";

const HOUR = 3600;
const DAY = 24 * HOUR;

/** Earlier sessions, newest first, relative to `now` (Unix seconds). */
export function fakeSessions(now: number): GameSession[] {
  const at = (ago: number, secs: number) => ({ started_at: now - ago, ended_at: now - ago + secs, duration_secs: secs });
  return [
    {
      game_id: "openttd",
      game_name: "OpenTTD",
      ...at(DAY + 3 * HOUR, 2 * HOUR + 14 * 60),
      members: ["Dex", "Mira", "Sol"],
      rtt_ms: { avg: 38.6, min: 12.4, max: 141.2, p95: 78.3 },
      loss_pct: 0.6,
    },
    {
      game_id: "cs16",
      game_name: "Counter-Strike 1.6",
      ...at(2 * DAY + 5 * HOUR, 48 * 60),
      members: ["Dex", "Mira"],
      rtt_ms: { avg: 52.1, min: 13, max: 96.7, p95: 81.9 },
      loss_pct: 2.6,
    },
    {
      game_id: "factorio",
      game_name: "Factorio",
      ...at(5 * DAY + 2 * HOUR, 3 * HOUR + 5 * 60),
      members: ["Kai", "Sol"],
      rtt_ms: { avg: 24.8, min: 19.2, max: 64.5, p95: 33.1 },
      loss_pct: 0.1,
    },
    {
      game_id: "supertuxkart",
      game_name: "SuperTuxKart",
      ...at(6 * DAY + 4 * HOUR, 21 * 60),
      members: [],
      rtt_ms: null,
      loss_pct: null,
    },
  ];
}

/** A session being recorded (the engine's Recorder: nearest-rank p95, loss averaged over samples). */
export class FakeRecorder {
  private members = new Set<string>();
  private rtts: number[] = [];
  private losses: number[] = [];

  constructor(
    readonly game: GameRef,
    readonly startedAt: number,
  ) {}

  /** One second: the members now in the party (online) and what was measured to each. */
  sample(peers: readonly Pick<PeerStatus, "name" | "online" | "rtt_ms" | "loss_pct">[]): void {
    for (const p of peers) {
      if (!p.online) continue;
      this.members.add(p.name);
      if (typeof p.rtt_ms === "number" && Number.isFinite(p.rtt_ms) && p.rtt_ms >= 0) this.rtts.push(p.rtt_ms);
      if (typeof p.loss_pct === "number" && Number.isFinite(p.loss_pct)) this.losses.push(Math.min(100, Math.max(0, p.loss_pct)));
    }
  }

  finish(at: number): GameSession {
    const sorted = [...this.rtts].sort((a, b) => a - b);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const rank = Math.max(1, Math.ceil((sorted.length * 95) / 100));
    return {
      game_id: this.game.id,
      game_name: this.game.name,
      started_at: this.startedAt,
      ended_at: Math.max(at, this.startedAt),
      duration_secs: Math.max(0, at - this.startedAt),
      members: [...this.members].sort(),
      rtt_ms: sorted.length
        ? { avg: sum(sorted) / sorted.length, min: sorted[0], max: sorted[sorted.length - 1], p95: sorted[rank - 1] }
        : null,
      loss_pct: this.losses.length ? sum(this.losses) / this.losses.length : null,
    };
  }
}
