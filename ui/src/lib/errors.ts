import type { BridgeError } from "./types";

export const FALLBACK_MESSAGE = "Something went wrong. Please try again.";

const CODE_MESSAGES: Record<string, string> = {
  invalid_setting: "That value is not allowed.",
  unknown_setting: "That setting does not exist.",
  invalid_request: "That request is not valid.",
  not_available: "That is not available yet.",
  config_not_found: "That saved configuration no longer exists.",
  shutting_down: "The engine is shutting down.",
  internal: "The engine hit an internal error.",
  wrong_code: "That invite code does not match any party. Check it with the host.",
  code_expired: "That invite code has expired. Ask the host for a new one.",
  code_revoked: "The host revoked that invite code. Ask for a new one.",
  party_full: "That party is full.",
  rate_limited: "Too many wrong invite codes. Wait a minute and try again.",
  already_in_party: "You are already in a party. Leave it first.",
  not_in_party: "You are not in a party.",
  not_host: "Only the host can do that.",
  unknown_member: "That member is no longer in the party.",
  server_unreachable: "The control server cannot be reached. LANrage keeps trying.",
  needs_server: "A bare invite code needs a control server. Paste the whole invite link (lanrage://join/…) instead.",
  invalid_code: "That is not a valid invite code.",
  no_permission: "LANrage is not allowed to create its network device.",
  tunnel: "The network device could not be set up.",
};

/** Which setting a message is about, so "mtu: must be …" can read "MTU must be …". */
export type FieldContext = { key: string; label: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function collapse(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Does this string look like a JSON dump we must never show? */
function looksLikeJson(s: string): boolean {
  const t = s.trim();
  return (t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"));
}

/**
 * Make an engine message read as a sentence: `code` quotes become “curly” ones, the
 * first letter is upper case and it ends with a full stop.
 */
export function toSentence(s: string): string {
  let t = collapse(s).replace(/`([^`]*)`/g, "“$1”");
  if (!t) return t;
  t = t.charAt(0).toUpperCase() + t.slice(1);
  if (!/[.!?…:]$/.test(t)) t += ".";
  return t;
}

/** "mtu: must be from 1280 to 9000" -> "MTU must be from 1280 to 9000" (or drop the key without a label). */
function stripFieldPrefix(message: string, field: string | undefined, ctx: FieldContext | undefined): string {
  for (const key of [ctx?.key, field]) {
    if (!key) continue;
    const prefix = `${key}: `;
    if (message.startsWith(prefix)) {
      const rest = message.slice(prefix.length);
      return ctx ? `${ctx.label} ${rest}` : rest;
    }
  }
  return message;
}

function fromRecord(r: Record<string, unknown>, ctx?: FieldContext): BridgeError {
  const code = typeof r.code === "string" && r.code ? r.code : "internal";
  const field = typeof r.field === "string" && r.field ? r.field : undefined;
  let message = "";
  if (typeof r.message === "string") message = collapse(r.message);
  else if (typeof r.error === "string") message = collapse(r.error);
  message =
    !message || looksLikeJson(message)
      ? (CODE_MESSAGES[code] ?? FALLBACK_MESSAGE)
      : toSentence(stripFieldPrefix(message, field, ctx));
  return field ? { code, message, field } : { code, message };
}

/**
 * Normalise whatever an invoke rejected with (the contract's `{code, message, field?}`
 * object, a plain string from Tauri itself such as "command x not found", an Error,
 * or anything else) into a BridgeError whose message is a human sentence.
 * With `ctx`, a "key: …" message about that setting is phrased with its label.
 */
export function toBridgeError(err: unknown, ctx?: FieldContext): BridgeError {
  if (isRecord(err) && !(err instanceof Error)) return fromRecord(err, ctx);
  if (err instanceof Error) {
    const m = collapse(err.message);
    return { code: "internal", message: m && !looksLikeJson(m) ? toSentence(m) : FALLBACK_MESSAGE };
  }
  if (typeof err === "string") {
    const s = err.trim();
    if (looksLikeJson(s)) {
      try {
        const parsed: unknown = JSON.parse(s);
        if (isRecord(parsed)) return fromRecord(parsed, ctx);
      } catch {
        /* fall through */
      }
      return { code: "internal", message: FALLBACK_MESSAGE };
    }
    return { code: "internal", message: s ? toSentence(s) : FALLBACK_MESSAGE };
  }
  return { code: "internal", message: FALLBACK_MESSAGE };
}

/** Just the human sentence for an invoke rejection. */
export function errorMessage(err: unknown, ctx?: FieldContext): string {
  return toBridgeError(err, ctx).message;
}

/** An error for display next to an action: the sentence, and a command that fixes it, if any. */
export type ActionError = BridgeError & { fix?: string };

/**
 * The command a no_permission message names, e.g. "sudo setcap cap_net_admin+ep /usr/bin/lanrage-app".
 * The engine quotes it in backticks; an unquoted `setcap …` up to the end of the clause also works.
 */
export function extractFix(message: string): string | null {
  const quoted = [...message.matchAll(/`([^`]+)`/g)].map((m) => m[1].trim());
  const q = quoted.find((c) => /(^|\s)setcap\s/.test(c));
  if (q) return q;
  const m = message.match(/((?:sudo\s+)?setcap\s+[^\s“”"']+\s+[^\s,;()“”"']+)/);
  return m ? m[1].replace(/[.]$/, "") : null;
}

/** toBridgeError plus, for no_permission, the fix command (from the raw message, before quoting changes it). */
export function toActionError(err: unknown): ActionError {
  const e = toBridgeError(err);
  if (e.code !== "no_permission") return e;
  let raw = "";
  if (isRecord(err) && typeof err.message === "string") raw = err.message;
  else if (typeof err === "string") raw = err;
  const fix = extractFix(raw) ?? extractFix(e.message);
  return fix ? { ...e, fix } : e;
}
