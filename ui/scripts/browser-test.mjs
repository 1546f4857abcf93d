#!/usr/bin/env node
// The front end alone in Debian's Chromium (playwright-core), against `vite preview` on
// 127.0.0.1 with the in-memory fake engine: first run, create a party, the invite code and its
// copy buttons, join errors, live peers with grades and path tooltips, an idle check, the NAT
// type and paths, system charts updated in place (with the webview language "C" of WebKitGTK
// under LANG=C), members' games and the Games page with its game sessions, the Servers page's
// offer to announce the game you play, every page. Screenshots go to
// ui/test-results/. Nothing leaves 127.0.0.1: every other request is refused and fails the test.
// The preview server and the browser are stopped on success, failure, timeout and Ctrl-C.
//
//   npm run test:browser            (builds ui/dist first)
//   CHROMIUM=/path/to/chromium npm run test:browser

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OUT = path.join(UI, "test-results");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOTAL_TIMEOUT_MS = 240_000;
const STEP_TIMEOUT_MS = 20_000;

let preview = null;
let context = null;
let userDataDir = null;
let cleaning = null;

function log(msg) {
  process.stdout.write(`[browser] ${msg}\n`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startPreview(port) {
  const vite = path.join(UI, "node_modules", "vite", "bin", "vite.js");
  const child = spawn(process.execPath, [vite, "preview", "--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
    cwd: UI,
    detached: true, // its own process group, so the whole group can be stopped
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, BROWSER: "none" },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  preview = child;
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`vite preview exited (${child.exitCode}):\n${output}`);
    try {
      const r = await fetch(url);
      if (r.ok) return url;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`vite preview did not answer on ${url}:\n${output}`);
}

async function stopPreview() {
  const child = preview;
  preview = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    /* already gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }, 3000);
  await exited;
  clearTimeout(t);
}

function cleanup() {
  cleaning ??= (async () => {
    try {
      await context?.close();
    } catch {
      /* browser already gone */
    }
    context = null;
    await stopPreview();
    if (userDataDir) {
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
      userDataDir = null;
    }
  })();
  return cleaning;
}

// On exit, whatever the reason: nothing of ours outlives the process. Playwright's own exit
// hook kills Chromium; this one (registered after the launch, so it runs after that) stops
// the preview server's process group and removes the profile.
function killLeftovers({ profile = true } = {}) {
  if (preview && preview.exitCode === null) {
    try {
      process.kill(-preview.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  if (profile && userDataDir) {
    // Chromium may still be writing for a moment after its SIGKILL: remove, wait, remove again
    rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    userDataDir = null;
  }
}

// Signals end the run at once through process.exit, which runs the exit hooks above. (Handled
// first and synchronously: playwright-core's signal-exit would otherwise re-raise the signal
// and kill the process without running any exit hook.)
const SIGNAL_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
for (const [sig, code] of Object.entries(SIGNAL_CODES)) {
  process.prependListener(sig, () => {
    log(`${sig}: stopping the preview server and the browser`);
    process.exit(code);
  });
}
process.on("exit", () => killLeftovers({ profile: false }));
// ---------------------------------------------------------------- the checks

const results = [];
let page;

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    log(`FAIL ${name}: ${err?.stack ?? err}`);
    await shot(`failure-${results.length}`).catch(() => {});
    throw err;
  }
}

async function shot(name) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function textOf(sel) {
  return ((await page.locator(sel).first().textContent({ timeout: STEP_TIMEOUT_MS })) ?? "").trim();
}

async function waitText(sel, needle) {
  await page.waitForFunction(
    ([s, n]) => (document.querySelector(s)?.textContent ?? "").includes(n),
    [sel, needle],
    { timeout: STEP_TIMEOUT_MS },
  );
}

async function run(base) {
  const external = [];
  const problems = [];
  context.on("request", (r) => {
    const u = new URL(r.url());
    if (!["127.0.0.1"].includes(u.hostname) && !["data:", "blob:"].includes(u.protocol)) external.push(r.url());
  });
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    return u.hostname === "127.0.0.1" ? route.continue() : route.abort();
  });
  // Like WebKitGTK under LANG=C / C.UTF-8 (the real-app lab, minimal systems): the webview's
  // language is "C", which is no BCP 47 tag, so `new Intl.NumberFormat(navigator.language)`
  // throws. uPlot does that when it loads; the charts must draw anyway.
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "language", { get: () => "C", configurable: true });
    Object.defineProperty(Navigator.prototype, "languages", { get: () => ["C"], configurable: true });
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    if (m.type() === "warning" && /^chart-/.test(m.text())) problems.push(`console warning: ${m.text()}`);
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base.replace(/\/$/, "") });

  await step("first-run screen asks for a name and explains LANrage", async () => {
    await page.goto(base);
    await page.locator("#first-run").waitFor();
    await page.locator("#engine-state[data-state=running]").waitFor();
    const about = await textOf("#first-run-about");
    assert(/virtual LAN/.test(about) && about.split(/\.\s/).length >= 2, `about text: ${about}`);
    assert((await page.locator("#first-run-name").inputValue()) === "Player", "name field starts as Player");
    assert(await page.locator("#first-run-name").evaluate((el) => el === document.activeElement), "name field focused");
    await shot("01-first-run");
    await page.locator("#first-run-name").fill("Nova");
    await page.keyboard.press("Enter");
    await page.locator("#first-run").waitFor({ state: "detached" });
    await waitText("#device-name", "Nova");
    assert((await page.locator("#party-name").inputValue()) === "Nova's party", "party name follows the display name");
  });

  await step("join hints as the engine reads the field; join errors: wrong code, typo, no permission with the fix", async () => {
    await waitText("#party-code-hint", "Paste the invite code or the whole invite link your host sent.");
    await page.locator("#party-code").fill("WRONG");
    await page.locator('#party-code-hint[data-kind="partial"]').waitFor();
    await waitText("#party-code-hint", "5 of 22 characters so far.");
    await page.locator("#party-join").click();
    await waitText("#party-join-error", "This invite code does not match any party.");
    await page.locator("#party-code").fill("7Z3K-Q9WD-4M2X-HPRA-8C5V-TA");
    await waitText("#party-code-hint", "This invite code has a typo (its check character does not match).");
    assert((await page.locator("#party-code").getAttribute("aria-invalid")) === "true", "a typo marks the field invalid");
    await page.locator("#party-join").click();
    await waitText("#party-join-error", "typo");
    await page.locator("#party-code").fill("NOPERM");
    await page.locator("#party-join").click();
    await page.locator("#party-join-error-fix-command").waitFor();
    const fix = await textOf("#party-join-error-fix-command");
    assert(fix === "sudo setcap cap_net_admin+ep /usr/bin/lanrage-app", `fix: ${fix}`);
    assert(await page.locator("#party-join-error-fix-copy").isEnabled(), "fix copy button");
    await shot("02-join-error");
    await page.locator("#party-code").fill("WRONG");
    await page.locator("#party-join").click();
    await waitText("#party-join-error", "This invite code does not match any party.");
    await page.locator("#party-code").fill("");
  });

  let code = "";
  await step("create a party: the invite code, copy buttons", async () => {
    await page.locator("#party-create").click();
    await page.locator("#party-invite-code").waitFor();
    code = await textOf("#party-invite-code");
    assert(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}-[0-9A-Z]{2}$/.test(code), `invite code: ${code}`);
    assert(await page.locator("#copy-invite-code").isEnabled(), "Copy code enabled");
    assert(await page.locator("#copy-invite-link").isEnabled(), "Copy invite link enabled");
    assert((await textOf("#party-virtual-ip")) === "10.66.0.1", "host address");
    assert((await textOf("#party-role")).includes("You are the host"), "host role");
    await page.locator("#copy-invite-code").click();
    await waitText("#copy-invite-code", "Copied");
    const copied = await page.evaluate(() => window.__LANRAGE_FAKE__.copied.at(-1));
    assert(copied === code, `copied ${copied}`);
    const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
    assert(clip === null || clip === code, `clipboard holds ${clip}`);
    await page.locator("#copy-invite-link").click();
    const link = await page.evaluate(() => window.__LANRAGE_FAKE__.copied.at(-1));
    assert(link.startsWith(`lanrage://join/${code}?server=`), `link ${link}`);
    await shot("03-party-created");
  });

  await step("friends arrive: peer rows with connection, RTT and grades; toasts", async () => {
    await page.locator(".toast").first().waitFor();
    assert((await textOf(".toast")).includes("joined the party"), "toast says who joined");
    await page.locator('#peer-list tr[data-name="Sol"]').waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      () =>
        ["Mira", "Dex", "Sol"].every((n) => {
          const g = document.querySelector(`#peer-list tr[data-name="${n}"] .peer-grade`)?.getAttribute("data-grade");
          return g && /^[A-F]$/.test(g);
        }),
      null,
      { timeout: 30_000 },
    );
    const rows = await page.$$eval("#peer-list tr.peer[data-key]", (trs) =>
      trs.map((tr) => ({
        name: tr.dataset.name,
        connection: tr.dataset.connection,
        rtt: tr.querySelector(".peer-rtt")?.textContent?.trim(),
        grade: tr.querySelector(".peer-grade")?.getAttribute("data-grade"),
      })),
    );
    log(`peers: ${JSON.stringify(rows)}`);
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    assert(by.Mira.connection === "direct" && by.Dex.connection === "relayed", "connection badges");
    assert(/^\d+(\.\d)? ms$/.test(by.Mira.rtt), `Mira's RTT ${by.Mira.rtt}`);
    assert(by.Mira.grade === "A", `Mira's grade ${by.Mira.grade}`);
    // the engine's gradings (the fake's fixed ones): relayed Dex is held back by latency
    assert(by.Dex.grade === "C" && by.Sol.grade === "B", `Dex ${by.Dex.grade}, Sol ${by.Sol.grade}`);
    const dexGrade = await textOf('#peer-list tr[data-name="Dex"] .peer-grade .tip-text');
    assert(dexGrade.startsWith("Grade C (score 52 of 100), held back by latency."), `Dex's grade tooltip: ${dexGrade}`);
    await page.waitForFunction(
      () => Number(document.querySelector('#peer-list tr[data-name="Mira"] .peer-spark')?.getAttribute("data-points")) >= 5,
      null,
      { timeout: 20_000 },
    );
    await shot("04-party-members");
    // the connection tooltip opens on keyboard focus
    await page.locator('#peer-list tr[data-name="Dex"] .peer-conn').focus();
    const tip = page.locator('#peer-list tr[data-name="Dex"] .peer-conn .tip-text');
    await page.waitForFunction(
      (el) => getComputedStyle(el).visibility === "visible" && getComputedStyle(el).opacity === "1",
      await tip.elementHandle(),
    );
    const dexTip = await tip.textContent();
    assert(/^Relayed\. Hole punching timed out/.test(dexTip) && dexTip.includes("Relay: 203.0.113.2:3478."), `relayed tooltip: ${dexTip}`);
    const miraTip = await textOf('#peer-list tr[data-name="Mira"] .peer-conn .tip-text');
    assert(miraTip.includes("Your side: LAN; Mira's side: LAN."), `Mira's tooltip: ${miraTip}`);
    await shot("05-tooltip");
  });

  await step("idle: parts of the page whose data did not change are not touched for 3 s", async () => {
    const mutations = await page.evaluate(async () => {
      const seen = [];
      const mo = new MutationObserver((ms) => {
        for (const m of ms) seen.push(`${m.type} in ${(m.target.parentElement ?? m.target).outerHTML?.slice(0, 100)}`);
      });
      const watch = ["#device-card", "#nav-party-line", "#engine-status", "#party-invite", "#net-nat-card", "#net-control-card", ".header"];
      for (const sel of watch) {
        const el = document.querySelector(sel);
        if (el) mo.observe(el, { subtree: true, childList: true, attributes: true, characterData: true });
      }
      await new Promise((r) => setTimeout(r, 3000));
      mo.disconnect();
      return seen;
    });
    assert(mutations.length === 0, `re-rendered while nothing changed:\n${mutations.join("\n")}`);
  });

  await step("keyboard: arrow keys move through the pages", async () => {
    await page.locator("#nav-party").focus();
    await page.keyboard.press("ArrowDown");
    await page.locator("#page-network").waitFor({ state: "visible" });
    assert(await page.locator("#nav-network").evaluate((el) => el === document.activeElement), "focus follows");
    const outline = await page.locator("#nav-network").evaluate((el) => getComputedStyle(el).outlineStyle);
    assert(outline !== "none", "visible focus on the nav");
  });

  await step("network page: my IP, hosted here, NAT type, relay, paths and recent path changes", async () => {
    await page.locator("#nav-network").click();
    assert((await textOf("#net-virtual-ip")) === "10.66.0.1", "virtual IP");
    await waitText("#net-control-server", "hosted on this machine");
    // the demo engine's STUN test found a cone NAT
    assert((await textOf("#net-nat")) === "Cone NAT", `NAT: ${await textOf("#net-nat")}`);
    assert((await textOf("#net-nat-summary")).includes("(cone NAT)"), "the engine's summary");
    assert((await textOf("#net-nat-meaning")).includes("Direct connections work"), "what it means");
    assert((await textOf("#net-relay")).startsWith("In use for 1 member"), "relay used by Dex");
    assert((await textOf("#net-relay-servers")) === "203.0.113.2:3478 for Dex", "which relay");
    const dex = '#net-paths tr[data-name="Dex"]';
    assert((await page.locator(dex).getAttribute("data-path")) === "relayed", "Dex's path");
    assert((await textOf(`${dex} .path-local`)) === "You: relay", "Dex: our relay candidate");
    assert((await textOf(`${dex} .path-remote`)) === "Dex: internet (hole punched)", "Dex's side");
    assert((await textOf(`${dex} .path-relay`)) === "Relay 203.0.113.2:3478", "Dex's relay");
    assert((await textOf('#net-paths tr[data-name="Mira"] .path-local')) === "You: LAN", "Mira on the LAN");
    assert(/^since \d/.test(await textOf('#net-paths tr[data-name="Mira"] .path-since')), "since when");
    await waitText('#net-path-changes li[data-peer="Sol"]', "Connecting → Direct");
    const changes = await page.$$eval("#net-path-changes li", (lis) =>
      lis.map((li) => ({ peer: li.dataset.peer, to: li.dataset.to, time: li.querySelector("time")?.textContent, text: li.textContent })),
    );
    log(`path changes: ${JSON.stringify(changes.map((c) => [c.time, c.peer, c.to]))}`);
    assert(changes[0].peer === "Sol", "newest first");
    assert(changes.some((c) => c.peer === "Dex" && c.to === "relayed" && c.text.includes("symmetric NAT")), "Dex relayed, with the reason");
    assert(changes.every((c) => c.time), "each change has a time");
    await shot("06-network");
    await page.evaluate(() => window.__LANRAGE_FAKE__.setNat("udp_blocked"));
    await waitText("#net-nat", "UDP blocked");
    const meaning = await textOf("#net-nat-meaning");
    assert(/cannot connect to anyone directly/.test(meaning) && /only reach players through a relay/.test(meaning), meaning);
    assert((await textOf("#net-nat-check")).includes("firewall"), "what to check");
    assert((await page.locator("#net-nat-card .pill-busy").count()) === 0, "no spinner");
    await page.locator("#net-nat-card").scrollIntoViewIfNeeded();
    await shot("06b-network-udp-blocked");
    await page.evaluate(() => window.__LANRAGE_FAKE__.setNat("cone"));
    await waitText("#net-nat", "Cone NAT");
  });

  await step("metrics page: charts per peer and of the machine, updated in place", async () => {
    await page.locator("#nav-metrics").click();
    await page.locator("#chart-rtt canvas").waitFor();
    await page.locator("#chart-loss canvas").waitFor();
    assert((await textOf("#metrics-summary")).includes("Mira"), "summary table");
    for (const id of ["chart-cpu", "chart-memory", "chart-network"]) await page.locator(`#${id} canvas`).waitFor();
    assert(/^\d+(\.\d)?%$/.test(await textOf("#metrics-cpu-now")), "CPU now");
    assert(/ of 16 GiB$/.test(await textOf("#metrics-memory-now")), "memory now");
    assert(/^↓ .*bit\/s · ↑ .*bit\/s$/.test(await textOf("#metrics-network-now")), "network now");
    // the charts take new points without being made again
    const charts = ["chart-rtt", "chart-cpu", "chart-network"];
    const before = await page.evaluate((ids) => {
      const out = {};
      for (const id of ids) {
        const el = document.getElementById(id);
        el.querySelector("canvas").dataset.mark = "kept";
        out[id] = { plots: el.dataset.plots };
      }
      return out;
    }, charts);
    const cpuNow = await textOf("#metrics-cpu-now");
    await page.waitForTimeout(2500);
    for (const id of charts) {
      const after = await page.evaluate((i) => {
        const el = document.getElementById(i);
        return { plots: el.dataset.plots, mark: el.querySelector("canvas")?.dataset.mark ?? null };
      }, id);
      assert(after.mark === "kept" && after.plots === before[id].plots, `${id} was made again: ${JSON.stringify(after)}`);
    }
    log(`CPU ${cpuNow} -> ${await textOf("#metrics-cpu-now")}`);
    await shot("07-metrics");
    await page.locator("#metrics-system").scrollIntoViewIfNeeded();
    await shot("07b-metrics-system");
    // leaving and coming back keeps the charts too
    await page.locator("#nav-party").click();
    await page.locator("#nav-metrics").click();
    await page.waitForTimeout(300);
    assert((await page.locator("#chart-cpu canvas").getAttribute("data-mark")) === "kept", "chart kept across pages");
  });

  await step("servers page: the party's servers, announce one and see it", async () => {
    await page.locator("#nav-servers").click();
    await page.locator('#servers-list tr.server[data-key]').first().waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#servers-list tr.server[data-key]").length === 3, null, {
      timeout: 15_000,
    });
    const hosts = await page.$$eval("#servers-list tr.server .server-host", (tds) => tds.map((t) => t.textContent));
    assert(hosts.join() === "Mira,Sol,Dex", `servers by latency: ${hosts}`);
    await page.locator("#announce-game").fill("Quake");
    await page.locator("#announce-name").fill("Frag night");
    await page.locator("#announce-port").fill("27960");
    await page.locator("#announce-submit").click();
    await page.locator('#servers-list tr.server[data-id="Quake:27960"]').waitFor();
    assert((await textOf('#servers-list tr.server[data-id="Quake:27960"] .server-address')).includes("10.66.0.1:27960"), "own address");
    assert((await textOf("#servers-own")).includes("Frag night"), "your servers");
    assert((await textOf("#announce-error")) === "", "no announce error");
    await shot("08-servers");
  });

  await step("games: members' games in the member list, who plays what on the Games page, this device's in the header", async () => {
    await page.locator("#nav-party").click();
    // the fake's friends say what they play: Mira OpenTTD, Dex Counter-Strike 1.6, Sol nothing
    await waitText('#peer-list tr[data-name="Mira"] .peer-game', "Playing OpenTTD");
    assert((await page.locator('#peer-list tr[data-name="Mira"]').getAttribute("data-game")) === "openttd", "Mira's row names the game");
    assert((await textOf('#peer-list tr[data-name="Dex"] .peer-game')) === "Playing Counter-Strike 1.6", "Dex's game");
    assert((await page.locator('#peer-list tr[data-name="Sol"] .peer-game').count()) === 0, "Sol plays nothing");
    assert((await page.locator("#device-game").count()) === 0, "this device plays nothing yet");
    await page.locator("#nav-games").click();
    await page.locator("#page-games").waitFor({ state: "visible" });
    const players = (id) =>
      page.$$eval(`#games-list li[data-game="${id}"] .game-player`, (lis) => lis.map((li) => `${li.dataset.name}${li.dataset.self === "true" ? " (you)" : ""}`));
    await page.locator('#games-list li[data-game="openttd"]').waitFor();
    assert((await players("openttd")).join() === "Mira", `OpenTTD: ${await players("openttd")}`);
    assert((await players("cs16")).join() === "Dex", `Counter-Strike 1.6: ${await players("cs16")}`);
    assert((await textOf("#games-idle")).includes("Sol"), "who plays nothing");
    // this device starts OpenTTD: the engine's game_started, then the party again
    await page.evaluate(() => window.__LANRAGE_FAKE__.startGame("openttd"));
    await waitText("#device-game", "Playing OpenTTD");
    await page.waitForFunction(
      () => document.querySelectorAll('#games-list li[data-game="openttd"] .game-player').length === 2,
    );
    assert((await players("openttd")).join() === "Nova (you),Mira", `OpenTTD with you: ${await players("openttd")}`);
    const groups = await page.$$eval("#games-list .game-group", (lis) => lis.map((li) => li.dataset.game));
    assert(groups.join() === "openttd,cs16", `most players first: ${groups}`);
    assert((await textOf("#games-user-file")).endsWith("/lanrage/games.toml"), "where your own games go");
    log(`games: ${JSON.stringify({ openttd: await players("openttd"), cs16: await players("cs16") })}`);
    await shot("08b-games");
    await page.locator("#nav-party").click();
    assert((await textOf("#peer-self .peer-game")) === "Playing OpenTTD", "your own row says what you play");
    await page.locator("#members-card").scrollIntoViewIfNeeded();
    await shot("08c-party-games");
  });

  await step("servers page: offers to announce the game you play; the offer fills in the form and announces nothing", async () => {
    const announced = () => page.evaluate(async () => (await window.__LANRAGE_FAKE__.listServers({})).length);
    const before = await announced();
    await page.locator("#nav-servers").click();
    await page.locator("#servers-offer").waitFor({ state: "visible" });
    assert((await textOf("#servers-offer-text")) === "Playing OpenTTD: announce your server to the party?", "the offer");
    assert((await page.locator("#servers-offer").getAttribute("data-game")) === "openttd", "the offer's game");
    await shot("08d-servers-offer");
    await page.locator("#servers-offer-announce").click();
    await page.locator("#servers-offer").waitFor({ state: "detached" });
    assert((await page.locator("#announce-game").inputValue()) === "OpenTTD", "the game's name prefilled");
    assert((await page.locator("#announce-name").inputValue()) === "Nova's OpenTTD", "a server name prefilled");
    assert((await page.locator("#announce-port").inputValue()) === "", "the port is left to the player");
    assert(await page.locator("#announce-port").evaluate((el) => el === document.activeElement), "the port field focused");
    await page.waitForTimeout(1000);
    assert((await announced()) === before, "nothing announced without the form");
    assert((await page.locator("#servers-own li[data-id]").count()) === 1, "your servers unchanged");
    assert((await page.locator('#servers-list tr.server[data-id^="OpenTTD"]').count()) === 0, "no OpenTTD server listed");
    await shot("08e-servers-offer-form");
  });

  await step("games page: recent game sessions with the engine's grades, and a new one when the game stops", async () => {
    await page.locator("#nav-games").click();
    await page.locator("#games-sessions-list tr.game-session").first().waitFor();
    const sessions = () =>
      page.$$eval("#games-sessions-list tr.game-session", (trs) =>
        trs.map((tr) => ({
          game: tr.dataset.game,
          players: tr.querySelector(".session-players")?.textContent?.trim(),
          duration: tr.querySelector(".session-duration")?.textContent?.trim(),
          rtt: tr.querySelector(".session-rtt")?.textContent?.trim(),
          loss: tr.querySelector(".session-loss")?.textContent?.trim(),
          grade: tr.querySelector(".session-grade")?.getAttribute("data-grade"),
          when: tr.querySelector(".session-when")?.textContent?.trim(),
        })),
      );
    await page.waitForFunction(() => document.querySelector("#games-sessions-list .session-grade[data-grade='B']"));
    const fake = await sessions();
    log(`sessions: ${JSON.stringify(fake.map((x) => [x.game, x.when, x.duration, x.grade]))}`);
    assert(fake.map((x) => x.game).join() === "openttd,cs16,factorio,supertuxkart", `newest first: ${fake.map((x) => x.game)}`);
    assert(fake.map((x) => x.grade).join() === "B,C,A,", `the engine's grades: ${fake.map((x) => x.grade)}`);
    assert(fake[0].players === "You, Dex, Mira and Sol" && fake[0].duration === "2 h 14 min", `OpenTTD: ${JSON.stringify(fake[0])}`);
    assert(fake[0].rtt === "39 ms average · 78 ms p95" && fake[0].loss === "0.6%", `OpenTTD's connection: ${JSON.stringify(fake[0])}`);
    assert(fake.every((x) => /\d/.test(x.when ?? "")), "each session says when");
    const bg = await page.locator('#games-sessions-list tr[data-game="factorio"] .session-grade').evaluate((el) => getComputedStyle(el).backgroundColor);
    assert(bg === "rgb(74, 222, 128)", `grade A in the app's colour: ${bg}`);
    await page.locator("#games-sessions").scrollIntoViewIfNeeded();
    await shot("08f-games-sessions");
    // the game stops during the party: the engine keeps the session and the page shows it
    await page.evaluate(() => window.__LANRAGE_FAKE__.stopGame("openttd"));
    await page.locator("#device-game").waitFor({ state: "detached" });
    await page.waitForFunction(() => document.querySelectorAll("#games-sessions-list tr.game-session").length === 5);
    const now = (await sessions())[0];
    log(`new session: ${JSON.stringify(now)}`);
    assert(now.game === "openttd" && now.players === "You, Dex, Mira and Sol", `the new session: ${JSON.stringify(now)}`);
    assert(/^\d+(\.\d)? ms average · \d+(\.\d)? ms p95$/.test(now.rtt ?? ""), `its round trip: ${now.rtt}`);
    await page.locator("#games-sessions").scrollIntoViewIfNeeded();
    await shot("08g-games-new-session");
    // play on, as the steps below expect
    await page.evaluate(() => window.__LANRAGE_FAKE__.startGame("openttd"));
    await waitText("#device-game", "Playing OpenTTD");
  });

  await step("metrics page: the game sessions in the window marked on the charts", async () => {
    // OpenTTD was played a moment ago (the session kept when it stopped) and runs again now
    const plotsBefore = await page.$$eval("#page-metrics .chart", (els) => Object.fromEntries(els.map((el) => [el.id, el.dataset.plots])));
    await page.locator("#nav-metrics").click();
    // every chart, once its window reaches the moment the game started again (a chart's window
    // ends at its newest point, which can be a second behind the others')
    await page.waitForFunction(
      () => [...document.querySelectorAll("#page-metrics .chart")].every((el) => /OpenTTD \(playing\)/.test(el.dataset.spans ?? "")),
      null,
      { timeout: 10_000 },
    );
    const spans = await page.$$eval("#page-metrics .chart", (els) => els.map((el) => [el.id, el.dataset.spans, el.dataset.plots]));
    log(`spans: ${JSON.stringify(spans)}`);
    for (const [id, shown, plots] of spans) {
      assert((shown ?? "").split("|").includes("OpenTTD (playing)"), `${id} marks the running game: ${shown}`);
      assert(plots === plotsBefore[id], `${id} was made again to mark it: ${plotsBefore[id]} -> ${plots}`);
    }
    await shot("08h-metrics-game-spans");
  });

  await step("settings page", async () => {
    await page.locator("#nav-settings").click();
    await page.locator("#setting-mtu").waitFor({ state: "visible" });
    await page.locator("#setting-mtu").fill("100");
    await page.keyboard.press("Enter");
    await waitText("#error-mtu", "1280");
    await page.locator("#setting-mtu").fill("1420");
    await page.keyboard.press("Enter");
    await waitText("#saved-mtu", "Saved");
    await shot("09-settings");
    await page.waitForTimeout(300); // the "MTU changed." line in the engine activity
    // the hidden pages hold still while numbers keep arriving every second
    const mutations = await page.evaluate(async () => {
      const n = [];
      const mo = new MutationObserver((ms) => {
        for (const m of ms) n.push(`${m.type} in ${(m.target.parentElement ?? m.target).outerHTML?.slice(0, 160)}`);
      });
      for (const id of ["page-party", "page-network", "page-metrics", "page-games"])
        mo.observe(document.getElementById(id), { subtree: true, childList: true, attributes: true, characterData: true });
      await new Promise((r) => setTimeout(r, 2500));
      mo.disconnect();
      return n;
    });
    assert(mutations.length === 0, `changes on hidden pages:\n${mutations.join("\n")}`);
  });

  await step("leave, then join with a code: the members are listed", async () => {
    await page.locator("#nav-party").click();
    await page.locator("#party-leave").click();
    await waitText("#party-state", "No party yet");
    await page.locator("#party-code").fill(code);
    await page.locator('#party-code-hint[data-kind="code"]').waitFor();
    const hint = await textOf("#party-code-hint");
    assert(hint.startsWith(`Code ${code}. No control server is set`), `code hint: ${hint}`);
    await page.locator("#party-join").click();
    await waitText("#party-role", "Mira is the host");
    await page.waitForFunction(
      () => document.querySelector('#peer-list tr[data-name="Mira"] .peer-grade')?.getAttribute("data-grade"),
      null,
      { timeout: 15_000 },
    );
    const names = await page.$$eval("#peer-list tr.peer[data-key]", (trs) => trs.map((t) => t.dataset.name));
    assert(names.join() === "Mira,Dex,Sol,Kai", `members ${names}`);
    assert((await page.locator("#party-invite-code").count()) === 0, "members see no invite code");
    await page.waitForTimeout(2500);
    await shot("10-joined");
    // the app window's default size
    await page.setViewportSize({ width: 1000, height: 700 });
    await shot("10b-joined-1000x700");
    await page.locator("#nav-network").click();
    await page.locator("#net-paths-card").scrollIntoViewIfNeeded();
    await shot("10c-network-1000x700");
    await page.locator("#nav-party").click();
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step("a lanrage:// link fills the join field and focuses Join without joining", async () => {
    await page.locator("#party-leave").click();
    await waitText("#party-state", "No party yet");
    await page.locator("#nav-metrics").click();
    const link = `lanrage://join/${code}?server=ws%3A%2F%2F127.0.0.1%3A7666`;
    await page.evaluate((l) => window.__LANRAGE_FAKE__.emitDeepLink(l), link);
    await page.locator("#page-party").waitFor({ state: "visible" });
    assert((await page.locator("#party-code").inputValue()) === link, "link in the field");
    await page.locator('#party-code-hint[data-kind="link"]').waitFor();
    assert(
      (await textOf("#party-code-hint")) === `Invite link for code ${code}, meeting at ws://127.0.0.1:7666.`,
      `link hint: ${await textOf("#party-code-hint")}`,
    );
    assert(await page.locator("#party-join").evaluate((el) => el === document.activeElement), "Join focused");
    assert((await textOf("#party-state")) === "No party yet", "did not join by itself");
    await shot("11-deep-link");
  });

  await step("games page outside a party: what LANrage detects, and where your own games go", async () => {
    await page.evaluate(() => window.__LANRAGE_FAKE__.stopGame());
    await page.locator("#device-game").waitFor({ state: "detached" });
    await page.locator("#nav-games").click();
    await waitText("#games-empty", "No game is running on this device.");
    assert((await textOf("#games-detect-how")).includes("recognised by their running program"), "how games are detected");
    assert((await textOf("#games-user-file")) === "/home/player/.local/share/lanrage/games.toml", "games.toml in the data folder");
    assert((await textOf("#games-party-hint")).includes("Join or create a party"), "friends' games need a party");
    await shot("12-games-empty");
  });

  await step("nothing but 127.0.0.1 was contacted, and no page errors", async () => {
    assert(external.length === 0, `external requests: ${external.join(", ")}`);
    assert(problems.length === 0, problems.join("\n"));
  });
}

async function main() {
  const timer = setTimeout(() => {
    log(`timed out after ${TOTAL_TIMEOUT_MS / 1000} s`);
    void cleanup().finally(() => process.exit(1));
  }, TOTAL_TIMEOUT_MS);
  let failed = false;
  try {
    await mkdir(OUT, { recursive: true });
    const base = await startPreview(await freePort());
    log(`preview at ${base}`);
    userDataDir = await mkdtemp(path.join(os.tmpdir(), "lanrage-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // this script stops the browser itself, after the preview server, on any signal
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
      viewport: { width: 1280, height: 800 },
      colorScheme: "dark",
      reducedMotion: "reduce",
    });
    process.on("exit", () => killLeftovers()); // after Playwright's hook, which kills Chromium
    await run(base);
  } catch (err) {
    failed = true;
    if (!results.some((r) => !r.ok)) log(`FAIL ${err?.stack ?? err}`);
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
  const passed = results.filter((r) => r.ok).length;
  const nfailed = results.filter((r) => !r.ok).length + (failed && !results.some((r) => !r.ok) ? 1 : 0);
  log(`screenshots in ${path.relative(process.cwd(), OUT) || OUT}`);
  console.log(`browser: ${passed} passed, ${nfailed} failed`);
  process.exit(nfailed ? 1 : 0);
}

await main();
