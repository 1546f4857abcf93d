import { describe, expect, it } from "vitest";
import { initialState, NET_LOG_LIMIT, reduce, reloadsFor, TOAST_LIMIT, type Action, type AppState } from "./appState";
import { graded, metricsOf, partyOf, peer, stats, statusOf } from "./testFixtures";
import { LOG_LIMIT, describeEvent, pushLog, stateLabel } from "./eventLog";
import type { EngineEvent, MetricsSnapshot, NatStatus, PathState, PathStatus, SettingView, Status } from "./types";
import { PATH_LOG_LIMIT } from "./paths";

const status = (over: Partial<Status> = {}): Status => ({
  version: "1.2.3",
  state: "starting",
  device: { public_key: "PUB=", display_name: "Player", virtual_ip: null, game: null },
  data_dir: "/data",
  mode: "auto",
  control: { state: "not_configured", server: null, embedded: false },
  party: null,
  nat: null,
  tunnel: null,
  notices: [],
  discord: { bot: { state: "off", message: "Off." } },
  ...over,
});

const setting = (key: string, value: unknown, label = key): SettingView => ({
  key,
  group: "Network",
  label,
  description: "",
  kind: "integer",
  value,
  default: 0,
  secret: false,
  is_set: true,
});

const ev = (event: EngineEvent, at = "2024-01-01T00:00:00Z"): Action => ({ type: "event", event, at });

function run(actions: Action[], from: AppState = initialState()): AppState {
  return actions.reduce(reduce, from);
}

describe("reduce", () => {
  it("setting_changed updates only the right setting", () => {
    const s = run([
      { type: "settings_loaded", settings: [setting("mtu", 1420, "MTU"), setting("listen_port", 0)] },
      ev({ type: "setting_changed", setting: setting("mtu", 1380, "MTU") }),
    ]);
    expect(s.settings.map((x) => [x.key, x.value])).toEqual([
      ["mtu", 1380],
      ["listen_port", 0],
    ]);
    expect(s.log[0].text).toBe("MTU changed.");
  });

  it("a display_name change also updates the device card", () => {
    const s = run([
      { type: "status_loaded", status: status() },
      ev({ type: "setting_changed", setting: { ...setting("display_name", "Neo"), kind: "string" } }),
    ]);
    expect(s.status?.device.display_name).toBe("Neo");
  });

  it("tracks engine state from started and state_changed", () => {
    let s = run([ev({ type: "started", status: status({ state: "starting" }) })]);
    expect(s.engineState).toBe("starting");
    s = run([ev({ type: "state_changed", state: "running" })], s);
    expect(s.engineState).toBe("running");
    expect(s.status?.state).toBe("running");
    s = run([ev({ type: "state_changed", state: "stopping" })], s);
    expect(s.engineState).toBe("stopping");
  });

  it("notices accumulate from status and events, and a dismissed status notice stays dismissed", () => {
    const corrupt = { level: "warning" as const, message: "Settings were reset." };
    let s = run([{ type: "status_loaded", status: status({ notices: [corrupt] }) }]);
    expect(s.notices).toHaveLength(1);
    // the same status again (e.g. the started event) doesn't duplicate it
    s = run([ev({ type: "started", status: status({ notices: [corrupt] }) })], s);
    expect(s.notices).toHaveLength(1);
    s = run([ev({ type: "notice", level: "error", message: "Port 51820 is busy." })], s);
    s = run([ev({ type: "notice", level: "info", message: "Hello." })], s);
    expect(s.notices.map((n) => n.level)).toEqual(["warning", "error", "info"]);
    // ids are unique
    expect(new Set(s.notices.map((n) => n.id)).size).toBe(3);

    s = reduce(s, { type: "dismiss_notice", id: s.notices[0].id });
    expect(s.notices.map((n) => n.message)).toEqual(["Port 51820 is busy.", "Hello."]);
    s = reduce(s, { type: "status_loaded", status: status({ notices: [corrupt] }) });
    expect(s.notices).toHaveLength(2);
  });

  it("a repeated live notice isn't stacked while visible, but shows again after dismissal", () => {
    const n: EngineEvent = { type: "notice", level: "warning", message: "Relay unreachable." };
    let s = run([ev(n), ev(n)]);
    expect(s.notices).toHaveLength(1);
    expect(s.log).toHaveLength(2);
    s = reduce(s, { type: "dismiss_notice", id: s.notices[0].id });
    s = run([ev(n)], s);
    expect(s.notices).toHaveLength(1);
  });

  it("keeps the event log bounded at 10, newest first", () => {
    const actions: Action[] = [];
    for (let i = 0; i < 25; i++) actions.push(ev({ type: "config_activated", name: `c${i}` }));
    const s = run(actions);
    expect(LOG_LIMIT).toBe(10);
    expect(s.log).toHaveLength(10);
    expect(s.log[0].text).toBe("Configuration “c24” activated.");
    expect(s.log[9].text).toBe("Configuration “c15” activated.");
    expect(new Set(s.log.map((e) => e.id)).size).toBe(10);
  });

  it("config_activated marks the active config", () => {
    const s = run([
      {
        type: "configs_loaded",
        configs: [
          { name: "lan", created_at: "2024-01-01T00:00:00Z", active: true },
          { name: "tournament", created_at: "2024-01-02T00:00:00Z", active: false },
        ],
      },
      ev({ type: "config_activated", name: "tournament" }),
    ]);
    expect(s.configs.map((c) => [c.name, c.active])).toEqual([
      ["lan", false],
      ["tournament", true],
    ]);
  });

  it("does not mutate the previous state", () => {
    const a = run([{ type: "settings_loaded", settings: [setting("mtu", 1)] }]);
    const frozen = JSON.stringify(a);
    run([ev({ type: "setting_changed", setting: setting("mtu", 2) }), ev({ type: "notice", level: "info", message: "x" })], a);
    expect(JSON.stringify(a)).toBe(frozen);
  });
});

describe("reloadsFor", () => {
  it("reloads settings after a reset or config activation", () => {
    expect(reloadsFor({ type: "settings_reset" })).toEqual({ settings: true, configs: false, status: false });
    expect(reloadsFor({ type: "config_activated", name: "x" })).toEqual({ settings: true, configs: true, status: false });
    expect(reloadsFor({ type: "state_changed", state: "running" })).toEqual({ settings: false, configs: false, status: false });
    expect(reloadsFor({ type: "party_changed", party: null }).status).toBe(true);
    expect(reloadsFor({ type: "control_changed", state: "connected" }).status).toBe(true);
    expect(reloadsFor({ type: "tunnel_stats", tunnel: stats([]) }).status).toBe(false);
  });
});

describe("eventLog", () => {
  it("labels states", () => {
    expect(stateLabel("running")).toBe("Running");
    expect(stateLabel("starting")).toBe("Starting");
    expect(stateLabel(null)).toBe("Connecting");
    expect(stateLabel("not_configured")).toBe("Not configured");
  });

  it("describes events as sentences", () => {
    expect(describeEvent({ type: "settings_reset" })).toEqual({ level: "warning", text: "All settings were reset to defaults." });
    expect(describeEvent({ type: "state_changed", state: "stopping" })?.text).toBe("Engine is stopping.");
    expect(describeEvent({ type: "started", status: status() })?.text).toBe("Engine started (version 1.2.3).");
    expect(describeEvent({ type: "future_thing" } as unknown as EngineEvent)?.text).toBe("Engine event: future_thing.");
    // per-second events are never logged
    expect(describeEvent({ type: "metrics", snapshot: { t_ms: 1, peers: [], party: null, system: null, system_minute: [] } })).toBeNull();
    expect(describeEvent({ type: "tunnel_stats", tunnel: stats([]) })).toBeNull();
    expect(describeEvent({ type: "path_changed", peer: "K", name: "Sol", from: "connecting", to: "direct", reason: "" })).toBeNull();
    expect(describeEvent({ type: "party_created", name: "LAN night" })?.text).toBe("Party “LAN night” created.");
  });

  it("pushLog bounds and orders", () => {
    let log = pushLog([], { id: 1, at: "", level: "info", text: "a" }, 2);
    log = pushLog(log, { id: 2, at: "", level: "info", text: "b" }, 2);
    log = pushLog(log, { id: 3, at: "", level: "info", text: "c" }, 2);
    expect(log.map((e) => e.text)).toEqual(["c", "b"]);
  });
});

describe("party events", () => {
  const T0 = Date.parse("2024-01-01T00:00:00Z");
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  const evAt = (event: EngineEvent, s: number): Action => ({ type: "event", event, at: at(s) });
  const loaded = () => run([{ type: "status_loaded", status: statusOf() }]);

  it("party_changed sets the party and my virtual IP, logs join and leave, and clears histories on leave", () => {
    const party = partyOf([peer("Mira")]);
    let s = run([evAt({ type: "party_changed", party }, 0)], loaded());
    expect(s.status?.party?.name).toBe("Neo's party");
    expect(s.status?.device.virtual_ip).toBe("10.66.0.1");
    expect(s.netLog[0].text).toBe("Joined “Neo's party” as 10.66.0.1.");
    expect(s.log).toEqual([]); // snapshots are not logged, leaving is

    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Mira-KEY=", rtt: 10 }]) }, 1)], s);
    expect(Object.keys(s.histories)).toEqual(["Mira-KEY="]);

    s = run([evAt({ type: "party_changed", party: null }, 2)], s);
    expect(s.status?.party).toBeNull();
    expect(s.status?.device.virtual_ip).toBeNull();
    expect(s.status?.tunnel).toBeNull();
    expect(s.histories).toEqual({});
    expect(s.netLog[0].text).toBe("Left “Neo's party”.");
    expect(s.log[0].text).toBe("You are no longer in a party.");
  });

  it("tunnel_stats fills histories and live numbers but never the activity log", () => {
    let s = run([evAt({ type: "party_changed", party: partyOf([peer("Mira")]) }, 0)], loaded());
    const logBefore = s.log.length;
    for (let i = 1; i <= 5; i++)
      s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Mira-KEY=", rtt: 10 + i, loss: 0 }]) }, i)], s);
    expect(s.log.length).toBe(logBefore);
    expect(s.histories["Mira-KEY="].map((x) => x.rtt)).toEqual([11, 12, 13, 14, 15]);
    expect(s.histories["Mira-KEY="][4].t).toBe(T0 + 5000);
    expect(s.status?.tunnel?.peers[0].probe.rtt_ms).toBe(15);
  });

  it("notes connection and path changes on the Network log", () => {
    let s = run([evAt({ type: "party_changed", party: partyOf([peer("Sol")]) }, 0)], loaded());
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Sol-KEY=", handshake: null, endpoint: null }]) }, 1)], s);
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Sol-KEY=", handshake: 0.5 }]) }, 2)], s);
    // an engine without paths: the change seen in the tunnel statistics, without a reason
    expect(s.pathLog.map((c) => [c.name, c.from, c.to, c.reason])).toEqual([["Sol", "connecting", "direct", ""]]);
    expect(s.netLog[0].text).toBe("Sol reached at 203.0.113.5:51820.");
    s = run([evAt({ type: "control_changed", state: "reconnecting" }, 3)], s);
    expect(s.netLog[0]).toMatchObject({ level: "warning", text: expect.stringContaining("Control server reconnecting") });
    expect(s.status?.control.state).toBe("reconnecting");
  });

  it("member_joined / member_left become toasts, at most TOAST_LIMIT, dismissible", () => {
    let s = loaded();
    s = run([evAt({ type: "member_joined", name: "Mira" }, 0), evAt({ type: "member_left", name: "Dex" }, 1)], s);
    expect(s.toasts.map((t) => [t.kind, t.text])).toEqual([
      ["joined", "Mira joined the party"],
      ["left", "Dex left the party"],
    ]);
    expect(s.log[0].text).toBe("Dex left the party.");
    for (let i = 0; i < 10; i++) s = run([evAt({ type: "member_joined", name: `P${i}` }, 2 + i)], s);
    expect(s.toasts).toHaveLength(TOAST_LIMIT);
    expect(s.toasts[TOAST_LIMIT - 1].text).toBe("P9 joined the party");
    s = reduce(s, { type: "dismiss_toast", id: s.toasts[0].id });
    expect(s.toasts).toHaveLength(TOAST_LIMIT - 1);
  });

  it("a command's party result applies like the event, once", () => {
    const party = partyOf([]);
    let s = reduce(loaded(), { type: "party_result", party, at: at(0) });
    s = run([evAt({ type: "party_changed", party }, 0)], s);
    expect(s.netLog.filter((e) => e.text.startsWith("Joined"))).toHaveLength(1);
    expect(reduce(s, { type: "party_result", party: null }).status?.party).toBeNull();
  });

  it("a different party starts with fresh histories and tunnel numbers", () => {
    let s = run([evAt({ type: "party_changed", party: partyOf([peer("Mira")]) }, 0)], loaded());
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Mira-KEY=", rtt: 10 }]) }, 1)], s);
    s = run([evAt({ type: "party_changed", party: partyOf([peer("Mira")], { id: "OTHER" }) }, 2)], s);
    expect(s.histories).toEqual({});
    expect(s.status?.tunnel).toBeNull();
  });

  const pathOf = (state: PathState, over: Partial<PathStatus> = {}): PathStatus => ({
    state,
    local_candidate: "srflx",
    remote_candidate: "host",
    relay: null,
    reason: "Hole punching worked.",
    since_secs: 12,
    ...over,
  });

  it("path_changed: logged newest first with its reason, laid over the party, no inferred changes after it", () => {
    const sol = peer("Sol", { path: pathOf("connecting", { local_candidate: null, remote_candidate: null }) });
    let s = run([evAt({ type: "party_changed", party: partyOf([sol]) }, 0)], loaded());
    expect(s.enginePaths).toBe(true);
    expect(s.pathSince["Sol-KEY="]).toEqual({ state: "connecting", at: T0 - 12_000 });
    s = run(
      [evAt({ type: "path_changed", peer: "Sol-KEY=", name: "Sol", from: "connecting", to: "relayed", reason: "Punching timed out." }, 5)],
      s,
    );
    expect(s.pathLog[0]).toMatchObject({ key: "Sol-KEY=", name: "Sol", from: "connecting", to: "relayed", reason: "Punching timed out." });
    // the badge follows at once, before the party snapshot that comes after it
    const p = s.status!.party!.peers[0];
    expect(p.path).toMatchObject({ state: "relayed", reason: "Punching timed out.", since_secs: 0 });
    expect(s.pathSince["Sol-KEY="]).toEqual({ state: "relayed", at: T0 + 5000 });
    expect(s.log).toEqual([]); // only failures reach the activity log
    s = run([evAt({ type: "path_changed", peer: "Sol-KEY=", name: "Sol", from: "relayed", to: "failed", reason: "The relay refused us" }, 6)], s);
    expect(s.log[0]).toMatchObject({ level: "warning", text: "No path to Sol: The relay refused us." });
    expect(s.pathLog.map((c) => c.to)).toEqual(["failed", "relayed"]);
    // a fresh handshake in the tunnel numbers is not taken for a path change any more
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Sol-KEY=", handshake: 1 }]) }, 7)], s);
    expect(s.pathLog).toHaveLength(2);
    for (let i = 0; i < PATH_LOG_LIMIT + 3; i++)
      s = run([evAt({ type: "path_changed", peer: "X=", name: "X", from: "direct", to: "degraded", reason: "" }, 10 + i)], s);
    expect(s.pathLog).toHaveLength(PATH_LOG_LIMIT);
    expect(s.pathLog[0].at > s.pathLog[1].at).toBe(true);
  });

  it("a path keeps its start time while its state stays the same", () => {
    const party = (state: PathState, since: number) => partyOf([peer("Mira", { path: pathOf(state, { since_secs: since }) })]);
    let s = run([evAt({ type: "party_changed", party: party("direct", 30) }, 0)], loaded());
    const first = s.pathSince;
    s = run([evAt({ type: "party_changed", party: party("direct", 41) }, 10)], s);
    expect(s.pathSince).toBe(first); // 41 s later by the engine's rounding: the same start
    s = run([evAt({ type: "party_changed", party: party("relayed", 2) }, 20)], s);
    expect(s.pathSince["Mira-KEY="]).toEqual({ state: "relayed", at: T0 + 18_000 });
  });

  it("nat_changed sets the NAT, notes it once, and warns when UDP is blocked", () => {
    let s = loaded();
    const cone: NatStatus = { kind: "cone", public_addr: "198.51.100.4:51820", summary: "Cone." };
    s = run([evAt({ type: "nat_changed", nat: cone }, 0)], s);
    expect(s.status?.nat).toEqual(cone);
    expect(s.netLog[0]).toMatchObject({ level: "info", text: "NAT type: Cone NAT." });
    const same = run([evAt({ type: "nat_changed", nat: { ...cone } }, 1)], s);
    expect(same).toBe(s);
    s = run([evAt({ type: "nat_changed", nat: { kind: "udp_blocked", public_addr: null, summary: "No answer." } }, 2)], s);
    expect(s.netLog[0]).toMatchObject({ level: "warning", text: "NAT type: UDP blocked." });
    expect(s.log[0]).toMatchObject({ level: "warning", text: expect.stringContaining("only reach players through a relay") });
  });

  it("metrics events fill the system history; a repeated reading changes nothing", () => {
    const snap = (t: number | null, cpu = 0.25): MetricsSnapshot => ({
      t_ms: t,
      peers: [],
      party: null,
      system:
        t === null
          ? null
          : {
              t_ms: t,
              cpu_ratio: cpu,
              memory_used_bytes: 4e9,
              memory_total_bytes: 16e9,
              net_rx_bytes_per_sec: 1000,
              net_tx_bytes_per_sec: 500,
              process_cpu_cores: 0.02,
              process_memory_bytes: 9e7,
            },
      system_minute: [],
    });
    let s = loaded();
    expect(run([evAt({ type: "metrics", snapshot: snap(null) }, 0)], s)).toBe(s);
    s = run([evAt({ type: "metrics", snapshot: snap(T0) }, 0)], s);
    s = run([evAt({ type: "metrics", snapshot: snap(T0 + 1000, 0.5) }, 1)], s);
    expect(s.system.map((x) => [x.t, x.cpu, x.appCpu])).toEqual([
      [T0, 25, 2],
      [T0 + 1000, 50, 2],
    ]);
    // the engine repeats its last reading when a tick has none: same state, nothing re-renders
    expect(run([evAt({ type: "metrics", snapshot: snap(T0 + 1000, 0.5) }, 2)], s)).toBe(s);
    expect(s.log).toEqual([]);
  });

  it("keeps the engine's latest gradings: from metrics events or grade_connection; a new party starts without", () => {
    let s = run([{ type: "status_loaded", status: statusOf({ party: partyOf([peer("Mira")]) }) }]);
    expect(s.qualities).toEqual({});
    s = run([ev({ type: "metrics", snapshot: metricsOf({ "Mira-KEY=": graded(91, "A"), "Dex-KEY=": null }) })], s);
    expect(s.qualities).toEqual({ "Mira-KEY=": graded(91, "A"), "Dex-KEY=": null });
    // the same gradings again: nothing changes
    const same = run([ev({ type: "metrics", snapshot: metricsOf({ "Mira-KEY=": graded(91, "A"), "Dex-KEY=": null }, 2) })], s);
    expect(same.qualities).toBe(s.qualities);
    s = run([{ type: "graded", qualities: { "Mira-KEY=": graded(40, "C", "loss") } }], s);
    expect(s.qualities).toEqual({ "Mira-KEY=": graded(40, "C", "loss") });
    expect(run([{ type: "graded", qualities: { "Mira-KEY=": graded(40, "C", "loss") } }], s)).toBe(s);
    // the same party again keeps them; another party or none starts without
    expect(run([ev({ type: "party_changed", party: partyOf([peer("Mira")]) })], s).qualities).toBe(s.qualities);
    expect(run([ev({ type: "party_changed", party: partyOf([peer("Mira")], { id: "OTHER" }) })], s).qualities).toEqual({});
    expect(run([ev({ type: "party_changed", party: null })], s).qualities).toEqual({});
  });

  it("shares what did not change: equal snapshots, stats and statuses keep their objects", () => {
    let s = run([evAt({ type: "party_changed", party: partyOf([peer("Mira")]) }, 0)], loaded());
    const party = s.status!.party;
    s = run([evAt({ type: "party_changed", party: partyOf([peer("Mira")]) }, 1)], s);
    expect(s.status!.party).toBe(party);
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Mira-KEY=", rtt: 10 }]) }, 2)], s);
    const status = s.status;
    s = run([evAt({ type: "tunnel_stats", tunnel: stats([{ key: "Mira-KEY=", rtt: 10 }]) }, 3)], s);
    expect(s.status).toBe(status); // only the history grew
    expect(s.histories["Mira-KEY="]).toHaveLength(2);
    const again = reduce(s, { type: "status_loaded", status: JSON.parse(JSON.stringify(s.status)) });
    expect(again.status).toBe(s.status);
    const renamed = reduce(s, {
      type: "status_loaded",
      status: { ...JSON.parse(JSON.stringify(s.status)), device: { ...s.status!.device, display_name: "Zed" } },
    });
    expect(renamed.status).not.toBe(s.status);
    expect(renamed.status!.party).toBe(s.status!.party);
    expect(renamed.status!.control).toBe(s.status!.control);
  });

  it("keeps at most NET_LOG_LIMIT network changes", () => {
    let s = loaded();
    for (let i = 0; i < NET_LOG_LIMIT + 5; i++) s = run([evAt({ type: "control_changed", state: i % 2 ? "connected" : "connecting" }, i)], s);
    expect(s.netLog).toHaveLength(NET_LOG_LIMIT);
  });
});

describe("game events", () => {
  const TTD = { id: "openttd", name: "OpenTTD" };
  const STK = { id: "supertuxkart", name: "SuperTuxKart" };
  const loaded = () => run([{ type: "status_loaded", status: statusOf() }]);

  it("game_started / game_stopped set this device's game and its list, and are logged", () => {
    let s = run([ev({ type: "game_started", game: STK })], loaded());
    expect(s.status?.device.game).toEqual(STK);
    expect(s.deviceGames).toEqual([STK]);
    expect(s.log[0].text).toBe("You are playing SuperTuxKart.");
    // a second game sorting first becomes the device's game, as in the engine's status
    s = run([ev({ type: "game_started", game: TTD })], s);
    expect(s.deviceGames.map((g) => g.id)).toEqual(["openttd", "supertuxkart"]);
    expect(s.status?.device.game).toEqual(TTD);
    s = run([ev({ type: "game_stopped", game: TTD })], s);
    expect(s.status?.device.game).toEqual(STK);
    expect(s.log[0].text).toBe("You stopped playing OpenTTD.");
    s = run([ev({ type: "game_stopped", game: STK })], s);
    expect(s.status?.device.game).toBeNull();
    expect(s.deviceGames).toEqual([]);
  });

  it("a repeated event changes nothing; events before the first status are kept for it", () => {
    const s = run([ev({ type: "game_started", game: TTD })], loaded());
    const again = run([ev({ type: "game_started", game: TTD })], s);
    expect(again.status).toBe(s.status);
    expect(again.deviceGames).toBe(s.deviceGames);
    expect(run([ev({ type: "game_stopped", game: STK })], s).status).toBe(s.status);

    const early = run([ev({ type: "game_started", game: STK }), ev({ type: "game_started", game: TTD })]);
    expect(early.status).toBeNull();
    const ready = reduce(early, { type: "status_loaded", status: statusOf({ device: { ...statusOf().device, game: TTD } }) });
    expect(ready.deviceGames).toEqual([TTD, STK]);
  });

  it("a status is the engine's word: its game comes first, games sorting before it stopped", () => {
    let s = run([ev({ type: "game_started", game: TTD }), ev({ type: "game_started", game: STK })], loaded());
    s = reduce(s, { type: "status_loaded", status: statusOf({ device: { ...statusOf().device, game: STK } }) });
    expect(s.deviceGames).toEqual([STK]);
    s = reduce(s, { type: "status_loaded", status: statusOf() });
    expect(s.deviceGames).toEqual([]);
    expect(s.status?.device.game).toBeNull();
  });

  it("members' games arrive with the party; member_game is a log line", () => {
    const party = partyOf([peer("Mira", { game: TTD })]);
    const s = run([ev({ type: "party_changed", party })], loaded());
    expect(s.status?.party?.peers[0].game).toEqual(TTD);
    const told = run([ev({ type: "member_game", name: "Mira", game: TTD })], s);
    expect(told.log[0].text).toBe("Mira is playing OpenTTD.");
    expect(told.status).toBe(s.status); // the party's snapshot is what shows it
    expect(describeEvent({ type: "member_game", name: "Mira", game: null })?.text).toBe("Mira stopped playing.");
  });
});
