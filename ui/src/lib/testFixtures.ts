// Builders for engine payloads, shared by the unit tests (not used by the app).

import type { DeviceStats, MetricsPeer, MetricsSnapshot, PartyStatus, PeerStatus, Quality, Status } from "./types";

export type StatPeer = {
  key: string;
  rtt?: number | null;
  jitter?: number | null;
  /** 0..1 */
  loss?: number | null;
  handshake?: number | null;
  endpoint?: string | null;
};

export function stats(peers: StatPeer[]): DeviceStats {
  return {
    interface: "lanrage0",
    public_key: "ME=",
    listen_port: 51820,
    addresses: ["10.66.0.1/16"],
    mtu: 1420,
    rx_invalid: 0,
    rx_unknown_peer: 0,
    rx_rejected: 0,
    tx_no_route: 0,
    tx_no_endpoint: 0,
    peers: peers.map((p) => ({
      public_key: p.key,
      endpoint: p.endpoint === undefined ? "203.0.113.5:51820" : p.endpoint,
      via: "udp",
      allowed_ips: [],
      rx_bytes: 100,
      tx_bytes: 200,
      rx_packets: 1,
      tx_packets: 2,
      last_handshake_secs: p.handshake === undefined ? 1 : p.handshake,
      dropped_spoofed: 0,
      dropped_not_for_us: 0,
      probe: { rtt_ms: p.rtt ?? null, srtt_ms: null, jitter_ms: p.jitter ?? null, loss: p.loss ?? null, sent: 0, answered: 0 },
    })),
  };
}

export function peer(name: string, over: Partial<PeerStatus> = {}): PeerStatus {
  return {
    name,
    public_key: `${name}-KEY=`,
    virtual_ip: "10.66.0.2",
    online: true,
    connection: "connecting",
    endpoint: null,
    rtt_ms: null,
    jitter_ms: null,
    loss_pct: null,
    rx_bytes: 0,
    tx_bytes: 0,
    last_handshake_secs: null,
    path: null,
    quality_score: null,
    grade: null,
    quality: null,
    game: null,
    ...over,
  };
}

export function partyOf(peers: PeerStatus[], over: Partial<PartyStatus> = {}): PartyStatus {
  return {
    id: "PARTY001",
    name: "Neo's party",
    is_host: true,
    host_name: "Neo",
    max_members: 8,
    virtual_ip: "10.66.0.1",
    invite: { code: "AAAA-BBBB-CCCC-DDDD-EEEE-FF", link: "lanrage://join/AAAA?server=ws%3A%2F%2Fx", expires_at: null },
    peers,
    ...over,
  };
}

export function statusOf(over: Partial<Status> = {}): Status {
  return {
    version: "1.2.3",
    state: "running",
    device: { public_key: "PUB=", display_name: "Neo", virtual_ip: null, game: null },
    data_dir: "/data",
    mode: "auto",
    control: { state: "not_configured", server: null, embedded: false },
    party: null,
    nat: null,
    tunnel: null,
    notices: [],
    discord: { bot: { state: "off", message: "Off." } },
    ...over,
  };
}

/** A grading as the engine sends it: `score` limited by `by` (the other components perfect). */
export function graded(score: number, grade: Quality["grade"], by: Quality["limited_by"] = "latency"): Quality {
  return { score, grade, latency: 100, jitter: 100, loss: 100, [by]: score, limited_by: by };
}

/** A `metrics` snapshot whose peers carry these gradings (by public key). */
export function metricsOf(qualities: Record<string, Quality | null>, t_ms = 1): MetricsSnapshot {
  const peers: MetricsPeer[] = Object.entries(qualities).map(([public_key, quality]) => ({
    public_key,
    name: null,
    connection: "direct",
    connection_since_ms: 0,
    first_seen_ms: 0,
    time_in_state_ms: {},
    rtt_ms: null,
    jitter_ms: null,
    loss: null,
    rx_bytes_total: 0,
    tx_bytes_total: 0,
    rx_packets_total: 0,
    tx_packets_total: 0,
    rx_bytes_per_sec: null,
    tx_bytes_per_sec: null,
    rx_packets_per_sec: null,
    tx_packets_per_sec: null,
    quality,
    minute: [],
  }));
  return { t_ms, peers, party: null, system: null, system_minute: [] };
}
