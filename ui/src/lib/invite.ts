// Invite codes and links as the engine reads them (a port of crates/proto/src/invite.rs), so
// the join field can say what was pasted before anything is sent. The engine still checks
// everything; these messages are the engine's own, word for word.

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const PARTY_ID_LEN = 8;
export const SECRET_LEN = 13;
export const CODE_LEN = PARTY_ID_LEN + SECRET_LEN + 1;
export const LINK_PREFIX = "lanrage://join/";

export class InviteError extends Error {
  constructor(
    message: string,
    /** "length" | "char" | "check" | "not_link" | "bad_server" */
    readonly kind: string,
  ) {
    super(message);
  }
}

function value(c: string): number {
  let u = c.toUpperCase();
  if (u === "O") u = "0";
  else if (u === "I" || u === "L") u = "1";
  const i = u.length === 1 ? ALPHABET.indexOf(u) : -1;
  if (i < 0) throw new InviteError(`\`${u}\` cannot appear in an invite code`, "char");
  return i;
}

/** Luhn mod 32 over base32 values. */
export function checkValue(values: readonly number[]): number {
  let factor = 2;
  let sum = 0;
  for (let i = values.length - 1; i >= 0; i--) {
    let addend = factor * values[i];
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / 32) + (addend % 32);
    sum += addend;
  }
  return (32 - (sum % 32)) % 32;
}

/** "ABCD-EFGH-…" in groups of four. */
function group(s: string): string {
  return s.match(/.{1,4}/g)?.join("-") ?? s;
}

/** Parses a code as a person typed it (any case, dashes and spaces ignored); returns its display form. */
export function parseCode(text: string): string {
  const chars = [...text].filter((c) => c !== "-" && c !== " " && c !== "\t");
  if (chars.length !== CODE_LEN)
    throw new InviteError(
      `an invite code has ${CODE_LEN} letters and digits (dashes optional); this one has ${chars.length}`,
      "length",
    );
  const values = chars.map(value);
  if (checkValue(values.slice(0, CODE_LEN - 1)) !== values[CODE_LEN - 1])
    throw new InviteError("this invite code has a typo (its check character does not match)", "check");
  return group(values.map((v) => ALPHABET[v]).join(""));
}

/** A code for a party id and secret (used by the fake engine and tests). */
export function makeCode(body: string): string {
  const values = [...body].map(value);
  return group(values.map((v) => ALPHABET[v]).join("") + ALPHABET[checkValue(values)]);
}

/** A random valid code. */
export function randomCode(random: () => number = Math.random): string {
  let body = "";
  for (let i = 0; i < PARTY_ID_LEN + SECRET_LEN; i++) body += ALPHABET[Math.floor(random() * 32) % 32];
  return makeCode(body);
}

export function makeLink(code: string, server: string): string {
  return `${LINK_PREFIX}${code}?server=${encodeURIComponent(server)}`;
}

export type Invite = { code: string; server: string | null };

/** A bare code, or a `lanrage://join/CODE?server=…` link. Throws InviteError with the engine's message. */
export function parseInvite(text: string): Invite {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (!lower.startsWith("lanrage:")) return { code: parseCode(t), server: null };
  if (!lower.startsWith(LINK_PREFIX))
    throw new InviteError("this link is not a LANrage invite (expected lanrage://join/CODE)", "not_link");
  const rest = t.slice(LINK_PREFIX.length);
  const q = rest.indexOf("?");
  const codePart = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q + 1) : "";
  const code = parseCode(codePart.replace(/\/+$/, ""));
  let server: string | null = null;
  for (const pair of query.split("&")) {
    if (!pair.startsWith("server=")) continue;
    let s: string;
    try {
      s = decodeURIComponent(pair.slice("server=".length));
    } catch {
      throw new InviteError("the link's server address is not a ws:// or wss:// URL", "bad_server");
    }
    if (!s.startsWith("ws://") && !s.startsWith("wss://"))
      throw new InviteError("the link's server address is not a ws:// or wss:// URL", "bad_server");
    server = s;
  }
  return { code, server };
}

export type JoinInput =
  | { kind: "empty"; hint: string }
  | { kind: "link"; code: string; server: string | null; hint: string }
  | { kind: "code"; code: string; hint: string }
  /** still typing: only code characters so far, fewer than a whole code */
  | { kind: "partial"; hint: string }
  | { kind: "invalid"; hint: string };

function cap(s: string): string {
  const t = s.replace(/`([^`]*)`/g, "“$1”");
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
}

/**
 * What the join field holds, with a one-line hint for under it. `hasServer`: whether a
 * control server is configured (a bare code needs one; a link names its own).
 */
export function classifyJoinInput(text: string, hasServer: boolean | null = null): JoinInput {
  const t = text.trim();
  if (!t) return { kind: "empty", hint: "Paste the invite code or the whole invite link your host sent." };
  try {
    const inv = parseInvite(t);
    if (t.toLowerCase().startsWith("lanrage:"))
      return {
        kind: "link",
        code: inv.code,
        server: inv.server,
        hint: inv.server ? `Invite link for code ${inv.code}, meeting at ${inv.server}.` : `Invite link for code ${inv.code}.`,
      };
    return {
      kind: "code",
      code: inv.code,
      hint:
        hasServer === false
          ? `Code ${inv.code}. No control server is set, so this needs the whole invite link (lanrage://join/…) instead.`
          : `Invite code ${inv.code}.`,
    };
  } catch (e) {
    const msg = e instanceof InviteError ? e.message : "this is not an invite code";
    if (e instanceof InviteError && e.kind === "length" && !t.toLowerCase().startsWith("lanrage:")) {
      const n = [...t].filter((c) => c !== "-" && c !== " " && c !== "\t").length;
      const onlyCodeChars = [...t].every((c) => c === "-" || c === " " || /^[0-9a-z]$/i.test(c));
      if (n < CODE_LEN && onlyCodeChars)
        return { kind: "partial", hint: `${n} of ${CODE_LEN} characters so far.` };
    }
    return { kind: "invalid", hint: cap(msg) };
  }
}
