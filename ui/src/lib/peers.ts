// The party's members as the UI shows them: the last party snapshot (party_changed) with the
// live numbers of the last tunnel_stats event laid over it, matched by public key.

import { connectionOfPath, pathStateLabel, pathTooltip } from "./paths";
import type { Connection, DeviceStats, PartyStatus, PeerStatus, Quality } from "./types";

/**
 * The engine calls a peer `direct` while its last WireGuard handshake is younger than this
 * (crates/core/src/party.rs FRESH_HANDSHAKE_SECS), `connecting` otherwise.
 */
export const FRESH_HANDSHAKE_SECS = 180;

export type PeerView = PeerStatus & { quality: Quality | null };

/**
 * The engine's latest grading of each peer, by public key, newer than the party snapshot's:
 * from the `metrics` event (every second), or from `grade_connection` on the tunnel numbers
 * when no metrics arrive.
 */
export type LiveQualities = Readonly<Record<string, Quality | null>>;

/**
 * A party peer with the latest tunnel numbers. When the engine reports the peer's `path` (NAT
 * traversal), the badge follows the path's state. Without one (an older engine, or no path
 * known yet) the engine only re-sends the party when its membership changes, so between
 * snapshots a first handshake would otherwise go unseen: the engine's own rule (online + fresh
 * handshake = direct) is applied to the live stats. A peer the engine calls `relayed`,
 * `failed` or `offline` keeps that. The grade is the engine's: the live one when there is one,
 * else the snapshot's; none while offline.
 */
export function livePeer(p: PeerStatus, tunnel: DeviceStats | null | undefined, qualities?: LiveQualities): PeerView {
  const t = tunnel?.peers.find((x) => x.public_key === p.public_key);
  let out: PeerStatus = p;
  if (t) {
    const loss = t.probe?.loss;
    out = {
      ...p,
      endpoint: t.endpoint ?? p.endpoint,
      rtt_ms: t.probe?.rtt_ms ?? null,
      jitter_ms: t.probe?.jitter_ms ?? null,
      loss_pct: typeof loss === "number" ? loss * 100 : null,
      rx_bytes: t.rx_bytes,
      tx_bytes: t.tx_bytes,
      last_handshake_secs: t.last_handshake_secs,
    };
    if (!p.path && p.online && (p.connection === "connecting" || p.connection === "direct")) {
      const fresh = t.last_handshake_secs !== null && t.last_handshake_secs < FRESH_HANDSHAKE_SECS;
      out.connection = fresh ? "direct" : "connecting";
    }
  }
  if (!out.online) out = { ...out, connection: "offline" };
  else if (out.path) {
    const c = connectionOfPath(out.path);
    if (c && c !== out.connection) out = { ...out, connection: c };
  }
  const live = qualities && Object.prototype.hasOwnProperty.call(qualities, p.public_key) ? qualities[p.public_key] : undefined;
  const q = out.connection === "offline" ? null : live !== undefined ? live : (p.quality ?? null);
  return { ...out, quality: q };
}

export function livePeers(
  party: PartyStatus | null | undefined,
  tunnel: DeviceStats | null | undefined,
  qualities?: LiveQualities,
): PeerView[] {
  return party ? party.peers.map((p) => livePeer(p, tunnel, qualities)) : [];
}

export const CONNECTION_LABEL: Record<Connection, string> = {
  direct: "Direct",
  relayed: "Relayed",
  connecting: "Connecting",
  failed: "Failed",
  offline: "Offline",
};

/** Why a peer has the badge it has (the badge's tooltip). */
export const CONNECTION_WHY: Record<Connection, string> = {
  direct: "Peer to peer over the internet or LAN: your traffic goes straight to this player.",
  relayed: "Through the relay, because a direct path between your networks could not be opened.",
  connecting: "Waiting for the first WireGuard handshake with this player.",
  failed: "LANrage could not open a path to this player, neither directly nor through a relay.",
  offline: "This player is not connected to the party right now.",
};

export function connectionLabel(c: string): string {
  return CONNECTION_LABEL[c as Connection] ?? c.charAt(0).toUpperCase() + c.slice(1);
}

export function connectionWhy(c: string): string {
  return CONNECTION_WHY[c as Connection] ?? "The engine reported an unknown connection state.";
}

/**
 * The member table's connection badge: its class (direct, relayed, connecting, failed,
 * offline), its words and its tooltip. From the engine's path when there is one (the reason and
 * candidate types), else the connection alone, as before NAT traversal.
 */
export function peerBadge(p: PeerView): { connection: string; label: string; tip: string; degraded: boolean } {
  if (p.connection === "offline" || !p.path)
    return { connection: p.connection, label: connectionLabel(p.connection), tip: connectionWhy(p.connection), degraded: false };
  return {
    connection: p.connection,
    label: pathStateLabel(p.path.state),
    tip: pathTooltip(p.path, p.name),
    degraded: p.path.state === "degraded",
  };
}

/** "12 ms", "0.4 ms", "–" */
export function formatMs(v: number | null | undefined): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

/** "0 %", "1.5 %", "–" */
export function formatPct(v: number | null | undefined): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  return v === 0 ? "0%" : v < 10 ? `${v.toFixed(1)}%` : `${Math.round(v)}%`;
}

export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A connection change the UI saw between two views (for engines that do not send path_changed). */
export type ConnectionChange = { key: string; name: string; from: string; to: string };

/**
 * What changed on the paths between two views of the party: connection changes, and lines for
 * endpoint moves (for the Network page).
 */
export function pathChanges(
  before: { party: PartyStatus | null; tunnel: DeviceStats | null | undefined },
  after: { party: PartyStatus | null; tunnel: DeviceStats | null | undefined },
): { connections: ConnectionChange[]; endpoints: string[] } {
  const out = { connections: [] as ConnectionChange[], endpoints: [] as string[] };
  if (!before.party || !after.party || before.party.id !== after.party.id) return out;
  const prev = new Map(livePeers(before.party, before.tunnel).map((p) => [p.public_key, p]));
  for (const p of livePeers(after.party, after.tunnel)) {
    const q = prev.get(p.public_key);
    if (!q) continue; // joins are told by member_joined
    if (q.connection !== p.connection) out.connections.push({ key: p.public_key, name: p.name, from: q.connection, to: p.connection });
    if (p.endpoint && q.endpoint !== p.endpoint)
      out.endpoints.push(
        q.endpoint ? `${p.name}'s path moved from ${q.endpoint} to ${p.endpoint}.` : `${p.name} reached at ${p.endpoint}.`,
      );
  }
  return out;
}
