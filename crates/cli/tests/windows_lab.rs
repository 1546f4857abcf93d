//! LANrage's Windows build, run here under Wine: `lanrage.exe` says the same version as the
//! Linux build, and `lanrage.exe server` in a network namespace serves a party that two Linux
//! players form and ping across.
//!
//! The Windows build comes from `scripts/windows/cargo build [--release] -p lanrage-cli` (the
//! README's test command builds it first); `LANRAGE_WINDOWS_EXE` names another one. Skipped with a reason when
//! it or Wine is missing, and the party lab when not root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::players::{create, lanrage};
use support::world::World;

const SERVER_IP: &str = "198.51.100.10";
const SERVER_URL: &str = "ws://198.51.100.10:8667";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wine() -> String {
    root().join("scripts/windows/wine").display().to_string()
}

/// The Windows build of the CLI, if there is one: `LANRAGE_WINDOWS_EXE`, else the release
/// build (what the installer ships), else the debug one.
fn windows_exe() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LANRAGE_WINDOWS_EXE") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    ["release", "debug"]
        .iter()
        .map(|profile| {
            root().join(format!(
                "target/windows/x86_64-pc-windows-gnu/{profile}/lanrage.exe"
            ))
        })
        .find(|p| p.is_file())
}

fn ready_exe() -> Option<PathBuf> {
    let exe = windows_exe();
    let have_wine = std::path::Path::new("/usr/lib/wine/wine64").is_file();
    if !support::require(
        exe.is_some() && have_wine,
        "Windows lab needs lanrage.exe (scripts/windows/cargo build -p lanrage-cli) and Wine (scripts/setup installs wine64)",
    ) {
        return None;
    }
    exe
}

/// Ends the Wine server of `prefix` (it outlives the programs it ran and would keep a
/// namespace's sockets).
struct WineServer(PathBuf);

impl Drop for WineServer {
    fn drop(&mut self) {
        let _ = Command::new("/usr/lib/wine/wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.0)
            .status();
    }
}

#[test]
fn the_windows_build_says_the_same_version_as_the_linux_build() {
    let Some(exe) = ready_exe() else {
        return;
    };
    let linux = Command::new(lanrage()).arg("--version").output().unwrap();
    let windows = Command::new(wine())
        .arg(&exe)
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        windows.status.success(),
        "lanrage.exe --version failed under Wine: {}",
        String::from_utf8_lossy(&windows.stderr)
    );
    let linux = String::from_utf8_lossy(&linux.stdout).trim().to_string();
    // Windows ends its lines with CR LF.
    let windows = String::from_utf8_lossy(&windows.stdout).trim().to_string();
    assert!(linux.starts_with("lanrage "), "{linux}");
    assert_eq!(windows, linux);
}

#[test]
fn a_windows_server_under_wine_serves_a_party_of_two_linux_players() {
    let Some(exe) = ready_exe() else {
        return;
    };
    if !support::require(
        support::is_root(),
        "the Windows server lab needs root (network namespaces, TUN devices)",
    ) {
        return;
    }
    // A prefix of its own, whose Wine server starts inside the lab's namespace: Wine keeps the
    // program's sockets there, and one started outside could not bind the namespace's address.
    let prefix = root().join("target/windows/wine-lab");
    // One left from an earlier run would hold the old namespace's sockets: end it first.
    drop(WineServer(prefix.clone()));
    let _wineserver = WineServer(prefix.clone());
    let mut w = World::new("win");
    w.server("srv", SERVER_IP);
    let (wine, exe) = (wine(), exe.display().to_string());
    let prefix_s = prefix.display().to_string();
    // The first run makes the Wine prefix (about 20 s).
    w.start_server_with(
        &[&wine, &exe],
        &[],
        &[("LANRAGE_WINEPREFIX", &prefix_s)],
        Duration::from_secs(90),
    );
    for i in 0..2 {
        let ns = format!("p{i}");
        w.host(&ns, &format!("198.51.100.{}", 11 + i));
        w.player(&ns);
    }
    for (i, p) in w.players.iter_mut().enumerate() {
        p.up(&mut w.lab, Some(SERVER_URL), &format!("linux{i}"));
    }
    let lab = &w.lab;
    let [a, b] = &w.players[..] else {
        unreachable!()
    };
    let (code, _) = create(lab, a, &["served from Windows"]);
    b.ok(lab, &["party", "join", &code]);
    let (ip_a, ip_b) = (a.ip(lab), b.ip(lab));
    assert_eq!((ip_a.as_str(), ip_b.as_str()), ("10.66.0.1", "10.66.0.2"));
    lab.wait_ping(&a.ns, &ip_b, Duration::from_secs(10));
    lab.wait_ping(&b.ns, &ip_a, Duration::from_secs(10));
    let st = b.status(lab);
    assert_eq!(st["party"]["name"], "served from Windows");
    assert_eq!(st["party"]["peers"][0]["name"], "linux0");
    assert_eq!(st["control"]["state"], "connected", "{st:#}");
    assert_eq!(st["control"]["server"], SERVER_URL, "{st:#}");
}
