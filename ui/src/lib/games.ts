// Games as the UI shows them: what this device plays (the engine's game_started/game_stopped,
// and status.device.game), what each member plays (PeerStatus.game, shared through the control
// server) and who plays what, grouped by game. Detection is the engine's: nothing here guesses.

import type { GameRef, PeerStatus } from "./types";

/** "A", "A and B", "A, B and C". */
function words(list: readonly string[]): string {
  return list.length <= 1 ? (list[0] ?? "") : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

/** "OpenTTD", "OpenTTD and Factorio", "OpenTTD, Factorio and Teeworlds". */
export function gameNames(games: readonly GameRef[]): string {
  return words(games.map((g) => g.name));
}

/** "Playing OpenTTD" (a member row, the header), "" when nothing runs. */
export function playingLabel(games: readonly GameRef[] | GameRef | null | undefined): string {
  const list = !games ? [] : Array.isArray(games) ? games : [games as GameRef];
  return list.length ? `Playing ${gameNames(list)}` : "";
}

/**
 * What a member plays now, as shown: none while offline, since the control server keeps the
 * last game a member told it while they are away.
 */
export function memberGame(p: Pick<PeerStatus, "online" | "game">): GameRef | null {
  return p.online ? (p.game ?? null) : null;
}

/**
 * This device's running games after the engine's status said `current` (its first running game,
 * by id): that game first, then the ones the events told that sort after it. A game sorting
 * before it has stopped, or the engine would name that one. The same list when nothing changed.
 */
export function reconcileGames(known: readonly GameRef[], current: GameRef | null | undefined): readonly GameRef[] {
  if (!current) return known.length ? [] : known;
  const next = [current, ...known.filter((g) => g.id > current.id)];
  const same = next.length === known.length && next.every((g, i) => g.id === known[i].id && g.name === known[i].name);
  return same ? known : next;
}

/** `game_started`: the game joins this device's list (kept in id order, like the engine's). */
export function gameStarted(known: readonly GameRef[], game: GameRef): readonly GameRef[] {
  const i = known.findIndex((g) => g.id === game.id);
  if (i >= 0 && known[i].name === game.name) return known;
  const rest = known.filter((g) => g.id !== game.id);
  return [...rest, { id: game.id, name: game.name }].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** `game_stopped`: the game leaves this device's list. */
export function gameStopped(known: readonly GameRef[], game: GameRef): readonly GameRef[] {
  return known.some((g) => g.id === game.id) ? known.filter((g) => g.id !== game.id) : known;
}

/** One player on the Games page: this device (`self`) or a member, by public key. */
export type Player = { key: string; name: string; self: boolean };

/** Everyone playing one game. */
export type GameGroup = { id: string; name: string; players: Player[] };

export type NowPlaying = {
  /** most players first, then by name; in each, you first, then the party's order */
  groups: GameGroup[];
  /** online members (and you) playing nothing LANrage recognises */
  idle: Player[];
  /** members shown offline (their game is not shown) */
  offline: Player[];
};

export type PlayingInput = {
  /** this device */
  self: { key: string; name: string; games: readonly GameRef[] };
  /** the party's members, or none outside a party */
  peers: readonly Pick<PeerStatus, "public_key" | "name" | "online" | "game">[];
};

/** Who plays what: this device and every member, grouped by game id. */
export function nowPlaying({ self, peers }: PlayingInput): NowPlaying {
  const groups = new Map<string, GameGroup>();
  const add = (game: GameRef, player: Player) => {
    let g = groups.get(game.id);
    if (!g) groups.set(game.id, (g = { id: game.id, name: game.name, players: [] }));
    if (!g.players.some((p) => p.key === player.key)) g.players.push(player);
  };
  const idle: Player[] = [];
  const offline: Player[] = [];
  const me: Player = { key: self.key, name: self.name, self: true };
  for (const game of self.games) add(game, me);
  if (!self.games.length) idle.push(me);
  for (const p of peers) {
    const player: Player = { key: p.public_key, name: p.name, self: false };
    const game = memberGame(p);
    if (!p.online) offline.push(player);
    else if (game) add(game, player);
    else idle.push(player);
  }
  const sorted = [...groups.values()].sort(
    (a, b) => b.players.length - a.players.length || a.name.localeCompare(b.name) || (a.id < b.id ? -1 : 1),
  );
  return { groups: sorted, idle, offline };
}

/** "You, Mira and Sol": players in words. */
export function playerNames(players: readonly Player[]): string {
  return words(players.map((p) => (p.self ? "You" : p.name)));
}

/** Where a player's own catalogue entries go: games.toml in the data folder. */
export function userCatalogue(dataDir: string | null | undefined): string {
  if (!dataDir) return "games.toml";
  const sep = dataDir.includes("\\") && !dataDir.includes("/") ? "\\" : "/";
  return `${dataDir.replace(/[\\/]+$/, "")}${sep}games.toml`;
}
