// The fake engine's parties: create, join, invites, kick, close, leave, and simulated friends
// whose tunnel measurements arrive as `tunnel_stats` events, one a tick (a second in the demo),
// and whose paths move like the connection manager's (connecting, then direct on the LAN, hole
// punched or relayed at the first handshake), each move told by `path_changed`.
// Messages and error codes are the engine's and the control server's, word for word, so the UI
// shows in a plain browser exactly what it shows in the app.
//
// Join-field inputs that make the fake fail the way the real engine would (any case):
//   WRONG     wrong_code            EXPIRED   code_expired        REVOKED   code_revoked
//   FULL      party_full            SLOW      rate_limited        OFFLINE   server_unreachable
//   NOSERVER  needs_server          NOPERM    no_permission (with the setcap fix)
// Anything else is looked up in the engine's answers for known inputs (fakeFixtures.ts, from
// ui/src/lib/fixtures/invites.json): a code or link there joins "Mira's party", a wrong one
// fails with the parser's message (invalid_code), and an input the table does not know fails
// saying so. The fake never parses: the parser lives in the engine only. Likewise each
// simulated friend has a fixed grading from fixtures/grades.json, not a computed one.
// A party named NOPERM fails to create with no_permission.
//
// Games: Mira plays OpenTTD and Dex Counter-Strike 1.6 (what their LANrage shares through the
// control server, `PeerStatus.game`); Kai, offline, still carries the Factorio he played last,
// as the control server keeps a member's last game while they are away. `setMemberGame` changes
// one: `member_game`, then the party again, as the engine does with the server's snapshot after
// that member's `set_game`.

import type {
  BridgeError,
  CandidateType,
  ControlStatus,
  DeviceStats,
  EngineEvent,
  GameRef,
  JoinInput,
  MetricsPeer,
  PartyStatus,
  PathStatus,
  PeerStatus,
  Quality,
} from "./types";
import { FAKE_CODES, FAKE_GRADES, FAKE_MEET_AT, FAKE_UNKNOWN_INVITE, fakeClassify, fakeGradeOf, fakeJoinEntry } from "./fakeFixtures";

export { FAKE_MEET_AT };
/** A few games of the engine's catalogue (crates/games/catalogue/games.toml), by id. */
export const FAKE_GAMES: Record<string, GameRef> = {
  openttd: { id: "openttd", name: "OpenTTD" },
  cs16: { id: "cs16", name: "Counter-Strike 1.6" },
  factorio: { id: "factorio", name: "Factorio" },
  supertuxkart: { id: "supertuxkart", name: "SuperTuxKart" },
};

/** The TURN relay the fake's relayed friends go through. */
export const FAKE_RELAY = "203.0.113.2:3478";
export const FAKE_NO_PERMISSION =
  "cannot create the network device `lanrage0`: permission denied. LANrage needs the CAP_NET_ADMIN capability: run `sudo setcap cap_net_admin+ep /usr/bin/lanrage-app` (the installer does this), or run as root";

/** Magic join inputs and the error each one gives. */
export const FAKE_JOIN_ERRORS: Record<string, BridgeError> = {
  WRONG: { code: "wrong_code", message: "this invite code does not match any party" },
  EXPIRED: { code: "code_expired", message: "this invite code has expired; ask the host for a new one" },
  REVOKED: { code: "code_revoked", message: "this invite code was revoked by the host; ask for a new one" },
  FULL: { code: "party_full", message: "the party is full (8 of 8)" },
  SLOW: { code: "rate_limited", message: "too many wrong invite codes; try again in 60 s" },
  OFFLINE: {
    code: "server_unreachable",
    message: `the control server ${FAKE_MEET_AT} cannot be reached; LANrage keeps trying`,
  },
  NOSERVER: {
    code: "needs_server",
    message:
      "this is a bare invite code and no control server is set: paste the whole invite link (lanrage://join/...) instead",
  },
  NOPERM: { code: "no_permission", message: FAKE_NO_PERMISSION },
};

function fail(code: string, message: string): never {
  const err: BridgeError = { code, message };
  throw err;
}

/** Small deterministic PRNG (mulberry32), so simulated numbers are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How a simulated friend's link behaves. */
export type Profile = {
  rtt: number;
  /** RTT wobble, ms */
  spread: number;
  /** chance a probe is lost, 0..1 */
  lossChance: number;
  relayed?: boolean;
  /** ticks before the first handshake (the path is chosen then) */
  handshakeAfter?: number;
  online?: boolean;
  /** the candidate pair the connection manager ends up with (default: hole punched both sides) */
  local?: CandidateType;
  remote?: CandidateType;
  /** the connection manager's sentence for the chosen path */
  reason?: string;
  /** the friend's address on the path (default: a public address) */
  endpoint?: string;
  /** demo: the path degrades after this many ticks of age, and recovers 3 ticks later */
  degradeAt?: number;
  /** the engine's grading of this link once measured (fixture data: the fake does not grade) */
  quality?: Quality | null;
  /** what the friend plays (shared through the control server) */
  game?: GameRef | null;
};

type Member = {
  name: string;
  public_key: string;
  virtual_ip: string;
  endpoint: string;
  profile: Profile;
  /** ticks since joining */
  age: number;
  /** last probe results, newest last, at most 30 */
  probes: boolean[];
  rtt: number | null;
  srtt: number | null;
  jitter: number | null;
  rx: number;
  tx: number;
  sent: number;
  answered: number;
  /** bytes this tick */
  rxRate: number;
  txRate: number;
  /** the connection manager's path (null while offline) */
  path: PathStatus | null;
  /** age at which the path entered its state */
  pathAt: number;
  /** what the member's LANrage says it plays */
  game: GameRef | null;
};

type Party = {
  id: string;
  name: string;
  is_host: boolean;
  host_name: string;
  max_members: number;
  virtual_ip: string;
  invite: { code: string; link: string | null; expires_at: number | null } | null;
  members: Member[];
  /** demo: friends who arrive after N ticks */
  arrivals: { at: number; name: string; profile: Profile }[];
  ticks: number;
};

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export const FRIENDS: Record<string, Profile> = {
  Mira: {
    rtt: 14,
    spread: 3,
    lossChance: 0,
    handshakeAfter: 1,
    local: "host",
    remote: "host",
    endpoint: "192.168.1.42:51820",
    reason: "{name} is on your local network (192.168.1.0/24), so packets go straight across the LAN.",
    quality: fakeGradeOf("Mira"),
    game: FAKE_GAMES.openttd,
  },
  Dex: {
    rtt: 72,
    spread: 9,
    lossChance: 0.004,
    relayed: true,
    handshakeAfter: 2,
    local: "relay",
    remote: "srflx",
    reason:
      "Hole punching timed out after 5 s: {name} is behind a symmetric NAT that gives every destination a new port, so traffic goes through the relay.",
    quality: fakeGradeOf("Dex"),
    game: FAKE_GAMES.cs16,
  },
  Sol: {
    rtt: 38,
    spread: 12,
    lossChance: 0.02,
    handshakeAfter: 3,
    local: "srflx",
    remote: "srflx",
    reason: "Hole punching worked: both routers kept the port LANrage opened, so traffic goes straight over the internet.",
    degradeAt: 25,
    quality: fakeGradeOf("Sol"),
  },
  Kai: { rtt: 0, spread: 0, lossChance: 0, online: false, game: FAKE_GAMES.factorio },
};

/** What the connection manager calls a member with this path (the engine's `connection`). */
function connectionOf(path: PathStatus | null, online: boolean): string {
  if (!online || !path) return online ? "connecting" : "offline";
  switch (path.state) {
    case "direct":
    case "relayed":
    case "failed":
      return path.state;
    case "degraded":
      return path.local_candidate === "relay" ? "relayed" : path.local_candidate ? "direct" : "connecting";
    default:
      return "connecting";
  }
}

export type FakePartyDeps = {
  emit(e: EngineEvent): void;
  random: () => number;
  displayName(): string;
  ownKey(): string;
  /** the control_server setting ("" when none) */
  controlServer(): string;
  /** demo: friends arrive in a party you host */
  demo: boolean;
};

export class FakeParty {
  private party: Party | null = null;
  private control: ControlStatus = { state: "not_configured", server: null, embedded: false };
  private nextIp = 2;
  private codes = 0;

  constructor(private readonly deps: FakePartyDeps) {}

  inParty(): boolean {
    return this.party !== null;
  }

  controlStatus(): ControlStatus {
    if (!this.party) {
      const s = this.deps.controlServer();
      return s ? { state: "connected", server: s, embedded: false } : { state: "not_configured", server: null, embedded: false };
    }
    return { ...this.control };
  }

  private key(): string {
    let k = "";
    for (let i = 0; i < 43; i++) k += B64[Math.floor(this.deps.random() * 64) % 64];
    return k.slice(0, 42) + "A=";
  }

  private member(name: string, profile: Profile, ip?: string): Member {
    const octet = ip ? Number(ip.split(".").pop()) : this.nextIp++;
    const online = profile.online !== false;
    return {
      name,
      public_key: this.key(),
      virtual_ip: ip ?? `10.66.0.${octet}`,
      endpoint: profile.relayed ? FAKE_RELAY : (profile.endpoint ?? `198.51.100.${20 + (octet % 200)}:${51820 + octet}`),
      profile,
      age: 0,
      probes: [],
      rtt: null,
      srtt: null,
      jitter: null,
      rx: 0,
      tx: 0,
      sent: 0,
      answered: 0,
      rxRate: 0,
      txRate: 0,
      path: online
        ? {
            state: "connecting",
            local_candidate: null,
            remote_candidate: null,
            relay: null,
            reason: `Trying ${name}'s addresses (LAN, internet, relay) to find a path.`,
            since_secs: 0,
          }
        : null,
      pathAt: 0,
      game: profile.game ? { ...profile.game } : null,
    };
  }

  private handshaken(m: Member): boolean {
    return m.profile.online !== false && m.age >= (m.profile.handshakeAfter ?? 1);
  }

  /** The engine's grading of a member: its fixed one once probes were measured; none while offline. */
  private quality(m: Member): Quality | null {
    if (m.profile.online === false || !this.handshaken(m) || m.probes.length === 0) return null;
    return m.profile.quality ? { ...m.profile.quality } : null;
  }

  /** Loss over the member's recent probes, in percent (null before the first). */
  private lossPct(m: Member): number | null {
    return m.probes.length ? (m.probes.filter((x) => !x).length / m.probes.length) * 100 : null;
  }

  private peerStatus(m: Member): PeerStatus {
    const online = m.profile.online !== false;
    const up = this.handshaken(m);
    const loss = this.lossPct(m);
    const q = this.quality(m);
    return {
      name: m.name,
      public_key: m.public_key,
      virtual_ip: m.virtual_ip,
      online,
      connection: connectionOf(m.path, online),
      endpoint: up ? m.endpoint : null,
      rtt_ms: m.rtt,
      jitter_ms: m.jitter,
      loss_pct: loss,
      rx_bytes: m.rx,
      tx_bytes: m.tx,
      last_handshake_secs: up ? (m.age - (m.profile.handshakeAfter ?? 1)) % 120 : null,
      path: m.path ? { ...m.path, since_secs: Math.max(0, m.age - m.pathAt) } : null,
      quality: q,
      quality_score: q?.score ?? null,
      grade: q?.grade ?? null,
      game: m.game ? { ...m.game } : null,
    };
  }

  /** classify_invite: the engine's answer from the fixture table. */
  classify(text: string, hasServer: boolean | null): JoinInput {
    return fakeClassify(text, hasServer);
  }

  /**
   * grade_connection: the fake does not grade. Numbers from the fixture table get their
   * grading; a member's own current numbers (what the UI grades from tunnel_stats) get that
   * member's fixed grading; anything else none.
   */
  grade(rttMs: number | null, jitterMs: number | null, lossPct: number | null): Quality | null {
    const known = FAKE_GRADES.find((g) => g.rtt_ms === rttMs && g.jitter_ms === jitterMs && g.loss_pct === lossPct);
    if (known) return { ...known.quality };
    const m = this.party?.members.find(
      (x) => (x.srtt ?? x.rtt) === rttMs && x.jitter === jitterMs && this.lossPct(x) === lossPct,
    );
    return m ? this.quality(m) : null;
  }

  /** The next invite code (the fixture's valid codes, in turn). */
  private nextCode(): { code: string; link: string } {
    return FAKE_CODES[this.codes++ % FAKE_CODES.length];
  }

  /**
   * Move a member's path to a new state: path_changed, then the party when the member's
   * connection changed with it (the engine re-sends the party on a connection change only).
   */
  private movePath(m: Member, next: Partial<PathStatus> & { state: string; reason: string }, emit = true) {
    const from = m.path?.state ?? "connecting";
    const online = m.profile.online !== false;
    const before = connectionOf(m.path, online);
    m.path = {
      local_candidate: null,
      remote_candidate: null,
      relay: null,
      ...(m.path ?? {}),
      ...next,
      since_secs: 0,
    };
    m.pathAt = m.age;
    if (emit) {
      this.deps.emit({ type: "path_changed", peer: m.public_key, name: m.name, from, to: next.state, reason: next.reason });
      if (connectionOf(m.path, online) !== before) this.changed();
    }
  }

  /** The path each simulated friend ends up with after its first handshake. */
  private chosenPath(m: Member): Partial<PathStatus> & { state: string; reason: string } {
    const pr = m.profile;
    const local = pr.local ?? "srflx";
    const remote = pr.remote ?? "srflx";
    return {
      state: pr.relayed ? "relayed" : "direct",
      local_candidate: local,
      remote_candidate: remote,
      relay: pr.relayed ? FAKE_RELAY : null,
      reason: (pr.reason ?? "").replace(/\{name\}/g, m.name) || (pr.relayed ? "A direct path could not be opened, so traffic goes through the relay." : "Hole punching worked."),
    };
  }

  /**
   * Tests and the demo: a member starts (a game) or stops (null) playing; the party is sent
   * again, as the control server does after the member's `set_game`.
   */
  setMemberGame(who: string, game: GameRef | null): void {
    const m = this.party?.members.find((x) => x.name === who || x.public_key === who);
    if (!m) fail("unknown_member", `no member called \`${who}\` in the party`);
    if ((m.game?.id ?? null) === (game?.id ?? null) && (m.game?.name ?? null) === (game?.name ?? null)) return;
    m.game = game ? { ...game } : null;
    // the engine's party machine: the member's change, then the party
    this.deps.emit({ type: "member_game", name: m.name, game: m.game ? { ...m.game } : null });
    this.changed();
  }

  /** This device's game changed: the server sends everyone the party again (our own row is not in it). */
  ownGameChanged(): void {
    if (this.party) this.changed();
  }

  /** Tests: set a member's path now (emits path_changed, and party_changed when the connection changes). */
  setPath(who: string, next: Partial<PathStatus> & { state: string; reason: string }): void {
    const m = this.party?.members.find((x) => x.name === who || x.public_key === who);
    if (!m) fail("unknown_member", `no member called \`${who}\` in the party`);
    this.movePath(m, next);
  }

  status(): PartyStatus | null {
    const p = this.party;
    if (!p) return null;
    return {
      id: p.id,
      name: p.name,
      is_host: p.is_host,
      host_name: p.host_name,
      max_members: p.max_members,
      virtual_ip: p.virtual_ip,
      invite: p.is_host && p.invite ? { ...p.invite } : null,
      peers: p.members.map((m) => this.peerStatus(m)),
    };
  }

  tunnel(): DeviceStats | null {
    const p = this.party;
    if (!p) return null;
    return {
      interface: "lanrage0",
      public_key: this.deps.ownKey(),
      listen_port: 51820,
      addresses: [`${p.virtual_ip}/16`],
      mtu: 1420,
      rx_invalid: 0,
      rx_unknown_peer: 0,
      rx_rejected: 0,
      tx_no_route: 0,
      tx_no_endpoint: p.members.filter((m) => !this.handshaken(m)).length,
      peers: p.members
        .filter((m) => m.profile.online !== false)
        .map((m) => {
          const up = this.handshaken(m);
          const lost = m.probes.filter((x) => !x).length;
          return {
            public_key: m.public_key,
            endpoint: up ? m.endpoint : null,
            // the connection manager hands the tunnel an ICE connection once a path works
            via: up ? "conn" : "none",
            allowed_ips: [`${m.virtual_ip}/32`],
            rx_bytes: m.rx,
            tx_bytes: m.tx,
            rx_packets: Math.floor(m.rx / 120),
            tx_packets: Math.floor(m.tx / 120),
            last_handshake_secs: up ? (m.age - (m.profile.handshakeAfter ?? 1)) % 120 : null,
            dropped_spoofed: 0,
            dropped_not_for_us: 0,
            probe: {
              rtt_ms: m.rtt,
              srtt_ms: m.srtt,
              jitter_ms: m.jitter,
              loss: m.probes.length ? lost / m.probes.length : null,
              sent: m.sent,
              answered: m.answered,
            },
          };
        }),
    };
  }

  private changed() {
    this.deps.emit({ type: "party_changed", party: this.status() });
  }

  private setControl(c: ControlStatus) {
    this.control = c;
    this.deps.emit({ type: "control_changed", state: "connecting" });
    this.deps.emit({ type: "control_changed", state: c.state });
  }

  create(name: string): PartyStatus {
    if (this.party) fail("already_in_party", "you are already in a party; leave it first");
    const n = name.trim();
    if (!n) fail("invalid", "the party needs a name");
    if ([...n].length > 64) fail("invalid", "a party name has at most 64 characters");
    if (n.toUpperCase() === "NOPERM") fail("no_permission", FAKE_NO_PERMISSION);
    const { code, link } = this.nextCode();
    this.nextIp = 2;
    this.party = {
      id: code.replace(/-/g, "").slice(0, 8),
      name: n,
      is_host: true,
      host_name: this.deps.displayName(),
      max_members: 8,
      virtual_ip: "10.66.0.1",
      invite: { code, link, expires_at: null },
      members: [],
      arrivals: this.deps.demo
        ? [
            { at: 2, name: "Mira", profile: FRIENDS.Mira },
            { at: 4, name: "Dex", profile: FRIENDS.Dex },
            { at: 6, name: "Sol", profile: FRIENDS.Sol },
          ]
        : [],
      ticks: 0,
    };
    this.setControl({ state: "connected", server: "ws://127.0.0.1:7666", embedded: true });
    this.changed();
    return this.status()!;
  }

  join(text: string): PartyStatus {
    const t = text.trim();
    const magic = FAKE_JOIN_ERRORS[t.toUpperCase()];
    if (magic) throw { ...magic };
    if (this.party) fail("already_in_party", "you are already in a party; leave it first");
    const known = fakeJoinEntry(t);
    if (!known) fail("invalid_code", FAKE_UNKNOWN_INVITE);
    if (known.expect.kind !== "code" && known.expect.kind !== "link")
      fail("invalid_code", known.error ?? known.expect.hint);
    const server = known.expect.server;
    this.nextIp = 2;
    const host = this.member("Mira", FRIENDS.Mira, "10.66.0.1");
    const members = [host, this.member("Dex", FRIENDS.Dex), this.member("Sol", FRIENDS.Sol), this.member("Kai", FRIENDS.Kai)];
    this.party = {
      id: "MIRA0PTY",
      name: "Mira's party",
      is_host: false,
      host_name: "Mira",
      max_members: 8,
      virtual_ip: `10.66.0.${this.nextIp++}`,
      invite: null,
      members,
      arrivals: [],
      ticks: 0,
    };
    this.setControl({ state: "connected", server: server ?? (this.deps.controlServer() || FAKE_MEET_AT), embedded: false });
    this.changed();
    return this.status()!;
  }

  leave(): void {
    if (!this.party) fail("not_in_party", "you are not in a party");
    this.party = null;
    this.control = { state: "not_configured", server: null, embedded: false };
    this.changed();
  }

  private host(): Party {
    if (!this.party) fail("not_in_party", "you are not in a party");
    if (!this.party.is_host) fail("not_host", "only the host can do that");
    return this.party;
  }

  newInvite(ttlSecs: number | null): PartyStatus {
    const p = this.host();
    const { code, link } = this.nextCode();
    p.invite = {
      code,
      link,
      expires_at: ttlSecs ? Math.floor(Date.now() / 1000) + ttlSecs : null,
    };
    this.changed();
    return this.status()!;
  }

  revokeInvite(): void {
    this.host().invite = null;
    this.changed();
  }

  kick(who: string): void {
    const p = this.host();
    const m = p.members.find((x) => x.name === who || x.virtual_ip === who || x.public_key === who);
    if (!m) fail("unknown_member", `no member called \`${who}\` in the party`);
    p.members = p.members.filter((x) => x !== m);
    this.deps.emit({ type: "member_left", name: m.name });
    this.changed();
  }

  close(): void {
    this.host();
    this.party = null;
    this.control = { state: "not_configured", server: null, embedded: false };
    this.changed();
  }

  /** A friend joins now (tests and the demo). */
  addMember(name: string, profile: Profile = FRIENDS[name] ?? FRIENDS.Mira): PeerStatus {
    if (!this.party) fail("not_in_party", "you are not in a party");
    const m = this.member(name, profile);
    this.party.members.push(m);
    this.deps.emit({ type: "member_joined", name });
    this.changed();
    return this.peerStatus(m);
  }

  /** The members as the metrics collector sees them (`metrics` event peers, without the minute series). */
  metricsPeers(nowMs: number): MetricsPeer[] {
    const p = this.party;
    if (!p) return [];
    return p.members
      .map((m) => {
        const st = this.peerStatus(m);
        const since = nowMs - Math.max(0, m.age - m.pathAt) * 1000;
        return {
          public_key: m.public_key,
          name: m.name,
          connection: st.connection,
          connection_since_ms: since,
          first_seen_ms: nowMs - m.age * 1000,
          time_in_state_ms: { [st.connection]: Math.max(0, m.age - m.pathAt) * 1000 },
          rtt_ms: m.srtt ?? m.rtt,
          jitter_ms: m.jitter,
          loss: st.loss_pct === null ? null : st.loss_pct / 100,
          rx_bytes_total: m.rx,
          tx_bytes_total: m.tx,
          rx_packets_total: Math.floor(m.rx / 120),
          tx_packets_total: Math.floor(m.tx / 120),
          rx_bytes_per_sec: this.handshaken(m) ? m.rxRate : null,
          tx_bytes_per_sec: this.handshaken(m) ? m.txRate : null,
          rx_packets_per_sec: this.handshaken(m) ? Math.floor(m.rxRate / 120) : null,
          tx_packets_per_sec: this.handshaken(m) ? Math.floor(m.txRate / 120) : null,
          quality: this.quality(m),
          minute: [],
        };
      })
      .sort((a, b) => (a.public_key < b.public_key ? -1 : 1));
  }

  /** Bytes a second the party's traffic adds to the machine's network (received, sent). */
  trafficRates(): { rx: number; tx: number } {
    let rx = 0;
    let tx = 0;
    for (const m of this.party?.members ?? []) {
      if (!this.handshaken(m)) continue;
      rx += m.rxRate;
      tx += m.txRate;
    }
    return { rx, tx };
  }

  /** The connection manager's decisions for one member in this tick. */
  private pathTick(m: Member) {
    if (!m.path) return;
    const pr = m.profile;
    const up = pr.handshakeAfter ?? 1;
    if (m.path.state === "connecting" && m.age >= up) this.movePath(m, this.chosenPath(m));
    else if (this.deps.demo && pr.degradeAt && m.age === pr.degradeAt && m.path.state === "direct")
      this.movePath(m, {
        state: "degraded",
        reason: "3 keepalives in a row went unanswered on the hole-punched path; LANrage is checking it and the relay.",
      });
    else if (this.deps.demo && pr.degradeAt && m.age === pr.degradeAt + 3 && m.path.state === "degraded")
      this.movePath(m, { ...this.chosenPath(m), reason: "Keepalives are answered again on the hole-punched path, so it stays direct." });
  }

  /** One second of simulated life: arrivals, probes, traffic; then a tunnel_stats event. */
  tick(): void {
    const p = this.party;
    if (!p) return;
    p.ticks++;
    for (const a of p.arrivals.filter((x) => x.at === p.ticks)) this.addMember(a.name, a.profile);
    const r = this.deps.random;
    for (const m of p.members) {
      m.age++;
      this.pathTick(m);
      if (!this.handshaken(m)) continue;
      m.sent++;
      // like a real link, the first few probes of a fresh session get through
      const lost = m.probes.length >= 5 && r() < m.profile.lossChance;
      m.probes.push(!lost);
      if (m.probes.length > 30) m.probes.shift();
      if (!lost) {
        m.answered++;
        const sample = Math.max(0.3, m.profile.rtt + (r() * 2 - 1) * m.profile.spread);
        if (m.rtt !== null) {
          const d = Math.abs(sample - m.rtt);
          m.jitter = (m.jitter ?? 0) + (d - (m.jitter ?? 0)) / 16;
        }
        m.srtt = m.srtt === null ? sample : m.srtt + (sample - m.srtt) / 8;
        m.rtt = sample;
      }
      m.rxRate = 1500 + Math.floor(r() * 60_000);
      m.txRate = 1500 + Math.floor(r() * 40_000);
      m.rx += m.rxRate;
      m.tx += m.txRate;
    }
    const tunnel = this.tunnel();
    if (tunnel) this.deps.emit({ type: "tunnel_stats", tunnel });
  }
}
