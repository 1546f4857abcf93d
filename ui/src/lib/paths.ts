// NAT type and per-peer path (ICE) in words: what the Network page and the member table's
// connection badge show. The engine decides; this only explains. Nothing here guesses: without
// a `path` from the engine the callers keep the older connection-only wording (peers.ts).

import type { NatStatus, PathStatus, PeerStatus } from "./types";

export type NatTone = "ok" | "warn" | "bad" | "idle";

export type NatView = {
  /** raw kind, "none" when not measured, "legacy" when the engine does not measure it */
  kind: string;
  /** the type in plain words */
  title: string;
  /** the engine's sentence (empty when there is none) */
  summary: string;
  /** what it means for playing */
  meaning: string;
  /** what to check, when something is wrong */
  check: string | null;
  publicAddr: string | null;
  tone: NatTone;
};

const NAT_WORDS: Record<string, { title: string; meaning: string; check?: string; tone: NatTone }> = {
  open: {
    title: "Open (no NAT)",
    meaning: "Other players can reach this machine directly, so LANrage connects peer to peer with everyone and rarely needs a relay.",
    tone: "ok",
  },
  cone: {
    title: "Cone NAT",
    meaning:
      "Direct connections work with almost every player. Only a friend behind a strict (symmetric) NAT may be reached through a relay.",
    tone: "ok",
  },
  symmetric: {
    title: "Symmetric NAT",
    meaning:
      "Direct connections work with players on open or cone networks. Between you and another player behind a symmetric NAT, LANrage uses a relay, which adds some latency.",
    check:
      "If many friends end up relayed: enabling UPnP or NAT-PMP on your router, or forwarding your WireGuard UDP port to this machine, usually makes connections direct.",
    tone: "warn",
  },
  udp_blocked: {
    title: "UDP blocked",
    meaning:
      "LANrage cannot connect to anyone directly from this network: it can only reach players through a relay, which adds latency. Without a reachable relay it cannot connect at all.",
    check:
      "Check whether a firewall or antivirus blocks LANrage or UDP traffic, whether this is a guest, school or office network that only allows web browsing, and whether a VPN is dropping UDP. Allowing UDP for LANrage, or trying another network (a phone hotspot, for example), fixes it.",
    tone: "bad",
  },
  unknown: {
    title: "Unknown",
    meaning:
      "LANrage could not tell how your router maps ports. It still tries a direct connection to every player first and falls back to a relay when that fails.",
    tone: "idle",
  },
};

/** The NAT card: `nat` null = not measured yet, undefined = an engine that does not measure it. */
export function natView(nat: NatStatus | null | undefined): NatView {
  if (nat === undefined)
    return {
      kind: "legacy",
      title: "Not measured yet",
      summary: "",
      meaning: "This version of the engine does not measure the NAT type; players connect over the addresses they report.",
      check: null,
      publicAddr: null,
      tone: "idle",
    };
  if (nat === null)
    return {
      kind: "none",
      title: "Not measured yet",
      summary: "",
      meaning: "LANrage measures it with STUN when it reaches a STUN server. Direct connections are tried meanwhile.",
      check: null,
      publicAddr: null,
      tone: "idle",
    };
  const w = NAT_WORDS[nat.kind];
  const kind = String(nat.kind);
  return {
    kind,
    title: w?.title ?? kind.charAt(0).toUpperCase() + kind.slice(1).replace(/_/g, " "),
    summary: (nat.summary ?? "").trim(),
    meaning: w?.meaning ?? "The engine reported a NAT type this version of the app does not know.",
    check: w?.check ?? null,
    publicAddr: nat.public_addr ?? null,
    tone: w?.tone ?? "idle",
  };
}

/** "LAN", "internet (hole punched)", "relay"; "–" when not known. */
export function candidateLabel(c: string | null | undefined): string {
  switch (c) {
    case "host":
      return "LAN";
    case "srflx":
    case "prflx":
      return "internet (hole punched)";
    case "relay":
      return "relay";
    case null:
    case undefined:
    case "":
      return "–";
    default:
      return c;
  }
}

const PATH_WORDS: Record<string, string> = {
  connecting: "Connecting",
  direct: "Direct",
  relayed: "Relayed",
  degraded: "Degraded",
  failed: "Failed",
  reconnecting: "Reconnecting",
};

/** "Direct", "Reconnecting", …; unknown states capitalised. */
export function pathStateLabel(state: string | null | undefined): string {
  if (!state) return "Unknown";
  return PATH_WORDS[state] ?? state.charAt(0).toUpperCase() + state.slice(1).replace(/_/g, " ");
}

/**
 * The badge (one of direct, relayed, connecting, failed) for a path state, by the engine's rule
 * (crates/core/src/party.rs `connection_of`): degraded keeps the kind of path it degrades
 * (relayed when our side is a relay candidate, connecting when no pair was ever chosen);
 * reconnecting counts as connecting. null for a state this app does not know (callers keep the
 * engine's `connection`).
 */
export function connectionOfPath(p: PathStatus): "direct" | "relayed" | "connecting" | "failed" | null {
  switch (p.state) {
    case "direct":
      return "direct";
    case "relayed":
      return "relayed";
    case "connecting":
    case "reconnecting":
      return "connecting";
    case "failed":
      return "failed";
    case "degraded":
      if (p.local_candidate === "relay" || p.relay) return "relayed";
      return p.local_candidate ? "direct" : "connecting";
    default:
      return null;
  }
}

/** "Your side: internet (hole punched); Mira's side: LAN." ("" when neither is known) */
export function routeText(p: PathStatus, name: string): string {
  if (!p.local_candidate && !p.remote_candidate) return "";
  const theirs = name ? `${name}'s side` : "their side";
  return `Your side: ${candidateLabel(p.local_candidate)}; ${theirs}: ${candidateLabel(p.remote_candidate)}.`;
}

const sentence = (s: string) => {
  const t = s.trim();
  if (!t) return "";
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
};

/** The badge tooltip from the engine's path: state, its reason, the candidates, the relay. */
export function pathTooltip(p: PathStatus, name: string): string {
  const parts = [`${pathStateLabel(p.state)}.`];
  const reason = sentence(p.reason ?? "");
  if (reason) parts.push(reason);
  const route = routeText(p, name);
  if (route) parts.push(route);
  if (p.relay) parts.push(`Relay: ${p.relay}.`);
  return parts.join(" ");
}

/** One entry of "Recent path changes". */
export type PathChange = {
  id: number;
  /** ISO time the UI saw it */
  at: string;
  /** the peer's public key */
  key: string;
  name: string;
  from: string;
  to: string;
  /** the engine's sentence; empty for a change the UI saw in the tunnel statistics (older engines) */
  reason: string;
};

/** How many path changes the Network page keeps. */
export const PATH_LOG_LIMIT = 50;

/** Relays in use, each with the members it carries, in the party's order. */
export function relaysInUse(peers: readonly PeerStatus[]): { relay: string; names: string[] }[] {
  const out: { relay: string; names: string[] }[] = [];
  for (const p of peers) {
    const r = p.online && p.path?.relay && p.path.state !== "failed" ? p.path.relay : null;
    if (!r) continue;
    const e = out.find((x) => x.relay === r);
    if (e) e.names.push(p.name);
    else out.push({ relay: r, names: [p.name] });
  }
  return out;
}

/** When each peer's current path began (ms since the epoch), by public key. */
export type PathSince = Readonly<Record<string, { state: string; at: number }>>;

/**
 * Update the start times from a party snapshot received at `nowMs`: a peer whose path state is
 * unchanged keeps its start (so it does not wobble with each snapshot's rounding); a new state
 * starts `since_secs` before now. Returns `prev` itself when nothing changed.
 */
export function updatePathSince(prev: PathSince, peers: readonly PeerStatus[] | null | undefined, nowMs: number): PathSince {
  const next: Record<string, { state: string; at: number }> = {};
  let changed = false;
  for (const p of peers ?? []) {
    if (!p.path) continue;
    const old = prev[p.public_key];
    if (old && old.state === p.path.state) next[p.public_key] = old;
    else {
      const secs = Number.isFinite(p.path.since_secs) ? Math.max(0, p.path.since_secs) : 0;
      next[p.public_key] = { state: String(p.path.state), at: nowMs - secs * 1000 };
      changed = true;
    }
  }
  if (!changed && Object.keys(prev).length === Object.keys(next).length) return prev;
  return next;
}
