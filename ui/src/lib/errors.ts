import type { BridgeError } from "./types";

export const FALLBACK_MESSAGE = "Something went wrong. Please try again.";

const CODE_MESSAGES: Record<string, string> = {
  invalid_setting: "That value is not allowed.",
  unknown_setting: "That setting does not exist.",
  not_available: "That is not available yet.",
  config_not_found: "That saved configuration no longer exists.",
  internal: "The engine hit an internal error.",
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function cleanSentence(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

/** Does this string look like a JSON dump we must never show? */
function looksLikeJson(s: string): boolean {
  const t = s.trim();
  return (t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]"));
}

function fromRecord(r: Record<string, unknown>): BridgeError {
  const code = typeof r.code === "string" && r.code ? r.code : "internal";
  const field = typeof r.field === "string" && r.field ? r.field : undefined;
  let message = "";
  if (typeof r.message === "string") message = cleanSentence(r.message);
  else if (typeof r.error === "string") message = cleanSentence(r.error);
  if (!message || looksLikeJson(message)) message = CODE_MESSAGES[code] ?? FALLBACK_MESSAGE;
  return field ? { code, message, field } : { code, message };
}

/**
 * Normalise whatever an invoke rejected with (the contract's `{code, message, field?}`
 * object, a plain string from Tauri itself such as "command x not found", an Error,
 * or anything else) into a BridgeError whose message is a human sentence.
 */
export function toBridgeError(err: unknown): BridgeError {
  if (isRecord(err) && !(err instanceof Error)) return fromRecord(err);
  if (err instanceof Error) {
    const m = cleanSentence(err.message);
    return { code: "internal", message: m && !looksLikeJson(m) ? m : FALLBACK_MESSAGE };
  }
  if (typeof err === "string") {
    const s = err.trim();
    if (looksLikeJson(s)) {
      try {
        const parsed: unknown = JSON.parse(s);
        if (isRecord(parsed)) return fromRecord(parsed);
      } catch {
        /* fall through */
      }
      return { code: "internal", message: FALLBACK_MESSAGE };
    }
    return { code: "internal", message: s ? cleanSentence(s) : FALLBACK_MESSAGE };
  }
  return { code: "internal", message: FALLBACK_MESSAGE };
}

/** Just the human sentence for an invoke rejection. */
export function errorMessage(err: unknown): string {
  return toBridgeError(err).message;
}
