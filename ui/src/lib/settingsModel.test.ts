import { describe, expect, it } from "vitest";
import {
  describeValue,
  formatValue,
  groupId,
  groupSettings,
  isDefault,
  parseInput,
  parseList,
  secretPlaceholder,
  upsertSetting,
} from "./settingsModel";
import type { SettingView } from "./types";

function s(partial: Partial<SettingView> & Pick<SettingView, "key">): SettingView {
  return {
    group: "App",
    label: partial.key,
    description: "",
    kind: "string",
    value: null,
    default: null,
    secret: false,
    is_set: false,
    ...partial,
  };
}

describe("groupSettings", () => {
  it("orders known groups canonically, unknown groups after A-Z, and keeps engine order inside a group", () => {
    const settings = [
      s({ key: "log_level", group: "App" }),
      s({ key: "mtu", group: "Network" }),
      s({ key: "zeta", group: "Zebra" }),
      s({ key: "display_name", group: "Profile" }),
      s({ key: "port", group: "Network" }),
      s({ key: "alpha", group: "Audio" }),
      s({ key: "webhook", group: "Discord" }),
    ];
    const groups = groupSettings(settings);
    expect(groups.map((g) => g.group)).toEqual(["Profile", "Network", "Discord", "App", "Audio", "Zebra"]);
    expect(groups[1].settings.map((x) => x.key)).toEqual(["mtu", "port"]);
  });

  it("puts settings without a group under Other and returns nothing for no settings", () => {
    expect(groupSettings([])).toEqual([]);
    expect(groupSettings([s({ key: "x", group: "  " })])[0].group).toBe("Other");
  });

  it("makes safe DOM ids for groups", () => {
    expect(groupId("Network")).toBe("group-network");
    expect(groupId("Game & Voice")).toBe("group-game-voice");
  });
});

describe("parseList", () => {
  it("accepts one per line or comma separated, trimming blanks", () => {
    expect(parseList("a.example:1\n b.example:2 ,c.example:3\n\n , ")).toEqual([
      "a.example:1",
      "b.example:2",
      "c.example:3",
    ]);
    expect(parseList("")).toEqual([]);
    expect(parseList("  \n ")).toEqual([]);
  });

  it("handles Windows line endings", () => {
    expect(parseList("a\r\nb")).toEqual(["a", "b"]);
  });
});

describe("formatValue", () => {
  it("never prefills a secret", () => {
    expect(formatValue(s({ key: "k", secret: true, is_set: true, value: "hunter2" }))).toBe("");
  });
  it("shows lists one per line and numbers as text", () => {
    expect(formatValue(s({ key: "l", kind: "list", value: ["a", "b"] }))).toBe("a\nb");
    expect(formatValue(s({ key: "m", kind: "integer", value: 1420 }))).toBe("1420");
    expect(formatValue(s({ key: "n", kind: "string", value: null }))).toBe("");
  });
});

describe("parseInput", () => {
  const mtu = s({ key: "mtu", label: "MTU", kind: "integer", value: 1420, min: 1280, max: 1500 });

  it("parses whole numbers", () => {
    expect(parseInput(mtu, " 1400 ")).toEqual({ ok: true, value: 1400 });
    expect(parseInput(mtu, "-5")).toEqual({ ok: true, value: -5 });
  });

  it("rejects non-integers with a clear message before sending", () => {
    expect(parseInput(mtu, "abc")).toEqual({ ok: false, error: "“abc” is not a whole number." });
    expect(parseInput(mtu, "14.5")).toEqual({ ok: false, error: "“14.5” is not a whole number." });
    expect(parseInput(mtu, "1e3")).toEqual({ ok: false, error: "“1e3” is not a whole number." });
    expect(parseInput(mtu, "")).toEqual({ ok: false, error: "Enter a whole number for MTU." });
    expect(parseInput(mtu, "99999999999999999999")).toMatchObject({ ok: false });
  });

  it("leaves the range to the engine (the engine is the truth)", () => {
    expect(parseInput(mtu, "99999")).toEqual({ ok: true, value: 99999 });
  });

  it("turns list text into string[]", () => {
    const l = s({ key: "relays", kind: "list", value: [] });
    expect(parseInput(l, "x:1, y:2\nz:3")).toEqual({ ok: true, value: ["x:1", "y:2", "z:3"] });
    expect(parseInput(l, "")).toEqual({ ok: true, value: [] });
  });

  it("handles bools and enums", () => {
    const b = s({ key: "b", kind: "bool", label: "IPv6" });
    expect(parseInput(b, true)).toEqual({ ok: true, value: true });
    expect(parseInput(b, "false")).toEqual({ ok: true, value: false });
    expect(parseInput(b, "maybe")).toEqual({ ok: false, error: "IPv6 must be on or off." });
    const e = s({ key: "e", kind: "enum", choices: ["auto", "server"] });
    expect(parseInput(e, "server")).toEqual({ ok: true, value: "server" });
    expect(parseInput(e, "nope")).toEqual({ ok: false, error: "Choose one of: auto, server." });
  });

  it("sends strings as typed but skips an empty secret (keeps the stored one)", () => {
    expect(parseInput(s({ key: "n" }), " Bob ")).toEqual({ ok: true, value: " Bob " });
    expect(parseInput(s({ key: "n" }), "")).toEqual({ ok: true, value: "" });
    const secret = s({ key: "w", secret: true, is_set: true });
    expect(parseInput(secret, "")).toEqual({ ok: "skip" });
    expect(parseInput(secret, "https://x")).toEqual({ ok: true, value: "https://x" });
  });
});

describe("secrets and defaults", () => {
  it("placeholder says whether a secret is stored", () => {
    expect(secretPlaceholder(s({ key: "w", secret: true, is_set: true }))).toBe("Set");
    expect(secretPlaceholder(s({ key: "w", secret: true, is_set: false }))).toBe("Not set");
  });

  it("isDefault compares values deeply, and secrets by is_set", () => {
    expect(isDefault(s({ key: "l", kind: "list", value: ["a"], default: ["a"] }))).toBe(true);
    expect(isDefault(s({ key: "l", kind: "list", value: ["a", "b"], default: ["a"] }))).toBe(false);
    expect(isDefault(s({ key: "w", secret: true, is_set: true }))).toBe(false);
    expect(isDefault(s({ key: "w", secret: true, is_set: false }))).toBe(true);
  });

  it("describes values for hints", () => {
    expect(describeValue(s({ key: "b", kind: "bool" }), true)).toBe("on");
    expect(describeValue(s({ key: "l", kind: "list" }), [])).toBe("none");
    expect(describeValue(s({ key: "l", kind: "list" }), ["a", "b"])).toBe("a, b");
    expect(describeValue(s({ key: "m", kind: "integer" }), 1420)).toBe("1420");
  });
});

describe("upsertSetting", () => {
  it("replaces the setting with the same key only, without mutating", () => {
    const list = [s({ key: "a", value: 1 }), s({ key: "b", value: 2 })];
    const next = upsertSetting(list, s({ key: "b", value: 3 }));
    expect(next.map((x) => x.value)).toEqual([1, 3]);
    expect(list[1].value).toBe(2);
    expect(next[0]).toBe(list[0]);
    expect(upsertSetting(list, s({ key: "c" })).map((x) => x.key)).toEqual(["a", "b", "c"]);
  });
});
