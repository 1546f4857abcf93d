import { describe, expect, it } from "vitest";
import {
  candidateLabel,
  connectionOfPath,
  natView,
  pathStateLabel,
  pathTooltip,
  relaysInUse,
  routeText,
  updatePathSince,
} from "./paths";
import { peer } from "./testFixtures";
import type { NatStatus, PathState, PathStatus } from "./types";

// `state` may be one this app does not know (a newer engine's)
const path = (state: string, over: Partial<PathStatus> = {}): PathStatus => ({
  state: state as PathState,
  local_candidate: null,
  remote_candidate: null,
  relay: null,
  reason: "",
  since_secs: 0,
  ...over,
});

describe("NAT in words", () => {
  it("says what each type means, with the engine's summary and the public address", () => {
    const cone = natView({ kind: "cone", public_addr: "198.51.100.4:51820", summary: "Your router keeps the same port." });
    expect(cone).toMatchObject({ title: "Cone NAT", summary: "Your router keeps the same port.", publicAddr: "198.51.100.4:51820", tone: "ok", check: null });
    expect(cone.meaning).toContain("Direct connections work");
    expect(natView({ kind: "open", public_addr: null, summary: "" }).title).toBe("Open (no NAT)");
    const sym = natView({ kind: "symmetric", public_addr: null, summary: "" });
    expect(sym.tone).toBe("warn");
    expect(sym.meaning).toContain("relay");
  });

  it("UDP blocked: relay only, no direct connections, and what to check", () => {
    const v = natView({ kind: "udp_blocked", public_addr: null, summary: "No STUN server answered." });
    expect(v.title).toBe("UDP blocked");
    expect(v.tone).toBe("bad");
    expect(v.meaning).toMatch(/cannot connect to anyone directly/);
    expect(v.meaning).toMatch(/only reach players through a relay/);
    expect(v.check).toMatch(/firewall/);
    expect(v.check).toMatch(/another network/);
  });

  it("not measured, an older engine, and a kind this app does not know", () => {
    expect(natView(null)).toMatchObject({ kind: "none", title: "Not measured yet", tone: "idle" });
    expect(natView(undefined)).toMatchObject({ kind: "legacy", title: "Not measured yet" });
    expect(natView(undefined).meaning).toContain("does not measure");
    const newer = { kind: "double_nat", public_addr: null, summary: "Two routers." } as unknown as NatStatus;
    expect(natView(newer)).toMatchObject({
      title: "Double nat",
      summary: "Two routers.",
      tone: "idle",
    });
  });
});

describe("paths in words", () => {
  it("candidate types as a player says them", () => {
    expect(candidateLabel("host")).toBe("LAN");
    expect(candidateLabel("srflx")).toBe("internet (hole punched)");
    expect(candidateLabel("prflx")).toBe("internet (hole punched)");
    expect(candidateLabel("relay")).toBe("relay");
    expect(candidateLabel(null)).toBe("–");
    expect(candidateLabel("quic")).toBe("quic");
  });

  it("states, badges and tooltips", () => {
    expect(pathStateLabel("reconnecting")).toBe("Reconnecting");
    expect(pathStateLabel("half_open")).toBe("Half open");
    expect(connectionOfPath(path("direct"))).toBe("direct");
    expect(connectionOfPath(path("degraded", { relay: "203.0.113.2:3478" }))).toBe("relayed");
    expect(connectionOfPath(path("degraded", { local_candidate: "relay" }))).toBe("relayed");
    expect(connectionOfPath(path("degraded", { local_candidate: "host" }))).toBe("direct");
    expect(connectionOfPath(path("degraded"))).toBe("connecting"); // no pair ever chosen
    expect(connectionOfPath(path("failed"))).toBe("failed");
    expect(connectionOfPath(path("warp"))).toBeNull();
    expect(routeText(path("connecting"), "Sol")).toBe("");
    expect(routeText(path("direct", { local_candidate: "host", remote_candidate: "srflx" }), "Sol")).toBe(
      "Your side: LAN; Sol's side: internet (hole punched).",
    );
    expect(pathTooltip(path("connecting", { reason: "trying Sol's addresses" }), "Sol")).toBe("Connecting. Trying Sol's addresses.");
    expect(pathTooltip(path("failed"), "Sol")).toBe("Failed.");
  });

  it("relays in use, with the members they carry", () => {
    const r = "203.0.113.2:3478";
    const peers = [
      peer("Dex", { path: path("relayed", { relay: r }) }),
      peer("Ana", { path: path("degraded", { relay: r }) }),
      peer("Bo", { path: path("relayed", { relay: "192.0.2.9:3478" }) }),
      peer("Cy", { online: false, path: path("relayed", { relay: "192.0.2.1:3478" }) }),
      peer("Ed", { path: path("failed", { relay: "192.0.2.2:3478" }) }),
      peer("Mira", { path: path("direct") }),
      peer("Old"),
    ];
    expect(relaysInUse(peers)).toEqual([
      { relay: r, names: ["Dex", "Ana"] },
      { relay: "192.0.2.9:3478", names: ["Bo"] },
    ]);
  });

  it("path start times: kept while the state stays, moved when it changes, dropped with the peer", () => {
    const a = updatePathSince({}, [peer("Sol", { path: path("direct", { since_secs: 10 }) }), peer("Old")], 100_000);
    expect(a).toEqual({ "Sol-KEY=": { state: "direct", at: 90_000 } });
    expect(updatePathSince(a, [peer("Sol", { path: path("direct", { since_secs: 21 }) })], 110_000)).toBe(a);
    expect(updatePathSince(a, [peer("Sol", { path: path("relayed", { since_secs: 1 }) })], 110_000)).toEqual({
      "Sol-KEY=": { state: "relayed", at: 109_000 },
    });
    expect(updatePathSince(a, [], 110_000)).toEqual({});
    expect(updatePathSince({}, null, 0)).toEqual({});
  });
});
