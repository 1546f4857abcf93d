import { describe, expect, it } from "vitest";
import { errorMessage, FALLBACK_MESSAGE, toBridgeError, toSentence } from "./errors";

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
