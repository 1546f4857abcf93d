import { describe, expect, it } from "vitest";
import { createFakeBridge } from "./fakeBridge";
import type { EngineEvent } from "./types";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("fakeBridge", () => {
  it("validates like the engine: mtu range, display name length, types, unknown keys", async () => {
    const b = createFakeBridge();
    expect(await rejection(b.setSetting("mtu", 99999))).toEqual({
      code: "invalid_setting",
      message: "mtu: must be from 1280 to 9000 (got 99999)",
      field: "mtu",
    });
    expect(await rejection(b.setSetting("mtu", "1400"))).toMatchObject({ code: "invalid_setting", field: "mtu" });
    expect(await rejection(b.setSetting("display_name", "x".repeat(33)))).toMatchObject({
      code: "invalid_setting",
      field: "display_name",
    });
    expect(await rejection(b.setSetting("display_name", "   "))).toMatchObject({ code: "invalid_setting" });
    expect(await rejection(b.setSetting("nope", 1))).toMatchObject({ code: "unknown_setting" });
    expect((await b.setSetting("mtu", 1400)).value).toBe(1400);
    expect((await b.setSetting("display_name", "  Neo ")).value).toBe("Neo");
    expect(await rejection(b.setSetting("mode", "turbo"))).toMatchObject({ code: "invalid_setting", field: "mode" });
    expect(await rejection(b.setSetting("stun_servers", ["nope"]))).toMatchObject({
      message: "stun_servers: must be HOST:PORT (got `nope`)",
    });
    expect((await b.setSetting("stun_servers", [" a.example:3478 ", "a.example:3478", ""])).value).toEqual([
      "a.example:3478",
    ]);
  });

  it("never returns a secret, only whether it is set", async () => {
    const b = createFakeBridge();
    const sv = await b.setSetting("discord_webhook_url", "https://discord.example/api/webhooks/1");
    expect(sv.value).toBeNull();
    expect(sv.is_set).toBe(true);
    const listed = (await b.listSettings()).find((s) => s.key === "discord_webhook_url")!;
    expect(listed.value).toBeNull();
    expect(JSON.stringify(await b.listSettings())).not.toContain("discord.example");
    expect((await b.resetSetting("discord_webhook_url")).is_set).toBe(false);
  });

  it("emits events to listeners and stops after unlisten", async () => {
    const b = createFakeBridge();
    const seen: EngineEvent[] = [];
    const off = await b.onEngineEvent((e) => seen.push(e));
    await b.setSetting("relay_only", true);
    await b.resetSettings();
    b.setEngineState("stopping");
    off();
    await b.setSetting("relay_only", false);
    expect(seen.map((e) => e.type)).toEqual(["setting_changed", "settings_reset", "state_changed"]);
    expect(b.listenerCount()).toBe(0);
  });

  it("saves, activates and deletes configurations", async () => {
    const b = createFakeBridge();
    await b.setSetting("mtu", 1300);
    let configs = await b.saveConfig("tournament");
    expect(configs).toMatchObject([{ name: "tournament", active: true }]);
    await b.setSetting("mtu", 1500);
    configs = await b.saveConfig("home");
    configs = await b.activateConfig("tournament");
    expect(configs.find((c) => c.active)?.name).toBe("tournament");
    expect((await b.listSettings()).find((s) => s.key === "mtu")?.value).toBe(1300);
    expect(await rejection(b.activateConfig("ghost"))).toMatchObject({ code: "config_not_found" });
    configs = await b.deleteConfig("tournament");
    expect(configs.map((c) => c.name)).toEqual(["home"]);
    expect(await rejection(b.saveConfig("  "))).toMatchObject({ code: "invalid_request" });
  });

  it("parties are not available yet", async () => {
    const b = createFakeBridge();
    expect(await rejection(b.createParty("LAN night"))).toMatchObject({ code: "not_available" });
    expect(await rejection(b.leaveParty())).toMatchObject({ code: "not_available" });
    expect(await rejection(b.joinParty("ABC"))).toMatchObject({ code: "not_available" });
  });

  it("returns copies, not its internal state", async () => {
    const b = createFakeBridge();
    await b.setSetting("turn_servers", ["turn:relay.example:3478"]);
    const list = await b.listSettings();
    (list.find((s) => s.key === "turn_servers")!.value as string[]).push("evil:1");
    expect((await b.listSettings()).find((s) => s.key === "turn_servers")!.value).toEqual(["turn:relay.example:3478"]);
  });
});
