import { describe, expect, it } from "vitest";
import {
  announceOffer,
  dismissalFor,
  EMPTY_ANNOUNCE,
  EMPTY_FILTER,
  filterAndSort,
  formatLatency,
  offerText,
  prefillAnnounce,
  serverAddress,
  toAnnouncement,
  toFilter,
} from "./servers";
import type { ServerListing } from "./types";

const s = (name: string, over: Partial<ServerListing> = {}): ServerListing => ({
  id: `${name}:1`,
  game: "Minecraft",
  name,
  port: 25565,
  map: null,
  players: 1,
  max_players: 4,
  password: false,
  host_key: "k",
  host_name: "Mira",
  host_ip: "10.66.0.1",
  expires_at: 0,
  latency_ms: 20,
  favorite: false,
  key: `k/${name}`,
  ...over,
});

describe("server browser view logic", () => {
  it("turns the filter form into a list_servers filter, leaving out empty and invalid fields", () => {
    expect(toFilter(EMPTY_FILTER)).toEqual({});
    expect(toFilter({ game: " mine ", hasPlayers: true, notFull: true, maxLatency: "50" })).toEqual({
      game: "mine",
      has_players: true,
      not_full: true,
      max_latency_ms: 50,
    });
    expect(toFilter({ ...EMPTY_FILTER, maxLatency: "abc" })).toEqual({});
    expect(toFilter({ ...EMPTY_FILTER, maxLatency: "-3" })).toEqual({});
    expect(toFilter({ ...EMPTY_FILTER, maxLatency: "0" })).toEqual({ max_latency_ms: 0 });
  });

  it("filters and orders like the engine: favorites, latency (unmeasured last), name", () => {
    const list = [
      s("b", { latency_ms: 10 }),
      s("a", { latency_ms: 10 }),
      s("slow", { latency_ms: 90 }),
      s("fav", { latency_ms: 200, favorite: true }),
      s("unknown", { latency_ms: null }),
      s("empty", { players: 0, latency_ms: 5, game: "Factorio" }),
      s("full", { players: 4, latency_ms: 6 }),
    ];
    expect(filterAndSort(list, {}).map((x) => x.name)).toEqual(["fav", "empty", "full", "a", "b", "slow", "unknown"]);
    expect(filterAndSort(list, { game: "MINE", has_players: true, not_full: true, max_latency_ms: 90 }).map((x) => x.name)).toEqual([
      "a",
      "b",
      "slow",
    ]);
    expect(filterAndSort(list, { max_latency_ms: 5 }).map((x) => x.name)).toEqual(["empty"]);
  });

  it("builds the announcement with the default id and says what to fix", () => {
    expect(toAnnouncement({ ...EMPTY_ANNOUNCE, game: " Minecraft ", name: "World", port: "25565", map: " " })).toEqual({
      ok: { id: "Minecraft:25565", game: "Minecraft", name: "World", port: 25565, map: null, players: 0, max_players: 8, password: false },
    });
    const base = { ...EMPTY_ANNOUNCE, game: "g", name: "n", port: "1" };
    expect(toAnnouncement({ ...base, game: "" })).toEqual({ error: "Say which game the server is for." });
    expect(toAnnouncement({ ...base, name: " " })).toEqual({ error: "Give the server a name." });
    expect(toAnnouncement({ ...base, port: "70000" })).toEqual({ error: "The port must be a number from 1 to 65535." });
    expect(toAnnouncement({ ...base, port: "x" })).toEqual({ error: "The port must be a number from 1 to 65535." });
    expect(toAnnouncement({ ...base, maxPlayers: "0" })).toEqual({ error: "Max players must be a whole number of at least 1." });
    expect(toAnnouncement({ ...base, players: "9" })).toEqual({ error: "Players must be a whole number from 0 to 8." });
  });

  it("formats the address and latency", () => {
    expect(serverAddress(s("a"))).toBe("10.66.0.1:25565");
    expect(formatLatency(12.6)).toBe("13 ms");
    expect(formatLatency(null)).toBe("–");
  });
});

describe("the offer to announce the game this device plays", () => {
  const TTD = { id: "openttd", name: "OpenTTD" };

  it("shows while this device plays a game in a party, unless dismissed or already announced", () => {
    const base = { game: TTD, inParty: true, dismissed: null, mine: [] };
    expect(announceOffer(base)).toEqual(TTD);
    expect(offerText(TTD)).toBe("Playing OpenTTD: announce your server to the party?");
    expect(announceOffer({ ...base, game: null })).toBeNull();
    expect(announceOffer({ ...base, game: undefined })).toBeNull();
    expect(announceOffer({ ...base, inParty: false })).toBeNull();
    expect(announceOffer({ ...base, dismissed: "openttd" })).toBeNull();
    expect(announceOffer({ ...base, dismissed: "factorio" })).toEqual(TTD);
    expect(announceOffer({ ...base, mine: [{ game: " openttd " }] })).toBeNull();
    expect(announceOffer({ ...base, mine: [{ game: "Quake" }] })).toEqual(TTD);
  });

  it("a dismissal holds while that game runs; the next run, or another game, is offered again", () => {
    expect(dismissalFor("openttd", TTD)).toBe("openttd");
    expect(dismissalFor("openttd", null)).toBeNull();
    expect(dismissalFor("openttd", { id: "factorio", name: "Factorio" })).toBeNull();
    expect(dismissalFor(null, TTD)).toBeNull();
  });

  it("fills in the form with the game's name (and a server name when there is none); the port is left to the player", () => {
    const f = prefillAnnounce(EMPTY_ANNOUNCE, TTD, "Nova");
    expect(f).toEqual({ ...EMPTY_ANNOUNCE, game: "OpenTTD", name: "Nova's OpenTTD", port: "" });
    // the form alone does not make a server: the port is still missing
    expect(toAnnouncement(f)).toEqual({ error: "The port must be a number from 1 to 65535." });
    // what the player already typed stays
    const typed = { ...EMPTY_ANNOUNCE, game: "Quake", name: "Frag night", port: "3979", map: "Temperate" };
    expect(prefillAnnounce(typed, TTD, "Nova")).toEqual({ ...typed, game: "OpenTTD" });
    expect(prefillAnnounce(EMPTY_ANNOUNCE, TTD, null).name).toBe("OpenTTD");
    expect(prefillAnnounce(EMPTY_ANNOUNCE, TTD, "  ").name).toBe("OpenTTD");
  });
});
