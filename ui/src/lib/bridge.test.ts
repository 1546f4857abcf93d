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
  it("calls the server browser's commands with their arguments", async () => {
    const server = { id: "mc:25565", game: "mc", name: "Mine", port: 25565, map: null, players: 0, max_players: 8, password: false };
    await tauriBridge.listServers({ game: "mc", not_full: true });
    await tauriBridge.announceServer(server);
    await tauriBridge.removeServer("mc:25565");
    await tauriBridge.setFavorite("k", true);
    expect(invoke.mock.calls).toEqual([
      ["list_servers", { filter: { game: "mc", not_full: true } }],
      ["announce_server", { server }],
      ["remove_server", { id: "mc:25565" }],
      ["set_favorite", { key: "k", on: true }],
    ]);
  });

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
    await tauriBridge.classifyInvite("ABCD-12", false);
    await tauriBridge.classifyInvite("", null);
    await tauriBridge.gradeConnection(12.5, 1, 0.5);
    await tauriBridge.gradeConnection(null, null, null);
    await tauriBridge.leaveParty();
    await tauriBridge.newInvite(3600);
    await tauriBridge.newInvite(null);
    await tauriBridge.revokeInvite();
    await tauriBridge.kick("Mira");
    await tauriBridge.closeParty();
    await tauriBridge.getGames(20);
    await tauriBridge.getGames();
    await tauriBridge.takeDeepLink();
    await tauriBridge.copyText("AAAA-BBBB");
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
      ["classify_invite", { text: "ABCD-12", hasServer: false }],
      ["classify_invite", { text: "", hasServer: null }],
      ["grade_connection", { rttMs: 12.5, jitterMs: 1, lossPct: 0.5 }],
      ["grade_connection", { rttMs: null, jitterMs: null, lossPct: null }],
      ["leave_party"],
      ["new_invite", { ttlSecs: 3600 }],
      ["new_invite", { ttlSecs: null }],
      ["revoke_invite"],
      ["kick", { member: "Mira" }],
      ["close_party"],
      ["get_games", { limit: 20 }],
      ["get_games", {}],
      ["take_deep_link"],
      ["plugin:clipboard-manager|write_text", { text: "AAAA-BBBB" }],
    ]);
  });

  it("take_deep_link: a link or null, never an error", async () => {
    invoke.mockResolvedValueOnce("lanrage://join/ABC" as never);
    expect(await tauriBridge.takeDeepLink()).toBe("lanrage://join/ABC");
    invoke.mockResolvedValueOnce(null as never);
    expect(await tauriBridge.takeDeepLink()).toBeNull();
    invoke.mockRejectedValueOnce("command take_deep_link not found" as never);
    expect(await tauriBridge.takeDeepLink()).toBeNull();
  });

  it("listens for deep links ({url}) and tray navigation ({page})", async () => {
    const links: string[] = [];
    const pages: string[] = [];
    await tauriBridge.onDeepLink((u) => links.push(u));
    await tauriBridge.onNavigate((p) => pages.push(p));
    expect(listen.mock.calls.map((c) => c[0])).toEqual(["deep-link", "navigate"]);
    listen.mock.calls[0][1]({ payload: { url: "lanrage://join/A" } });
    listen.mock.calls[0][1]({ payload: "lanrage://join/B" });
    listen.mock.calls[0][1]({ payload: {} });
    listen.mock.calls[1][1]({ payload: { page: "join" } });
    listen.mock.calls[1][1]({ payload: null });
    expect(links).toEqual(["lanrage://join/A", "lanrage://join/B"]);
    expect(pages).toEqual(["join"]);
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
