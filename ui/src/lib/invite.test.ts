import { describe, expect, it } from "vitest";
import { ALPHABET, classifyJoinInput, makeCode, makeLink, parseCode, parseInvite, randomCode } from "./invite";

const CODE = makeCode("ABCD1234" + "EFGHJKMNPQRST");

describe("invite codes (port of the engine's parser)", () => {
  it("round-trips in any case, with or without dashes and spaces", () => {
    expect(CODE).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}-[0-9A-Z]{2}$/);
    expect(parseCode(CODE)).toBe(CODE);
    expect(parseCode(CODE.toLowerCase())).toBe(CODE);
    expect(parseCode(CODE.replace(/-/g, ""))).toBe(CODE);
    expect(parseCode(CODE.replace(/-/g, " "))).toBe(CODE);
    for (let i = 0; i < 20; i++) {
      const c = randomCode();
      expect(parseCode(c)).toBe(c);
    }
  });

  it("reads sloppy letters as digits (O -> 0, I and L -> 1)", () => {
    const c = makeCode("0000111100001111000AB");
    expect(parseCode(c.replace(/0/g, "O").replace(/1/g, "l"))).toBe(c);
  });

  it("catches every single-character typo", () => {
    const body = CODE.replace(/-/g, "");
    for (let i = 0; i < body.length; i++) {
      for (const ch of ALPHABET) {
        if (ch === body[i]) continue;
        const t = body.slice(0, i) + ch + body.slice(i + 1);
        expect(() => parseCode(t), t).toThrow("typo");
      }
    }
  });

  it("gives the engine's messages", () => {
    expect(() => parseCode("ABC")).toThrow("an invite code has 22 letters and digits (dashes optional); this one has 3");
    expect(() => parseCode("U".repeat(22))).toThrow("`U` cannot appear in an invite code");
    expect(() => parseInvite("lanrage://party/" + CODE)).toThrow("not a LANrage invite");
    expect(() => parseInvite(`lanrage://join/${CODE}?server=http%3A%2F%2Fx`)).toThrow("not a ws:// or wss:// URL");
  });

  it("links carry the server", () => {
    const link = makeLink(CODE, "ws://203.0.113.1:7666");
    expect(link).toBe(`lanrage://join/${CODE}?server=ws%3A%2F%2F203.0.113.1%3A7666`);
    expect(parseInvite(link)).toEqual({ code: CODE, server: "ws://203.0.113.1:7666" });
    expect(parseInvite(`  LANRAGE://JOIN/${CODE.toLowerCase()}/ `)).toEqual({ code: CODE, server: null });
    expect(parseInvite(CODE)).toEqual({ code: CODE, server: null });
  });
});

describe("join field detection", () => {
  it("tells a link from a code", () => {
    const link = makeLink(CODE, "wss://party.example:443");
    expect(classifyJoinInput(link)).toMatchObject({ kind: "link", code: CODE, server: "wss://party.example:443" });
    expect(classifyJoinInput(link).hint).toContain("wss://party.example:443");
    expect(classifyJoinInput(` ${CODE} `)).toMatchObject({ kind: "code", code: CODE });
    expect(classifyJoinInput(CODE.replace(/-/g, "").toLowerCase())).toMatchObject({ kind: "code", code: CODE });
  });

  it("says a bare code needs the link when no control server is set", () => {
    expect(classifyJoinInput(CODE, false).hint).toContain("whole invite link");
    expect(classifyJoinInput(CODE, true).hint).not.toContain("whole invite link");
    expect(classifyJoinInput(CODE, null).hint).not.toContain("whole invite link");
  });

  it("is patient while typing and clear when it is wrong", () => {
    expect(classifyJoinInput("")).toMatchObject({ kind: "empty" });
    expect(classifyJoinInput("   ")).toMatchObject({ kind: "empty" });
    expect(classifyJoinInput("ABCD-12")).toMatchObject({ kind: "partial", hint: "6 of 22 characters so far." });
    expect(classifyJoinInput(CODE.slice(0, -1) + (CODE.endsWith("0") ? "1" : "0"))).toMatchObject({
      kind: "invalid",
      hint: "This invite code has a typo (its check character does not match).",
    });
    expect(classifyJoinInput(CODE + "X")).toMatchObject({ kind: "invalid" });
    expect(classifyJoinInput("hello world!")).toMatchObject({ kind: "invalid" });
    expect(classifyJoinInput("https://example.com/join")).toMatchObject({ kind: "invalid" });
    expect(classifyJoinInput("lanrage://join/ABC").hint).toBe(
      "An invite code has 22 letters and digits (dashes optional); this one has 3.",
    );
  });
});
