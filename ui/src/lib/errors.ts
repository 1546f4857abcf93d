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
