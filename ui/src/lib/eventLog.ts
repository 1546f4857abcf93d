// The engine-status log: human lines for engine events, newest first, bounded.

import type { EngineEvent, NoticeLevel } from "./types";

export const LOG_LIMIT = 10;

export type LogLevel = NoticeLevel;

export type LogEntry = { id: number; at: string; level: LogLevel; text: string };

const STATE_WORDS: Record<string, string> = {
  starting: "Starting",
  running: "Running",
  stopping: "Stopping",
  stopped: "Stopped",
};

/** "running" -> "Running"; unknown states are capitalised as-is. */
export function stateLabel(state: string | null | undefined): string {
  if (!state) return "Connecting";
  return STATE_WORDS[state] ?? state.charAt(0).toUpperCase() + state.slice(1).replace(/_/g, " ");
}

const CONTROL_WORDS: Record<string, string> = {
  not_configured: "not configured",
  connecting: "connecting",
  connected: "connected",
  reconnecting: "reconnecting (the server went away; LANrage keeps trying)",
};

/** "connected", "reconnecting (…)"; unknown states with spaces for underscores. */
export function controlStateText(state: string | null | undefined): string {
  if (!state) return "unknown";
  return CONTROL_WORDS[state] ?? state.replace(/_/g, " ");
}

/**
 * One human line for an engine event, or null for events that are not worth a line
 * (tunnel_stats and metrics arrive every second and are shown live instead; path and NAT
 * changes have their own lists on the Network page, and only failures are repeated here).
 */
export function describeEvent(event: EngineEvent): { level: LogLevel; text: string } | null {
  switch (event.type) {
    case "started":
      return { level: "info", text: `Engine started (version ${event.status.version}).` };
    case "state_changed":
      return { level: "info", text: `Engine is ${stateLabel(event.state).toLowerCase()}.` };
    case "setting_changed":
      return { level: "info", text: `${event.setting.label} changed.` };
    case "settings_reset":
      return { level: "warning", text: "All settings were reset to defaults." };
    case "config_activated":
      return { level: "info", text: `Configuration “${event.name}” activated.` };
    case "notice":
      return { level: event.level, text: event.message };
    case "party_changed":
      // every snapshot (invite, online flags) would flood the log; joins and leaves have their own events
      return event.party ? null : { level: "info", text: "You are no longer in a party." };
    case "member_joined":
      return { level: "info", text: `${event.name} joined the party.` };
    case "member_left":
      return { level: "info", text: `${event.name} left the party.` };
    case "control_changed":
      return {
        level: event.state === "reconnecting" ? "warning" : "info",
        text: `Control server ${controlStateText(event.state)}.`,
      };
    case "tunnel_stats":
    case "metrics":
      return null;
    case "party_created":
      return { level: "info", text: `Party “${event.name}” created.` };
    case "path_changed":
      return event.to === "failed"
        ? { level: "warning", text: `No path to ${event.name}${event.reason ? `: ${event.reason.trim().replace(/\.$/, "")}` : ""}.` }
        : null;
    case "nat_changed":
      return event.nat?.kind === "udp_blocked"
        ? { level: "warning", text: "UDP is blocked on this network: LANrage can only reach players through a relay." }
        : null;
    case "game_started":
      return { level: "info", text: `You are playing ${event.game.name}.` };
    case "game_stopped":
      return { level: "info", text: `You stopped playing ${event.game.name}.` };
    case "game_session_saved":
      return { level: "info", text: `Game session kept: ${event.session.game_name}, ${Math.max(1, Math.round(event.session.duration_secs / 60))} min.` };
    case "member_game":
      // the party's next snapshot carries the game itself; this is the line for the log
      return { level: "info", text: event.game ? `${event.name} is playing ${event.game.name}.` : `${event.name} stopped playing.` };
    case "discord_bot_changed":
      // warnings (a refused token or channel) also arrive as notices; the rest is one line
      return event.bot.state === "connecting" ? null : { level: "info", text: `Discord bot: ${event.bot.message}` };
    default: {
      const t = (event as { type?: unknown }).type;
      return { level: "info", text: `Engine event: ${typeof t === "string" ? t : "unknown"}.` };
    }
  }
}

/** Prepend an entry and keep at most `limit` (newest first). */
export function pushLog(log: readonly LogEntry[], entry: LogEntry, limit = LOG_LIMIT): LogEntry[] {
  return [entry, ...log].slice(0, Math.max(0, limit));
}

/** "14:03:07" in the user's locale. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
