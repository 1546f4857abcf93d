// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import App from "./App.svelte";
import { createFakeBridge, FAKE_NAT, type FakeBridge } from "./lib/fakeBridge";
import { FAKE_SETTING_DEFS } from "./lib/fakeBridge";
import { FAKE_CODES } from "./lib/fakeFixtures";
import { graded, metricsOf } from "./lib/testFixtures";
import type { JoinInput } from "./lib/types";
import { PAGES } from "./lib/pages";
import { SESSIONS_LIMIT, SESSIONS_REFRESH_MS } from "./lib/sessions";

let app: Record<string, unknown> | null = null;

async function settle() {
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 0));
    await tick();
  }
  flushSync();
}

async function start(bridge: FakeBridge = createFakeBridge()) {
  document.body.innerHTML = '<div id="app"></div>';
  app = mount(App, { target: document.getElementById("app")!, props: { bridge } });
  await settle();
  return bridge;
}

const $ = <T extends Element = HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const text = (sel: string) => ($(sel)?.textContent ?? "").trim();

async function change(sel: string, value: string) {
  const el = $<HTMLInputElement | HTMLTextAreaElement>(sel);
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
  el.dispatchEvent(new Event("change", { bubbles: true }));
  await settle();
}

async function click(sel: string) {
  $<HTMLElement>(sel).click();
  await settle();
}

async function finishFirstRun() {
  if ($("#first-run")) await click("#first-run-continue");
  expect($("#first-run")).toBeNull();
}

afterEach(() => {
  if (app) unmount(app);
  app = null;
  vi.useRealTimers();
  localStorage.clear();
  history.replaceState(null, "", "#/");
});

describe("App with the fake bridge", () => {
  it("renders the page with every id the end-to-end test relies on", async () => {
    await start();
    expect(text("#welcome")).toContain("one virtual LAN");
    expect(text("#engine-state")).toBe("Running");
    expect(text("#device-name")).toBe("Player");
    expect(text("#device-public-key")).toMatch(/=$/);
    expect($("#copy-public-key")).toBeTruthy();
    expect(text("#device-data-dir")).toContain("lanrage");
    expect(text("#party-state")).toBe("No party yet");
    expect($("#engine-status")).toBeTruthy();
    for (const p of PAGES) expect($(`#nav-${p.id}`), p.id).toBeTruthy();
    // a fresh device with the default name gets the first-run screen over the app
    expect($("#first-run")).toBeTruthy();
    expect($<HTMLInputElement>("#first-run-name").value).toBe("Player");
    for (const { key } of FAKE_SETTING_DEFS) {
      const input = $<HTMLInputElement>(`#setting-${key}`);
      expect(input, key).toBeTruthy();
      expect(input.getAttribute("name")).toBe(`setting-${key}`);
      expect($(`#error-${key}`), key).toBeTruthy();
      // label bound to the input
      expect($(`label[for="setting-${key}"]`), key).toBeTruthy();
    }
    expect($<HTMLInputElement>("#setting-mtu").value).toBe("1420");
    expect($<HTMLInputElement>("#setting-mtu").type).toBe("number");
    expect($<HTMLInputElement>("#setting-mtu").min).toBe("1280");
    expect($<HTMLInputElement>("#setting-relay_only").type).toBe("checkbox");
    expect($("#setting-mode").tagName).toBe("SELECT");
    expect($("#setting-stun_servers").tagName).toBe("TEXTAREA");
    expect($<HTMLInputElement>("#setting-display_name").type).toBe("text");
    // groups in order
    const legends = [...document.querySelectorAll("legend")].map((l) => l.textContent);
    expect(legends).toEqual(["Profile", "Network", "Servers", "Features", "Discord", "App"]);
  });

  it("first run: a name is chosen once, saved as the display name, and the screen stays away", async () => {
    const b = await start();
    const spy = vi.spyOn(b, "setSetting");
    expect(text("#first-run-about")).toContain("virtual LAN");
    expect($(".shell").hasAttribute("inert")).toBe(true);
    await change("#first-run-name", "   ");
    $<HTMLFormElement>("#first-run-name").form!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await settle();
    expect(text("#first-run-error")).toBe("Choose a name your friends will recognise.");
    await change("#first-run-name", "Nova");
    await click("#first-run-continue");
    expect(spy).toHaveBeenLastCalledWith("display_name", "Nova");
    expect($("#first-run")).toBeNull();
    expect($(".shell").hasAttribute("inert")).toBe(false);
    expect(text("#device-name")).toBe("Nova");
    expect($<HTMLInputElement>("#party-name").value).toBe("Nova's party");
    // the same device keeps Player after choosing it: no second first run
    unmount(app!);
    await b.setSetting("display_name", "Player");
    await start(b);
    expect($("#first-run")).toBeNull();
  });

  it("shows the engine's validation message next to the field, then clears it on a good value", async () => {
    const b = await start();
    await change("#setting-mtu", "99999");
    expect(text("#error-mtu")).toBe("MTU must be from 1280 to 9000 (got 99999).");
    expect($("#setting-mtu").getAttribute("aria-invalid")).toBe("true");
    expect(text("#saved-mtu")).toBe("");

    await change("#setting-mtu", "1400");
    expect(text("#error-mtu")).toBe("");
    expect(text("#saved-mtu")).toBe("Saved");
    expect((await b.listSettings()).find((s) => s.key === "mtu")?.value).toBe(1400);
    expect(text("#engine-status li")).toContain("MTU changed.");
  });

  it("catches integer parse errors before sending", async () => {
    const b = await start();
    const spy = vi.spyOn(b, "setSetting");
    await change("#setting-listen_port", "12.5");
    expect(text("#error-listen_port")).toBe("“12.5” is not a whole number.");
    expect(spy).not.toHaveBeenCalled();
  });

  it("saves on Enter once (no second save from the change that follows)", async () => {
    const b = await start();
    const spy = vi.spyOn(b, "setSetting");
    const el = $<HTMLInputElement>("#setting-display_name");
    el.value = "Neo";
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    el.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy).toHaveBeenCalledWith("display_name", "Neo");
    expect(text("#saved-display_name")).toBe("Saved");
    expect(text("#device-name")).toBe("Neo");
  });

  it("shows the display name rule from the engine", async () => {
    await start();
    await change("#setting-display_name", "x".repeat(40));
    expect(text("#error-display_name")).toBe("Display name must be at most 32 characters.");
    await change("#setting-display_name", "   ");
    expect(text("#error-display_name")).toBe("Display name must not be empty.");
  });

  it("never prefills secrets and shows Set / Not set", async () => {
    const b = await start();
    const input = $<HTMLInputElement>("#setting-discord_webhook_url");
    expect(input.type).toBe("password");
    expect(input.placeholder).toBe("Not set");
    await change("#setting-discord_webhook_url", "https://discord.example/api/webhooks/1");
    expect(input.value).toBe("");
    expect(input.placeholder).toBe("Set");
    expect(document.body.innerHTML).not.toContain("discord.example");
    expect((await b.listSettings()).find((s) => s.key === "discord_webhook_url")?.is_set).toBe(true);
    // an empty secret input keeps the stored secret; Clear removes it
    const spy = vi.spyOn(b, "setSetting");
    await change("#setting-discord_webhook_url", "");
    expect(spy).not.toHaveBeenCalled();
    await click("#reset-discord_webhook_url");
    expect(input.placeholder).toBe("Not set");
  });

  it("the Discord bot's state sits under its settings, follows its events, and the token never shows", async () => {
    const b = await start();
    expect(text("#discord-bot-status")).toContain("Bot: off");
    expect(text("#discord-bot-message")).toContain("set a bot token and a channel ID");
    await change("#setting-discord_bot_channel_id", "123456789012345678");
    await change("#setting-discord_bot_token", "bot-token-secret-value");
    expect(text("#discord-bot-status")).toContain("Bot: online");
    expect(text("#discord-bot-message")).toContain("123456789012345678");
    expect($<HTMLInputElement>("#setting-discord_bot_token").placeholder).toBe("Set");
    expect(document.body.innerHTML).not.toContain("bot-token-secret-value");
    // what the engine reports later (a token Discord refused) replaces it
    b.emit({
      type: "discord_bot_changed",
      bot: { state: "token_rejected", message: "Discord rejected the bot token." },
    });
    await settle();
    expect(text("#discord-bot-status")).toContain("Bot: token rejected");
    expect($("#discord-bot-status").className).toContain("bot-token_rejected");
  });

  it("turns list text into string[] and toggles booleans", async () => {
    const b = await start();
    const spy = vi.spyOn(b, "setSetting");
    await change("#setting-stun_servers", "a.example:1, b.example:2\n");
    expect(spy).toHaveBeenLastCalledWith("stun_servers", ["a.example:1", "b.example:2"]);
    expect($<HTMLTextAreaElement>("#setting-stun_servers").value).toBe("a.example:1\nb.example:2");
    await change("#setting-stun_servers", "bad");
    expect(text("#error-stun_servers")).toBe("Extra STUN servers must be HOST:PORT (got “bad”).");

    await click("#setting-relay_only");
    expect(spy).toHaveBeenLastCalledWith("relay_only", true);
    expect(text("#saved-relay_only")).toBe("Saved");
    expect($<HTMLInputElement>("#setting-relay_only").checked).toBe(true);
  });

  it("party: create shows the invite code and copy buttons; leave goes back", async () => {
    const b = await start();
    await finishFirstRun();
    const spy = vi.spyOn(b, "createParty");
    expect(text("#party-create-error")).toBe("");
    expect($<HTMLInputElement>("#party-name").value).toBe("Player's party");
    await click("#party-create");
    expect(spy).toHaveBeenCalledWith("Player's party");
    expect(text("#party-state")).toBe("In Player's party");
    expect(text("#party-role")).toContain("You are the host");
    expect(text("#party-virtual-ip")).toBe("10.66.0.1");
    const code = text("#party-invite-code");
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}-[0-9A-Z]{2}$/);
    expect(text("#party-invite-expiry")).toContain("Never expires");
    await click("#copy-invite-code");
    await click("#copy-invite-link");
    expect(b.copied).toEqual([code, expect.stringMatching(/^lanrage:\/\/join\/.+\?server=ws%3A%2F%2F/)]);
    expect(text("#copy-invite-code")).toBe("Copied");
    await new Promise((r) => setTimeout(r, 80)); // the debounced status re-read
    await settle();
    expect(text("#peer-self")).toContain("Player");
    expect(text("#peer-empty")).toContain("Nobody else here yet");
    expect(text("#nav-party-line")).toContain("Player's party");

    expect(text("#device-mode")).toContain("control server hosted on this machine");

    await click("#party-leave");
    expect(text("#party-state")).toBe("No party yet");
    expect($("#party-create")).toBeTruthy();
    // the status is re-read after party events: the embedded control server is gone
    await new Promise((r) => setTimeout(r, 80));
    await settle();
    expect(text("#device-mode")).toContain("control server not configured");
  });

  it("join errors: the engine's sentence next to Join, and the setcap fix for no permission", async () => {
    const b = await start();
    await finishFirstRun();
    const join = vi.spyOn(b, "joinParty");
    await change("#party-code", "  WRONG ");
    await click("#party-join");
    expect(join).toHaveBeenCalledWith("WRONG");
    expect(text("#party-join-error")).toBe("This invite code does not match any party.");
    expect($("#party-join-error").getAttribute("data-code")).toBe("wrong_code");

    await change("#party-code", "ABCD-1234-EFGH");
    expect(text("#party-code-hint")).toBe("12 of 22 characters so far.");
    await click("#party-join");
    expect(text("#party-join-error")).toBe("An invite code has 22 letters and digits (dashes optional); this one has 12.");

    await change("#party-code", "noperm");
    await click("#party-join");
    expect(text("#party-join-error")).toContain("CAP_NET_ADMIN");
    expect(text("#party-join-error-fix-command")).toBe("sudo setcap cap_net_admin+ep /usr/bin/lanrage-app");
    await click("#party-join-error-fix-copy");
    expect(b.copied).toEqual(["sudo setcap cap_net_admin+ep /usr/bin/lanrage-app"]);

    // an empty field is caught before anything is sent
    join.mockClear();
    await change("#party-code", "");
    await click("#party-join");
    expect(join).not.toHaveBeenCalled();
    expect(text("#party-join-error")).toBe("Paste the invite code or link first.");
  });

  it("join with a code lists the members with live RTT, grades and sparklines", async () => {
    const b = await start();
    await finishFirstRun();
    await change("#party-code", FAKE_CODES[3].code);
    expect($("#party-code-hint").getAttribute("data-kind")).toBe("code");
    // no control server is set: the engine says a bare code needs the link
    expect(text("#party-code-hint")).toBe(
      `Code ${FAKE_CODES[3].code}. No control server is set, so this needs the whole invite link (lanrage://join/…) instead.`,
    );
    await click("#party-join");
    expect(text("#party-role")).toContain("Mira is the host");
    expect(text("#party-invite-member")).toContain("Ask Mira");
    expect($("#party-invite-code")).toBeNull();
    const rows = () => [...document.querySelectorAll<HTMLElement>("#peer-list tr.peer[data-key]")];
    expect(rows().map((r) => r.dataset.name)).toEqual(["Mira", "Dex", "Sol", "Kai"]);
    expect(rows().map((r) => r.dataset.connection)).toEqual(["connecting", "connecting", "connecting", "offline"]);
    expect(text('#peer-list tr[data-name="Sol"] .peer-conn .tip-text')).toContain("Trying Sol's addresses");
    for (let i = 0; i < 5; i++) b.tick();
    await settle();
    expect(rows().map((r) => r.dataset.connection)).toEqual(["direct", "relayed", "direct", "offline"]);
    const mira = $('#peer-list tr[data-name="Mira"]');
    expect(mira.querySelector(".peer-rtt")!.textContent).toMatch(/^\d+ ms$/);
    expect(mira.querySelector(".peer-grade")!.getAttribute("data-grade")).toBe("A");
    // the badge explains the engine's path: its reason and the candidate types
    const miraTip = mira.querySelector(".peer-conn .tip-text")!.textContent!;
    expect(miraTip).toContain("Mira is on your local network");
    expect(miraTip).toContain("Your side: LAN; Mira's side: LAN.");
    expect(Number(mira.querySelector(".peer-spark")!.getAttribute("data-points"))).toBeGreaterThan(0);
    const dex = $('#peer-list tr[data-name="Dex"]');
    const dexTip = dex.querySelector(".peer-conn .tip-text")!.textContent!;
    expect(dexTip).toMatch(/^Relayed\. Hole punching timed out/);
    expect(dexTip).toContain("Your side: relay; Dex's side: internet (hole punched). Relay: 203.0.113.2:3478.");
    expect(text('#peer-list tr[data-name="Sol"] .peer-conn .tip-text')).toContain("Sol's side: internet (hole punched)");
    expect(dex.querySelector(".peer-grade")!.getAttribute("data-grade")).toMatch(/^[A-F]$/);
    const kai = $('#peer-list tr[data-name="Kai"]');
    expect(kai.querySelector(".peer-grade")!.getAttribute("data-grade")).toBe("");
    expect(kai.querySelector(".peer-grade")!.textContent!.trim()).toMatch(/^– Not graded yet/);
    expect(document.querySelectorAll(".peer-kick")).toHaveLength(0); // members cannot kick
  });

  it("the join hint is the engine's answer for what the field holds now; late answers are dropped", async () => {
    const b = await start();
    await finishFirstRun();
    expect(text("#party-code-hint")).toBe("Paste the invite code or the whole invite link your host sent.");
    const real = b.classifyInvite.bind(b);
    const pending = new Map<string, () => void>();
    const classify = vi.spyOn(b, "classifyInvite").mockImplementation(
      (t, has) => new Promise<JoinInput>((resolve) => pending.set(t, () => resolve(real(t, has)))),
    );
    await change("#party-code", "ABCD-1234");
    await change("#party-code", "ABCD-1234-EFGH");
    expect(classify.mock.calls).toEqual([
      ["ABCD-1234", false],
      ["ABCD-1234-EFGH", false],
    ]);
    // the newer answer arrives first, the older one after it: the field keeps the newer
    pending.get("ABCD-1234-EFGH")!();
    await settle();
    expect(text("#party-code-hint")).toBe("12 of 22 characters so far.");
    expect($("#party-code-hint").getAttribute("data-kind")).toBe("partial");
    pending.get("ABCD-1234")!();
    await settle();
    expect(text("#party-code-hint")).toBe("12 of 22 characters so far.");
    classify.mockRestore();
    // a typo: the parser's sentence, and the field is marked invalid
    await change("#party-code", FAKE_CODES[3].code.slice(0, -1) + "0");
    expect(text("#party-code-hint")).toBe("This invite code has a typo (its check character does not match).");
    expect($("#party-code").getAttribute("aria-invalid")).toBe("true");
    // an engine that cannot answer: no hint rather than a wrong one
    vi.spyOn(b, "classifyInvite").mockRejectedValue({ code: "internal", message: "no such command" });
    await change("#party-code", "ABCD");
    expect(text("#party-code-hint")).toBe("");
    expect($("#party-code").getAttribute("aria-invalid")).toBe("false");
  });

  it("grades are the engine's: from metrics events, else graded by grade_connection", async () => {
    const b = await start();
    await finishFirstRun();
    const gradeConnection = vi.spyOn(b, "gradeConnection");
    await b.joinParty(FAKE_CODES[3].code);
    await settle();
    for (let i = 0; i < 4; i++) b.tick();
    await settle();
    const gradeOf = (n: string) => $(`#peer-list tr[data-name="${n}"] .peer-grade`).getAttribute("data-grade");
    // no metrics events: the engine grades the tunnel's numbers
    expect(gradeConnection).toHaveBeenCalled();
    expect(["Mira", "Dex", "Sol", "Kai"].map(gradeOf)).toEqual(["A", "C", "B", ""]);
    // a metrics event's grading wins, and while they arrive nothing else is graded
    const keyOf = (n: string) => $(`#peer-list tr[data-name="${n}"]`).dataset.key!;
    b.emit({ type: "metrics", snapshot: metricsOf({ [keyOf("Mira")]: graded(33, "D"), [keyOf("Dex")]: null }) });
    await settle();
    expect(gradeOf("Mira")).toBe("D");
    expect(text('#peer-list tr[data-name="Mira"] .peer-grade')).toContain("Grade D (score 33 of 100), held back by latency.");
    expect(gradeOf("Dex")).toBe("");
    gradeConnection.mockClear();
    b.tick();
    await settle();
    expect(gradeConnection).not.toHaveBeenCalled();
    expect(gradeOf("Mira")).toBe("D");
  });

  it("host actions: new code, revoke, kick and close ask before they hurt", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#party-create");
    const first = text("#party-invite-code");
    $<HTMLSelectElement>("#party-invite-ttl").selectedIndex = 1;
    $("#party-invite-ttl").dispatchEvent(new Event("change", { bubbles: true }));
    const ni = vi.spyOn(b, "newInvite");
    await click("#party-new-invite");
    expect(ni).toHaveBeenCalledWith(3600);
    expect(text("#party-invite-code")).not.toBe(first);
    expect(text("#party-invite-expiry")).toMatch(/^Expires in 1 h \(at .+\)\.$/);
    await click("#party-revoke-invite");
    expect($("#party-invite-code")).toBeNull();
    expect(text("#party-invite-none")).toContain("nobody new can join");

    b.addMember("Dex");
    await settle();
    const kick = vi.spyOn(b, "kick");
    await click('.peer-kick[data-name="Dex"]');
    expect(kick).not.toHaveBeenCalled();
    await click('.peer-kick-confirm[data-name="Dex"]');
    expect(kick).toHaveBeenCalledWith(expect.stringMatching(/=$/));
    expect(document.querySelector('#peer-list tr[data-name="Dex"]')).toBeNull();

    const close = vi.spyOn(b, "closeParty");
    await click("#party-close");
    expect(close).not.toHaveBeenCalled();
    await click("#party-close-cancel");
    await click("#party-close");
    await click("#party-close-confirm");
    expect(close).toHaveBeenCalledTimes(1);
    expect(text("#party-state")).toBe("No party yet");
  });

  it("toasts tell who joined and left, and go away by themselves", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#party-create");
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    b.addMember("Mira");
    b.emit({ type: "member_left", name: "Mira" });
    flushSync();
    expect([...document.querySelectorAll(".toast")].map((t) => t.textContent)).toEqual([
      expect.stringContaining("Mira joined the party"),
      expect.stringContaining("Mira left the party"),
    ]);
    vi.advanceTimersByTime(7000);
    flushSync();
    expect(document.querySelectorAll(".toast")).toHaveLength(0);
  });

  it("a deep link fills the join field, shows the party page and focuses Join without joining", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#nav-settings");
    const join = vi.spyOn(b, "joinParty");
    const link = FAKE_CODES[3].link;
    b.emitDeepLink(link);
    await settle();
    expect($("#page-party").hidden).toBe(false);
    expect($<HTMLInputElement>("#party-code").value).toBe(link);
    expect($("#party-code-hint").getAttribute("data-kind")).toBe("link");
    expect(text("#party-code-hint")).toBe(`Invite link for code ${FAKE_CODES[3].code}, meeting at ws://192.168.1.23:7666.`);
    expect(document.activeElement?.id).toBe("party-join");
    expect(join).not.toHaveBeenCalled();
    b.emitNavigate("create");
    await settle();
    expect(document.activeElement?.id).toBe("party-name");
  });

  it("a link the app was started with is picked up once", async () => {
    const link = FAKE_CODES[0].link;
    await start(createFakeBridge({ pendingLink: link }));
    expect($<HTMLInputElement>("#party-code").value).toBe(link);
  });

  it("pages: nav buttons and arrow keys switch; every page keeps its content mounted", async () => {
    await start();
    await finishFirstRun();
    const visible = () => PAGES.filter((p) => !$(`#page-${p.id}`).hidden).map((p) => p.id);
    expect(visible()).toEqual(["party"]);
    expect($("#nav-party").getAttribute("aria-current")).toBe("page");
    await click("#nav-network");
    expect(visible()).toEqual(["network"]);
    expect(text("#net-virtual-ip")).toBe("None");
    expect(text("#net-nat")).toBe("Not measured yet");
    expect(text("#net-relay")).toBe("None");
    $("#nav-network").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    await settle();
    expect(visible()).toEqual(["metrics"]);
    expect(document.activeElement?.id).toBe("nav-metrics");
    expect(text("#metrics-empty")).toContain("when you are in a party");
    expect(text("#metrics-system-empty")).toContain("Waiting for the first reading");
    $("#nav-metrics").dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    await settle();
    expect(visible()).toEqual(["settings"]);
    await click("#nav-servers");
    expect(text("#servers-empty")).toBe("Join or create a party to see its game servers.");
    // settings stay in the DOM on other pages (the WebDriver test reads them)
    expect($("#setting-mtu")).toBeTruthy();
    expect($("#device-public-key")).toBeTruthy();
  });

  it("games: what LANrage detects, who plays what by game, members' games in the party, this device's in the header", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#nav-games");
    expect($("#page-games").hidden).toBe(false);
    expect($("#nav-games").getAttribute("aria-current")).toBe("page");
    expect(text("#games-empty")).toBe("No game is running on this device.");
    expect(text("#games-detect-how")).toContain("recognised by their running program");
    expect(text("#games-user-file")).toBe("/home/player/.local/share/lanrage/games.toml");
    expect(text("#games-party-hint")).toContain("Join or create a party");
    expect($("#device-game")).toBeNull();

    await b.joinParty(FAKE_CODES[3].code);
    await settle();
    const group = (id: string) =>
      [...document.querySelectorAll<HTMLElement>(`#games-list li[data-game="${id}"] .game-player`)].map((li) => li.dataset.name);
    expect([...document.querySelectorAll<HTMLElement>("#games-list .game-group")].map((g) => g.dataset.game)).toEqual([
      "cs16",
      "openttd",
    ]);
    expect(group("openttd")).toEqual(["Mira"]);
    expect(group("cs16")).toEqual(["Dex"]);
    // Kai is offline: his last game is not shown
    expect(text("#games-idle")).toBe("Not playing a game LANrage knows: Sol. Offline: Kai.");

    b.startGame("openttd");
    await settle();
    expect(text("#device-game")).toBe("Playing OpenTTD");
    expect($("#device-game").dataset.game).toBe("openttd");
    expect(group("openttd")).toEqual(["Player", "Mira"]);
    expect($('#games-list li[data-game="openttd"] .game-player[data-self="true"] .badge-you')).toBeTruthy();
    expect($("#games-list .game-group").dataset.game).toBe("openttd"); // most players first
    expect(text("#engine-status")).toContain("You are playing OpenTTD.");

    await click("#nav-party");
    expect(text('#peer-list tr[data-name="Mira"] .peer-game')).toBe("Playing OpenTTD");
    expect($('#peer-list tr[data-name="Mira"]').dataset.game).toBe("openttd");
    expect(text('#peer-list tr[data-name="Dex"] .peer-game')).toBe("Playing Counter-Strike 1.6");
    expect($('#peer-list tr[data-name="Sol"] .peer-game')).toBeNull();
    expect($('#peer-list tr[data-name="Kai"] .peer-game')).toBeNull();
    expect(text("#peer-self .peer-game")).toBe("Playing OpenTTD");

    b.setMemberGame("Mira", null);
    b.stopGame();
    await settle();
    expect($('#peer-list tr[data-name="Mira"] .peer-game')).toBeNull();
    expect($("#peer-self .peer-game")).toBeNull();
    expect($("#device-game")).toBeNull();
    expect(text("#engine-status")).toContain("You stopped playing OpenTTD.");
    await click("#nav-games");
    expect(group("cs16")).toEqual(["Dex"]);
    expect($('#games-list li[data-game="openttd"]')).toBeNull();

    // detection off: said on the page, with the way to Settings
    await b.setSetting("game_detection", false);
    await settle();
    expect(text("#games-detection-off")).toContain("Game detection is off");
    await click("#games-open-settings");
    expect($("#page-settings").hidden).toBe(false);
  });

  it("games page: recent sessions newest first with the engine's grades; asked again after a game stops, when shown", async () => {
    const b = createFakeBridge();
    const getGames = vi.spyOn(b, "getGames");
    const grade = vi.spyOn(b, "gradeConnection");
    await start(b);
    await finishFirstRun();
    expect(getGames).not.toHaveBeenCalled(); // the page is not shown yet
    await click("#nav-games");
    expect(getGames).toHaveBeenCalledTimes(1);
    expect(getGames).toHaveBeenLastCalledWith(SESSIONS_LIMIT);
    const rows = () => [...document.querySelectorAll<HTMLElement>("#games-sessions-list tr.game-session")];
    const cell = (r: HTMLElement, sel: string) => (r.querySelector(sel)?.textContent ?? "").trim();
    expect(rows().map((r) => r.dataset.game)).toEqual(["openttd", "cs16", "factorio", "supertuxkart"]);
    const [ttd, cs, fac, stk] = rows();
    expect(cell(ttd, ".session-game")).toBe("OpenTTD");
    expect(cell(ttd, ".session-duration")).toBe("2 h 14 min");
    expect(cell(ttd, ".session-players")).toBe("You, Dex, Mira and Sol");
    expect(cell(ttd, ".session-rtt")).toBe("39 ms average · 78 ms p95");
    expect(ttd.querySelector(".session-rtt")!.getAttribute("title")).toBe("Round trips from 12 ms to 141 ms.");
    expect(cell(ttd, ".session-loss")).toBe("0.6%");
    const started = Number(ttd.dataset.started);
    expect(ttd.querySelector(".session-when time")!.getAttribute("datetime")).toBe(new Date(started * 1000).toISOString());
    expect(cell(ttd, ".session-when")).toMatch(/\d/);
    // the engine's grades (the fake answers from its table), in the app's grade colours
    const gradeOf = (r: HTMLElement) => r.querySelector<HTMLElement>(".session-grade")!;
    expect([ttd, cs, fac, stk].map((r) => gradeOf(r).dataset.grade)).toEqual(["B", "C", "A", ""]);
    expect(gradeOf(cs).classList.contains("grade-C")).toBe(true);
    expect(cell(cs, ".session-grade .tip-text")).toContain("held back by packet loss");
    expect(cell(stk, ".session-players")).toBe("Only you");
    expect(cell(stk, ".session-grade .tip-text")).toContain("nothing was measured");
    expect(grade.mock.calls).toEqual([
      [38.6, null, 0.6],
      [52.1, null, 2.6],
      [24.8, null, 0.1],
    ]);

    // a game played in the party: when it stops the session is kept, and the page asks again once
    await b.joinParty(FAKE_CODES[3].code);
    b.startGame("openttd");
    for (let i = 0; i < 4; i++) b.tick();
    b.stopGame("openttd");
    await settle();
    expect(getGames).toHaveBeenCalledTimes(1); // debounced
    await new Promise((r) => setTimeout(r, SESSIONS_REFRESH_MS + 100));
    await settle();
    expect(getGames).toHaveBeenCalledTimes(2);
    expect(rows()).toHaveLength(5);
    expect(rows()[0].dataset.game).toBe("openttd");
    expect(Number(rows()[0].dataset.started)).toBeGreaterThan(started);
    expect(cell(rows()[0], ".session-players")).toBe("You, Dex, Mira and Sol");
    expect(cell(rows()[0], ".session-rtt")).toMatch(/^\d+(\.\d)? ms average · \d+(\.\d)? ms p95$/);
    // the new session is graded once; the earlier ones are not asked about again
    const newest = (await getGames.mock.results[1].value).sessions[0];
    const asked = (rtt: number | null, loss: number | null) => grade.mock.calls.filter((c) => c[0] === rtt && c[1] === null && c[2] === loss).length;
    expect(asked(newest.rtt_ms!.avg, newest.loss_pct)).toBe(1);
    expect([asked(38.6, 0.6), asked(52.1, 2.6), asked(24.8, 0.1)]).toEqual([1, 1, 1]);

    // hidden, events ask nothing; opening the page asks at once
    await click("#nav-party");
    b.setMemberGame("Dex", null);
    await new Promise((r) => setTimeout(r, SESSIONS_REFRESH_MS + 100));
    await settle();
    expect(getGames).toHaveBeenCalledTimes(2);
    await click("#nav-games");
    expect(getGames).toHaveBeenCalledTimes(3);
    expect(rows()).toHaveLength(5);
    expect($("#games-sessions-empty")).toBeNull();
  });

  it("games page: no sessions yet says when they are kept; an engine that cannot list them says so", async () => {
    const b = createFakeBridge();
    const getGames = vi.spyOn(b, "getGames").mockResolvedValue({ running: [], sessions: [] });
    history.replaceState(null, "", "#/games");
    await start(b);
    expect(text("#games-sessions-empty")).toBe("Sessions are kept for games played while in a party.");
    expect($("#games-sessions-list")).toBeNull();
    getGames.mockRejectedValue({ code: "internal", message: "command get_games not found" });
    await click("#nav-party");
    await click("#nav-games");
    expect(text("#games-sessions-error")).toBe("Could not load the game sessions: Command get_games not found.");
  });

  it("servers page: offers to announce the game this device plays in a party; the offer only fills in the form", async () => {
    const b = await start();
    await finishFirstRun();
    await b.joinParty(FAKE_CODES[3].code);
    await settle();
    await click("#nav-servers");
    expect($("#servers-offer")).toBeNull(); // no game yet
    b.startGame("openttd");
    await settle();
    expect(text("#servers-offer-text")).toBe("Playing OpenTTD: announce your server to the party?");
    expect($("#servers-offer").dataset.game).toBe("openttd");
    const announce = vi.spyOn(b, "announceServer");
    await click("#servers-offer-announce");
    expect($<HTMLInputElement>("#announce-game").value).toBe("OpenTTD");
    expect($<HTMLInputElement>("#announce-name").value).toBe("Player's OpenTTD");
    expect($<HTMLInputElement>("#announce-port").value).toBe("");
    expect(document.activeElement?.id).toBe("announce-port");
    expect($("#servers-offer")).toBeNull(); // taken up: gone while the game runs
    expect(announce).not.toHaveBeenCalled();
    expect(text("#servers-own-empty")).toBe("You have not announced a server.");
    // the player finishes the form: only now is it announced
    await change("#announce-port", "3979");
    await click("#announce-submit");
    expect(announce).toHaveBeenCalledWith(expect.objectContaining({ id: "OpenTTD:3979", game: "OpenTTD", name: "Player's OpenTTD", port: 3979 }));
    // an OpenTTD server is announced: no offer for it on the next run
    b.stopGame();
    b.startGame("openttd");
    await settle();
    expect($("#servers-offer")).toBeNull();

    // another game: offered; dismissed, it stays away while that game runs and comes back on its next run
    b.startGame("factorio");
    await settle();
    expect(text("#servers-offer-text")).toBe("Playing Factorio: announce your server to the party?");
    await click("#servers-offer-dismiss");
    expect($("#servers-offer")).toBeNull();
    b.tick();
    b.emit({ type: "party_changed", party: (await b.getStatus()).party });
    await settle();
    expect($("#servers-offer")).toBeNull();
    b.stopGame("factorio");
    await settle();
    b.startGame("factorio");
    await settle();
    expect(text("#servers-offer-text")).toBe("Playing Factorio: announce your server to the party?");
    expect(announce).toHaveBeenCalledTimes(1);
    // outside a party: no offer
    await b.leaveParty();
    await settle();
    expect($("#servers-offer")).toBeNull();
    expect(text("#servers-empty")).toBe("Join or create a party to see its game servers.");
  });

  it("servers page: lists the party's servers, filters, favorites, announces and removes", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#nav-servers");
    expect(text("#servers-empty")).toBe("Join or create a party to see its game servers.");
    // still on the servers page: join through the bridge, the party_changed event refreshes it
    await b.joinParty(FAKE_CODES[3].code);
    for (let i = 0; i < 4; i++) b.tick();
    b.emit({ type: "party_changed", party: (await b.getStatus()).party });
    await settle();
    await settle();
    const rows = () => [...document.querySelectorAll<HTMLElement>("#servers-list tr.server[data-key]")];
    expect(rows().map((r) => r.querySelector(".server-host")!.textContent)).toEqual(["Mira", "Sol", "Dex"]);
    expect(rows()[0].querySelector(".server-address code")!.textContent).toBe("10.66.0.1:25565");
    expect(rows()[0].querySelector(".server-latency")!.textContent).toMatch(/^\d+ ms$/);
    expect(rows()[2].querySelector(".server-players")!.textContent).toBe("12/12");
    expect(rows()[2].querySelector(".server-password")!.textContent).toContain("Password protected");
    await click("#servers-list tr.server:last-child .server-copy");
    expect(b.copied[b.copied.length - 1]).toMatch(/^10\.66\.0\.\d+:27015$/);
    await click("#servers-list tr.server:last-child .server-favorite");
    expect(rows()[0].dataset.favorite).toBe("true");
    expect(rows()[0].querySelector(".server-host")!.textContent).toBe("Dex");
    $<HTMLInputElement>("#servers-filter-not-full").click();
    await settle();
    expect(rows().map((r) => r.querySelector(".server-host")!.textContent)).toEqual(["Mira", "Sol"]);
    await change("#servers-filter-game", "zzz");
    expect(text("#servers-empty")).toBe("No server matches these filters.");
    await change("#servers-filter-game", "");
    $<HTMLInputElement>("#servers-filter-not-full").click();
    await settle();
    expect(rows()).toHaveLength(3);

    await click("#announce-submit");
    expect(text("#announce-error")).toBe("Say which game the server is for.");
    await change("#announce-game", "Quake");
    await change("#announce-name", "Frag");
    await change("#announce-port", "27960");
    const spy = vi.spyOn(b, "announceServer");
    await click("#announce-submit");
    expect(spy).toHaveBeenCalledWith(expect.objectContaining({ id: "Quake:27960", port: 27960, map: null }));
    expect(text("#announce-error")).toBe("");
    expect($<HTMLInputElement>("#announce-game").value).toBe("");
    expect(rows().map((r) => r.dataset.id)).toContain("Quake:27960");
    expect(text("#servers-own")).toContain("Frag");
    await click('#servers-own .server-remove[data-id="Quake:27960"]');
    expect(rows().map((r) => r.dataset.id)).not.toContain("Quake:27960");
    expect(text("#servers-own-empty")).toBe("You have not announced a server.");
  });

  it("network and metrics pages follow the party", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#party-create");
    b.addMember("Mira");
    for (let i = 0; i < 3; i++) b.tick();
    b.emit({ type: "control_changed", state: "reconnecting" });
    await settle();
    await click("#nav-network");
    expect(text("#net-virtual-ip")).toBe("10.66.0.1");
    expect(text("#net-control-server")).toContain("hosted on this machine");
    expect(text("#net-changes")).toContain("Control server reconnecting");
    const change = $('#net-path-changes li[data-peer="Mira"]');
    expect(change.dataset.to).toBe("direct");
    expect(change.querySelector(".path-change-states")!.textContent).toBe("Connecting → Direct");
    expect(change.querySelector(".path-change-reason")!.textContent).toContain("local network");
    expect(change.querySelector("time")!.textContent).not.toBe("");
    const row = $('#net-paths tr[data-name="Mira"]');
    expect(row.dataset.path).toBe("direct");
    expect(row.querySelector(".path-local")!.textContent).toBe("You: LAN");
    expect(row.querySelector(".path-remote")!.textContent).toBe("Mira: LAN");
    expect(row.querySelector(".path-reason")!.textContent).toContain("local network");
    expect(row.querySelector(".path-since")!.textContent).toMatch(/^since /);
    expect($("#net-relay-servers")).toBeNull();
    await click("#nav-metrics");
    expect(text("#metrics-summary")).toContain("Mira");
    expect($("#chart-rtt")).toBeTruthy();
  });

  it("network page: relays in use, a failed path, newest path changes first", async () => {
    const b = await start();
    await finishFirstRun();
    await b.joinParty(FAKE_CODES[3].code);
    for (let i = 0; i < 4; i++) b.tick();
    b.setPath("Sol", { state: "failed", reason: "No candidate pair answered and the relay refused the allocation." });
    await settle();
    await click("#nav-network");
    expect(text("#net-relay")).toBe("In use for 1 member");
    expect(text("#net-relay-servers")).toBe("203.0.113.2:3478 for Dex");
    const dex = $('#net-paths tr[data-name="Dex"]');
    expect(dex.querySelector(".path-relay")!.textContent).toBe("Relay 203.0.113.2:3478");
    expect(dex.querySelector(".path-local")!.getAttribute("data-candidate")).toBe("relay");
    expect(dex.querySelector(".path-remote")!.textContent).toBe("Dex: internet (hole punched)");
    const changes = [...document.querySelectorAll<HTMLElement>("#net-path-changes li")];
    expect(changes[0].dataset.peer).toBe("Sol");
    expect(changes[0].dataset.to).toBe("failed");
    expect(changes[0].classList.contains("log-warning")).toBe(true);
    expect(changes.map((c) => c.dataset.peer)).toEqual(["Sol", "Sol", "Dex", "Mira"]);
    expect($('#peer-list tr[data-name="Sol"]').dataset.connection).toBe("failed");
    expect(text('#peer-list tr[data-name="Sol"] .peer-conn .tip-text')).toContain("the relay refused the allocation");
    expect(text("#engine-status")).toContain("No path to Sol");
    // degraded: the engine sends only path_changed (the connection stays direct); the badge follows it
    b.setPath("Sol", { state: "direct", reason: "Hole punching worked." });
    b.setPath("Sol", { state: "degraded", reason: "3 keepalives in a row went unanswered." });
    await settle();
    const sol = $('#peer-list tr[data-name="Sol"]');
    expect(sol.dataset.connection).toBe("direct");
    expect(sol.querySelector(".peer-conn")!.classList.contains("conn-degraded")).toBe(true);
    expect(text('#peer-list tr[data-name="Sol"] .peer-conn')).toMatch(/^Degraded/);
    expect(text('#peer-list tr[data-name="Sol"] .peer-conn .tip-text')).toContain("3 keepalives in a row went unanswered.");
  });

  it("NAT type: not measured, cone, and UDP blocked said plainly (relay only, what to check)", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#nav-network");
    expect(text("#net-nat")).toBe("Not measured yet");
    expect(text("#net-nat-meaning")).toContain("measures it with STUN");
    expect($("#net-nat-check")).toBeNull();
    b.setNat("cone");
    await settle();
    expect(text("#net-nat")).toBe("Cone NAT");
    expect(text("#net-nat-summary")).toBe(FAKE_NAT.cone.summary);
    expect(text("#net-nat-public")).toContain("198.51.100.23:51820");
    expect(text("#net-nat-meaning")).toContain("Direct connections work");
    b.setNat("udp_blocked");
    await settle();
    expect($("#net-nat-card").dataset.kind).toBe("udp_blocked");
    expect(text("#net-nat")).toBe("UDP blocked");
    expect(text("#net-nat-meaning")).toMatch(/cannot connect to anyone directly from this network: it can only reach players through a relay/);
    expect(text("#net-nat-check")).toMatch(/firewall/);
    expect($("#net-nat-public")).toBeNull();
    expect(text("#net-changes")).toContain("NAT type: UDP blocked.");
    // no spinner, no "measuring…": a plain statement
    expect($("#net-nat-card .pill-busy, #net-nat-card [aria-busy]")).toBeNull();
  });

  it("an engine without paths: the badge and the Network page keep the old wording", async () => {
    const b = await start();
    await finishFirstRun();
    await b.joinParty(FAKE_CODES[3].code);
    const old = (await b.getStatus()).party!;
    for (const p of old.peers) delete (p as { path?: unknown }).path; // an older engine sends none
    old.peers[1].connection = "relayed";
    b.emit({ type: "party_changed", party: old });
    b.emit({ type: "tunnel_stats", tunnel: (await b.getStatus()).tunnel! }); // no handshakes yet
    await settle();
    const dex = $('#peer-list tr[data-name="Dex"]');
    expect(dex.dataset.connection).toBe("relayed");
    expect(text('#peer-list tr[data-name="Dex"] .peer-conn .tip-text')).toBe(
      "Through the relay, because a direct path between your networks could not be opened.",
    );
    expect(text('#peer-list tr[data-name="Mira"] .peer-conn .tip-text')).toContain("first WireGuard handshake");
    await click("#nav-network");
    expect(text("#net-paths-legacy")).toContain("does not report how each path was chosen");
    expect(text('#net-paths tr[data-name="Dex"] .path-route')).toBe("–");
  });

  it("metrics page: the machine's CPU, memory and network from metrics events", async () => {
    const b = await start();
    await finishFirstRun();
    await click("#nav-metrics");
    b.metricsTick(); // the baseline: no reading yet
    await settle();
    expect(text("#metrics-system-empty")).toContain("Waiting for the first reading");
    b.metricsTick();
    b.metricsTick();
    await settle();
    expect($("#metrics-system-empty")).toBeNull();
    expect(text("#metrics-cpu-now")).toMatch(/^\d+(\.\d)?%$/);
    expect(text("#metrics-memory-now")).toMatch(/GiB of 16 GiB$/);
    expect(text("#metrics-network-now")).toMatch(/^↓ .+bit\/s · ↑ .+bit\/s$/);
    expect(text("#metrics-app-now")).toMatch(/of one core · \d+ MiB$/);
    for (const id of ["chart-cpu", "chart-memory", "chart-network"]) expect($(`#${id}`), id).toBeTruthy();
    expect(text("#engine-status")).not.toContain("metrics");
  });

  it("live numbers flow only into the page on screen, and nowhere while the window is hidden", async () => {
    const b = await start();
    await finishFirstRun();
    await b.joinParty(FAKE_CODES[3].code);
    await click("#nav-network");
    for (let i = 0; i < 4; i++) b.tick();
    await new Promise((r) => setTimeout(r, 80));
    await settle();
    const rx = () => text('#net-paths tr[data-name="Mira"] .net-rx');
    const first = rx();
    expect(first).toMatch(/KiB$/);
    await click("#nav-settings");
    const seen: MutationRecord[] = [];
    const mo = new MutationObserver((m) => seen.push(...m));
    for (const sel of ["#page-party", "#page-network", "#page-metrics", "#page-games"])
      mo.observe($(sel), { subtree: true, childList: true, attributes: true, characterData: true });
    for (let i = 0; i < 3; i++) {
      b.tick();
      b.metricsTick();
      await settle();
    }
    mo.disconnect();
    expect(seen).toHaveLength(0);
    expect(rx()).toBe(first);
    await click("#nav-network");
    const second = rx();
    expect(second).not.toBe(first); // caught up when shown
    const setHidden = (hidden: boolean) => {
      Object.defineProperty(document, "visibilityState", { value: hidden ? "hidden" : "visible", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    };
    try {
      setHidden(true);
      await settle();
      for (let i = 0; i < 3; i++) b.tick();
      await settle();
      expect(rx()).toBe(second);
    } finally {
      setHidden(false);
      await settle();
    }
    expect(rx()).not.toBe(second);
  });

  it("idle: repeated numbers and a repeated reading change nothing on screen", async () => {
    const b = await start();
    await finishFirstRun();
    await b.joinParty(FAKE_CODES[3].code);
    for (let i = 0; i < 4; i++) b.tick();
    b.metricsTick();
    b.metricsTick();
    await settle();
    const tunnel = (await b.getStatus()).tunnel!;
    b.emit({ type: "tunnel_stats", tunnel });
    await new Promise((r) => setTimeout(r, 80)); // the status reload the join asked for
    await settle();
    const seen: MutationRecord[] = [];
    const mo = new MutationObserver((m) => seen.push(...m));
    // everything but the member table's sparklines and the live charts, which move with time
    for (const sel of ["#nav-party-line", "#device-card", "#engine-status", "#party-card", "#page-network", "#metrics-system", "#notices"])
      mo.observe($(sel), { subtree: true, childList: true, attributes: true, characterData: true });
    const status = await b.getStatus();
    b.emit({ type: "tunnel_stats", tunnel }); // the same numbers again
    b.emit({ type: "party_changed", party: status.party }); // the same snapshot again
    b.emit({ type: "nat_changed", nat: status.nat! }); // the same NAT
    const last = { type: "metrics" as const, snapshot: { t_ms: 1, peers: [], party: null, system: null, system_minute: [] } };
    b.emit(last); // a tick without a new reading
    await settle();
    await new Promise((r) => setTimeout(r, 80)); // the debounced status reload after party_changed
    await settle();
    mo.disconnect();
    expect(seen.map((m) => `${m.type} in ${m.target.parentElement?.outerHTML.slice(0, 120)}`)).toEqual([]);
  });

  it("shows notices as dismissible banners", async () => {
    await start(
      createFakeBridge({ notices: [{ level: "warning", message: "Your settings database was unreadable and was reset." }] }),
    );
    expect(document.querySelectorAll("#notices .notice-warning")).toHaveLength(1);
    expect(text("#notices")).toContain("settings database was unreadable");
    await click("#notices .notice-dismiss");
    expect(document.querySelectorAll("#notices .notice")).toHaveLength(0);
  });

  it("follows engine events: state pill, notices and a bounded log", async () => {
    const b = await start();
    b.setEngineState("stopping");
    await settle();
    expect(text("#engine-state")).toBe("Stopping");
    b.emit({ type: "notice", level: "error", message: "Port 51820 is in use." });
    for (let i = 0; i < 12; i++) b.emit({ type: "state_changed", state: i % 2 ? "running" : "starting" });
    await settle();
    expect(text("#notices .notice-error")).toContain("Port 51820 is in use.");
    expect(document.querySelectorAll("#engine-status li")).toHaveLength(10);
    expect(text("#engine-status li")).toContain("Engine is running.");
  });

  it("resets all settings only after confirmation", async () => {
    const b = await start();
    await change("#setting-mtu", "1300");
    const spy = vi.spyOn(b, "resetSettings");
    await click("#reset-settings");
    expect(spy).not.toHaveBeenCalled();
    await click("#reset-settings-confirm");
    expect(spy).toHaveBeenCalledTimes(1);
    expect($<HTMLInputElement>("#setting-mtu").value).toBe("1420");
  });

  it("saves, activates and deletes configurations", async () => {
    const b = await start();
    await change("#config-name", "Tournament");
    $<HTMLFormElement>("#config-name").form!.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    await settle();
    expect(text("#config-list")).toContain("Tournament");
    expect(text("#config-list")).toContain("Active");

    await change("#setting-mtu", "1300");
    await click('.config-activate[data-name="Tournament"]');
    expect($<HTMLInputElement>("#setting-mtu").value).toBe("1420");

    await click('.config-delete[data-name="Tournament"]');
    await click('.config-delete-confirm[data-name="Tournament"]');
    expect($("#config-list")).toBeNull();
    expect((await b.listConfigs()).length).toBe(0);
  });
});
