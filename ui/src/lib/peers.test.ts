import { describe, expect, it } from "vitest";
import { connectionLabel, connectionWhy, formatBytes, formatMs, formatPct, livePeer, livePeers, pathChanges } from "./peers";
import { partyOf, peer, stats } from "./testFixtures";

describe("live peers", () => {
  it("lays the latest tunnel numbers over the party snapshot, by public key", () => {
    const p = peer("Mira", { connection: "direct", rtt_ms: 99 });
    const v = livePeer(p, stats([{ key: "Mira-KEY=", rtt: 12, jitter: 2, loss: 0.01 }, { key: "OTHER=", rtt: 500 }]));
    expect(v).toMatchObject({ rtt_ms: 12, jitter_ms: 2, loss_pct: 1, rx_bytes: 100, endpoint: "203.0.113.5:51820" });
    expect(v.quality?.grade).toBe("A");
    // no tunnel numbers: the snapshot's are kept
    expect(livePeer(p, null)).toMatchObject({ rtt_ms: 99 });
    expect(livePeers(null, null)).toEqual([]);
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
    expect(pathChanges(before, after)).toEqual(["Sol: connecting → direct.", "Sol reached at 203.0.113.9:1."]);
    const moved = { party: before.party, tunnel: stats([{ key: "Sol-KEY=", handshake: 1, endpoint: "198.51.100.2:7" }]) };
    expect(pathChanges(after, moved)).toEqual(["Sol's path moved from 203.0.113.9:1 to 198.51.100.2:7."]);
    expect(pathChanges(after, after)).toEqual([]);
    // another party or none: nothing to compare
    expect(pathChanges(after, { party: partyOf([], { id: "OTHER" }), tunnel: null })).toEqual([]);
    expect(pathChanges({ party: null, tunnel: null }, after)).toEqual([]);
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
