// Pure view logic for the settings form: grouping, text <-> value conversion per kind,
// and client-side parse checks (the engine still validates ranges and rules).

import type { SettingView } from "./types";

/** Order groups appear in; groups the engine adds later go after these, A-Z. */
export const GROUP_ORDER = ["Profile", "Network", "Servers", "Features", "Discord", "App"] as const;

export type SettingGroup = { group: string; settings: SettingView[] };

/** Group settings by `group` (known groups in GROUP_ORDER, others after, A-Z); keep engine order within a group. */
export function groupSettings(settings: readonly SettingView[]): SettingGroup[] {
  const byGroup = new Map<string, SettingView[]>();
  for (const s of settings) {
    const g = s.group?.trim() || "Other";
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(s);
  }
  const rank = (g: string) => {
    const i = (GROUP_ORDER as readonly string[]).indexOf(g);
    return i === -1 ? GROUP_ORDER.length : i;
  };
  return [...byGroup.keys()]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((group) => ({ group, settings: byGroup.get(group)! }));
}

/** A stable DOM id for a group heading / fieldset. */
export function groupId(group: string): string {
  return "group-" + group.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/** One entry per line or comma-separated -> trimmed, non-empty strings. */
export function parseList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Text shown in a text-like input for this setting. Secrets are never prefilled. */
export function formatValue(setting: SettingView): string {
  if (setting.secret) return "";
  const v = setting.value;
  if (v === null || v === undefined) return "";
  switch (setting.kind) {
    case "list":
      return Array.isArray(v) ? v.map(String).join("\n") : String(v);
    case "bool":
      return v ? "true" : "false";
    default:
      return typeof v === "object" ? JSON.stringify(v) : String(v);
  }
}

/** Short human form of a value, e.g. for "Default: …" hints. */
export function describeValue(setting: SettingView, v: unknown): string {
  if (v === null || v === undefined || v === "") return setting.kind === "list" ? "none" : "empty";
  switch (setting.kind) {
    case "bool":
      return v ? "on" : "off";
    case "list":
      return Array.isArray(v) ? (v.length ? v.join(", ") : "none") : String(v);
    default:
      return String(v);
  }
}

export type ParseResult =
  | { ok: true; value: unknown }
  | { ok: false; error: string }
  /** nothing to send (an empty secret input keeps the stored secret) */
  | { ok: "skip" };

const INTEGER_RE = /^[+-]?\d+$/;

/** Turn what the user entered into the JSON value to send, or a human error. */
export function parseInput(setting: SettingView, raw: string | boolean): ParseResult {
  switch (setting.kind) {
    case "bool":
      if (typeof raw === "boolean") return { ok: true, value: raw };
      if (raw === "true" || raw === "false") return { ok: true, value: raw === "true" };
      return { ok: false, error: `${setting.label} must be on or off.` };
    case "integer": {
      const t = String(raw).trim();
      if (t === "") return { ok: false, error: `Enter a whole number for ${setting.label}.` };
      if (!INTEGER_RE.test(t)) return { ok: false, error: `“${t}” is not a whole number.` };
      const n = Number(t);
      if (!Number.isSafeInteger(n)) return { ok: false, error: `${t} is too large.` };
      return { ok: true, value: n };
    }
    case "list":
      return { ok: true, value: parseList(String(raw)) };
    case "enum": {
      const t = String(raw);
      if (setting.choices && !setting.choices.includes(t))
        return { ok: false, error: `Choose one of: ${setting.choices.join(", ")}.` };
      return { ok: true, value: t };
    }
    case "string":
    default: {
      const t = String(raw);
      if (setting.secret && t === "") return { ok: "skip" };
      return { ok: true, value: t };
    }
  }
}

/** Placeholder for a secret input: the secret itself never comes back. */
export function secretPlaceholder(setting: SettingView): string {
  return setting.is_set ? "Set" : "Not set";
}

function canonical(v: unknown): string {
  return JSON.stringify(v ?? null);
}

/** Whether the setting currently holds its default (secrets: whether nothing is stored). */
export function isDefault(setting: SettingView): boolean {
  if (setting.secret) return !setting.is_set;
  return canonical(setting.value) === canonical(setting.default);
}

/** Replace the setting with the same key (or append it if new); returns a new array. */
export function upsertSetting(settings: readonly SettingView[], next: SettingView): SettingView[] {
  const i = settings.findIndex((s) => s.key === next.key);
  if (i === -1) return [...settings, next];
  const copy = settings.slice();
  copy[i] = next;
  return copy;
}

/** DOM ids the end-to-end tests rely on. */
export const settingInputId = (key: string) => `setting-${key}`;
export const settingErrorId = (key: string) => `error-${key}`;
export const settingSavedId = (key: string) => `saved-${key}`;
export const settingResetId = (key: string) => `reset-${key}`;
export const settingHelpId = (key: string) => `help-${key}`;
