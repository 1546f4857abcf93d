import { describe, expect, it } from "vitest";
import {
  gameNames,
  gameStarted,
  gameStopped,
  memberGame,
  nowPlaying,
  playerNames,
  playingLabel,
  reconcileGames,
  userCatalogue,
} from "./games";
import { peer } from "./testFixtures";
import type { GameRef } from "./types";

const TTD: GameRef = { id: "openttd", name: "OpenTTD" };
const CS: GameRef = { id: "cs16", name: "Counter-Strike 1.6" };
const FAC: GameRef = { id: "factorio", name: "Factorio" };

describe("game labels", () => {
  it("says what a player plays, nothing when nothing runs", () => {
    expect(playingLabel(TTD)).toBe("Playing OpenTTD");
    expect(playingLabel([TTD])).toBe("Playing OpenTTD");
    expect(playingLabel([CS, FAC, TTD])).toBe("Playing Counter-Strike 1.6, Factorio and OpenTTD");
    expect(playingLabel([])).toBe("");
    expect(playingLabel(null)).toBe("");
    expect(playingLabel(undefined)).toBe("");
    expect(gameNames([FAC, TTD])).toBe("Factorio and OpenTTD");
  });

  it("a member's game shows while they are online only (the server keeps an away member's last game)", () => {
    expect(memberGame(peer("Mira", { game: TTD }))).toEqual(TTD);
    expect(memberGame(peer("Kai", { online: false, connection: "offline", game: FAC }))).toBeNull();
    expect(memberGame(peer("Sol"))).toBeNull();
    // an older engine's peer without the field
    expect(memberGame({ online: true } as never)).toBeNull();
  });

  it("names the user's catalogue file in the data folder", () => {
    expect(userCatalogue("/home/ana/.local/share/lanrage")).toBe("/home/ana/.local/share/lanrage/games.toml");
    expect(userCatalogue("/data/")).toBe("/data/games.toml");
    expect(userCatalogue("C:\\Users\\Ana\\AppData\\Roaming\\lanrage")).toBe("C:\\Users\\Ana\\AppData\\Roaming\\lanrage\\games.toml");
    expect(userCatalogue(null)).toBe("games.toml");
  });
});

describe("this device's games", () => {
  it("game_started keeps id order like the engine's detector; repeats and unknown stops change nothing", () => {
    let g = gameStarted([], TTD);
    expect(g).toEqual([TTD]);
    g = gameStarted(g, CS);
    expect(g.map((x) => x.id)).toEqual(["cs16", "openttd"]);
    expect(gameStarted(g, TTD)).toBe(g);
    expect(gameStopped(g, FAC)).toBe(g);
    expect(gameStopped(g, CS)).toEqual([TTD]);
  });

  it("a status names the first running game: later ones are kept, earlier ones have stopped", () => {
    const running = [CS, FAC, TTD];
    expect(reconcileGames(running, CS)).toBe(running);
    expect(reconcileGames(running, FAC)).toEqual([FAC, TTD]);
    expect(reconcileGames(running, null)).toEqual([]);
    const none: GameRef[] = [];
    expect(reconcileGames(none, null)).toBe(none);
    expect(reconcileGames([], TTD)).toEqual([TTD]);
  });
});

describe("now playing", () => {
  const self = (games: GameRef[] = []) => ({ key: "ME=", name: "Nova", games });

  it("groups this device and every online member by game: most players first, you first in yours", () => {
    const peers = [
      peer("Mira", { public_key: "M=", game: TTD }),
      peer("Dex", { public_key: "D=", game: CS }),
      peer("Sol", { public_key: "S=" }),
      peer("Kai", { public_key: "K=", online: false, connection: "offline", game: FAC }),
      peer("Lu", { public_key: "L=", game: { id: "openttd", name: "OpenTTD" } }),
    ];
    const np = nowPlaying({ self: self([TTD]), peers });
    expect(np.groups.map((g) => [g.id, g.name, g.players.map((p) => p.name)])).toEqual([
      ["openttd", "OpenTTD", ["Nova", "Mira", "Lu"]],
      ["cs16", "Counter-Strike 1.6", ["Dex"]],
    ]);
    expect(np.groups[0].players[0]).toEqual({ key: "ME=", name: "Nova", self: true });
    expect(playerNames(np.groups[0].players)).toBe("You, Mira and Lu");
    expect(np.idle.map((p) => p.name)).toEqual(["Sol"]);
    // offline Kai is not shown playing his last game
    expect(np.offline.map((p) => p.name)).toEqual(["Kai"]);
  });

  it("equal groups by name; a device with two games is in both; nobody playing is all idle", () => {
    const np = nowPlaying({
      self: self([FAC, TTD]),
      peers: [peer("Dex", { public_key: "D=", game: CS })],
    });
    expect(np.groups.map((g) => g.name)).toEqual(["Counter-Strike 1.6", "Factorio", "OpenTTD"]);
    expect(np.groups[1].players.map((p) => p.self)).toEqual([true]);
    expect(np.idle).toEqual([]);

    const quiet = nowPlaying({ self: self(), peers: [peer("Sol", { public_key: "S=" })] });
    expect(quiet.groups).toEqual([]);
    expect(quiet.idle.map((p) => [p.name, p.self])).toEqual([
      ["Nova", true],
      ["Sol", false],
    ]);
    expect(nowPlaying({ self: self(), peers: [] })).toEqual({
      groups: [],
      idle: [{ key: "ME=", name: "Nova", self: true }],
      offline: [],
    });
  });
});
