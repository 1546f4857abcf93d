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
};

export type Connection = "connecting" | "direct" | "relayed" | "offline";

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
  | { type: "tunnel_stats"; tunnel: DeviceStats };

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
