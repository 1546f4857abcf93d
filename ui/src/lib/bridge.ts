import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type {
  ConfigView,
  DeepLinkPayload,
  EngineEvent,
  GamesView,
  JoinInput,
  NavigatePayload,
  PartyStatus,
  Quality,
  ServerAnnouncement,
  ServerFilter,
  ServerListing,
  SettingView,
  Status,
} from "./types";
import { createFakeBridge } from "./fakeBridge";
import { browserCopy } from "./clipboard";

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
  /** invoke("create_party", { name }) */
  createParty(name: string): Promise<PartyStatus>;
  /** invoke("join_party", { code }): a bare code or a lanrage://join/… link */
  joinParty(code: string): Promise<PartyStatus>;
  /**
   * invoke("classify_invite", { text, hasServer }): what the join field holds and the hint for
   * under it, as the engine's parser reads it. hasServer: whether a control server is set
   * (null: not known).
   */
  classifyInvite(text: string, hasServer: boolean | null): Promise<JoinInput>;
  /**
   * invoke("grade_connection", { rttMs, jitterMs, lossPct }): the engine's grading of these
   * numbers (loss in percent); null when none is given.
   */
  gradeConnection(rttMs: number | null, jitterMs: number | null, lossPct: number | null): Promise<Quality | null>;
  /** invoke("leave_party") */
  leaveParty(): Promise<void>;
  /** invoke("new_invite", { ttlSecs }): host only; null never expires */
  newInvite(ttlSecs: number | null): Promise<PartyStatus>;
  /** invoke("revoke_invite"): host only */
  revokeInvite(): Promise<void>;
  /** invoke("kick", { member }): host only; member = name, virtual IP or public key */
  kick(member: string): Promise<void>;
  /** invoke("close_party"): host only */
  closeParty(): Promise<void>;
  /** invoke("list_servers", { filter }): the party's servers, filtered and sorted by the engine */
  listServers(filter: ServerFilter): Promise<ServerListing[]>;
  /** invoke("announce_server", { server }): announce (or update) one of this device's servers */
  announceServer(server: ServerAnnouncement): Promise<void>;
  /** invoke("remove_server", { id }): withdraw one of this device's servers */
  removeServer(id: string): Promise<void>;
  /** invoke("set_favorite", { key, on }): key = ServerListing.key */
  setFavorite(key: string, on: boolean): Promise<void>;
  /**
   * invoke("get_games", { limit }): the game this device plays now and the newest game sessions
   * (each run of a game during a party), newest first; at most `limit` (the engine's default: 50)
   */
  getGames(limit?: number): Promise<GamesView>;
  /** invoke("take_deep_link"): a lanrage:// link the app was started with, once; null when none */
  takeDeepLink(): Promise<string | null>;
  /** the clipboard plugin inside Tauri, the browser's clipboard otherwise */
  copyText(text: string): Promise<void>;
  /** listen("engine-event"), payload is an EngineEvent. Resolves to an unsubscribe function. */
  onEngineEvent(handler: (event: EngineEvent) => void): Promise<Unlisten>;
  /** listen("deep-link"), payload {url}: the app was opened with a lanrage://join/… link */
  onDeepLink(handler: (url: string) => void): Promise<Unlisten>;
  /** listen("navigate"), payload {page}: the tray asks for "create" or "join" */
  onNavigate(handler: (page: string) => void): Promise<Unlisten>;
}

export const ENGINE_EVENT = "engine-event";
export const DEEP_LINK_EVENT = "deep-link";
export const NAVIGATE_EVENT = "navigate";

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
  createParty: (name) => invoke<PartyStatus>("create_party", { name }),
  joinParty: (code) => invoke<PartyStatus>("join_party", { code }),
  classifyInvite: (text, hasServer) => invoke<JoinInput>("classify_invite", { text, hasServer }),
  gradeConnection: (rttMs, jitterMs, lossPct) => invoke<Quality | null>("grade_connection", { rttMs, jitterMs, lossPct }),
  leaveParty: () => invoke<void>("leave_party"),
  newInvite: (ttlSecs) => invoke<PartyStatus>("new_invite", { ttlSecs }),
  revokeInvite: () => invoke<void>("revoke_invite"),
  kick: (member) => invoke<void>("kick", { member }),
  closeParty: () => invoke<void>("close_party"),
  listServers: (filter) => invoke<ServerListing[]>("list_servers", { filter }),
  announceServer: async (server) => {
    await invoke("announce_server", { server });
  },
  removeServer: async (id) => {
    await invoke("remove_server", { id });
  },
  setFavorite: async (key, on) => {
    await invoke("set_favorite", { key, on });
  },
  getGames: (limit) => invoke<GamesView>("get_games", limit === undefined ? {} : { limit }),
  takeDeepLink: async () => {
    try {
      const link = await invoke<string | null>("take_deep_link");
      return typeof link === "string" && link ? link : null;
    } catch {
      return null; // an app without the command: nothing pending
    }
  },
  copyText: async (text) => {
    try {
      await invoke("plugin:clipboard-manager|write_text", { text });
    } catch {
      await browserCopy(text);
    }
  },
  onEngineEvent: (handler) => listen<EngineEvent>(ENGINE_EVENT, (e) => handler(e.payload)),
  onDeepLink: (handler) =>
    listen<DeepLinkPayload | string>(DEEP_LINK_EVENT, (e) => {
      const url = typeof e.payload === "string" ? e.payload : e.payload?.url;
      if (typeof url === "string" && url) handler(url);
    }),
  onNavigate: (handler) =>
    listen<NavigatePayload>(NAVIGATE_EVENT, (e) => {
      if (typeof e.payload?.page === "string") handler(e.payload.page);
    }),
};

let fallback: Bridge | null = null;

/** True inside the Tauri webview. */
export function isTauri(w: unknown = typeof window === "undefined" ? undefined : window): boolean {
  return typeof w === "object" && w !== null && "__TAURI_INTERNALS__" in w;
}

/**
 * The bridge the UI talks to: the real engine inside Tauri, an in-memory fake in a
 * plain browser (`npm run dev`, screenshots, the browser test) and in tests. In a plain
 * browser the fake is also `window.__LANRAGE_FAKE__`, so a test can emit events.
 */
export function getBridge(): Bridge {
  if (isTauri()) return tauriBridge;
  if (!fallback) {
    const fake = createFakeBridge({ demo: true, latencyMs: 120 });
    fallback = fake;
    if (typeof window === "object" && window) (window as unknown as Record<string, unknown>).__LANRAGE_FAKE__ = fake;
  }
  return fallback;
}
