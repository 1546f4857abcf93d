import { describe, expect, it } from "vitest";
import { connectionLabel, connectionWhy, formatBytes, formatMs, formatPct, livePeer, livePeers, pathChanges, peerBadge } from "./peers";
import type { PathState, PathStatus, Quality } from "./types";
import { partyOf, peer, stats } from "./testFixtures";

describe("live peers", () => {
  it("lays the latest tunnel numbers over the party snapshot, by public key", () => {
    const p = peer("Mira", { connection: "direct", rtt_ms: 99 });
    const v = livePeer(p, stats([{ key: "Mira-KEY=", rtt: 12, jitter: 2, loss: 0.01 }, { key: "OTHER=", rtt: 500 }]));
    expect(v).toMatchObject({ rtt_ms: 12, jitter_ms: 2, loss_pct: 1, rx_bytes: 100, endpoint: "203.0.113.5:51820" });
    // the UI does not grade: no grading from the engine, no grade
    expect(v.quality).toBeNull();
    // no tunnel numbers: the snapshot's are kept
    expect(livePeer(p, null)).toMatchObject({ rtt_ms: 99 });
    expect(livePeers(null, null)).toEqual([]);
  });

  const graded = (score: number, grade: Quality["grade"]): Quality => ({
    score,
    grade,
    latency: score,
    jitter: 100,
    loss: 100,
    limited_by: "latency",
  });

  it("shows the engine's grade: the live one by public key, else the snapshot's, none while offline", () => {
    const snap = graded(52, "C");
    const live = graded(91, "A");
    const p = peer("Mira", { connection: "direct", quality: snap });
    expect(livePeer(p, null).quality).toEqual(snap);
    expect(livePeer(p, null, {}).quality).toEqual(snap);
    expect(livePeer(p, null, { "OTHER=": live }).quality).toEqual(snap);
    expect(livePeer(p, null, { "Mira-KEY=": live }).quality).toEqual(live);
    // the engine says nothing is measured now
    expect(livePeer(p, null, { "Mira-KEY=": null }).quality).toBeNull();
    // an older engine without the field
    expect(livePeer(peer("Mira", { connection: "direct" }), null).quality).toBeNull();
    const off = peer("Kai", { online: false, connection: "offline", quality: snap });
    expect(livePeer(off, null, { "Kai-KEY=": live }).quality).toBeNull();
    expect(livePeers(partyOf([p, off]), null, { "Mira-KEY=": live }).map((x) => x.quality?.grade ?? null)).toEqual(["A", null]);
  });

  it("applies the engine's rule between snapshots: a fresh handshake is direct", () => {
    const p = peer("Sol", { connection: "connecting" });
    expect(livePeer(p, stats([{ key: "Sol-KEY=", handshake: null }])).connection).toBe("connecting");
    expect(livePeer(p, stats([{ key: "Sol-KEY=", handshake: 3 }])).connection).toBe("direct");
    expect(livePeer(peer("Sol", { connection: "direct" }), stats([{ key: "Sol-KEY=", handshake: 181 }])).connection).toBe(
      "connecting",
    );
    // relayed and offline stay what the engine says
    expect(livePeer(peer("Dex", { connection: "relayed" }), stats([{ key: "Dex-KEY=", handshake: 1 }])).connection).toBe(
      "relayed",
    );
    const off = livePeer(peer("Kai", { online: false, connection: "offline" }), stats([{ key: "Kai-KEY=", rtt: 5 }]));
    expect(off.connection).toBe("offline");
    expect(off.quality).toBeNull();
  });

  it("notes connection and path changes between two views", () => {
    const before = { party: partyOf([peer("Sol")]), tunnel: stats([{ key: "Sol-KEY=", handshake: null, endpoint: null }]) };
    const after = { party: before.party, tunnel: stats([{ key: "Sol-KEY=", handshake: 1, endpoint: "203.0.113.9:1" }]) };
    expect(pathChanges(before, after)).toEqual({
      connections: [{ key: "Sol-KEY=", name: "Sol", from: "connecting", to: "direct" }],
      endpoints: ["Sol reached at 203.0.113.9:1."],
    });
    const moved = { party: before.party, tunnel: stats([{ key: "Sol-KEY=", handshake: 1, endpoint: "198.51.100.2:7" }]) };
    expect(pathChanges(after, moved)).toEqual({ connections: [], endpoints: ["Sol's path moved from 203.0.113.9:1 to 198.51.100.2:7."] });
    const none = { connections: [], endpoints: [] };
    expect(pathChanges(after, after)).toEqual(none);
    // another party or none: nothing to compare
    expect(pathChanges(after, { party: partyOf([], { id: "OTHER" }), tunnel: null })).toEqual(none);
    expect(pathChanges({ party: null, tunnel: null }, after)).toEqual(none);
  });

  // `state` may be one this app does not know (a newer engine's)
  const path = (state: string, over: Partial<PathStatus> = {}): PathStatus => ({
    state: state as PathState,
    local_candidate: "srflx",
    remote_candidate: "host",
    relay: null,
    reason: "hole punching worked",
    since_secs: 3,
    ...over,
  });

  it("with the engine's path, the badge follows the path, not the handshake rule", () => {
    const tunnel = stats([{ key: "Dex-KEY=", handshake: 1 }]);
    const relayed = path("relayed", { local_candidate: "relay", remote_candidate: "srflx", relay: "203.0.113.2:3478" });
    expect(livePeer(peer("Dex", { connection: "connecting", path: path("connecting") }), tunnel).connection).toBe("connecting");
    expect(livePeer(peer("Dex", { connection: "relayed", path: relayed }), tunnel).connection).toBe("relayed");
    expect(livePeer(peer("Dex", { connection: "direct", path: path("failed") }), tunnel).connection).toBe("failed");
    expect(livePeer(peer("Dex", { path: path("reconnecting") }), tunnel).connection).toBe("connecting");
    // degraded keeps the kind of path it degrades
    expect(livePeer(peer("Dex", { path: path("degraded") }), tunnel).connection).toBe("direct");
    expect(livePeer(peer("Dex", { path: { ...relayed, state: "degraded" } }), tunnel).connection).toBe("relayed");
    // an unknown state keeps the engine's connection; offline wins over any path
    expect(livePeer(peer("Dex", { connection: "relayed", path: path("warp") }), null).connection).toBe("relayed");
    expect(livePeer(peer("Dex", { online: false, path: path("direct") }), tunnel).connection).toBe("offline");
  });

  it("badge tooltip: from the path's reason and candidates, else the connection as before", () => {
    const dex = livePeer(
      peer("Dex", {
        connection: "relayed",
        path: path("relayed", { local_candidate: "relay", remote_candidate: "srflx", relay: "203.0.113.2:3478", reason: "Punching timed out" }),
      }),
      null,
    );
    expect(peerBadge(dex)).toEqual({
      connection: "relayed",
      label: "Relayed",
      tip: "Relayed. Punching timed out. Your side: relay; Dex's side: internet (hole punched). Relay: 203.0.113.2:3478.",
      degraded: false,
    });
    const mira = peerBadge(livePeer(peer("Mira", { path: path("degraded", { local_candidate: "host" }) }), null));
    expect(mira).toMatchObject({ connection: "direct", label: "Degraded", degraded: true });
    expect(mira.tip).toContain("Your side: LAN; Mira's side: LAN.");
    // no path: exactly the old badge
    const sol = peerBadge(livePeer(peer("Sol", { connection: "relayed" }), null));
    expect(sol).toEqual({ connection: "relayed", label: "Relayed", tip: connectionWhy("relayed"), degraded: false });
    expect(peerBadge(livePeer(peer("Sol", { path: null }), null)).tip).toBe(connectionWhy("connecting"));
    expect(connectionLabel("failed")).toBe("Failed");
    expect(connectionWhy("failed")).toContain("could not open a path");
  });

  it("labels, tooltips and number formats", () => {
    expect(connectionLabel("relayed")).toBe("Relayed");
    expect(connectionLabel("degraded")).toBe("Degraded");
    expect(connectionWhy("direct")).toContain("Peer to peer over the internet or LAN");
    expect(connectionWhy("relayed")).toContain("because a direct path");
    expect(connectionWhy("connecting")).toContain("first WireGuard handshake");
    expect(formatMs(null)).toBe("–");
    expect(formatMs(3.14159)).toBe("3.1 ms");
    expect(formatMs(42.6)).toBe("43 ms");
    expect(formatPct(0)).toBe("0%");
    expect(formatPct(3.333)).toBe("3.3%");
    expect(formatPct(Number.NaN)).toBe("–");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MiB");
  });
});
