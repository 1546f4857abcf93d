import { describe, expect, it } from "vitest";
import { DEFAULT_DISPLAY_NAME, isFirstRunDone, markFirstRunDone, needsFirstRun } from "./firstRun";
import { pageFromHash, stepPage } from "./pages";
import { statusOf } from "./testFixtures";

describe("pages", () => {
  it("reads the page from the hash, party by default", () => {
    expect(pageFromHash("#/network")).toBe("network");
    expect(pageFromHash("#SETTINGS")).toBe("settings");
    expect(pageFromHash("")).toBe("party");
    expect(pageFromHash("#/nope")).toBe("party");
    expect(pageFromHash(undefined)).toBe("party");
  });

  it("steps with wrap-around for the arrow keys", () => {
    expect(stepPage("party", 1)).toBe("network");
    expect(stepPage("party", -1)).toBe("settings");
    expect(stepPage("settings", 1)).toBe("party");
    expect(stepPage("metrics", 1)).toBe("games");
    expect(stepPage("games", 1)).toBe("servers");
    expect(pageFromHash("#/games")).toBe("games");
  });
});

describe("first run", () => {
  const mem = () => {
    const m = new Map<string, string>();
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
  };

  it("shows while the name is the default and this device has not finished it", () => {
    const player = statusOf({ device: { public_key: "K=", display_name: DEFAULT_DISPLAY_NAME, virtual_ip: null, game: null } });
    expect(needsFirstRun(player, false)).toBe(true);
    expect(needsFirstRun(player, true)).toBe(false);
    expect(needsFirstRun(statusOf(), false)).toBe(false);
    expect(needsFirstRun(null, false)).toBe(false);
  });

  it("keeps the flag per device key and survives a broken storage", () => {
    const s = mem();
    expect(isFirstRunDone("K=", s)).toBe(false);
    markFirstRunDone("K=", s);
    expect(isFirstRunDone("K=", s)).toBe(true);
    expect(isFirstRunDone("OTHER=", s)).toBe(false);
    const broken = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("denied");
      },
    };
    expect(isFirstRunDone("K=", broken)).toBe(false);
    expect(() => markFirstRunDone("K=", broken)).not.toThrow();
    expect(isFirstRunDone("K=", null)).toBe(false);
  });
});
