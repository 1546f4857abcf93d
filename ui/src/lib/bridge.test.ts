import { afterEach, describe, expect, it, vi } from "vitest";

const invoke = vi.fn(async (..._args: unknown[]) => "ok");
const listen = vi.fn(async (_name: string, _cb: (e: { payload: unknown }) => void) => () => {});
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...a: unknown[]) => invoke(...a) }));
vi.mock("@tauri-apps/api/event", () => ({
  listen: (name: string, cb: (e: { payload: unknown }) => void) => listen(name, cb),
}));

const { tauriBridge, getBridge, isTauri, ENGINE_EVENT } = await import("./bridge");

afterEach(() => {
  vi.unstubAllGlobals();
  invoke.mockClear();
  listen.mockClear();
});

describe("tauriBridge", () => {
  it("calls exactly the contract's command names and arguments", async () => {
    await tauriBridge.getStatus();
    await tauriBridge.listSettings();
    await tauriBridge.setSetting("mtu", 1400);
    await tauriBridge.resetSetting("mtu");
    await tauriBridge.resetSettings();
    await tauriBridge.listConfigs();
    await tauriBridge.saveConfig("a");
    await tauriBridge.activateConfig("a");
    await tauriBridge.deleteConfig("a");
    await tauriBridge.createParty("Neo's party");
    await tauriBridge.joinParty("CODE");
    await tauriBridge.leaveParty();
    expect(invoke.mock.calls).toEqual([
      ["get_status"],
      ["list_settings"],
      ["set_setting", { key: "mtu", value: 1400 }],
      ["reset_setting", { key: "mtu" }],
      ["reset_settings"],
      ["list_configs"],
      ["save_config", { name: "a" }],
      ["activate_config", { name: "a" }],
      ["delete_config", { name: "a" }],
      ["create_party", { name: "Neo's party" }],
      ["join_party", { code: "CODE" }],
      ["leave_party"],
    ]);
  });

  it("listens on engine-event and hands over the payload", async () => {
    const seen: unknown[] = [];
    await tauriBridge.onEngineEvent((e) => seen.push(e));
    expect(ENGINE_EVENT).toBe("engine-event");
    expect(listen.mock.calls[0][0]).toBe("engine-event");
    listen.mock.calls[0][1]({ payload: { type: "settings_reset" } });
    expect(seen).toEqual([{ type: "settings_reset" }]);
  });
});

describe("getBridge", () => {
  it("uses Tauri only when __TAURI_INTERNALS__ exists", () => {
    expect(isTauri({})).toBe(false);
    expect(isTauri({ __TAURI_INTERNALS__: {} })).toBe(true);
    expect(isTauri(undefined)).toBe(false);

    vi.stubGlobal("window", {});
    const fake = getBridge();
    expect(fake).not.toBe(tauriBridge);
    expect(getBridge()).toBe(fake); // one fake per page

    vi.stubGlobal("window", { __TAURI_INTERNALS__: {} });
    expect(getBridge()).toBe(tauriBridge);
  });
});
