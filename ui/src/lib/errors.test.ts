import { describe, expect, it } from "vitest";
import { errorMessage, extractFix, FALLBACK_MESSAGE, toActionError, toBridgeError, toSentence } from "./errors";

describe("toBridgeError", () => {
  it("keeps the contract's object as is", () => {
    const e = { code: "invalid_setting", message: "MTU must be between 1280 and 1500.", field: "mtu" };
    expect(toBridgeError(e)).toEqual(e);
  });

  it("handles a plain string rejection (Tauri's own errors)", () => {
    expect(toBridgeError("command create_party not found")).toEqual({
      code: "internal",
      message: "Command create_party not found.",
    });
  });

  it("parses a JSON string but never shows it raw", () => {
    expect(toBridgeError('{"code":"not_available","message":"Parties arrive later."}')).toEqual({
      code: "not_available",
      message: "Parties arrive later.",
    });
    expect(errorMessage('{"weird": true}')).toBe("The engine hit an internal error.");
    expect(errorMessage("[1,2")).toBe("[1,2.");
    expect(errorMessage("[1,2]")).toBe(FALLBACK_MESSAGE);
  });

  it("falls back to a sentence for the code when message is missing or JSON", () => {
    expect(errorMessage({ code: "config_not_found" })).toBe("That saved configuration no longer exists.");
    expect(errorMessage({ code: "internal", message: '{"a":1}' })).toBe("The engine hit an internal error.");
    expect(errorMessage({ code: "made_up" })).toBe(FALLBACK_MESSAGE);
    expect(toBridgeError({ message: "Oops." })).toEqual({ code: "internal", message: "Oops." });
  });

  it("handles Error, null, numbers and arrays", () => {
    expect(errorMessage(new Error("socket closed"))).toBe("Socket closed.");
    expect(errorMessage(null)).toBe(FALLBACK_MESSAGE);
    expect(errorMessage(undefined)).toBe(FALLBACK_MESSAGE);
    expect(errorMessage(42)).toBe(FALLBACK_MESSAGE);
    expect(errorMessage(["x"])).toBe(FALLBACK_MESSAGE);
    expect(errorMessage("   ")).toBe(FALLBACK_MESSAGE);
  });

  it("never returns something that looks like JSON", () => {
    const inputs: unknown[] = [{}, { code: 1, message: { nested: true } }, "{}", '{"message":"{}"}', new Error("{}")];
    for (const i of inputs) {
      const m = errorMessage(i);
      expect(m.trim().startsWith("{")).toBe(false);
      expect(m.length).toBeGreaterThan(0);
    }
  });

  it("phrases the engine's field messages with the setting's label", () => {
    const e = { code: "invalid_setting", message: "mtu: must be from 1280 to 9000 (got 99999)", field: "mtu" };
    expect(errorMessage(e, { key: "mtu", label: "MTU" })).toBe("MTU must be from 1280 to 9000 (got 99999).");
    expect(errorMessage(e)).toBe("Must be from 1280 to 9000 (got 99999).");
    expect(toBridgeError(e).field).toBe("mtu");
    expect(
      errorMessage(
        { code: "invalid_setting", message: "stun_servers: must be HOST:PORT (got `x`)", field: "stun_servers" },
        { key: "stun_servers", label: "Extra STUN servers" },
      ),
    ).toBe("Extra STUN servers must be HOST:PORT (got “x”).");
  });
});

describe("toSentence", () => {
  it("capitalises, quotes and ends with a full stop once", () => {
    expect(toSentence("unknown setting `foo`; `lanrage settings list` shows them all")).toBe(
      "Unknown setting “foo”; “lanrage settings list” shows them all.",
    );
    expect(toSentence("Done.")).toBe("Done.");
    expect(toSentence("Really?")).toBe("Really?");
    expect(toSentence("  two   spaces ")).toBe("Two spaces.");
    expect(toSentence("")).toBe("");
  });
});

describe("party errors", () => {
  const ENGINE_NO_PERMISSION =
    "cannot create the network device `lanrage0`: permission denied. LANrage needs the CAP_NET_ADMIN capability: run `sudo setcap cap_net_admin+ep /usr/lib/lanrage/lanrage-app` (the installer does this), or run as root";

  it("shows the engine's sentence for each party code", () => {
    expect(errorMessage({ code: "wrong_code", message: "this invite code does not match any party" })).toBe(
      "This invite code does not match any party.",
    );
    expect(errorMessage({ code: "party_full", message: "the party is full (8 of 8)" })).toBe("The party is full (8 of 8).");
    expect(errorMessage({ code: "invalid_code", message: "`U` cannot appear in an invite code" })).toBe(
      "“U” cannot appear in an invite code.",
    );
  });

  it("has a sentence of its own for every party code whose message is missing", () => {
    for (const code of [
      "wrong_code",
      "code_expired",
      "code_revoked",
      "party_full",
      "rate_limited",
      "already_in_party",
      "not_in_party",
      "not_host",
      "server_unreachable",
      "needs_server",
      "invalid_code",
      "no_permission",
      "tunnel",
    ]) {
      const m = errorMessage({ code });
      expect(m, code).not.toBe(FALLBACK_MESSAGE);
      expect(m, code).toMatch(/^[A-Z].*\.$/);
    }
    expect(errorMessage({ code: "needs_server" })).toContain("whole invite link");
  });

  it("finds the fix command in a no_permission message", () => {
    expect(extractFix(ENGINE_NO_PERMISSION)).toBe("sudo setcap cap_net_admin+ep /usr/lib/lanrage/lanrage-app");
    expect(extractFix("run setcap cap_net_admin+ep /opt/LANrage/app, then restart")).toBe(
      "setcap cap_net_admin+ep /opt/LANrage/app",
    );
    expect(extractFix("Run “sudo setcap cap_net_admin+ep /usr/bin/x” first.")).toBe("sudo setcap cap_net_admin+ep /usr/bin/x");
    expect(extractFix("permission denied")).toBeNull();
    // a quoted name that is not the command is skipped
    expect(extractFix("device `lanrage0`: run `setcap cap_net_admin+ep /a/b`")).toBe("setcap cap_net_admin+ep /a/b");
  });

  it("toActionError adds the fix for no_permission only", () => {
    const e = toActionError({ code: "no_permission", message: ENGINE_NO_PERMISSION });
    expect(e.fix).toBe("sudo setcap cap_net_admin+ep /usr/lib/lanrage/lanrage-app");
    expect(e.message).toMatch(/^Cannot create the network device “lanrage0”: permission denied\./);
    expect(toActionError(JSON.stringify({ code: "no_permission", message: ENGINE_NO_PERMISSION })).fix).toBe(
      "sudo setcap cap_net_admin+ep /usr/lib/lanrage/lanrage-app",
    );
    expect(toActionError({ code: "no_permission", message: "not allowed" }).fix).toBeUndefined();
    expect(toActionError({ code: "tunnel", message: "run `setcap x y`" }).fix).toBeUndefined();
    expect(toActionError(new Error("boom"))).toEqual({ code: "internal", message: "Boom." });
  });
});
