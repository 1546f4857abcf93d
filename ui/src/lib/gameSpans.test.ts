import { describe, expect, it } from "vitest";
import { clipSpans, gameSpans, runningSince, spansLabel } from "./gameSpans";
import type { GameSession } from "./types";

const session = (game_id: string, game_name: string, started_at: number, ended_at: number): GameSession => ({
  game_id,
  game_name,
  started_at,
  ended_at,
  duration_secs: ended_at - started_at,
  members: [],
  rtt_ms: null,
  loss_pct: null,
});
const OPENTTD = { id: "openttd", name: "OpenTTD" };
const FACTORIO = { id: "factorio", name: "Factorio" };

describe("gameSpans", () => {
  it("lists finished sessions oldest first and skips broken ones", () => {
    const spans = gameSpans([session("b", "B", 2000, 2600), session("a", "A", 1000, 1500), session("x", "X", 900, 800)], [], {});
    expect(spans).toEqual([
      { key: "a@1000", name: "A", from: 1000, to: 1500 },
      { key: "b@2000", name: "B", from: 2000, to: 2600 },
    ]);
  });

  it("adds a running game from when the UI saw it start, open-ended", () => {
    const spans = gameSpans([session("openttd", "OpenTTD", 100, 200)], [OPENTTD], { openttd: 300_000 });
    expect(spans[spans.length - 1]).toEqual({ key: "openttd@running", name: "OpenTTD", from: 300, to: null });
  });

  it("leaves out a running game whose start is not known", () => {
    expect(gameSpans([], [OPENTTD], {})).toEqual([]);
  });
});

describe("runningSince", () => {
  it("keeps the time of a known game, adds new ones at now and drops stopped ones", () => {
    const a = runningSince({}, [OPENTTD], 1000);
    expect(a).toEqual({ openttd: 1000 });
    expect(runningSince(a, [OPENTTD], 5000)).toBe(a);
    const b = runningSince(a, [FACTORIO, OPENTTD], 7000);
    expect(b).toEqual({ openttd: 1000, factorio: 7000 });
    expect(runningSince(b, [FACTORIO], 9000)).toEqual({ factorio: 7000 });
    expect(runningSince(b, [], 9000)).toEqual({});
  });
});

describe("clipSpans", () => {
  const spans = gameSpans(
    [session("a", "A", 0, 100), session("b", "B", 150, 400), session("c", "C", 250, 300), session("d", "D", 900, 950)],
    [OPENTTD],
    { openttd: 350_000 },
  );

  it("keeps what overlaps the window, clipped to it, and ends a running game at the window's end", () => {
    const shown = clipSpans(spans, 200, 500);
    expect(shown).toEqual([
      { key: "b@150", name: "B", from: 200, to: 400, running: false },
      { key: "c@250", name: "C", from: 250, to: 300, running: false },
      { key: "openttd@running", name: "OpenTTD", from: 350, to: 500, running: true },
    ]);
    expect(spansLabel(shown)).toBe("B|C|OpenTTD (playing)");
  });

  it("keeps overlapping sessions each as it is", () => {
    const shown = clipSpans(spans, 260, 290);
    expect(shown.map((s) => [s.name, s.from, s.to])).toEqual([
      ["B", 260, 290],
      ["C", 260, 290],
    ]);
  });

  it("drops spans wholly outside the window", () => {
    expect(clipSpans(spans, 101, 149)).toEqual([]);
    expect(clipSpans(spans, 960, 1000).map((s) => s.name)).toEqual(["OpenTTD"]);
    expect(clipSpans(spans, 0, 10).map((s) => [s.name, s.from, s.to])).toEqual([["A", 0, 10]]);
  });

  it("shows nothing without a window", () => {
    expect(clipSpans(spans, NaN, NaN)).toEqual([]);
    expect(clipSpans(spans, 500, 500)).toEqual([]);
    expect(spansLabel([])).toBe("");
  });
});
