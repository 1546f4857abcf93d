// The app's view state and a pure reducer over engine events and load results.
// App.svelte owns one AppState and replaces it with reduce(state, action).

import type { ConfigView, EngineEvent, EngineState, Notice, SettingView, Status } from "./types";
import { describeEvent, pushLog, type LogEntry, LOG_LIMIT } from "./eventLog";
import { upsertSetting } from "./settingsModel";

export type NoticeItem = Notice & { id: number };

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
  nextId: number;
};

export type Action =
  | { type: "event"; event: EngineEvent; at?: string }
  | { type: "status_loaded"; status: Status }
  | { type: "settings_loaded"; settings: SettingView[] }
  | { type: "setting_saved"; setting: SettingView }
  | { type: "configs_loaded"; configs: ConfigView[] }
  | { type: "dismiss_notice"; id: number }
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

function applyEvent(s: AppState, e: EngineEvent): AppState {
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
    default:
      return s;
  }
}

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case "event": {
      const applied = applyEvent(s, a.event);
      const d = describeEvent(a.event);
      const entry: LogEntry = { id: applied.nextId, at: a.at ?? new Date().toISOString(), ...d };
      return { ...applied, log: pushLog(applied.log, entry, LOG_LIMIT), nextId: applied.nextId + 1 };
    }
    case "status_loaded":
      return addStatusNotices({ ...s, status: a.status, engineState: a.status.state }, a.status.notices);
    case "settings_loaded":
      return { ...s, settings: a.settings };
    case "setting_saved":
      return applyEvent(s, { type: "setting_changed", setting: a.setting });
    case "configs_loaded":
      return { ...s, configs: a.configs };
    case "dismiss_notice":
      return { ...s, notices: s.notices.filter((n) => n.id !== a.id) };
    case "local_notice":
      return addLiveNotice(s, { level: a.level, message: a.message });
    default:
      return s;
  }
}

/** Events after which the app must re-fetch from the engine (they carry no full data). */
export function reloadsFor(e: EngineEvent): { settings: boolean; configs: boolean } {
  return {
    settings: e.type === "settings_reset" || e.type === "config_activated",
    configs: e.type === "config_activated",
  };
}
