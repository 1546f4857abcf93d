// In-memory stand-in for the engine: used by tests and by `npm run dev` in a plain
// browser. It validates a few fields the way the real engine does (MTU range, display
// name length, enum choices, types) so the UI's error display can be exercised.
// The definitions below are illustrative: the Rust side is the source of truth.

import type { Bridge, Unlisten } from "./bridge";
import type {
  BridgeError,
  ConfigView,
  EngineEvent,
  EngineState,
  Notice,
  SettingView,
  Status,
} from "./types";

type Def = Omit<SettingView, "value" | "is_set">;

export const FAKE_SETTING_DEFS: Def[] = [
  { key: "display_name", group: "Profile", label: "Display name", description: "The name your friends see in parties and game lobbies.", kind: "string", default: "Player", secret: false },
  { key: "mtu", group: "Network", label: "MTU", description: "Largest packet size on the virtual LAN; lower it if games stutter or drop.", kind: "integer", default: 1420, secret: false, min: 1280, max: 1500 },
  { key: "listen_port", group: "Network", label: "Listen port", description: "UDP port WireGuard listens on; 0 picks a free port.", kind: "integer", default: 0, secret: false, min: 0, max: 65535 },
  { key: "ipv6", group: "Network", label: "Use IPv6", description: "Reach peers over IPv6 when both sides have it.", kind: "bool", default: true, secret: false },
  { key: "relay_servers", group: "Servers", label: "Relay servers", description: "Relays used when a direct connection can't be made, one per line.", kind: "list", default: [], secret: false },
  { key: "stun_servers", group: "Servers", label: "STUN servers", description: "Servers used to discover your public address, one per line.", kind: "list", default: ["stun.l.google.com:19302"], secret: false },
  { key: "broadcast_forwarding", group: "Features", label: "Forward LAN broadcasts", description: "Relay game discovery broadcasts so LAN lobbies show up for everyone.", kind: "bool", default: true, secret: false },
  { key: "game_detection", group: "Features", label: "Detect running games", description: "Show which game each party member is playing.", kind: "bool", default: false, secret: false },
  { key: "discord_enabled", group: "Discord", label: "Discord notifications", description: "Post party activity to a Discord channel.", kind: "bool", default: false, secret: false },
  { key: "discord_webhook", group: "Discord", label: "Webhook URL", description: "The Discord webhook to post to; stored encrypted and never shown again.", kind: "string", default: null, secret: true },
  { key: "mode", group: "App", label: "Engine mode", description: "Run the engine inside the app, use a background service, or pick automatically.", kind: "enum", default: "auto", secret: false, choices: ["auto", "embedded", "server"] },
  { key: "log_level", group: "App", label: "Log level", description: "How much detail goes into the log files.", kind: "enum", default: "info", secret: false, choices: ["error", "warn", "info", "debug", "trace"] },
  { key: "start_minimized", group: "App", label: "Start minimized", description: "Start in the system tray instead of opening the window.", kind: "bool", default: false, secret: false },
];

export type FakeBridgeOptions = {
  /** artificial delay for every call, in ms (0 = next microtask) */
  latencyMs?: number;
  /** engine state at creation */
  initialState?: EngineState;
  /** notices carried by the status (e.g. a corrupt settings database moved aside) */
  notices?: Notice[];
  /** demo mode for `npm run dev`: starts in "starting", emits "started" shortly after the first listener */
  demo?: boolean;
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
};

export function createFakeBridge(opts: FakeBridgeOptions = {}): FakeBridge {
  const latency = opts.latencyMs ?? 0;
  const values = new Map<string, unknown>();
  const configs: { name: string; created_at: string; snapshot: Map<string, unknown> }[] = [];
  let activeConfig: string | null = null;
  let state: EngineState = opts.initialState ?? (opts.demo ? "starting" : "running");
  const listeners = new Set<(e: EngineEvent) => void>();
  let demoStarted = false;
  const notices: Notice[] =
    opts.notices ??
    (opts.demo
      ? [
          {
            level: "warning",
            message:
              "Your settings file could not be read, so defaults were restored. The old file was moved to settings.db.corrupt.",
          },
        ]
      : []);

  const defs = new Map(FAKE_SETTING_DEFS.map((d) => [d.key, d]));

  const delay = () =>
    new Promise<void>((resolve) => (latency > 0 ? setTimeout(resolve, latency) : queueMicrotask(resolve)));

  function view(def: Def): SettingView {
    const stored = values.has(def.key);
    const value = stored ? values.get(def.key) : def.default;
    return clone({
      ...def,
      value: def.secret ? null : value,
      is_set: def.secret ? stored && value !== null && value !== "" : stored,
    });
  }

  function status(): Status {
    const name = values.has("display_name") ? String(values.get("display_name")) : "Player";
    return clone({
      version: "0.1.0-fake",
      state,
      device: { public_key: "mB9sK2xq3Jw1vZ7pQ4cT8nR5yL0aE6dF2gH1iJ3kL4M=", display_name: name },
      data_dir: "/home/player/.local/share/lanrage",
      mode: String(values.get("mode") ?? "auto"),
      control: { state: "not_configured", server: null },
      party: null,
      notices,
    });
  }

  function emit(event: EngineEvent) {
    for (const l of [...listeners]) l(clone(event));
  }

  function validate(def: Def, value: unknown): unknown {
    const label = def.label;
    switch (def.kind) {
      case "bool":
        if (typeof value !== "boolean") fail("invalid_setting", `${label} must be on or off.`, def.key);
        return value;
      case "integer": {
        if (typeof value !== "number" || !Number.isInteger(value))
          fail("invalid_setting", `${label} must be a whole number.`, def.key);
        if ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max))
          fail("invalid_setting", `${label} must be between ${def.min} and ${def.max}.`, def.key);
        return value;
      }
      case "string": {
        if (typeof value !== "string") fail("invalid_setting", `${label} must be text.`, def.key);
        if (def.key === "display_name") {
          const t = value.trim();
          if (t.length < 1 || t.length > 32)
            fail("invalid_setting", "Display name must be between 1 and 32 characters.", def.key);
          return t;
        }
        if (def.secret && value !== "" && !/^https:\/\//.test(value))
          fail("invalid_setting", `${label} must start with https://.`, def.key);
        return value;
      }
      case "enum":
        if (typeof value !== "string" || !def.choices?.includes(value))
          fail("invalid_setting", `${label} must be one of: ${def.choices?.join(", ")}.`, def.key);
        return value;
      case "list":
        if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
          fail("invalid_setting", `${label} must be a list of text entries.`, def.key);
        for (const v of value as string[])
          if (def.key.endsWith("_servers") && !/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(v))
            fail("invalid_setting", `“${v}” is not a host:port address.`, def.key);
        return value;
    }
  }

  function getDef(key: string): Def {
    const def = defs.get(key);
    if (!def) fail("unknown_setting", `There is no setting called “${key}”.`, key);
    return def;
  }

  function configViews(): ConfigView[] {
    return configs.map((c) => ({ name: c.name, created_at: c.created_at, active: c.name === activeConfig }));
  }

  function findConfig(name: string) {
    const c = configs.find((x) => x.name === name);
    if (!c) fail("config_not_found", `There is no saved configuration called “${name}”.`);
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
      if (def.secret && v === "") values.delete(key);
      else values.set(key, v);
      const sv = view(def);
      emit({ type: "setting_changed", setting: sv });
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
      if (!n) fail("invalid_setting", "Give the configuration a name.", "name");
      if (n.length > 40) fail("invalid_setting", "Configuration names can be at most 40 characters.", "name");
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
    async createParty() {
      await delay();
      fail("not_available", "Parties arrive with the control server, which isn't set up yet.");
    },
    async joinParty() {
      await delay();
      fail("not_available", "Parties arrive with the control server, which isn't set up yet.");
    },
    async onEngineEvent(handler): Promise<Unlisten> {
      listeners.add(handler);
      if (opts.demo && !demoStarted) {
        demoStarted = true;
        setTimeout(() => {
          state = "running";
          emit({ type: "started", status: status() });
        }, 700);
      }
      return () => {
        listeners.delete(handler);
      };
    },
  };
  return bridge;
}
