// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import App from "./App.svelte";
import { createFakeBridge, type FakeBridge } from "./lib/fakeBridge";
import { FAKE_SETTING_DEFS } from "./lib/fakeBridge";

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

afterEach(() => {
  if (app) unmount(app);
  app = null;
  vi.useRealTimers();
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

  it("party buttons show what the engine says", async () => {
    const b = await start();
    const spy = vi.spyOn(b, "createParty");
    expect(text("#party-error")).toBe("");
    await click("#party-create");
    expect(spy).toHaveBeenCalledWith("Player's party");
    expect(text("#party-error")).toBe(
      "Parties is not available yet: creating and joining parties arrives with the control server.",
    );
    await change("#party-code", "  ABC-123 ");
    const join = vi.spyOn(b, "joinParty");
    await click("#party-join");
    expect(join).toHaveBeenCalledWith("ABC-123");
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
