import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { ConfigView, EngineEvent, SettingView, Status } from "./types";
import { createFakeBridge } from "./fakeBridge";

export type Unlisten = () => void;

/**
 * Everything the UI asks of the engine. The Rust side (src-tauri) implements the
 * Tauri commands named in the comments; every rejection is `{code, message, field?}`.
 */
export interface Bridge {
  /** invoke("get_status") */
  getStatus(): Promise<Status>;
  /** invoke("list_settings") */
  listSettings(): Promise<SettingView[]>;
  /** invoke("set_setting", { key, value }) */
  setSetting(key: string, value: unknown): Promise<SettingView>;
  /** invoke("reset_setting", { key }) */
  resetSetting(key: string): Promise<SettingView>;
  /** invoke("reset_settings") */
  resetSettings(): Promise<SettingView[]>;
  /** invoke("list_configs") */
  listConfigs(): Promise<ConfigView[]>;
  /** invoke("save_config", { name }) */
  saveConfig(name: string): Promise<ConfigView[]>;
  /** invoke("activate_config", { name }) */
  activateConfig(name: string): Promise<ConfigView[]>;
  /** invoke("delete_config", { name }) */
  deleteConfig(name: string): Promise<ConfigView[]>;
  /** invoke("create_party", { name }): rejects with code "not_available" until the control server exists. */
  createParty(name: string): Promise<unknown>;
  /** invoke("join_party", { code }): rejects with code "not_available" until the control server exists. */
  joinParty(code: string): Promise<unknown>;
  /** invoke("leave_party") */
  leaveParty(): Promise<void>;
  /** listen("engine-event"), payload is an EngineEvent. Resolves to an unsubscribe function. */
  onEngineEvent(handler: (event: EngineEvent) => void): Promise<Unlisten>;
}

export const ENGINE_EVENT = "engine-event";

export const tauriBridge: Bridge = {
  getStatus: () => invoke<Status>("get_status"),
  listSettings: () => invoke<SettingView[]>("list_settings"),
  setSetting: (key, value) => invoke<SettingView>("set_setting", { key, value }),
  resetSetting: (key) => invoke<SettingView>("reset_setting", { key }),
  resetSettings: () => invoke<SettingView[]>("reset_settings"),
  listConfigs: () => invoke<ConfigView[]>("list_configs"),
  saveConfig: (name) => invoke<ConfigView[]>("save_config", { name }),
  activateConfig: (name) => invoke<ConfigView[]>("activate_config", { name }),
  deleteConfig: (name) => invoke<ConfigView[]>("delete_config", { name }),
  createParty: (name) => invoke<unknown>("create_party", { name }),
  joinParty: (code) => invoke<unknown>("join_party", { code }),
  leaveParty: () => invoke<void>("leave_party"),
  onEngineEvent: (handler) => listen<EngineEvent>(ENGINE_EVENT, (e) => handler(e.payload)),
};

let fallback: Bridge | null = null;

/** True inside the Tauri webview. */
export function isTauri(w: unknown = typeof window === "undefined" ? undefined : window): boolean {
  return typeof w === "object" && w !== null && "__TAURI_INTERNALS__" in w;
}

/**
 * The bridge the UI talks to: the real engine inside Tauri, an in-memory fake in a
 * plain browser (`npm run dev`, screenshots) and in tests.
 */
export function getBridge(): Bridge {
  if (isTauri()) return tauriBridge;
  fallback ??= createFakeBridge({ demo: true, latencyMs: 120 });
  return fallback;
}
