import { afterEach, describe, expect, it, vi } from "vitest";
import {
  formatDuration,
  formatWhen,
  gradeInputs,
  gradeSessions,
  keepSessions,
  newestFirst,
  refreshesSessions,
  SESSIONS_MAX_WAIT_MS,
  SESSIONS_REFRESH_MS,
  sessionKey,
  sessionPlayers,
  sessionRows,
  sessionRtt,
  sessionsFeed,
} from "./sessions";
import { FAKE_GRADES } from "./fakeFixtures";
import { fakeSessions } from "./fakeSessions";
import type { GameSession, Quality } from "./types";

// 2025-03-01 20:10:00 UTC
const T = Date.UTC(2025, 2, 1, 20, 10) / 1000;

const session = (over: Partial<GameSession> = {}): GameSession => ({
  game_id: "openttd",
  game_name: "OpenTTD",
  started_at: T,
  ended_at: T + 8040,
  duration_secs: 8040,
  members: ["Dex", "Mira", "Sol"],
  rtt_ms: { avg: 38.6, min: 12.4, max: 141.2, p95: 78.3 },
  loss_pct: 0.6,
  ...over,
});

const UTC_GB = { locale: "en-GB", timeZone: "UTC" };
/** formatRange's spacing differs between ICU versions: compare with plain spaces and hyphens */
const plain = (s: string) =>
  s
    .replace(/[\u2009\u202f\u00a0]/g, " ")
    .replace(/\s*[-–—]\s*/g, " - ");

afterEach(() => {
  vi.useRealTimers();
});

describe("session formats", () => {
  it("how long: seconds, minutes, hours and minutes", () => {
    expect(formatDuration(0)).toBe("0 s");
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(60)).toBe("1 min");
    expect(formatDuration(48 * 60 + 59)).toBe("48 min");
    expect(formatDuration(3600)).toBe("1 h");
    expect(formatDuration(8040)).toBe("2 h 14 min");
    expect(formatDuration(-3)).toBe("0 s");
    expect(formatDuration(Number.NaN)).toBe("0 s");
  });

  it("when: the local date and time of the start, the end's time (and date when it is another day)", () => {
    expect(plain(formatWhen(session(), UTC_GB))).toBe("1 Mar 2025, 20:10 - 22:24");
    expect(plain(formatWhen(session({ ended_at: T + 5 * 3600 }), UTC_GB))).toBe("1 Mar 2025, 20:10 - 2 Mar 2025, 01:10");
    // another time zone moves both
    expect(plain(formatWhen(session(), { locale: "en-GB", timeZone: "Europe/Berlin" }))).toBe("1 Mar 2025, 21:10 - 23:24");
    // the user's own locale and zone by default (never a throw)
    expect(formatWhen(session())).toMatch(/\d/);
  });

  it("who was there: you and the members present", () => {
    expect(sessionPlayers(["Dex", "Mira", "Sol"])).toBe("You, Dex, Mira and Sol");
    expect(sessionPlayers(["Mira"])).toBe("You and Mira");
    expect(sessionPlayers([])).toBe("Only you");
  });

  it("the connection: average and p95 round trip; the grade's inputs are the average and the loss", () => {
    expect(sessionRtt(session().rtt_ms)).toBe("39 ms average · 78 ms p95");
    expect(sessionRtt({ avg: 4.25, min: 1, max: 9, p95: 8 })).toBe("4.3 ms average · 8.0 ms p95");
    expect(sessionRtt(null)).toBe("–");
    expect(gradeInputs(session())).toEqual({ rttMs: 38.6, lossPct: 0.6 });
    expect(gradeInputs(session({ rtt_ms: null }))).toEqual({ rttMs: null, lossPct: 0.6 });
    expect(gradeInputs(session({ rtt_ms: null, loss_pct: null }))).toBeNull();
  });
});

describe("session order and rows", () => {
  it("newest first by start, then end; equal ones keep the engine's order", () => {
    const a = session({ game_id: "a", started_at: T });
    const b = session({ game_id: "b", started_at: T + 100 });
    const c = session({ game_id: "c", started_at: T + 100, ended_at: T + 9000 });
    const d = session({ game_id: "d", started_at: T });
    expect(newestFirst([a, b, c, d]).map((s) => s.game_id)).toEqual(["c", "b", "a", "d"]);
    expect(sessionKey(a)).toBe(`a@${T}`);
  });

  it("rows in words, with the engine's grade and its tooltip; none when nothing was measured", () => {
    const q: Quality = FAKE_GRADES.find((g) => g.name === "session: OpenTTD")!.quality;
    const alone = session({ game_id: "supertuxkart", game_name: "SuperTuxKart", started_at: T - 86400, members: [], rtt_ms: null, loss_pct: null });
    const rows = sessionRows([alone, session()], { [sessionKey(session())]: q }, UTC_GB);
    expect(rows.map((r) => r.game)).toEqual(["OpenTTD", "SuperTuxKart"]);
    const [ttd, stk] = rows;
    expect(ttd).toMatchObject({
      key: `openttd@${T}`,
      gameId: "openttd",
      startedAt: T,
      iso: "2025-03-01T20:10:00.000Z",
      duration: "2 h 14 min",
      players: "You, Dex, Mira and Sol",
      rtt: "39 ms average · 78 ms p95",
      rttRange: "Round trips from 12 ms to 141 ms.",
      loss: "0.6%",
      quality: q,
    });
    expect(plain(ttd.when)).toBe("1 Mar 2025, 20:10 - 22:24");
    expect(ttd.gradeTip).toBe(
      "Grade B (score 74 of 100), held back by latency. A is at most 30 ms latency, 10 ms jitter and 1% loss. Graded by LANrage from the session's average round trip and loss.",
    );
    expect(stk).toMatchObject({ players: "Only you", rtt: "–", rttRange: "", loss: "–", quality: null });
    expect(stk.gradeTip).toContain("nothing was measured");
    // measured, but the engine gave no grade
    expect(sessionRows([session()], {}, UTC_GB)[0].gradeTip).toBe("Not graded.");
  });

  it("an equal answer keeps the previous list, so the page holds still", () => {
    const prev = [session(), session({ game_id: "cs16", started_at: T - 500 })];
    const same = JSON.parse(JSON.stringify(prev)) as GameSession[];
    expect(keepSessions(prev, same)).toBe(prev);
    const next = [session({ game_id: "factorio", started_at: T + 9000 }), ...same];
    const kept = keepSessions(prev, next);
    expect(kept).not.toBe(prev);
    expect(kept[1]).toBe(prev[0]);
    expect(kept[2]).toBe(prev[1]);
  });
});

describe("grading sessions", () => {
  it("asks the engine's grade_connection for new sessions only, from the average RTT and loss without jitter", async () => {
    const gradeConnection = vi.fn(async (rtt: number | null, _j: number | null, loss: number | null) =>
      rtt === null && loss === null ? null : (FAKE_GRADES.find((g) => g.rtt_ms === rtt && g.loss_pct === loss)?.quality ?? null),
    );
    const list = fakeSessions(T);
    const graded = await gradeSessions({ gradeConnection }, list, {});
    // the session with nothing measured is not asked about
    expect(gradeConnection.mock.calls).toEqual([
      [38.6, null, 0.6],
      [52.1, null, 2.6],
      [24.8, null, 0.1],
    ]);
    expect(list.map((s) => graded[sessionKey(s)]?.grade ?? null)).toEqual(["B", "C", "A", null]);
    // known ones are not asked again; nothing new keeps the same record
    gradeConnection.mockClear();
    expect(await gradeSessions({ gradeConnection }, list, graded)).toBe(graded);
    const more = [session({ started_at: T + 99_999 }), ...list];
    const again = await gradeSessions({ gradeConnection }, more, graded);
    expect(gradeConnection).toHaveBeenCalledTimes(1);
    expect(Object.keys(again)).toHaveLength(5);
  });

  it("a failed grade_connection counts as no grade", async () => {
    const gradeConnection = vi.fn(async () => {
      throw { code: "internal", message: "no" };
    });
    const graded = await gradeSessions({ gradeConnection }, [session()], {});
    expect(graded).toEqual({ [sessionKey(session())]: null });
  });
});

describe("when the sessions are asked for", () => {
  it("the events after which a session may have been saved", () => {
    for (const type of ["game_stopped", "member_game", "party_changed"]) expect(refreshesSessions({ type }), type).toBe(true);
    for (const type of ["game_started", "tunnel_stats", "metrics", "path_changed", "member_joined"])
      expect(refreshesSessions({ type }), type).toBe(false);
  });

  it("when the page opens, and once a moment after a burst of events while it is shown", () => {
    vi.useFakeTimers();
    const load = vi.fn();
    const feed = sessionsFeed(load);
    feed.changed(); // hidden: ignored
    vi.advanceTimersByTime(10_000);
    expect(load).not.toHaveBeenCalled();
    feed.show(true);
    expect(load).toHaveBeenCalledTimes(1); // opening asks at once
    feed.show(true); // still shown: nothing new
    expect(load).toHaveBeenCalledTimes(1);
    feed.changed();
    vi.advanceTimersByTime(500);
    feed.changed();
    vi.advanceTimersByTime(500);
    feed.changed();
    vi.advanceTimersByTime(SESSIONS_REFRESH_MS - 1);
    expect(load).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(load).toHaveBeenCalledTimes(2); // one question for the burst
    vi.advanceTimersByTime(10_000);
    expect(load).toHaveBeenCalledTimes(2);
    feed.dispose();
  });

  it("a steady stream of events still asks within the longest wait", () => {
    vi.useFakeTimers();
    const load = vi.fn();
    const feed = sessionsFeed(load);
    feed.show(true);
    load.mockClear();
    for (let t = 0; t < SESSIONS_MAX_WAIT_MS; t += 1000) {
      feed.changed();
      vi.advanceTimersByTime(1000);
    }
    expect(load).toHaveBeenCalledTimes(1);
    feed.dispose();
  });

  it("hiding the page drops a pending question; opening it again asks; disposed, nothing", () => {
    vi.useFakeTimers();
    const load = vi.fn();
    const feed = sessionsFeed(load);
    feed.show(true);
    feed.changed();
    feed.show(false);
    vi.advanceTimersByTime(10_000);
    expect(load).toHaveBeenCalledTimes(1);
    feed.show(true);
    expect(load).toHaveBeenCalledTimes(2);
    feed.changed();
    feed.dispose();
    vi.advanceTimersByTime(10_000);
    feed.changed();
    vi.advanceTimersByTime(10_000);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
