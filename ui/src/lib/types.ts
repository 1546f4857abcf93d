// Types shared with the Rust side (src-tauri). Keep in sync with the bridge contract.

export type EngineState = "starting" | "running" | "stopping" | "stopped";

export type NoticeLevel = "info" | "warning" | "error";

export type Notice = { level: NoticeLevel; message: string };

export type Status = {
  version: string;
  state: EngineState;
  device: { public_key: string; display_name: string };
  data_dir: string;
  /** "auto" | "embedded" | "server" */
  mode: string;
  /** state is "not_configured" for now */
  control: { state: string; server: string | null };
  /** parties come later: null means "No party yet" */
  party: null | unknown;
  notices: Notice[];
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
  | { type: "notice"; level: NoticeLevel; message: string };

export type ErrorCode =
  | "invalid_setting"
  | "unknown_setting"
  | "not_available"
  | "config_not_found"
  | "internal";

/** What a rejected invoke carries. */
export type BridgeError = { code: string; message: string; field?: string };
