// View logic of the server browser: the filter form -> `list_servers` filter, the announce
// form -> `announce_server` payload (with its checks), the engine's filter and order, which
// the fake engine applies the way the real one does, and the offer to announce the game this
// device plays (it only fills in the form: nothing is announced until the player submits it).

import type { GameRef, ServerAnnouncement, ServerFilter, ServerListing } from "./types";

/** What the filter controls hold (text inputs stay strings). */
export type FilterForm = { game: string; hasPlayers: boolean; notFull: boolean; maxLatency: string };

export const EMPTY_FILTER: FilterForm = { game: "", hasPlayers: false, notFull: false, maxLatency: "" };

/** The `list_servers` filter for the form: empty or invalid fields are left out. */
export function toFilter(f: FilterForm): ServerFilter {
  const out: ServerFilter = {};
  const game = f.game.trim();
  if (game) out.game = game;
  if (f.hasPlayers) out.has_players = true;
  if (f.notFull) out.not_full = true;
  const ms = Number(f.maxLatency.trim());
  if (f.maxLatency.trim() !== "" && Number.isFinite(ms) && ms >= 0) out.max_latency_ms = Math.floor(ms);
  return out;
}

/** The engine's rule: game matches case-insensitively as a substring; an unmeasured latency fails a latency limit. */
export function matchesFilter(s: ServerListing, f: ServerFilter): boolean {
  if (f.game && !s.game.toLowerCase().includes(f.game.toLowerCase())) return false;
  if (f.has_players && s.players <= 0) return false;
  if (f.not_full && s.players >= s.max_players) return false;
  if (f.max_latency_ms !== undefined && (s.latency_ms === null || s.latency_ms > f.max_latency_ms)) return false;
  return true;
}

/** The engine's order: favorites first, then latency (unmeasured last), then name. */
export function compareServers(a: ServerListing, b: ServerListing): number {
  if (a.favorite !== b.favorite) return a.favorite ? -1 : 1;
  const la = a.latency_ms ?? Number.POSITIVE_INFINITY;
  const lb = b.latency_ms ?? Number.POSITIVE_INFINITY;
  if (la !== lb) return la < lb ? -1 : 1;
  return a.name.localeCompare(b.name);
}

export function filterAndSort(list: ServerListing[], f: ServerFilter): ServerListing[] {
  return list.filter((s) => matchesFilter(s, f)).sort(compareServers);
}

export const serverAddress = (s: Pick<ServerListing, "host_ip" | "port">) => `${s.host_ip}:${s.port}`;

export const formatLatency = (ms: number | null) => (ms === null ? "–" : `${Math.round(ms)} ms`);

/** What the announce form holds. */
export type AnnounceForm = {
  game: string;
  name: string;
  port: string;
  map: string;
  players: string;
  maxPlayers: string;
  password: boolean;
};

export const EMPTY_ANNOUNCE: AnnounceForm = { game: "", name: "", port: "", map: "", players: "0", maxPlayers: "8", password: false };

export const defaultServerId = (game: string, port: number) => `${game}:${port}`;

function whole(s: string): number | null {
  const t = s.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** The payload for the form, or the sentence saying what to fix. */
export function toAnnouncement(f: AnnounceForm): { ok: ServerAnnouncement } | { error: string } {
  const game = f.game.trim();
  const name = f.name.trim();
  if (!game) return { error: "Say which game the server is for." };
  if (!name) return { error: "Give the server a name." };
  const port = whole(f.port);
  if (port === null || port < 1 || port > 65535) return { error: "The port must be a number from 1 to 65535." };
  const players = whole(f.players || "0");
  const max = whole(f.maxPlayers);
  if (max === null || max < 1) return { error: "Max players must be a whole number of at least 1." };
  if (players === null || players > max) return { error: `Players must be a whole number from 0 to ${max}.` };
  const map = f.map.trim();
  return {
    ok: { id: defaultServerId(game, port), game, name, port, map: map || null, players, max_players: max, password: f.password },
  };
}

/** What decides whether the page offers to announce the game this device plays. */
export type OfferInput = {
  /** the game this device plays now (status.device.game) */
  game: GameRef | null | undefined;
  inParty: boolean;
  /** the game id the player dismissed the offer for (or took it up), while that game runs */
  dismissed: string | null;
  /** this device's announced servers */
  mine: readonly Pick<ServerListing, "game">[];
};

const sameGame = (a: string, b: string) => a.trim().toLocaleLowerCase() === b.trim().toLocaleLowerCase();

/**
 * The game to offer announcing: the one this device plays, while in a party, unless the player
 * dismissed the offer for it or already announced a server for that game; null otherwise.
 */
export function announceOffer({ game, inParty, dismissed, mine }: OfferInput): GameRef | null {
  if (!game || !inParty || dismissed === game.id) return null;
  return mine.some((s) => sameGame(s.game, game.name)) ? null : game;
}

/** "Playing OpenTTD: announce your server to the party?" */
export const offerText = (game: Pick<GameRef, "name">) => `Playing ${game.name}: announce your server to the party?`;

/**
 * A dismissal holds while that game runs: when this device stops playing it (or plays another),
 * the next run is offered again.
 */
export function dismissalFor(dismissed: string | null, game: GameRef | null | undefined): string | null {
  return dismissed !== null && dismissed === game?.id ? dismissed : null;
}

/**
 * The announce form filled in for a game: the game's name, and a server name when the field is
 * empty ("Nova's OpenTTD"). The port stays as it is: the UI does not know the game's port.
 */
export function prefillAnnounce(form: AnnounceForm, game: Pick<GameRef, "name">, displayName?: string | null): AnnounceForm {
  const who = displayName?.trim();
  const name = form.name.trim() ? form.name : who ? `${who}'s ${game.name}` : game.name;
  return { ...form, game: game.name, name };
}
