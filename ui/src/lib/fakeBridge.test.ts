import { describe, expect, it, vi } from "vitest";
import { createFakeBridge, FAKE_NAT } from "./fakeBridge";
import { FAKE_MEET_AT, FAKE_RELAY } from "./fakeParty";
import { FAKE_CODES, FAKE_GRADES, FAKE_JOIN_INPUTS } from "./fakeFixtures";
import type { EngineEvent, ServerAnnouncement } from "./types";

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

  it("creates a party with an invite code and link, and friends join with live stats", async () => {
    const b = createFakeBridge();
    const seen: EngineEvent[] = [];
    await b.onEngineEvent((e) => seen.push(e));
    const p = await b.createParty("Neo's party");
    expect(p).toMatchObject({ name: "Neo's party", is_host: true, virtual_ip: "10.66.0.1", peers: [] });
    expect(p.invite).toEqual({ code: FAKE_CODES[0].code, link: FAKE_CODES[0].link, expires_at: null });
    expect(p.invite!.link).toContain(encodeURIComponent("ws://192.168.1.23:7666").replace(/\./g, "%2E"));
    expect(FAKE_MEET_AT).toBe("ws://192.168.1.23:7666");
    expect((await b.getStatus()).control).toEqual({ state: "connected", server: "ws://127.0.0.1:7666", embedded: true });
    expect((await b.getStatus()).device.virtual_ip).toBe("10.66.0.1");

    b.addMember("Mira");
    b.tick();
    b.tick();
    const st = (await b.getStatus()).tunnel!;
    expect(st.peers).toHaveLength(1);
    expect(st.peers[0].probe.rtt_ms).toBeGreaterThan(5);
    expect(seen.map((e) => e.type)).toEqual([
      "control_changed",
      "control_changed",
      "party_changed",
      "member_joined",
      "party_changed",
      "path_changed", // Mira's first handshake: the connection manager picks the LAN path
      "party_changed",
      "tunnel_stats",
      "tunnel_stats",
    ]);
    const changed = seen.find((e) => e.type === "path_changed");
    expect(changed).toMatchObject({ name: "Mira", from: "connecting", to: "direct", reason: expect.stringContaining("local network") });
    expect((await b.getStatus()).party!.peers[0].path).toMatchObject({
      state: "direct",
      local_candidate: "host",
      remote_candidate: "host",
      relay: null,
      since_secs: 1,
    });
    expect(await rejection(b.createParty("again"))).toMatchObject({ code: "already_in_party" });
    expect(await rejection(b.joinParty(p.invite!.code))).toMatchObject({ code: "already_in_party" });
  });

  it("host actions: new code with expiry, revoke, kick, close", async () => {
    const b = createFakeBridge();
    const p = await b.createParty("LAN night");
    const again = await b.newInvite(3600);
    expect(again.invite!.code).not.toBe(p.invite!.code);
    expect(again.invite!.expires_at).toBeGreaterThan(Date.now() / 1000 + 3500);
    await b.revokeInvite();
    expect((await b.getStatus()).party!.invite).toBeNull();
    b.addMember("Dex");
    expect(await rejection(b.kick("Nobody"))).toMatchObject({ code: "unknown_member", message: "no member called `Nobody` in the party" });
    await b.kick("Dex");
    expect((await b.getStatus()).party!.peers).toEqual([]);
    await b.closeParty();
    expect((await b.getStatus()).party).toBeNull();
    expect(await rejection(b.leaveParty())).toMatchObject({ code: "not_in_party" });
  });

  it("joins with a valid code or link, as a member who cannot do host things", async () => {
    const b = createFakeBridge();
    const code = FAKE_CODES[3].code;
    const p = await b.joinParty(code);
    expect(p).toMatchObject({ name: "Mira's party", is_host: false, host_name: "Mira", invite: null });
    expect(p.peers.map((x) => [x.name, x.connection, x.path?.state ?? null])).toEqual([
      ["Mira", "connecting", "connecting"],
      ["Dex", "connecting", "connecting"],
      ["Sol", "connecting", "connecting"],
      ["Kai", "offline", null],
    ]);
    for (let i = 0; i < 4; i++) b.tick();
    const t = (await b.getStatus()).tunnel!;
    expect(t.peers.map((x) => x.last_handshake_secs !== null)).toEqual([true, true, true]);
    const peers = (await b.getStatus()).party!.peers;
    expect(peers.map((x) => [x.name, x.connection, x.path?.local_candidate, x.path?.remote_candidate, x.path?.relay])).toEqual([
      ["Mira", "direct", "host", "host", null],
      ["Dex", "relayed", "relay", "srflx", FAKE_RELAY],
      ["Sol", "direct", "srflx", "srflx", null],
      ["Kai", "offline", undefined, undefined, undefined],
    ]);
    expect(peers[1].path!.reason).toContain("Dex is behind a symmetric NAT");
    expect(peers[1].endpoint).toBe(FAKE_RELAY);
    expect(await rejection(b.newInvite(null))).toMatchObject({ code: "not_host" });
    expect(await rejection(b.kick("Dex"))).toMatchObject({ code: "not_host" });
    await b.leaveParty();
    const viaLink = await b.joinParty(`lanrage://join/${code}?server=wss%3A%2F%2Fparty%2Eexample%3A443`);
    expect(viaLink.name).toBe("Mira's party");
    expect((await b.getStatus()).control.server).toBe("wss://party.example:443");
  });

  it("fails joins the way the engine does", async () => {
    const b = createFakeBridge();
    expect(await rejection(b.joinParty("wrong"))).toEqual({ code: "wrong_code", message: "this invite code does not match any party" });
    expect(await rejection(b.joinParty("EXPIRED"))).toMatchObject({ code: "code_expired" });
    expect(await rejection(b.joinParty("FULL"))).toMatchObject({ code: "party_full" });
    expect(await rejection(b.joinParty("NOSERVER"))).toMatchObject({ code: "needs_server" });
    expect(await rejection(b.joinParty("noperm"))).toMatchObject({ code: "no_permission", message: expect.stringContaining("`sudo setcap") });
    expect(await rejection(b.joinParty("ABCD-1234"))).toEqual({
      code: "invalid_code",
      message: "an invite code has 22 letters and digits (dashes optional); this one has 8",
    });
    const code = FAKE_CODES[3].code;
    const typo = code.slice(0, -1) + (code.endsWith("0") ? "1" : "0");
    expect(await rejection(b.joinParty(typo))).toEqual({
      code: "invalid_code",
      message: "this invite code has a typo (its check character does not match)",
    });
    // the fake does not parse: an input its table does not know fails saying so
    expect(await rejection(b.joinParty("ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZ"))).toEqual({
      code: "invalid_code",
      message: "the fake engine knows only the invites in ui/src/lib/fixtures/invites.json",
    });
    expect((await b.getStatus()).party).toBeNull();
  });

  it("the demo clock ticks every tickMs while in a party and stops after leaving", async () => {
    vi.useFakeTimers();
    try {
      const b = createFakeBridge({ tickMs: 1000, demo: true });
      const seen: string[] = [];
      await b.onEngineEvent((e) => seen.push(e.type));
      const p = b.createParty("Demo");
      await vi.advanceTimersByTimeAsync(10);
      await p;
      await vi.advanceTimersByTimeAsync(6500);
      expect(seen.filter((t) => t === "tunnel_stats").length).toBe(6);
      expect(seen.filter((t) => t === "member_joined").length).toBe(3); // Mira, Dex, Sol arrive
      await b.leaveParty();
      const n = seen.length;
      await vi.advanceTimersByTimeAsync(5000);
      expect(seen.slice(n).filter((t) => t === "tunnel_stats")).toEqual([]);
      b.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it("NAT: not measured at first, then what the STUN test found", async () => {
    const b = createFakeBridge();
    const seen: EngineEvent[] = [];
    await b.onEngineEvent((e) => seen.push(e));
    expect((await b.getStatus()).nat).toBeNull();
    b.setNat("udp_blocked");
    expect(seen[0]).toEqual({ type: "nat_changed", nat: { kind: "udp_blocked", public_addr: null, summary: expect.stringContaining("UDP") } });
    expect((await b.getStatus()).nat?.kind).toBe("udp_blocked");
    await expect(createFakeBridge({ nat: FAKE_NAT.cone }).getStatus()).resolves.toMatchObject({ nat: { kind: "cone" } });
  });

  it("demo: the engine starts, measures a cone NAT and sends metrics every second", async () => {
    vi.useFakeTimers();
    try {
      const b = createFakeBridge({ demo: true, tickMs: 1000 });
      const seen: EngineEvent[] = [];
      await b.onEngineEvent((e) => seen.push(e));
      await vi.advanceTimersByTimeAsync(3500);
      expect(seen.map((e) => e.type).filter((t) => t !== "metrics")).toEqual(["started", "nat_changed"]);
      expect(seen.find((e) => e.type === "nat_changed")).toMatchObject({ nat: { kind: "cone", public_addr: expect.any(String) } });
      const metrics = seen.flatMap((e) => (e.type === "metrics" ? [e.snapshot] : []));
      expect(metrics).toHaveLength(3);
      expect(metrics[0].system).toBeNull(); // the sampler's baseline
      const sys = metrics[2].system!;
      expect(sys.cpu_ratio).toBeGreaterThan(0);
      expect(sys.cpu_ratio).toBeLessThanOrEqual(1);
      expect(sys.memory_used_bytes).toBeLessThan(sys.memory_total_bytes);
      expect(sys.net_rx_bytes_per_sec).toBeGreaterThan(0);
      expect(metrics[2].system_minute).toEqual([]);
      b.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it("metrics carry the party's members with quality, and setPath moves a path like the engine", async () => {
    const b = createFakeBridge();
    const seen: EngineEvent[] = [];
    await b.onEngineEvent((e) => seen.push(e));
    await b.createParty("LAN night");
    b.addMember("Sol");
    for (let i = 0; i < 6; i++) b.tick();
    b.metricsTick();
    b.metricsTick();
    const snap = seen.filter((e) => e.type === "metrics").pop()!;
    if (snap.type !== "metrics") throw new Error("metrics");
    expect(snap.snapshot.peers).toHaveLength(1);
    const solGrade = FAKE_GRADES.find((g) => g.name === "Sol")!.quality;
    expect(snap.snapshot.peers[0]).toMatchObject({ name: "Sol", connection: "direct", quality: solGrade });
    expect(snap.snapshot.party?.worst_peer).toBe(snap.snapshot.peers[0].public_key);
    seen.length = 0;
    b.setPath("Sol", { state: "failed", reason: "No candidate pair answered and the relay refused the allocation." });
    expect(seen.map((e) => e.type)).toEqual(["path_changed", "party_changed"]);
    expect(seen[0]).toMatchObject({ name: "Sol", from: "direct", to: "failed" });
    const sol = (await b.getStatus()).party!.peers[0];
    expect(sol).toMatchObject({ connection: "failed", path: { state: "failed", local_candidate: "srflx", since_secs: 0 } });
    // degraded keeps the connection: only path_changed, as the engine does
    seen.length = 0;
    b.setPath("Sol", { state: "direct", reason: "Back." });
    b.setPath("Sol", { state: "degraded", reason: "Keepalives unanswered." });
    expect(seen.map((e) => e.type)).toEqual(["path_changed", "party_changed", "path_changed"]);
  });

  it("classifies join inputs from the engine's answers in the fixture table", async () => {
    const b = createFakeBridge();
    for (const e of FAKE_JOIN_INPUTS)
      for (const has of e.has_server ?? [true, false, null]) expect(await b.classifyInvite(e.text, has)).toEqual(e.expect);
    // looked up as the engine reads it (trimmed)
    expect(await b.classifyInvite(`  ${FAKE_CODES[3].code} `, true)).toMatchObject({ kind: "code", code: FAKE_CODES[3].code });
    expect(await b.classifyInvite("ABCD-1234-EFGH", null)).toEqual({
      kind: "partial",
      code: null,
      server: null,
      hint: "12 of 22 characters so far.",
    });
    expect(await b.classifyInvite("something else", null)).toMatchObject({ kind: "invalid", hint: expect.stringContaining("fake engine") });
  });

  it("gives members fixed gradings: none until measured or while offline; grade_connection from the table", async () => {
    const b = createFakeBridge();
    await b.joinParty(FAKE_CODES[3].code);
    const grade = async () => Object.fromEntries((await b.getStatus()).party!.peers.map((p) => [p.name, p.quality?.grade ?? null]));
    expect(await grade()).toEqual({ Mira: null, Dex: null, Sol: null, Kai: null });
    for (let i = 0; i < 4; i++) b.tick();
    expect(await grade()).toEqual({ Mira: "A", Dex: "C", Sol: "B", Kai: null });
    const mira = (await b.getStatus()).party!.peers[0];
    expect(mira).toMatchObject({ quality_score: 91, grade: "A" });
    // a member's own numbers get that member's grading; the table's numbers theirs; others none
    const t = (await b.getStatus()).tunnel!.peers.find((p) => p.public_key === mira.public_key)!;
    expect(await b.gradeConnection(t.probe.srtt_ms ?? t.probe.rtt_ms, t.probe.jitter_ms, t.probe.loss! * 100)).toEqual(mira.quality);
    const dex = FAKE_GRADES.find((g) => g.name === "Dex")!;
    expect(await b.gradeConnection(dex.rtt_ms, dex.jitter_ms, dex.loss_pct)).toEqual(dex.quality);
    expect(await b.gradeConnection(1, 2, 3)).toBeNull();
  });

  it("deep links, navigation and the pending link", async () => {
    const b = createFakeBridge({ pendingLink: "lanrage://join/X" });
    const links: string[] = [];
    const pages: string[] = [];
    const off = await b.onDeepLink((u) => links.push(u));
    await b.onNavigate((p) => pages.push(p));
    b.emitDeepLink("lanrage://join/Y");
    b.emitNavigate("join");
    off();
    b.emitDeepLink("lanrage://join/Z");
    expect(links).toEqual(["lanrage://join/Y"]);
    expect(pages).toEqual(["join"]);
    expect(await b.takeDeepLink()).toBe("lanrage://join/X");
    expect(await b.takeDeepLink()).toBeNull();
    await b.copyText("hello");
    expect(b.copied).toEqual(["hello"]);
  });

  it("server browser: friends' servers with latencies, announce, remove, favorites, filters", async () => {
    const b = createFakeBridge();
    expect(await rejection(b.listServers({}))).toEqual({ code: "not_in_party", message: "you are not in a party" });
    await b.joinParty(FAKE_CODES[3].link);
    for (let i = 0; i < 4; i++) b.tick();
    const list = await b.listServers({});
    expect(list.map((s) => s.host_name)).toEqual(["Mira", "Sol", "Dex"]); // by latency
    expect(list.every((s) => typeof s.latency_ms === "number")).toBe(true);
    expect(list[0]).toMatchObject({ host_ip: "10.66.0.1", port: 25565, favorite: false });
    await b.setFavorite(list[2].key, true);
    expect((await b.listServers({}))[0]).toMatchObject({ host_name: "Dex", favorite: true });
    expect((await b.listServers({ not_full: true })).map((s) => s.host_name)).toEqual(["Mira", "Sol"]);
    expect((await b.listServers({ has_players: true, game: "mine" })).map((s) => s.host_name)).toEqual(["Mira"]);
    expect((await b.listServers({ max_latency_ms: 20 })).map((s) => s.host_name)).toEqual(["Mira"]);
    // no map: the engine takes an absent one as none
    await b.announceServer({ id: "Quake:27960", game: "Quake", name: "Frag", port: 27960, players: 1, max_players: 8, password: false } as ServerAnnouncement);
    const own = (await b.listServers({ game: "quake" }))[0];
    expect(own).toMatchObject({ id: "Quake:27960", map: null, host_ip: (await b.getStatus()).party!.virtual_ip });
    expect(own.host_key).toBe((await b.getStatus()).device.public_key);
    expect(await rejection(b.announceServer({ ...own, port: 0 }))).toMatchObject({ code: "invalid_request" });
    await b.removeServer("Quake:27960");
    expect(await b.listServers({ game: "quake" })).toEqual([]);
    expect(await rejection(b.removeServer("Quake:27960"))).toMatchObject({ code: "unknown_server" });
  });

  it("games: members share what they play; this device starts and stops games like the engine's scan", async () => {
    const b = createFakeBridge();
    const seen: EngineEvent[] = [];
    await b.onEngineEvent((e) => seen.push(e));
    expect((await b.getStatus()).device.game).toBeNull();
    // outside a party: the events alone
    b.startGame("openttd");
    expect((await b.getStatus()).device.game).toEqual({ id: "openttd", name: "OpenTTD" });
    b.startGame("openttd"); // already running: nothing new
    expect(seen.map((e) => e.type)).toEqual(["game_started"]);
    b.stopGame();
    expect(seen[seen.length - 1]).toEqual({ type: "game_stopped", game: { id: "openttd", name: "OpenTTD" } });
    expect((await b.getStatus()).device.game).toBeNull();

    const p = await b.joinParty(FAKE_CODES[3].code);
    expect(p.peers.map((x) => [x.name, x.game?.name ?? null])).toEqual([
      ["Mira", "OpenTTD"],
      ["Dex", "Counter-Strike 1.6"],
      ["Sol", null],
      ["Kai", "Factorio"], // offline: the server keeps the last game it was told
    ]);
    // in a party the server sends the party again after our set_game
    seen.length = 0;
    b.startGame("supertuxkart");
    b.startGame({ id: "factorio", name: "Factorio" });
    // Factorio sorts first, so the game played now changes: the SuperTuxKart session is kept.
    expect(seen.map((e) => e.type)).toEqual([
      "game_started",
      "party_changed",
      "game_started",
      "game_session_saved",
      "party_changed",
    ]);
    // status names the first running game by id, like the engine's detector
    expect((await b.getStatus()).device.game?.id).toBe("factorio");
    b.stopGame("factorio");
    expect((await b.getStatus()).device.game?.id).toBe("supertuxkart");
    // a member's game: member_game, then the party, like the engine's party machine
    seen.length = 0;
    b.setMemberGame("Sol", "openttd");
    b.setMemberGame("Mira", null);
    b.setMemberGame("Mira", null); // no change, nothing sent
    expect(seen.map((e) => e.type)).toEqual(["member_game", "party_changed", "member_game", "party_changed"]);
    expect(seen[0]).toEqual({ type: "member_game", name: "Sol", game: { id: "openttd", name: "OpenTTD" } });
    expect(seen[2]).toEqual({ type: "member_game", name: "Mira", game: null });
    const last = seen[seen.length - 1] as Extract<EngineEvent, { type: "party_changed" }>;
    expect(last.party!.peers.map((x) => x.game?.id ?? null)).toEqual([null, "cs16", "openttd", "factorio"]);
    // detection off: the running games stop, and none is detected until it is on again
    seen.length = 0;
    await b.setSetting("game_detection", false);
    expect(seen.map((e) => e.type)).toEqual(["setting_changed", "game_stopped", "game_session_saved", "party_changed"]);
    b.startGame("openttd");
    expect((await b.getStatus()).device.game).toBeNull();
    await b.setSetting("game_detection", true);
    b.startGame("openttd");
    expect((await b.getStatus()).device.game?.name).toBe("OpenTTD");
  });

  it("game sessions: a few earlier ones, and each run of a game during the party, like the engine's recorder", async () => {
    const b = createFakeBridge();
    const first = await b.getGames();
    expect(first.running).toEqual([]);
    expect(first.sessions.map((s) => s.game_name)).toEqual(["OpenTTD", "Counter-Strike 1.6", "Factorio", "SuperTuxKart"]);
    expect((await b.getGames(2)).sessions).toHaveLength(2);
    // each earlier session's numbers are graded from the engine's table (average RTT and loss, no jitter)
    for (const s of first.sessions.filter((x) => x.rtt_ms)) {
      const g = FAKE_GRADES.find((x) => x.rtt_ms === s.rtt_ms!.avg && x.loss_pct === s.loss_pct && x.jitter_ms === null);
      expect(g, s.game_name).toBeTruthy();
      expect(await b.gradeConnection(s.rtt_ms!.avg, null, s.loss_pct)).toEqual(g!.quality);
    }
    // outside a party nothing is recorded
    b.startGame("openttd");
    expect((await b.getGames()).running).toEqual([{ id: "openttd", name: "OpenTTD" }]);
    b.stopGame();
    expect((await b.getGames()).sessions).toHaveLength(4);
    // in a party: started with the game, fed each second, kept when it stops
    await b.joinParty(FAKE_CODES[3].code);
    b.startGame("openttd");
    for (let i = 0; i < 6; i++) b.tick();
    const seen: EngineEvent[] = [];
    await b.onEngineEvent((e) => seen.push(e));
    b.stopGame("openttd");
    expect(seen.map((e) => e.type)).toEqual(["game_stopped", "game_session_saved", "party_changed"]);
    const after = await b.getGames();
    expect(after.sessions).toHaveLength(5);
    const s = after.sessions[0];
    expect(s).toMatchObject({ game_id: "openttd", game_name: "OpenTTD", members: ["Dex", "Mira", "Sol"] });
    expect(s.ended_at - s.started_at).toBe(s.duration_secs);
    expect(s.rtt_ms!.min).toBeLessThanOrEqual(s.rtt_ms!.p95);
    expect(s.rtt_ms!.p95).toBeLessThanOrEqual(s.rtt_ms!.max);
    expect(s.rtt_ms!.avg).toBeGreaterThan(s.rtt_ms!.min);
    expect(s.loss_pct).not.toBeNull();
    // a game that changes ends the session of the one before; leaving the party ends the last
    b.startGame("supertuxkart");
    b.startGame("factorio"); // now the first by id
    b.tick();
    await b.leaveParty();
    expect((await b.getGames()).sessions.slice(0, 2).map((x) => x.game_id)).toEqual(["factorio", "supertuxkart"]);
    b.stopGame();
    expect((await b.getGames()).sessions).toHaveLength(7);
  });

  it("returns copies, not its internal state", async () => {
    const b = createFakeBridge();
    await b.setSetting("turn_servers", ["turn:relay.example:3478"]);
    const list = await b.listSettings();
    (list.find((s) => s.key === "turn_servers")!.value as string[]).push("evil:1");
    expect((await b.listSettings()).find((s) => s.key === "turn_servers")!.value).toEqual(["turn:relay.example:3478"]);
  });
});
