//! The tray as a desktop shell sees it: the app's StatusNotifierItem menu read over D-Bus
//! (com.canonical.dbusmenu, what GNOME's and KDE's tray hosts read), and its Quit item used the
//! way a click in the shell uses it. Runs on a private Xvfb and session bus.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Desktop;

const APP: &str = env!("CARGO_BIN_EXE_lanrage-app");
const MENU_INTERFACE: &str = "com.canonical.dbusmenu";

fn tools_present() -> bool {
    support::require(
        support::on_path("Xvfb") && support::on_path("dbus-daemon") && support::on_path("gdbus"),
        "the tray test needs Xvfb, dbus-daemon and gdbus (run scripts/setup)",
    )
}

fn gdbus(desktop: &Desktop, args: &[&str]) -> Option<String> {
    let mut cmd = Command::new("gdbus");
    cmd.args(args);
    desktop.apply(&mut cmd);
    let out = cmd.output().ok()?;
    if !out.status.success() {
        if args.first() != Some(&"introspect") && !args.contains(&"org.freedesktop.DBus") {
            eprintln!(
                "gdbus {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// (bus name, object path) of the dbusmenu object a process exports.
fn find_menu(desktop: &Desktop, pid: u32) -> Option<(String, String)> {
    let names = gdbus(
        desktop,
        &[
            "call",
            "--session",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        ],
    )?;
    for name in names
        .split(['\'', ' ', ',', '[', ']', '(', ')'])
        .filter(|n| n.starts_with(':'))
    {
        let owner = gdbus(
            desktop,
            &[
                "call",
                "--session",
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                name,
            ],
        );
        // "(uint32 1234,)"
        let owner_pid: Option<u32> = owner.as_deref().and_then(|o| {
            o.split_whitespace()
                .nth(1)?
                .trim_end_matches([',', ')'])
                .parse()
                .ok()
        });
        if owner_pid != Some(pid) {
            continue;
        }
        let Some(tree) = gdbus(
            desktop,
            &[
                "introspect",
                "--session",
                "--dest",
                name,
                "--object-path",
                "/",
                "--recurse",
            ],
        ) else {
            continue;
        };
        let mut node = None;
        for line in tree.lines() {
            let l = line.trim();
            if let Some(p) = l.strip_prefix("node ") {
                node = Some(p.trim_end_matches(" {").to_string());
            } else if l.starts_with(&format!("interface {MENU_INTERFACE} ")) {
                return Some((name.to_string(), node?));
            }
        }
    }
    None
}

/// (id, label) of every item in a dbusmenu GetLayout answer, in order.
fn items(layout: &str) -> Vec<(u32, String)> {
    layout
        .split("<(")
        .skip(1)
        .filter_map(|chunk| {
            let id: u32 = chunk.split(',').next()?.trim().parse().ok()?;
            let label = chunk
                .split("'label': <'")
                .nth(1)
                .and_then(|l| l.split("'>").next())
                .unwrap_or("")
                .to_string();
            Some((id, label))
        })
        .collect()
}

struct Running {
    app: std::process::Child,
    name: String,
    path: String,
}

/// Starts the app on `desktop` and waits for its tray menu on the bus.
fn start_app(
    desktop: &Desktop,
    data: &std::path::Path,
    home: &std::path::Path,
    log: &str,
) -> Running {
    let log = std::fs::File::create(support::artifacts_dir().join(log)).unwrap();
    let mut cmd = Command::new(APP);
    cmd.env("LANRAGE_DATA_DIR", data)
        .env("HOME", home)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    desktop.apply(&mut cmd);
    let mut app = cmd.spawn().expect("starting the app");
    let pid = app.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (name, path) = loop {
        if let Some(found) = find_menu(desktop, pid) {
            break found;
        }
        if let Ok(Some(status)) = app.try_wait() {
            panic!("the app exited before showing its tray: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the app never exported a tray menu on D-Bus"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    Running { app, name, path }
}

fn menu_items(desktop: &Desktop, r: &Running) -> Vec<(u32, String)> {
    let layout = gdbus(
        desktop,
        &[
            "call",
            "--session",
            "--dest",
            &r.name,
            "--object-path",
            &r.path,
            "--method",
            &format!("{MENU_INTERFACE}.GetLayout"),
            "0",
            "int32 -1",
            "@as []",
        ],
    )
    .expect("GetLayout");
    items(&layout)
}

/// Clicks Quit in the tray menu over D-Bus and waits for a clean exit.
fn quit_from_tray(desktop: &Desktop, mut r: Running) {
    let quit = menu_items(desktop, &r)
        .into_iter()
        .find(|(_, l)| l == "Quit")
        .expect("a Quit item")
        .0;
    gdbus(
        desktop,
        &[
            "call",
            "--session",
            "--dest",
            &r.name,
            "--object-path",
            &r.path,
            "--method",
            &format!("{MENU_INTERFACE}.Event"),
            &quit.to_string(),
            "clicked",
            "<int32 0>",
            "0",
        ],
    )
    .expect("clicking Quit over D-Bus");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = r.app.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = r.app.kill();
            panic!("Quit did not quit the app within 15 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "the app quit with {status}");
}

#[test]
fn the_tray_menu_is_readable_over_dbus_and_its_quit_item_quits_cleanly() {
    if !tools_present() {
        return;
    }
    let desktop = Desktop::start();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let r = start_app(&desktop, data.path(), home.path(), "app-tray.log");
    let entries = menu_items(&desktop, &r);
    let labels: Vec<&str> = entries.iter().map(|(_, l)| l.as_str()).collect();
    // The status line comes first; a game running on this machine adds ", playing …" to it.
    assert!(
        labels[0].starts_with("LANrage: not in a party"),
        "tray status line: {labels:?}"
    );
    for want in [
        "Create party",
        "Join party…",
        "Copy invite",
        "Leave party",
        "Open LANrage",
        "Quit",
    ] {
        assert!(
            labels.contains(&want),
            "tray menu lacks {want:?}: {labels:?}"
        );
    }
    quit_from_tray(&desktop, r);
    let log = std::fs::read_to_string(support::artifacts_dir().join("app-tray.log")).unwrap();
    assert!(log.contains("quit from the tray"), "{log}");
    // Quitting shut the engine down in order (settings flushed, tasks ended).
    assert!(log.contains("engine stopped"), "{log}");
}

#[test]
fn start_at_login_writes_and_removes_the_login_entry() {
    let cli = support::workspace_target().join("debug").join("lanrage");
    if !tools_present()
        || !support::require(
            cli.exists(),
            "the start-at-login test sets the setting with the lanrage binary (cargo build -p lanrage-cli)",
        )
    {
        return;
    }
    let desktop = Desktop::start();
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let set = |on: &str| {
        let out = Command::new(&cli)
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args(["settings", "set", "start_at_login", on])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let entry = home.path().join(".config/autostart/LANrage.desktop");
    set("true");
    let r = start_app(&desktop, data.path(), home.path(), "app-login-1.log");
    support::wait_for(Duration::from_secs(10), "the login entry", || {
        entry.exists()
    });
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains("[Desktop Entry]"), "{text}");
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("Exec="))
        .unwrap_or_else(|| panic!("no Exec line: {text}"));
    // It starts this very app, in the tray.
    assert!(
        exec.contains("lanrage-app") && exec.ends_with("--minimized"),
        "{exec}"
    );
    quit_from_tray(&desktop, r);
    set("false");
    let r = start_app(&desktop, data.path(), home.path(), "app-login-2.log");
    support::wait_for(Duration::from_secs(10), "the login entry to go", || {
        !entry.exists()
    });
    quit_from_tray(&desktop, r);
}
