//! The real app in a party, as a person uses it: the desktop app (under Xvfb, driven by
//! WebDriver) and two headless `lanrage up` friends, each in its own network namespace on one
//! bridge with a `lanrage server`. The app creates a party, the friends join with the code the
//! app shows, the app lists them with a live RTT, and leaves. Screenshots of every page go to
//! docs/screenshots (the README shows them) and target/e2e-artifacts. Needs root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

#[path = "../crates/discord/tests/fake_discord/mod.rs"]
mod fake_discord;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::players::lanrage;
use support::world::World;
use support::{Desktop, Proc};

const APP: &str = env!("CARGO_BIN_EXE_lanrage-app");
const SERVER_URL: &str = "ws://198.51.100.10:8667";
const BOT_TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.GAppLb.a-bot-token-for-the-app-lab";

fn ready() -> bool {
    support::require(
        support::is_root(),
        "the app party lab needs root (network namespaces, TUN devices)",
    ) && support::require(
        support::on_path("Xvfb")
            && support::on_path("dbus-daemon")
            && support::on_path("WebKitWebDriver")
            && support::on_path("tauri-driver")
            && support::on_path("socat"),
        "the app party lab needs Xvfb, dbus-daemon, WebKitWebDriver, tauri-driver and socat (run scripts/setup)",
    ) && support::require(
        Path::new(&lanrage()).exists(),
        "the app party lab needs the lanrage binary (cargo build -p lanrage-cli)",
    )
}

async fn displayed(c: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if el.is_displayed().await.unwrap_or(false) {
                return el;
            }
        }
        assert!(Instant::now() < deadline, "{css} never became visible");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {what}; it shows `{t}`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let _ = std::fs::write(support::artifacts_dir().join(name), &png);
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    if std::fs::create_dir_all(&docs).is_ok() {
        let _ = std::fs::write(docs.join(name), &png);
    }
}

const CHARTS: [&str; 6] = [
    "chart-rtt",
    "chart-jitter",
    "chart-loss",
    "chart-cpu",
    "chart-memory",
    "chart-network",
];

/// How many plots each Metrics chart made (`data-plots`).
async fn chart_plots(c: &Client) -> Vec<u64> {
    let v = c
        .execute(
            "return arguments[0].map(id => Number(document.getElementById(id)?.dataset.plots ?? 0));",
            vec![json!(CHARTS)],
        )
        .await
        .expect("read data-plots");
    let plots: Vec<u64> = serde_json::from_value(v).expect("numbers");
    assert!(
        plots.iter().all(|&n| n >= 1),
        "a Metrics chart drew nothing: {CHARTS:?} made {plots:?} plots"
    );
    plots
}

/// Resident memory (MiB) and CPU ticks so far of every process whose name is in `names`.
fn footprint(names: &[&str]) -> Vec<(String, u32, f64, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let comm = comm.trim().to_string();
        if !names.iter().any(|n| comm.starts_with(n)) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push((comm, pid, rss_kb / 1024.0, ticks));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_hosts_a_party_friends_join_with_its_code_and_it_shows_them_live() {
    if !ready() {
        return;
    }
    let mut w = World::new("app");
    w.server("srv", "198.51.100.10");
    // The app's own namespace and data, and two friends, headless.
    for (ns, ip) in [
        ("app", "198.51.100.11"),
        ("f1", "198.51.100.12"),
        ("f2", "198.51.100.13"),
    ] {
        w.host(ns, ip);
        w.player(ns);
    }
    w.start_server(&["--public-ip", "198.51.100.10"]);
    let World { lab, players, .. } = &mut w;
    let friends = [(1, "Ana"), (2, "Bo")];
    for (i, name) in friends {
        players[i].up(lab, Some(SERVER_URL), name);
    }
    let app = &players[0];

    // The app's own data: a name (so no first-run screen) and the server, as a player would
    // have set them.
    app.ok(lab, &["settings", "set", "display_name", "Host"]);
    app.ok(lab, &["settings", "set", "control_server", SERVER_URL]);
    // The group's Discord bot, on a fake Discord where the app's engine can reach it (its
    // namespace's loopback): the party it opens is announced, and Settings shows the bot.
    let discord = fake_discord::FakeDiscord::start_on(lab.tcp_listener_in("app"), BOT_TOKEN);
    app.ok(
        lab,
        &["settings", "set", "discord_api_url", &discord.api_url()],
    );
    app.ok(
        lab,
        &[
            "settings",
            "set",
            "discord_bot_channel_id",
            "123456789012345678",
        ],
    );
    app.ok(lab, &["settings", "set", "discord_bot_token", BOT_TOKEN]);

    // The app under WebDriver inside the "app" namespace; the test reaches tauri-driver through
    // a Unix socket (filesystem sockets cross network namespaces, TCP does not).
    let desktop = Desktop::start();
    let sock = std::env::temp_dir().join(format!("lanrage-wd-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let mut envs: Vec<(&str, String)> = vec![
        ("DISPLAY", desktop.display.clone()),
        ("DBUS_SESSION_BUS_ADDRESS", desktop.dbus_address.clone()),
        ("LANRAGE_DATA_DIR", app.data()),
        ("RUST_LOG", "info".into()),
    ];
    if let Ok(home) = std::env::var("HOME") {
        envs.push(("HOME", home));
    }
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let driver = support::find_on_path("tauri-driver").unwrap();
    lab.spawn(
        "app",
        "tauri-driver",
        &[
            driver.to_str().unwrap(),
            "--port",
            "4444",
            "--native-port",
            "4445",
        ],
        &env_refs,
    );
    lab.wait_listening("app", "tcp", 4444, Duration::from_secs(20));
    let unix_listen = format!("UNIX-LISTEN:{},fork", sock.display());
    lab.spawn(
        "app",
        "wd-bridge",
        &["socat", &unix_listen, "TCP:127.0.0.1:4444"],
        &[],
    );
    support::wait_for(Duration::from_secs(10), "the WebDriver socket", || {
        sock.exists()
    });
    let port = support::free_port();
    let _bridge = Proc::spawn(
        "wd-bridge-root",
        Command::new("socat")
            .args([
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
                &format!("UNIX-CONNECT:{}", sock.display()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    support::wait_for(Duration::from_secs(10), "the WebDriver bridge", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let caps = json!({ "tauri:options": { "application": APP }, "browserName": "wry" });
    let c = ClientBuilder::native()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session on the app");

    wait_text(&c, "#engine-state", |t| t.contains("Running"), "Running").await;
    // Create a party the way a person does: a name, then the big button.
    displayed(&c, "#nav-party").await.click().await.unwrap();
    let name = displayed(&c, "#party-name").await;
    name.clear().await.unwrap();
    name.send_keys("Friday LAN").await.unwrap();
    displayed(&c, "#party-create").await.click().await.unwrap();
    let code = wait_text(
        &c,
        "#party-invite-code",
        |t| t.len() >= 20,
        "an invite code",
    )
    .await;

    // The friends type the code the app shows.
    for (i, _) in friends {
        players[i].ok(lab, &["party", "join", code.trim()]);
    }
    for (_, name) in friends {
        let row = format!("tr.peer[data-name=\"{name}\"] .peer-rtt");
        let rtt = wait_text(
            &c,
            &row,
            |t| t.contains("ms") && t.chars().any(|ch| ch.is_ascii_digit()),
            "a live RTT",
        )
        .await;
        eprintln!("the app shows {name} at {rtt}");
        let conn = format!("tr.peer[data-name=\"{name}\"] .peer-conn");
        wait_text(&c, &conn, |t| t.contains("Direct"), "Direct").await;
    }
    // A real game server on the host's machine, started as its player would (Debian's
    // Teeworlds, not announced to the internet): the app sees it, and the party with it.
    let game_home = tempfile::tempdir().unwrap();
    let autoexec = game_home.path().join("data/teeworlds/autoexec.cfg");
    std::fs::create_dir_all(autoexec.parent().unwrap()).unwrap();
    std::fs::write(&autoexec, "sv_name \"Friday LAN\"\nsv_register 0\n").unwrap();
    let teeworlds = "/usr/games/teeworlds-server";
    assert!(
        Path::new(teeworlds).exists(),
        "{teeworlds} is missing (scripts/setup installs teeworlds-server)"
    );
    let home = game_home.path().display().to_string();
    let data = game_home.path().join("data").display().to_string();
    lab.spawn(
        "app",
        "teeworlds",
        &[teeworlds],
        &[("HOME", home.as_str()), ("XDG_DATA_HOME", data.as_str())],
    );
    wait_text(
        &c,
        "#device-game",
        |t| t.contains("Teeworlds"),
        "Playing Teeworlds",
    )
    .await;
    // Let the live charts fill for a few seconds before looking at them.
    tokio::time::sleep(Duration::from_secs(5)).await;
    screenshot(&c, "party.png").await;
    for page in ["network", "metrics", "games", "servers", "settings"] {
        displayed(&c, &format!("#nav-{page}"))
            .await
            .click()
            .await
            .unwrap();
        // What a user sees on Metrics: every chart draws (uPlot once failed to load in WebKitGTK
        // under LANG=C, whose navigator.language "C" Intl refuses), made once, then fed.
        let plots = if page == "metrics" {
            for chart in CHARTS {
                displayed(&c, &format!("#{chart} canvas")).await;
            }
            chart_plots(&c).await
        } else {
            Vec::new()
        };
        if page == "games" {
            wait_text(
                &c,
                "#games-list",
                |t| t.contains("Teeworlds"),
                "Teeworlds playing",
            )
            .await;
        }
        // Pages show live numbers only while on screen; give them two engine ticks.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        screenshot(&c, &format!("{page}.png")).await;
        if page == "metrics" {
            assert_eq!(
                chart_plots(&c).await,
                plots,
                "the charts were made again instead of updated"
            );
        }
    }
    // The bot under its settings, and what it posted for the party the app opened.
    displayed(&c, "#nav-settings").await.click().await.unwrap();
    c.execute(
        "document.getElementById('discord-bot-status').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await
    .unwrap();
    wait_text(
        &c,
        "#discord-bot-status",
        |t| t.contains("Bot: online"),
        "the bot online",
    )
    .await;
    screenshot(&c, "settings-discord.png").await;
    discord
        .wait(10, "the party announced in the channel", |f| {
            f.titles().iter().any(|t| t == "Party Friday LAN is open")
        })
        .await;
    let posted = discord.messages()[0].1["embeds"][0]["fields"][0]["value"].clone();
    assert_eq!(
        posted,
        format!("`{}`", code.trim()),
        "the invite the app shows"
    );
    displayed(&c, "#nav-party").await.click().await.unwrap();

    // Idle in a party of three: what the app costs (reported, not asserted: the machine is
    // shared and software-rendered).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let names = ["lanrage-app", "WebKitWebProces", "WebKitNetworkPr"];
    let before = footprint(&names);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = footprint(&names);
    let secs = t0.elapsed().as_secs_f64();
    let hz = 100.0; // USER_HZ on Linux
    for (comm, pid, rss, ticks) in &after {
        let t0 = before
            .iter()
            .find(|b| b.1 == *pid)
            .map(|b| b.3)
            .unwrap_or(*ticks);
        let cpu = (ticks - t0) as f64 / hz / secs * 100.0;
        eprintln!(
            "idle in a party of three: {comm} (pid {pid}): {rss:.0} MiB, {cpu:.2} % of a core"
        );
    }

    // Leave: the friends see the host go.
    displayed(&c, "#party-leave").await.click().await.unwrap();
    wait_text(&c, "#party-state", |t| t.contains("No party"), "No party").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = players[1].status(lab);
        let names: Vec<String> = st["party"]["peers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !names.iter().any(|n| n == "Host") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "friends still see the host: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.close().await.unwrap();
    let _ = std::fs::remove_file(&sock);
}
