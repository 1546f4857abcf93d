// In-memory stand-in for the engine: used by tests and by `npm run dev` in a plain
// browser. Besides settings and parties it reports a NAT type (`nat_changed`), sends the
// per-second `metrics` snapshot with a simulated system reading, and detects games on this
// device when told to (`startGame` / `stopGame`: `game_started` / `game_stopped`, then the party
// again, as the engine's scan and the control server do), and keeps game sessions (`getGames`: a
// few earlier ones, and each run of a game during the party, recorded as the engine does). It validates a few fields the
// way the real engine does (MTU range, display name length, enum choices, types) so the UI's
// error display can be exercised.
// The definitions below are illustrative: the Rust side is the source of truth. Invite
// classification and grades are fixture tables of the engine's own answers (fakeFixtures.ts).

import type { Bridge, Unlisten } from "./bridge";
import { browserCopy } from "./clipboard";
import { FAKE_GAMES, FakeParty, seededRandom, type Profile } from "./fakeParty";
import { FakeRecorder, fakeSessions } from "./fakeSessions";
import { filterAndSort } from "./servers";
import type { BotStatus } from "./generated";
import type {
  BridgeError,
  ConfigView,
  EngineEvent,
  EngineState,
  GameRef,
  GameSession,
  MetricsSnapshot,
  Mode,
  NatKind,
  NatStatus,
  Notice,
  PathStatus,
  ServerAnnouncement,
  ServerListing,
  SettingView,
  Status,
} from "./types";

type Def = Omit<SettingView, "value" | "is_set">;

/** What the engine's STUN test says for each NAT type (`summary` is the engine's sentence). */
export const FAKE_NAT: Record<NatKind, NatStatus> = {
  open: {
    kind: "open",
    public_addr: "198.51.100.23:51820",
    summary: "Your computer has a public address with no NAT in front of it: other players can connect straight to you.",
  },
  cone: {
    kind: "cone",
    public_addr: "198.51.100.23:51820",
    summary:
      "Your router keeps the same public port for every destination (cone NAT): direct connections work with most players.",
  },
  symmetric: {
    kind: "symmetric",
    public_addr: "198.51.100.23:40213",
    summary:
      "Your router gives every destination a different public port (symmetric NAT): direct connections work only with players whose NAT is open or cone.",
  },
  udp_blocked: {
    kind: "udp_blocked",
    public_addr: null,
    summary: "No STUN server answered over UDP (3 servers, 2 tries each): this network blocks or drops outgoing UDP.",
  },
  unknown: {
    kind: "unknown",
    public_addr: "198.51.100.23:51820",
    summary: "Only one STUN server answered, so the mapping behaviour could not be compared between destinations.",
  },
};

/** Servers the fake's friends announce while they are online in your party. */
export const FAKE_MEMBER_SERVERS: Record<string, ServerAnnouncement> = {
  Mira: { id: "minecraft:25565", game: "Minecraft", name: "Mira's world", port: 25565, map: "Survival", players: 3, max_players: 10, password: false },
  Dex: { id: "cs16:27015", game: "Counter-Strike 1.6", name: "Dex dust2 24/7", port: 27015, map: "de_dust2", players: 12, max_players: 12, password: true },
  Sol: { id: "factorio:34197", game: "Factorio", name: "Sol's factory", port: 34197, map: null, players: 0, max_players: 4, password: false },
};

export const FAKE_SETTING_DEFS: Def[] = [
  { key: "display_name", group: "Profile", label: "Display name", description: "How other players see you in a party.", kind: "string", default: "Player", secret: false },
  { key: "mode", group: "Network", label: "Party mode", description: "auto uses the control server when one is set and runs the party on this machine otherwise; embedded always runs it here (LAN parties); server always needs the control server.", kind: "enum", default: "auto", secret: false, choices: ["auto", "embedded", "server"] },
  { key: "virtual_subnet", group: "Network", label: "Virtual subnet", description: "The private range party members get their virtual LAN addresses from.", kind: "string", default: "10.66.0.0/16", secret: false },
  { key: "interface_name", group: "Network", label: "Network device name", description: "Name of the virtual network device LANrage creates.", kind: "string", default: "lanrage0", secret: false },
  { key: "mtu", group: "Network", label: "MTU", description: "Largest packet on the virtual LAN; lower it if games stall on your connection.", kind: "integer", default: 1420, secret: false, min: 1280, max: 9000 },
  { key: "listen_port", group: "Network", label: "WireGuard port", description: "UDP port for encrypted traffic; 0 picks a free one.", kind: "integer", default: 0, secret: false, min: 0, max: 65535 },
  { key: "keepalive_secs", group: "Network", label: "Keepalive (seconds)", description: "How often an idle tunnel sends a keepalive so NAT routers keep it open; 0 turns it off.", kind: "integer", default: 25, secret: false, min: 0, max: 3600 },
  { key: "relay_only", group: "Network", label: "Always use the relay", description: "Never connect directly to other players; hides your address from them at the cost of latency.", kind: "bool", default: false, secret: false },
  { key: "api_listen", group: "Network", label: "Local API address", description: "Where the headless daemon serves its local API (loopback only).", kind: "string", default: "127.0.0.1:8666", secret: false },
  { key: "control_server", group: "Servers", label: "Control server", description: "ws:// or wss:// address of the control server, or several separated by spaces (tried in order, the next when one is lost); empty runs parties on this machine.", kind: "string", default: "", secret: false },
  { key: "stun_servers", group: "Servers", label: "Extra STUN servers", description: "HOST:PORT entries used besides the control server's own; none by default.", kind: "list", default: [], secret: false },
  { key: "turn_servers", group: "Servers", label: "Extra TURN relays", description: "turn:HOST:PORT entries used besides the control server's own; none by default.", kind: "list", default: [], secret: false },
  { key: "broadcast_emulation", group: "Features", label: "LAN broadcast", description: "Carry LAN broadcasts and multicast to every party member so games find each other.", kind: "bool", default: true, secret: false },
  { key: "game_detection", group: "Features", label: "Game detection", description: "Recognise running games to show them to your party and on Discord.", kind: "bool", default: true, secret: false },
  { key: "metrics", group: "Features", label: "Metrics", description: "Measure latency, loss and throughput for the dashboard.", kind: "bool", default: true, secret: false },
  { key: "discord_presence", group: "Discord", label: "Discord Rich Presence", description: "Show your LANrage party on your Discord profile.", kind: "bool", default: true, secret: false },
  { key: "discord_application_id", group: "Discord", label: "Discord application id", description: "Your own Discord application for Rich Presence; empty uses LANrage's.", kind: "string", default: "", secret: false },
  { key: "discord_invite_button", group: "Discord", label: "Invite button on Discord", description: "Let friends join your party from a button on your Discord profile.", kind: "bool", default: false, secret: false },
  { key: "discord_webhook_url", group: "Discord", label: "Discord webhook URL", description: "Post party events to a Discord channel; stored on this machine and never shown again.", kind: "string", default: "", secret: true },
  { key: "discord_webhook_games", group: "Discord", label: "Post when someone starts a game", description: "With a webhook set: \"Ana started OpenTTD\" in the channel when a player starts a game LANrage knows.", kind: "bool", default: true, secret: false },
  { key: "discord_bot_token", group: "Discord", label: "Discord bot token", description: "Your group's LANrage bot: create an application at discord.com/developers, open Bot, Reset Token and paste it here; then invite the bot to your server with OAuth2 → URL Generator, scopes bot and applications.commands, permissions Send Messages and Embed Links. Stored on this machine and never shown again.", kind: "string", default: "", secret: true },
  { key: "discord_bot_channel_id", group: "Discord", label: "Discord bot channel ID", description: "Where the bot posts parties, members and games: in Discord turn on Developer Mode, right-click the channel and Copy Channel ID.", kind: "string", default: "", secret: false },
  { key: "discord_api_url", group: "Discord", label: "Discord API URL", description: "Discord's REST API the bot uses; change it only for a proxy or a test server.", kind: "string", default: "https://discord.com", secret: false },
  { key: "start_minimized", group: "App", label: "Start minimized", description: "Start in the tray without opening the window.", kind: "bool", default: false, secret: false },
];

/** Per-key text rules, mirroring the engine's checks (message without the "key: " prefix). */
const TEXT_RULES: Record<string, { maxLen: number; check?: (s: string) => string | null }> = {
  display_name: { maxLen: 32, check: (s) => (s ? null : "must not be empty") },
  virtual_subnet: {
    maxLen: 18,
    check: (s) => (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s) ? null : `must be an IPv4 network such as 10.66.0.0/16 (got \`${s}\`)`),
  },
  interface_name: {
    maxLen: 15,
    check: (s) => (/^[A-Za-z0-9_-]{1,15}$/.test(s) ? null : "may only use letters, digits, `-` and `_`"),
  },
  api_listen: { maxLen: 64 },
  control_server: {
    maxLen: 256,
    check: (s) => (!s || /^wss?:\/\//.test(s) ? null : "must start with ws:// or wss:// (or be empty for no server)"),
  },
  discord_application_id: {
    maxLen: 32,
    check: (s) => (/^\d*$/.test(s) ? null : "must be the numeric application id from Discord's developer portal"),
  },
  discord_webhook_url: {
    maxLen: 512,
    check: (s) =>
      !s || /^https?:\/\//.test(s) ? null : "must be an http(s) URL such as https://discord.com/api/webhooks/…",
  },
};

function hostPort(s: string): string | null {
  const i = s.lastIndexOf(":");
  if (i <= 0) return `must be HOST:PORT (got \`${s}\`)`;
  const port = Number(s.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `\`${s.slice(i + 1)}\` is not a port from 1 to 65535`;
  return null;
}

const LIST_RULES: Record<string, (s: string) => string | null> = {
  stun_servers: (s) => hostPort(s.replace(/^stun:/, "")),
  turn_servers: (s) =>
    /^turns?:/.test(s) ? hostPort(s.replace(/^turns?:/, "").split("?")[0]) : "must start with turn: or turns:",
};

export type FakeBridgeOptions = {
  /** artificial delay for every call, in ms (0 = next microtask) */
  latencyMs?: number;
  /** engine state at creation */
  initialState?: EngineState;
  /** notices carried by the status (e.g. a corrupt settings database moved aside) */
  notices?: Notice[];
  /**
   * demo mode for `npm run dev` and the browser test: starts in "starting", emits "started"
   * shortly after the first listener, and friends join a party you host
   */
  demo?: boolean;
  /** ms between simulated tunnel_stats events while in a party; 0 = only on tick() (default: 1000 in demo, else 0) */
  tickMs?: number;
  /** seed of the simulation's random numbers */
  seed?: number;
  /** what take_deep_link returns once */
  pendingLink?: string | null;
  /** the NAT the status reports at first (default null: not measured; the demo measures cone after 1.5 s) */
  nat?: NatStatus | null;
  /** ms between `metrics` events, from the first listener on; 0 = only on metricsTick() (default: tickMs in demo, else 0) */
  metricsMs?: number;
};

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function fail(code: string, message: string, field?: string): never {
  const err: BridgeError = field ? { code, message, field } : { code, message };
  throw err;
}

export type FakeBridge = Bridge & {
  /** push an event to listeners, as the engine would */
  emit(event: EngineEvent): void;
  /** number of active listeners */
  listenerCount(): number;
  /** change the engine state and emit state_changed */
  setEngineState(next: EngineState): void;
  /** one simulated second: arrivals, probes, a tunnel_stats event */
  tick(): void;
  /** one `metrics` event (the engine's per-second snapshot with a system reading) */
  metricsTick(): void;
  /** the NAT test found this (emits nat_changed) */
  setNat(nat: NatKind | NatStatus): void;
  /** the connection manager moved a member's path (emits path_changed, and party_changed when the connection changes) */
  setPath(member: string, path: Partial<PathStatus> & { state: string; reason: string }): void;
  /** a friend joins the party now */
  addMember(name: string, profile?: Profile): void;
  /** a member starts (a game) or stops (null) playing: the party is sent again, as the control server does */
  setMemberGame(member: string, game: GameRef | string | null): void;
  /**
   * a game starts on this device (a catalogue id such as "openttd", or any game): game_started
   * and, in a party, the party again; nothing while game detection is off or it already runs
   */
  startGame(game: GameRef | string): void;
  /**
   * a game (by id; default every one) stops on this device: game_stopped for each; in a party
   * the session of the game played ends and is kept (getGames lists it first)
   */
  stopGame(id?: string): void;
  /** as if the app had been opened with this lanrage:// link */
  emitDeepLink(url: string): void;
  /** as if the tray asked for a page ("create" | "join") */
  emitNavigate(page: string): void;
  /** everything copyText was asked to copy, oldest first */
  copied: string[];
  /** stop the simulation timer */
  dispose(): void;
};

export function createFakeBridge(opts: FakeBridgeOptions = {}): FakeBridge {
  const latency = opts.latencyMs ?? 0;
  const values = new Map<string, unknown>();
  const configs: { name: string; created_at: string; snapshot: Map<string, unknown> }[] = [];
  let activeConfig: string | null = null;
  let state: EngineState = opts.initialState ?? (opts.demo ? "starting" : "running");
  const listeners = new Set<(e: EngineEvent) => void>();
  const linkListeners = new Set<(url: string) => void>();
  const navListeners = new Set<(page: string) => void>();
  let pendingLink = opts.pendingLink ?? null;
  let demoStarted = false;
  const tickMs = opts.tickMs ?? (opts.demo ? 1000 : 0);
  let timer: ReturnType<typeof setInterval> | undefined;
  const metricsMs = opts.metricsMs ?? (opts.demo ? tickMs : 0);
  let metricsTimer: ReturnType<typeof setInterval> | undefined;
  let natTimer: ReturnType<typeof setTimeout> | undefined;
  let nat: NatStatus | null = opts.nat ?? null;
  /** the games running on this device, by id (the engine's detector keeps them in id order) */
  const games = new Map<string, GameRef>();
  const unixNow = () => Math.floor(Date.now() / 1000);
  /** kept game sessions, newest first (the engine's game_sessions table) */
  const sessions: GameSession[] = fakeSessions(unixNow());
  /** the session of the game played now during the party */
  let recording: FakeRecorder | null = null;
  const PUBLIC_KEY = "mB9sK2xq3Jw1vZ7pQ4cT8nR5yL0aE6dF2gH1iJ3kL4M=";
  const notices: Notice[] =
    opts.notices ??
    (opts.demo
      ? [
          {
            level: "warning",
            message:
              "The settings database could not be read, so LANrage started with default settings. The old file was kept as settings.db.corrupt.",
          },
        ]
      : []);

  /** this device's announced servers (by id) and the favorite listing keys */
  const ownServers = new Map<string, ServerAnnouncement>();
  const favorites = new Set<string>();

  function inPartyOrFail() {
    if (!party.inParty()) fail("not_in_party", "you are not in a party");
  }

  function serverListings(): ServerListing[] {
    const p = party.status();
    if (!p) return [];
    const expires_at = Math.floor(Date.now() / 1000) + 60;
    const listing = (s: ServerAnnouncement, host_key: string, host_name: string, host_ip: string, latency_ms: number | null) => {
      const key = `${host_key}/${s.id}`;
      return { ...s, map: s.map ?? null, host_key, host_name, host_ip, expires_at, latency_ms, favorite: favorites.has(key), key };
    };
    const out: ServerListing[] = [];
    for (const peer of p.peers) {
      const s = FAKE_MEMBER_SERVERS[peer.name];
      if (s && peer.online)
        out.push(listing(s, peer.public_key, peer.name, peer.virtual_ip, peer.rtt_ms === null ? null : Math.round(peer.rtt_ms)));
    }
    for (const s of ownServers.values()) out.push(listing(s, PUBLIC_KEY, displayName(), p.virtual_ip, 0));
    return out;
  }

  const defs = new Map(FAKE_SETTING_DEFS.map((d) => [d.key, d]));

  const delay = () =>
    new Promise<void>((resolve) => (latency > 0 ? setTimeout(resolve, latency) : queueMicrotask(resolve)));

  function view(def: Def): SettingView {
    const value = values.has(def.key) ? values.get(def.key) : def.default;
    // like the engine: is_set says whether the value is non-empty
    const is_set = !(value === null || value === "" || (Array.isArray(value) && value.length === 0));
    return clone({ ...def, value: def.secret ? null : value, is_set });
  }

  const displayName = () => (values.has("display_name") ? String(values.get("display_name")) : "Player");

  function emit(event: EngineEvent) {
    for (const l of [...listeners]) l(clone(event));
  }

  const party = new FakeParty({
    emit,
    random: seededRandom(opts.seed ?? 7),
    displayName,
    ownKey: () => PUBLIC_KEY,
    controlServer: () => String(values.get("control_server") ?? ""),
    demo: opts.demo ?? false,
  });

  // The machine: a slow random walk from its own generator, so the party's numbers stay the same.
  const sysRandom = seededRandom((opts.seed ?? 7) + 101);
  const MEM_TOTAL = 16 * 1024 ** 3;
  const sys = { first: true, cpu: 0.12, mem: 6.1 * 1024 ** 3, rx: 30_000, tx: 9_000, appCpu: 0.012, appMem: 86 * 1024 ** 2 };
  const walk = (v: number, step: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v + (sysRandom() * 2 - 1) * step));

  function metricsSnapshot(): MetricsSnapshot {
    const now = Date.now();
    const members = party.metricsPeers(now);
    let system: MetricsSnapshot["system"] = null;
    // like the engine's sampler, the first tick only takes the baseline
    if (sys.first) sys.first = false;
    else {
      const traffic = party.trafficRates();
      sys.cpu = walk(sys.cpu, 0.03, 0.04, 0.6);
      sys.mem = walk(sys.mem, 24 * 1024 ** 2, 5.5 * 1024 ** 3, 7.5 * 1024 ** 3);
      sys.rx = walk(sys.rx, 6_000, 2_000, 120_000);
      sys.tx = walk(sys.tx, 2_000, 800, 40_000);
      sys.appCpu = walk(sys.appCpu, 0.004, 0.004, 0.05);
      system = {
        t_ms: now,
        cpu_ratio: Math.round(sys.cpu * 1000) / 1000,
        memory_used_bytes: Math.round(sys.mem),
        memory_total_bytes: MEM_TOTAL,
        net_rx_bytes_per_sec: Math.round(sys.rx + traffic.rx * 1.05),
        net_tx_bytes_per_sec: Math.round(sys.tx + traffic.tx * 1.05),
        process_cpu_cores: Math.round(sys.appCpu * 1000) / 1000,
        process_memory_bytes: sys.appMem,
      };
    }
    const scored = members.filter((p) => p.quality);
    const worst = scored.reduce<(typeof scored)[number] | null>((w, p) => (!w || p.quality!.score < w.quality!.score ? p : w), null);
    return {
      t_ms: now,
      peers: members,
      party: worst
        ? { score: worst.quality!.score, grade: worst.quality!.grade, worst_peer: worst.public_key, peers_scored: scored.length }
        : null,
      system,
      system_minute: [],
    };
  }

  const gameOf = (g: GameRef | string): GameRef =>
    typeof g === "string" ? { ...(FAKE_GAMES[g] ?? { id: g, name: g }) } : { ...g };

  /** What status.device.game says: the first running game by id, like the engine. */
  function currentGame(): GameRef | null {
    const first = [...games.keys()].sort()[0];
    return first === undefined ? null : { ...games.get(first)! };
  }

  const detecting = () => values.get("game_detection") !== false;

  /**
   * The engine's follow_session: a session runs while this device plays a game in a party; it
   * ends (and is kept, newest first) when the game stops or changes or the party ends. `sample`:
   * one simulated second, which adds the online members and their RTT and loss.
   */
  function followSession(sample = false) {
    const want = party.inParty() ? currentGame() : null;
    if (recording?.game.id !== want?.id) {
      const now = unixNow();
      if (recording) {
        const session = recording.finish(now);
        sessions.unshift(session);
        emit({ type: "game_session_saved", session });
      }
      recording = want ? new FakeRecorder(want, now) : null;
    }
    if (sample && recording) recording.sample(party.status()?.peers ?? []);
  }

  /** One simulated second: the party's, then the session's. */
  function simTick() {
    party.tick();
    followSession(true);
  }

  function startGame(g: GameRef | string) {
    const game = gameOf(g);
    if (!detecting() || games.has(game.id)) return;
    games.set(game.id, game);
    emit({ type: "game_started", game });
    followSession();
    party.ownGameChanged();
  }

  function stopGame(id?: string) {
    const stopped = [...games.values()].filter((g) => id === undefined || g.id === id);
    for (const game of stopped) {
      games.delete(game.id);
      emit({ type: "game_stopped", game });
    }
    if (!stopped.length) return;
    followSession();
    party.ownGameChanged();
  }

  function setNat(next: NatKind | NatStatus) {
    nat = typeof next === "string" ? { ...FAKE_NAT[next] } : next;
    emit({ type: "nat_changed", nat });
  }

  /** Run the simulation clock while in a party. */
  function syncTimer() {
    if (tickMs > 0 && party.inParty() && !timer) timer = setInterval(simTick, tickMs);
    if ((!party.inParty() || tickMs <= 0) && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  function status(): Status {
    const p = party.status();
    return clone({
      version: "0.1.0-fake",
      state,
      device: { public_key: PUBLIC_KEY, display_name: displayName(), virtual_ip: p?.virtual_ip ?? null, game: currentGame() },
      data_dir: "/home/player/.local/share/lanrage",
      mode: String(values.get("mode") ?? "auto") as Mode,
      control: party.controlStatus(),
      party: p,
      tunnel: party.tunnel(),
      notices,
      nat,
      discord: { bot: discordBot() },
    });
  }

  /** Like the engine: off until a token and a channel are set, then online (no Discord here). */
  function discordBot(): BotStatus {
    const token = String(values.get("discord_bot_token") ?? "");
    const channel = String(values.get("discord_bot_channel_id") ?? "");
    if (!token || !channel)
      return { state: "off", message: "Off: set a bot token and a channel ID in Settings → Discord to turn it on." };
    return { state: "online", message: `Online as LANrage Bot; posting in channel ${channel}.` };
  }

  /** Run a party operation like a command: errors reject, state changes restart or stop the clock. */
  async function partyOp<T>(op: () => T): Promise<T> {
    await delay();
    try {
      return clone(op());
    } finally {
      syncTimer();
      followSession();
    }
  }

  /** Check and normalise a value like the engine does; messages read "key: reason". */
  function validate(def: Def, value: unknown): unknown {
    const bad = (reason: string): never => fail("invalid_setting", `${def.key}: ${reason}`, def.key);
    switch (def.kind) {
      case "bool":
        if (typeof value !== "boolean") bad("must be true or false");
        return value;
      case "integer": {
        if (typeof value !== "number" || !Number.isInteger(value))
          bad(`must be a whole number from ${def.min} to ${def.max}`);
        const n = value as number;
        if ((def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max))
          bad(`must be from ${def.min} to ${def.max} (got ${n})`);
        return n;
      }
      case "string": {
        if (typeof value !== "string") bad("must be text");
        const t = (value as string).trim();
        const rule = TEXT_RULES[def.key];
        if (rule && [...t].length > rule.maxLen) bad(`must be at most ${rule.maxLen} characters`);
        const reason = rule?.check?.(t);
        if (reason) bad(reason);
        return t;
      }
      case "enum": {
        if (typeof value !== "string") bad(`must be one of: ${def.choices?.join(", ")}`);
        if (!def.choices?.includes(value as string))
          bad(`must be one of: ${def.choices?.join(", ")} (got \`${value}\`)`);
        return value;
      }
      case "list": {
        if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) bad("must be a list of text entries");
        const out: string[] = [];
        for (const raw of value as string[]) {
          const v = raw.trim();
          if (!v || out.includes(v)) continue;
          const reason = LIST_RULES[def.key]?.(v);
          if (reason) bad(reason);
          out.push(v);
        }
        if (out.length > 8) bad("must have at most 8 entries");
        return out;
      }
    }
  }

  function getDef(key: string): Def {
    const def = defs.get(key);
    if (!def) fail("unknown_setting", `unknown setting \`${key}\`; \`lanrage settings list\` shows them all`, key);
    return def;
  }

  function configViews(): ConfigView[] {
    return configs.map((c) => ({ name: c.name, created_at: c.created_at, active: c.name === activeConfig }));
  }

  function findConfig(name: string) {
    const c = configs.find((x) => x.name === name);
    if (!c) fail("config_not_found", `no saved configuration named \`${name}\``);
    return c;
  }

  function setState(next: EngineState) {
    state = next;
    emit({ type: "state_changed", state: next });
  }

  const bridge: FakeBridge = {
    emit,
    listenerCount: () => listeners.size,
    setEngineState: setState,
    copied: [],
    tick: simTick,
    metricsTick: () => emit({ type: "metrics", snapshot: metricsSnapshot() }),
    setNat,
    setPath: (member, path) => party.setPath(member, path),
    addMember: (name, profile) => {
      party.addMember(name, profile);
    },
    setMemberGame: (member, game) => party.setMemberGame(member, game === null ? null : gameOf(game)),
    startGame,
    stopGame,
    emitDeepLink: (url) => {
      for (const l of [...linkListeners]) l(url);
    },
    emitNavigate: (page) => {
      for (const l of [...navListeners]) l(page);
    },
    dispose: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
      clearInterval(metricsTimer);
      metricsTimer = undefined;
      clearTimeout(natTimer);
    },

    async getStatus() {
      await delay();
      return status();
    },
    async listSettings() {
      await delay();
      return FAKE_SETTING_DEFS.map(view);
    },
    async setSetting(key, value) {
      await delay();
      const def = getDef(key);
      const v = validate(def, clone(value));
      values.set(key, v);
      const sv = view(def);
      emit({ type: "setting_changed", setting: sv });
      if (key.startsWith("discord_bot_")) emit({ type: "discord_bot_changed", bot: discordBot() });
      // the engine's next scan with detection off stops every running game
      if (!detecting()) stopGame();
      return sv;
    },
    async resetSetting(key) {
      await delay();
      const def = getDef(key);
      values.delete(key);
      const sv = view(def);
      emit({ type: "setting_changed", setting: sv });
      return sv;
    },
    async resetSettings() {
      await delay();
      values.clear();
      emit({ type: "settings_reset" });
      return FAKE_SETTING_DEFS.map(view);
    },
    async listConfigs() {
      await delay();
      return configViews();
    },
    async saveConfig(name) {
      await delay();
      const n = name.trim();
      if (!n || [...n].length > 64 || /[\u0000-\u001f\u007f]/.test(n))
        fail("invalid_request", "configuration name must be 1 to 64 characters without control characters");
      const snapshot = new Map(values);
      const existing = configs.find((c) => c.name === n);
      if (existing) existing.snapshot = snapshot;
      else configs.push({ name: n, created_at: new Date().toISOString(), snapshot });
      activeConfig = n;
      return configViews();
    },
    async activateConfig(name) {
      await delay();
      const c = findConfig(name);
      values.clear();
      for (const [k, v] of c.snapshot) values.set(k, v);
      activeConfig = c.name;
      emit({ type: "config_activated", name: c.name });
      return configViews();
    },
    async deleteConfig(name) {
      await delay();
      const c = findConfig(name);
      configs.splice(configs.indexOf(c), 1);
      if (activeConfig === c.name) activeConfig = null;
      return configViews();
    },
    createParty: (name) => partyOp(() => party.create(name)),
    joinParty: (code) => partyOp(() => party.join(code)),
    async classifyInvite(text, hasServer) {
      await delay();
      return clone(party.classify(text, hasServer));
    },
    async gradeConnection(rttMs, jitterMs, lossPct) {
      await delay();
      return clone(party.grade(rttMs, jitterMs, lossPct));
    },
    leaveParty: () =>
      partyOp(() => {
        party.leave();
        ownServers.clear();
      }),
    newInvite: (ttlSecs) => partyOp(() => party.newInvite(ttlSecs)),
    revokeInvite: () => partyOp(() => party.revokeInvite()),
    kick: (member) => partyOp(() => party.kick(member)),
    closeParty: () =>
      partyOp(() => {
        party.close();
        ownServers.clear();
      }),
    async listServers(filter) {
      await delay();
      inPartyOrFail();
      return clone(filterAndSort(serverListings(), filter ?? {}));
    },
    async announceServer(server) {
      await delay();
      inPartyOrFail();
      const s = clone(server);
      if (!s.game?.trim() || !s.name?.trim()) fail("invalid_request", "a server needs a game and a name");
      if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) fail("invalid_request", `port ${s.port} is not from 1 to 65535`);
      if (s.players < 0 || s.max_players < 1 || s.players > s.max_players)
        fail("invalid_request", "players must be from 0 to max_players");
      ownServers.set(s.id, { ...s, map: s.map ?? null });
    },
    async removeServer(id) {
      await delay();
      inPartyOrFail();
      if (!ownServers.delete(id)) fail("unknown_server", `no server of yours with id \`${id}\``);
    },
    async setFavorite(key, on) {
      await delay();
      if (on) favorites.add(key);
      else favorites.delete(key);
    },
    async getGames(limit) {
      await delay();
      const game = currentGame();
      return clone({ running: game ? [game] : [], sessions: sessions.slice(0, limit ?? 50) });
    },
    async takeDeepLink() {
      await delay();
      const l = pendingLink;
      pendingLink = null;
      return l;
    },
    async copyText(text) {
      bridge.copied.push(text);
      try {
        await browserCopy(text);
      } catch {
        // happy-dom and locked-down browsers: the fake records it anyway
      }
    },
    async onDeepLink(handler) {
      linkListeners.add(handler);
      return () => {
        linkListeners.delete(handler);
      };
    },
    async onNavigate(handler) {
      navListeners.add(handler);
      return () => {
        navListeners.delete(handler);
      };
    },
    async onEngineEvent(handler): Promise<Unlisten> {
      listeners.add(handler);
      if (metricsMs > 0 && !metricsTimer) metricsTimer = setInterval(() => bridge.metricsTick(), metricsMs);
      if (opts.demo && !demoStarted) {
        demoStarted = true;
        setTimeout(() => {
          state = "running";
          emit({ type: "started", status: status() });
          // the engine's STUN test answers a moment after it starts
          if (nat === null && opts.nat === undefined) natTimer = setTimeout(() => setNat("cone"), 800);
        }, 700);
      }
      return () => {
        listeners.delete(handler);
      };
    },
  };
  return bridge;
}
