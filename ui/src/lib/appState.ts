// The app's view state and a pure reducer over engine events and load results.
// App.svelte owns one AppState and replaces it with reduce(state, action).

import type { ConfigView, EngineEvent, EngineState, Notice, PartyStatus, SettingView, Status } from "./types";
import { controlStateText, describeEvent, pushLog, type LogEntry, LOG_LIMIT } from "./eventLog";
import { upsertSetting } from "./settingsModel";
import { recordTunnelStats, type Histories } from "./history";
import { pathChanges } from "./peers";

export type NoticeItem = Notice & { id: number };

/** A desktop-notification style message (member joined / left) that goes away by itself. */
export type Toast = { id: number; kind: "joined" | "left"; text: string };

/** How many toasts are on screen at most (older ones make room). */
export const TOAST_LIMIT = 4;
/** How many network changes the Network page keeps. */
export const NET_LOG_LIMIT = 30;

export type AppState = {
  status: Status | null;
  /** engine state as last reported (null until known) */
  engineState: EngineState | string | null;
  settings: SettingView[];
  configs: ConfigView[];
  /** visible (not dismissed) notices */
  notices: NoticeItem[];
  /** level+message of every notice ever shown, so a repeated status doesn't re-show a dismissed one */
  seenNotices: string[];
  /** engine-status log, newest first, at most LOG_LIMIT */
  log: LogEntry[];
  /** path and control-server changes for the Network page, newest first, at most NET_LOG_LIMIT */
  netLog: LogEntry[];
  /** per-peer RTT/jitter/loss from tunnel_stats, by public key */
  histories: Histories;
  toasts: Toast[];
  nextId: number;
};

export type Action =
  | { type: "event"; event: EngineEvent; at?: string }
  | { type: "status_loaded"; status: Status }
  | { type: "settings_loaded"; settings: SettingView[] }
  | { type: "setting_saved"; setting: SettingView }
  | { type: "configs_loaded"; configs: ConfigView[] }
  | { type: "dismiss_notice"; id: number }
  | { type: "dismiss_toast"; id: number }
  /** what a party command returned (create/join/new_invite: the party; leave/close: null) */
  | { type: "party_result"; party: PartyStatus | null; at?: string }
  | { type: "local_notice"; level: Notice["level"]; message: string };

export function initialState(): AppState {
  return {
    status: null,
    engineState: null,
    settings: [],
    configs: [],
    notices: [],
    seenNotices: [],
    log: [],
    netLog: [],
    histories: {},
    toasts: [],
    nextId: 1,
  };
}

const noticeKey = (n: Notice) => `${n.level}\u0000${n.message}`;

/** Add notices carried by a status, skipping ones already shown (even if dismissed). */
function addStatusNotices(s: AppState, notices: readonly Notice[] | undefined): AppState {
  if (!notices?.length) return s;
  let { nextId } = s;
  const seen = s.seenNotices.slice();
  const added: NoticeItem[] = [];
  for (const n of notices) {
    const k = noticeKey(n);
    if (seen.includes(k)) continue;
    seen.push(k);
    added.push({ id: nextId++, level: n.level, message: n.message });
  }
  if (!added.length) return s;
  return { ...s, notices: [...s.notices, ...added], seenNotices: seen, nextId };
}

/** Add a notice that just happened, unless an identical one is still on screen. */
function addLiveNotice(s: AppState, n: Notice): AppState {
  const k = noticeKey(n);
  if (s.notices.some((x) => noticeKey(x) === k)) return s;
  return {
    ...s,
    notices: [...s.notices, { id: s.nextId, level: n.level, message: n.message }],
    seenNotices: s.seenNotices.includes(k) ? s.seenNotices : [...s.seenNotices, k],
    nextId: s.nextId + 1,
  };
}

function addNet(s: AppState, at: string, level: LogEntry["level"], text: string): AppState {
  const entry: LogEntry = { id: s.nextId, at, level, text };
  return { ...s, netLog: pushLog(s.netLog, entry, NET_LOG_LIMIT), nextId: s.nextId + 1 };
}

function addToast(s: AppState, kind: Toast["kind"], text: string): AppState {
  const toasts = [...s.toasts, { id: s.nextId, kind, text }];
  return { ...s, toasts: toasts.slice(Math.max(0, toasts.length - TOAST_LIMIT)), nextId: s.nextId + 1 };
}

/** A new party snapshot and/or tunnel stats into the status, noting path changes. */
function applyLive(s: AppState, at: string, next: Pick<Status, "party" | "tunnel">): AppState {
  if (!s.status) return s;
  const changes = pathChanges(
    { party: s.status.party, tunnel: s.status.tunnel },
    { party: next.party, tunnel: next.tunnel },
  );
  let out: AppState = { ...s, status: { ...s.status, ...next } };
  for (const c of changes) out = addNet(out, at, "info", c);
  return out;
}

function applyEvent(s: AppState, e: EngineEvent, at: string): AppState {
  switch (e.type) {
    case "started":
      return addStatusNotices({ ...s, status: e.status, engineState: e.status.state }, e.status.notices);
    case "state_changed":
      return {
        ...s,
        engineState: e.state,
        status: s.status ? { ...s.status, state: e.state as EngineState } : s.status,
      };
    case "setting_changed": {
      const next = { ...s, settings: upsertSetting(s.settings, e.setting) };
      // keep the device card in sync with the display name
      if (e.setting.key === "display_name" && s.status && typeof e.setting.value === "string") {
        next.status = { ...s.status, device: { ...s.status.device, display_name: e.setting.value } };
      }
      return next;
    }
    case "settings_reset":
      // payload-less: the app reloads list_settings after this
      return s;
    case "config_activated":
      return { ...s, configs: s.configs.map((c) => ({ ...c, active: c.name === e.name })) };
    case "notice":
      return addLiveNotice(s, { level: e.level, message: e.message });
    case "party_changed": {
      const before = s.status?.party ?? null;
      const party = e.party ?? null;
      let out = s;
      if (s.status) {
        const device = { ...s.status.device, virtual_ip: party?.virtual_ip ?? null };
        // a new party (or none) starts without the old party's tunnel numbers
        const tunnel = party && before && before.id === party.id ? s.status.tunnel : null;
        out = applyLive({ ...s, status: { ...s.status, device } }, at, { party, tunnel });
      }
      if (!before && party) out = addNet(out, at, "info", `Joined “${party.name}” as ${party.virtual_ip}.`);
      else if (before && !party) {
        out = addNet(out, at, "info", `Left “${before.name}”.`);
        out = { ...out, histories: {} };
      } else if (before && party && before.id !== party.id) out = { ...out, histories: {} };
      return out;
    }
    case "member_joined":
      return addToast(s, "joined", `${e.name} joined the party`);
    case "member_left":
      return addToast(s, "left", `${e.name} left the party`);
    case "control_changed": {
      const out = s.status ? { ...s, status: { ...s.status, control: { ...s.status.control, state: e.state } } } : s;
      return addNet(out, at, e.state === "reconnecting" ? "warning" : "info", `Control server ${controlStateText(e.state)}.`);
    }
    case "tunnel_stats": {
      const t = Date.parse(at);
      const histories = recordTunnelStats(s.histories, e.tunnel, Number.isNaN(t) ? Date.now() : t);
      const out = { ...s, histories };
      return s.status ? applyLive(out, at, { party: s.status.party, tunnel: e.tunnel }) : out;
    }
    default:
      return s;
  }
}

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case "event": {
      const at = a.at ?? new Date().toISOString();
      const applied = applyEvent(s, a.event, at);
      const d = describeEvent(a.event);
      if (!d) return applied;
      const entry: LogEntry = { id: applied.nextId, at, ...d };
      return { ...applied, log: pushLog(applied.log, entry, LOG_LIMIT), nextId: applied.nextId + 1 };
    }
    case "status_loaded":
      return addStatusNotices({ ...s, status: a.status, engineState: a.status.state }, a.status.notices);
    case "settings_loaded":
      return { ...s, settings: a.settings };
    case "setting_saved":
      return applyEvent(s, { type: "setting_changed", setting: a.setting }, new Date().toISOString());
    case "configs_loaded":
      return { ...s, configs: a.configs };
    case "dismiss_notice":
      return { ...s, notices: s.notices.filter((n) => n.id !== a.id) };
    case "party_result":
      return applyEvent(s, { type: "party_changed", party: a.party }, a.at ?? new Date().toISOString());
    case "dismiss_toast":
      return { ...s, toasts: s.toasts.filter((n) => n.id !== a.id) };
    case "local_notice":
      return addLiveNotice(s, { level: a.level, message: a.message });
    default:
      return s;
  }
}

/**
 * Events after which the app must re-fetch from the engine (they carry no full data).
 * Party and control changes re-read the status: the control server's address and whether it
 * runs on this machine are only in get_status, and leaving a party ends its control session
 * without an event of its own.
 */
export function reloadsFor(e: EngineEvent): { settings: boolean; configs: boolean; status: boolean } {
  return {
    settings: e.type === "settings_reset" || e.type === "config_activated",
    configs: e.type === "config_activated",
    status: e.type === "party_changed" || e.type === "control_changed",
  };
}
