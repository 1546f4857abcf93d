// Types shared with the Rust side (src-tauri). Keep in sync with the bridge contract.

export type EngineState = "starting" | "running" | "stopping" | "stopped";

export type NoticeLevel = "info" | "warning" | "error";

export type Notice = { level: NoticeLevel; message: string };

export type ControlState = "not_configured" | "connecting" | "connected" | "reconnecting";

export type ControlStatus = {
  /** ControlState; kept a string so an unknown future state still renders */
  state: ControlState | string;
  server: string | null;
  /** this engine runs the party's control server itself (a LAN party without a server) */
  embedded?: boolean;
};

export type Status = {
  version: string;
  state: EngineState;
  device: { public_key: string; display_name: string; virtual_ip?: string | null };
  data_dir: string;
  /** "auto" | "embedded" | "server" */
  mode: string;
  control: ControlStatus;
  /** null: not in a party */
  party: PartyStatus | null;
  /** the data plane while it runs */
  tunnel?: DeviceStats | null;
  notices: Notice[];
  /**
   * What the engine measured about this network's NAT (STUN). null: not measured yet;
   * absent (undefined): an engine from before NAT traversal.
   */
  nat?: NatStatus | null;
};

/** How this network's router treats UDP, as the engine's STUN test classified it. */
export type NatKind = "open" | "cone" | "symmetric" | "udp_blocked" | "unknown";

export type NatStatus = {
  /** NatKind; kept a string so an unknown future kind still renders */
  kind: NatKind | string;
  /** the public address STUN saw ("198.51.100.4:51820"), when known */
  public_addr: string | null;
  /** a sentence the engine writes about what it found */
  summary: string;
};

/** The connection manager's state of the path to one peer. */
export type PathState = "connecting" | "direct" | "relayed" | "degraded" | "failed" | "reconnecting";

/** ICE candidate type: host (a local address), srflx (the NAT's public mapping, from STUN),
 * prflx (a mapping learnt from the peer's packets), relay (a TURN allocation). */
export type CandidateType = "host" | "srflx" | "prflx" | "relay";

export type PathStatus = {
  /** PathState; kept a string so an unknown future state still renders */
  state: PathState | string;
  local_candidate: CandidateType | string | null;
  remote_candidate: CandidateType | string | null;
  /** the relay carrying the traffic ("203.0.113.2:3478"), when relayed */
  relay: string | null;
  /** a sentence: why this path */
  reason: string;
  /** seconds in this state */
  since_secs: number;
};

export type Connection = "connecting" | "direct" | "relayed" | "failed" | "offline";

export type InviteStatus = {
  /** XXXX-XXXX-XXXX-XXXX-XXXX-XX */
  code: string;
  /** lanrage://join/CODE?server=… (null when the engine does not know where friends meet) */
  link: string | null;
  /** Unix seconds; null never expires */
  expires_at: number | null;
};

export type PeerStatus = {
  name: string;
  public_key: string;
  virtual_ip: string;
  online: boolean;
  connection: Connection | string;
  endpoint: string | null;
  rtt_ms: number | null;
  jitter_ms: number | null;
  /** 0..100 */
  loss_pct: number | null;
  rx_bytes: number;
  tx_bytes: number;
  last_handshake_secs: number | null;
  /** the path the connection manager chose; null: not known (yet); absent: an older engine */
  path?: PathStatus | null;
  /**
   * the engine's grading of this peer when the snapshot was made; null while nothing is
   * measured or the member is offline; absent: an older engine
   */
  quality?: Quality | null;
  /** the same grading's score and grade (older engines send only these) */
  quality_score?: number | null;
  grade?: string | null;
};

export type PartyStatus = {
  id: string;
  name: string;
  is_host: boolean;
  host_name: string;
  max_members: number;
  /** this device's address in the party */
  virtual_ip: string;
  /** host only */
  invite: InviteStatus | null;
  /** everyone but this device */
  peers: PeerStatus[];
};

export type ProbeStats = {
  rtt_ms: number | null;
  srtt_ms: number | null;
  jitter_ms: number | null;
  /** 0..1 */
  loss: number | null;
  sent: number;
  answered: number;
};

export type TunnelPeerStats = {
  public_key: string;
  endpoint: string | null;
  allowed_ips: string[];
  rx_bytes: number;
  tx_bytes: number;
  rx_packets: number;
  tx_packets: number;
  last_handshake_secs: number | null;
  dropped_spoofed: number;
  probe: ProbeStats;
};

export type DeviceStats = {
  interface: string;
  public_key: string;
  listen_port: number;
  addresses: string[];
  mtu: number;
  rx_invalid: number;
  rx_unknown_peer: number;
  rx_rejected: number;
  tx_no_route: number;
  tx_no_endpoint: number;
  peers: TunnelPeerStats[];
};

export type SettingKind = "bool" | "integer" | "string" | "enum" | "list";

export type SettingView = {
  key: string;
  /** "Profile" | "Network" | "Servers" | "Features" | "Discord" | "App" */
  group: string;
  label: string;
  description: string;
  kind: SettingKind;
  /** null when secret */
  value: unknown | null;
  default: unknown;
  secret: boolean;
  /** for secrets: whether a value is stored */
  is_set: boolean;
  choices?: string[];
  min?: number;
  max?: number;
};

export type ConfigView = { name: string; created_at: string; active: boolean };

export type EngineEvent =
  | { type: "started"; status: Status }
  | { type: "state_changed"; state: string }
  | { type: "setting_changed"; setting: SettingView }
  | { type: "settings_reset" }
  | { type: "config_activated"; name: string }
  | { type: "notice"; level: NoticeLevel; message: string }
  | { type: "party_changed"; party: PartyStatus | null }
  | { type: "member_joined"; name: string }
  | { type: "member_left"; name: string }
  | { type: "control_changed"; state: string }
  | { type: "tunnel_stats"; tunnel: DeviceStats }
  /** this device created a party (the full party follows as party_changed) */
  | { type: "party_created"; name: string }
  /** every second: per-peer quality and traffic, party quality, system load */
  | { type: "metrics"; snapshot: MetricsSnapshot }
  /** the path to a peer changed state (from/to are PathStates); party_changed follows */
  | { type: "path_changed"; peer: string; name: string; from: string; to: string; reason: string }
  | { type: "nat_changed"; nat: NatStatus | null };

// ---- metrics (crates/metrics/src: collector.rs, system.rs, quality.rs), as serde writes them

/** One system reading (`SystemSample`). */
export type SystemSample = {
  /** Unix ms */
  t_ms: number;
  /** whole machine, 0..1 (all cores together) */
  cpu_ratio: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  /** all interfaces but loopback and LANrage's own */
  net_rx_bytes_per_sec: number;
  net_tx_bytes_per_sec: number;
  /** LANrage itself, in cores (0.05 = 5 % of one core) */
  process_cpu_cores: number | null;
  process_memory_bytes: number | null;
};

/** A point of the system chart (`SystemPoint`); empty in the per-second event. */
export type SystemPoint = {
  t_ms: number;
  cpu_ratio: number | null;
  memory_used_bytes: number | null;
  net_rx_bytes_per_sec: number | null;
  net_tx_bytes_per_sec: number | null;
  process_cpu_cores: number | null;
  party_quality: number | null;
  peers: number | null;
};

/** A letter grade: A (great) to F (unplayable). */
export type Grade = "A" | "B" | "C" | "D" | "F";

/** A component of the grade. */
export type QualityComponent = "latency" | "jitter" | "loss";

/**
 * A connection's grading as the engine computes it (`lanrage_metrics::Quality`): the score
 * 0..100, its grade, each component's score 0..100 (null when not measured) and the one that
 * limits the score. The UI never computes it: it shows what party status, `metrics` events or
 * the `grade_connection` command return.
 */
export type Quality = {
  score: number;
  grade: Grade;
  latency: number | null;
  jitter: number | null;
  loss: number | null;
  limited_by: QualityComponent;
};

export type MetricsQuality = Quality;

export type MetricsPartyQuality = { score: number; grade: Grade; worst_peer: string; peers_scored: number };

export type MetricsPeerPoint = {
  t_ms: number;
  rtt_ms: number | null;
  jitter_ms: number | null;
  loss: number | null;
  rx_bytes_per_sec: number | null;
  tx_bytes_per_sec: number | null;
  quality: number | null;
};

/** A peer in the metrics snapshot (`PeerSnapshot`). */
export type MetricsPeer = {
  public_key: string;
  name: string | null;
  connection: string;
  connection_since_ms: number;
  first_seen_ms: number;
  time_in_state_ms: Record<string, number>;
  rtt_ms: number | null;
  jitter_ms: number | null;
  /** 0..1 */
  loss: number | null;
  rx_bytes_total: number;
  tx_bytes_total: number;
  rx_packets_total: number;
  tx_packets_total: number;
  rx_bytes_per_sec: number | null;
  tx_bytes_per_sec: number | null;
  rx_packets_per_sec: number | null;
  tx_packets_per_sec: number | null;
  quality: MetricsQuality | null;
  minute: MetricsPeerPoint[];
};

/** The `metrics` event's snapshot (`Snapshot`; the engine sends it without the minute series). */
export type MetricsSnapshot = {
  t_ms: number | null;
  peers: MetricsPeer[];
  party: MetricsPartyQuality | null;
  /** the latest system reading; null before the second tick or with metrics off */
  system: SystemSample | null;
  system_minute: SystemPoint[];
};

export type ErrorCode =
  | "invalid_setting"
  | "unknown_setting"
  | "not_available"
  | "config_not_found"
  | "wrong_code"
  | "code_expired"
  | "code_revoked"
  | "party_full"
  | "rate_limited"
  | "already_in_party"
  | "not_in_party"
  | "not_host"
  | "server_unreachable"
  | "needs_server"
  | "invalid_code"
  | "no_permission"
  | "tunnel"
  | "internal";

/** What the join field holds, as the engine reads it (`classify_invite`). */
export type JoinKind = "empty" | "link" | "code" | "partial" | "invalid";

/** `classify_invite`'s answer (`lanrage_proto::invite::JoinInput`). */
export type JoinInput = {
  kind: JoinKind;
  /** the code in display form (link and code) */
  code: string | null;
  /** where a link says to meet */
  server: string | null;
  /** a sentence for under the field */
  hint: string;
};

/** What a rejected invoke carries. */
export type BridgeError = { code: string; message: string; field?: string };

/** Payload of the separate `deep-link` Tauri event. */
export type DeepLinkPayload = { url: string };

/** Payload of the `navigate` Tauri event (the tray's Create party / Join party). */
export type NavigatePayload = { page: string };

/** A game server announced in the party, as `list_servers` returns it (filtered and sorted by the engine). */
export type ServerListing = {
  id: string;
  game: string;
  name: string;
  port: number;
  map: string | null;
  players: number;
  max_players: number;
  password: boolean;
  /** public key of the member who announced it */
  host_key: string;
  host_name: string;
  /** the host's virtual IP */
  host_ip: string;
  /** Unix seconds */
  expires_at: number;
  latency_ms: number | null;
  favorite: boolean;
  /** what set_favorite takes */
  key: string;
};

/** `list_servers` filter; absent fields do not filter. */
export type ServerFilter = {
  game?: string;
  has_players?: boolean;
  not_full?: boolean;
  max_latency_ms?: number;
};

/** `announce_server` payload: one of this device's servers. */
export type ServerAnnouncement = {
  id: string;
  game: string;
  name: string;
  port: number;
  map?: string | null;
  players: number;
  max_players: number;
  password: boolean;
};
