// The app's view state and a pure reducer over engine events and load results.
// App.svelte owns one AppState and replaces it with reduce(state, action).

import type { ConfigView, EngineEvent, EngineState, GameRef, MetricsSnapshot, Notice, PartyStatus, Quality, SettingView, Status } from "./types";
import { controlStateText, describeEvent, pushLog, type LogEntry, LOG_LIMIT } from "./eventLog";
import { upsertSetting } from "./settingsModel";
import { recordSystem, recordTunnelStats, type Histories, type SystemRecord } from "./history";
import { pathChanges, type LiveQualities } from "./peers";
import { deepEqual, keepIfEqual } from "./equal";
import { natView, PATH_LOG_LIMIT, updatePathSince, type PathChange, type PathSince } from "./paths";
import { gameStarted, gameStopped, reconcileGames } from "./games";

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
  /** path changes for the Network page, newest first, at most PATH_LOG_LIMIT */
  pathLog: PathChange[];
  /**
   * the engine reports paths (a path_changed event or a peer with a path was seen): the UI then
   * stops inferring connection changes from tunnel statistics
   */
  enginePaths: boolean;
  /** when each peer's current path state began */
  pathSince: PathSince;
  /** the machine's CPU, memory and network from `metrics` events, oldest first */
  system: readonly SystemRecord[];
  /** the engine's latest grading of each peer (from `metrics` events, or graded tunnel numbers) */
  qualities: LiveQualities;
  /**
   * the games running on this device, in id order (game_started / game_stopped; the status
   * names only the first, as status.device.game)
   */
  deviceGames: readonly GameRef[];
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
  /** the engine graded the tunnel's numbers (grade_connection), by public key */
  | { type: "graded"; qualities: Record<string, Quality | null> }
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
    pathLog: [],
    enginePaths: false,
    pathSince: {},
    system: [],
    qualities: {},
    deviceGames: [],
    toasts: [],
    nextId: 1,
  };
}

const partyHasPaths = (p: PartyStatus | null | undefined) => !!p?.peers.some((x) => x.path);

const atMs = (at: string) => {
  const t = Date.parse(at);
  return Number.isNaN(t) ? Date.now() : t;
};

/**
 * A new status from the engine, sharing every part that did not change with the previous one
 * (the previous status itself when nothing changed), so what shows those parts stays as it is.
 */
export function shareStatus(prev: Status | null, next: Status): Status {
  if (!prev) return next;
  const out = { ...next } as Record<string, unknown>;
  const old = prev as unknown as Record<string, unknown>;
  let same = Object.keys(old).length === Object.keys(out).length;
  for (const k of Object.keys(out)) {
    out[k] = keepIfEqual(old[k], out[k]);
    if (out[k] !== old[k]) same = false;
  }
  return same ? prev : (out as unknown as Status);
}

/** New gradings, keeping the previous object (and each grading in it) where nothing changed. */
function setQualities(s: AppState, next: Record<string, Quality | null>): AppState {
  const qualities = keepIfEqual(s.qualities, next);
  return qualities === s.qualities ? s : { ...s, qualities };
}

/** Each peer's grading in a `metrics` snapshot. */
function metricsQualities(snapshot: MetricsSnapshot): Record<string, Quality | null> {
  const out: Record<string, Quality | null> = {};
  for (const p of snapshot.peers ?? []) out[p.public_key] = p.quality ?? null;
  return out;
}

/** A status (get_status or started) into the state: shared parts, path start times. */
function loadStatus(s: AppState, status: Status, at: string): AppState {
  const next = shareStatus(s.status, status);
  return {
    ...s,
    status: next,
    deviceGames: reconcileGames(s.deviceGames, next.device.game),
    engineState: next.state,
    enginePaths: s.enginePaths || partyHasPaths(next.party),
    pathSince: updatePathSince(s.pathSince, next.party?.peers, atMs(at)),
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

function addPath(s: AppState, change: Omit<PathChange, "id">): AppState {
  const entry: PathChange = { id: s.nextId, ...change };
  return { ...s, pathLog: [entry, ...s.pathLog].slice(0, PATH_LOG_LIMIT), nextId: s.nextId + 1 };
}

function addToast(s: AppState, kind: Toast["kind"], text: string): AppState {
  const toasts = [...s.toasts, { id: s.nextId, kind, text }];
  return { ...s, toasts: toasts.slice(Math.max(0, toasts.length - TOAST_LIMIT)), nextId: s.nextId + 1 };
}

/**
 * A new party snapshot and/or tunnel stats into the status. With an engine that does not
 * report paths, connection changes and endpoint moves seen between two views are noted.
 */
function applyLive(s: AppState, at: string, next: Pick<Status, "party" | "tunnel">): AppState {
  if (!s.status) return s;
  if (next.party === s.status.party && next.tunnel === s.status.tunnel) return s;
  const enginePaths = s.enginePaths || partyHasPaths(next.party);
  let out: AppState = { ...s, status: { ...s.status, ...next }, enginePaths };
  if (!enginePaths) {
    const { connections, endpoints } = pathChanges(
      { party: s.status.party, tunnel: s.status.tunnel },
      { party: next.party, tunnel: next.tunnel },
    );
    for (const c of connections) out = addPath(out, { at, key: c.key, name: c.name, from: c.from, to: c.to, reason: "" });
    for (const line of endpoints) out = addNet(out, at, "info", line);
  }
  return out;
}

/** A path_changed event: logged, and laid over the party until its next snapshot arrives. */
function applyPathChanged(s: AppState, e: Extract<EngineEvent, { type: "path_changed" }>, at: string): AppState {
  let out = addPath(s, { at, key: e.peer, name: e.name, from: e.from, to: e.to, reason: e.reason ?? "" });
  out = { ...out, enginePaths: true, pathSince: { ...out.pathSince, [e.peer]: { state: e.to, at: atMs(at) } } };
  const party = s.status?.party;
  if (!s.status || !party || !party.peers.some((p) => p.public_key === e.peer)) return out;
  const peers = party.peers.map((p) =>
    p.public_key !== e.peer
      ? p
      : {
          ...p,
          path: {
            local_candidate: null,
            remote_candidate: null,
            relay: null,
            ...(p.path ?? {}),
            state: e.to,
            reason: e.reason ?? "",
            since_secs: 0,
          },
        },
  );
  return { ...out, status: { ...s.status, party: { ...party, peers } } };
}

/** This device's games changed: the list, and the status's game (the first, like the engine's). */
function setDeviceGames(s: AppState, deviceGames: readonly GameRef[]): AppState {
  if (deviceGames === s.deviceGames) return s;
  const out = { ...s, deviceGames };
  if (!s.status) return out;
  const game = keepIfEqual(s.status.device.game ?? undefined, deviceGames[0] ?? null);
  if (game === s.status.device.game) return out;
  return { ...out, status: { ...s.status, device: { ...s.status.device, game } } };
}

function applyEvent(s: AppState, e: EngineEvent, at: string): AppState {
  switch (e.type) {
    case "started":
      return addStatusNotices(loadStatus(s, e.status, at), e.status.notices);
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
      const party = keepIfEqual(before ?? undefined, e.party ?? null);
      let out = s;
      if (s.status) {
        const vip = party?.virtual_ip ?? null;
        const device = s.status.device.virtual_ip === vip ? s.status.device : { ...s.status.device, virtual_ip: vip };
        // a new party (or none) starts without the old party's tunnel numbers
        const tunnel = party && before && before.id === party.id ? s.status.tunnel : null;
        out = applyLive(device === s.status.device ? s : { ...s, status: { ...s.status, device } }, at, { party, tunnel });
        const pathSince = updatePathSince(out.pathSince, party?.peers, atMs(at));
        if (pathSince !== out.pathSince) out = { ...out, pathSince };
      }
      if (!before && party) out = addNet(out, at, "info", `Joined “${party.name}” as ${party.virtual_ip}.`);
      else if (before && !party) {
        out = addNet(out, at, "info", `Left “${before.name}”.`);
        out = { ...out, histories: {}, qualities: {} };
      } else if (before && party && before.id !== party.id) out = { ...out, histories: {}, qualities: {} };
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
      const histories = recordTunnelStats(s.histories, e.tunnel, atMs(at));
      const out = { ...s, histories };
      if (!s.status) return out;
      // equal numbers keep the same object: the counters and paths shown from it stay as they are
      return applyLive(out, at, { party: s.status.party, tunnel: keepIfEqual(s.status.tunnel ?? undefined, e.tunnel) });
    }
    case "metrics": {
      const system = recordSystem(s.system, e.snapshot);
      return setQualities(system === s.system ? s : { ...s, system }, metricsQualities(e.snapshot));
    }
    case "nat_changed": {
      if (!s.status || deepEqual(s.status.nat, e.nat)) return s;
      const out = { ...s, status: { ...s.status, nat: e.nat ?? null } };
      if (!e.nat) return out;
      const v = natView(e.nat);
      return addNet(out, at, e.nat.kind === "udp_blocked" ? "warning" : "info", `NAT type: ${v.title}.`);
    }
    case "path_changed":
      return applyPathChanged(s, e, at);
    case "discord_bot_changed":
      return s.status ? { ...s, status: { ...s.status, discord: { ...s.status.discord, bot: e.bot } } } : s;
    case "game_started":
      return setDeviceGames(s, gameStarted(s.deviceGames, e.game));
    case "game_stopped":
      return setDeviceGames(s, gameStopped(s.deviceGames, e.game));
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
      return addStatusNotices(loadStatus(s, a.status, new Date().toISOString()), a.status.notices);
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
    case "graded":
      return setQualities(s, a.qualities);
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
