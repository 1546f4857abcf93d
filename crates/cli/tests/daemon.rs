//! The `lanrage` binary as a person uses it: `lanrage up` in the background, then commands.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../tests/support/postgres.rs"]
mod postgres;
#[path = "../../../tests/support/skip.rs"]
mod skip;

const BIN: &str = env!("CARGO_BIN_EXE_lanrage");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lanrage(dir: &Path, api: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(["--api", api])
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The daemon, stopped with SIGTERM when the test ends (even if it fails).
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(dir: &Path, api: &str) -> Self {
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .args(["--api", api, "up"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Daemon { child };
        let mut d = d;
        let deadline = Instant::now() + Duration::from_secs(20);
        // Listening, by this daemon: the token it writes at start is there, and it still runs
        // (a port taken meanwhile by another process would answer the connect instead).
        while std::net::TcpStream::connect(api).is_err() || !dir.join("api.token").exists() {
            assert!(Instant::now() < deadline, "daemon did not start listening");
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!("daemon exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        if let Some(status) = d.child.try_wait().unwrap() {
            panic!("daemon exited at start: {status}");
        }
        d
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn up_and_status_work_together_and_stop_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());

    let o = lanrage(dir.path(), &api, &["status"]);
    assert_eq!(o.status.code(), Some(3), "status with no daemon");
    assert!(stdout(&o).contains("not running"), "{}", stdout(&o));

    let mut daemon = Daemon::start(dir.path(), &api);
    let o = lanrage(dir.path(), &api, &["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["state"], "running");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    let key = status["device"]["public_key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 44);

    // Settings changed through the daemon are live and persisted.
    let o = lanrage(
        dir.path(),
        &api,
        &["settings", "set", "display_name", "Night Owl"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lanrage(dir.path(), &api, &["status"]);
    assert!(stdout(&o).contains("Night Owl"), "{}", stdout(&o));

    // A bad value is refused with the field named, and nothing changes.
    let o = lanrage(dir.path(), &api, &["settings", "set", "mtu", "99999"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("mtu: must be from 1280 to 9000"),
        "{}",
        stderr(&o)
    );
    let o = lanrage(dir.path(), &api, &["settings", "get", "mtu"]);
    assert_eq!(stdout(&o).trim(), "mtu = 1420");

    // Party commands explain what is wrong in words (parties themselves are tested in the
    // network labs: creating one makes a network device).
    let o = lanrage(dir.path(), &api, &["party", "join", "NOT-A-CODE"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("invite code has 22"), "{}", stderr(&o));
    let o = lanrage(dir.path(), &api, &["party", "leave"]);
    assert!(stderr(&o).contains("not in a party"), "{}", stderr(&o));

    let status = daemon.terminate();
    assert!(status.success(), "daemon exit on SIGTERM: {status:?}");

    // Restarted: same identity, same settings.
    let mut daemon = Daemon::start(dir.path(), &api);
    let o = lanrage(dir.path(), &api, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["device"]["public_key"], key.as_str());
    assert_eq!(status["device"]["display_name"], "Night Owl");
    assert!(daemon.terminate().success());
}

#[test]
fn local_api_refuses_requests_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let _daemon = Daemon::start(dir.path(), &api);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for path in ["/v1/status", "/v1/settings", "/metrics"] {
            let r = http
                .get(format!("http://{api}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} without token");
            let r = http
                .get(format!("http://{api}{path}"))
                .bearer_auth("wrong-token-wrong-token-wrong-token")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{path} with a wrong token");
        }
        let token = std::fs::read_to_string(dir.path().join("api.token")).unwrap();
        let r = http
            .get(format!("http://{api}/v1/status"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Oversized bodies are refused, not buffered.
        let r = http
            .post(format!("http://{api}/v1/settings/import"))
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(vec![b' '; 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
    });
}

#[cfg(unix)]
#[test]
fn secret_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let _daemon = Daemon::start(dir.path(), &api);
    for f in ["device.key", "api.token", "settings.db"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn corrupt_settings_are_moved_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    std::fs::write(dir.path().join("settings.db"), b"garbage".repeat(1000)).unwrap();
    let _daemon = Daemon::start(dir.path(), &api);
    let o = lanrage(dir.path(), &api, &["status"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("started with default settings"),
        "{}",
        stdout(&o)
    );
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.db.corrupt-")
        })
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        std::fs::read(moved[0].path()).unwrap(),
        b"garbage".repeat(1000)
    );
}

#[test]
fn settings_work_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let o = lanrage(
        dir.path(),
        &api,
        &[
            "settings",
            "set",
            "stun_servers",
            "127.0.0.1:3478,127.0.0.1:3479",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lanrage(dir.path(), &api, &["config", "save", "lan party"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lanrage(dir.path(), &api, &["settings", "reset", "--all"]);
    assert!(o.status.success());
    let o = lanrage(dir.path(), &api, &["settings", "get", "stun_servers"]);
    assert_eq!(stdout(&o).trim(), "stun_servers = (none)");
    let o = lanrage(dir.path(), &api, &["config", "activate", "lan party"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = lanrage(dir.path(), &api, &["settings", "get", "stun_servers"]);
    assert_eq!(
        stdout(&o).trim(),
        "stun_servers = 127.0.0.1:3478, 127.0.0.1:3479"
    );
    let o = lanrage(dir.path(), &api, &["settings", "get", "no_such_thing"]);
    assert!(stderr(&o).contains("unknown setting `no_such_thing`"));
    let o = lanrage(dir.path(), &api, &["version"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("lanrage {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_link_says_which_server_it_meets_at_before_joining() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let _d = Daemon::start(dir.path(), &api);
    // Nothing listens on this port: the join fails, after saying where it went.
    let server = format!("ws://127.0.0.1:{}", free_port());
    let link = lanrage_proto::invite::InviteCode::generate("ABCDEFGH").link(&server);
    let o = lanrage(dir.path(), &api, &["party", "join", &link]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("This invite link meets at {server}.")),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn a_second_daemon_on_one_data_dir_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let mut first = Daemon::start(dir.path(), &api);
    let settings = std::fs::read(dir.path().join("settings.db")).unwrap();

    // Another API address, so only the data directory is shared.
    let other = format!("127.0.0.1:{}", free_port());
    let mut second = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--api", &other, "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second `lanrage up` on the same data directory kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        err.contains(&dir.path().display().to_string()),
        "names the data directory: {err}"
    );
    assert!(
        err.contains(&format!("pid {}", first.child.id())),
        "names the process using it: {err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("settings.db")).unwrap(),
        settings,
        "the refused daemon left the settings alone"
    );
    assert!(first.terminate().success());

    // Once the first has stopped, the directory is free again.
    let mut again = Daemon::start(dir.path(), &other);
    assert!(again.terminate().success());
}

#[test]
fn a_server_keeps_its_parties_in_postgresql_and_waits_out_its_outage() {
    let dir = tempfile::tempdir().unwrap();
    // A wrong address is refused at once, without repeating its password.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["server", "--no-relay", "--listen", "127.0.0.1:0"])
        .args(["--store", "mysql://ana:hunter2@db/lanrage"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("postgres://USER@HOST"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let Some(mut pg) = postgres::TestPostgres::start() else {
        return;
    };
    pg.create_database("parties");
    let url = pg.url("parties").replace("lanrage@", "lanrage:hunter2@");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // Killed if the test fails before it is stopped (it would wait for PostgreSQL forever).
    let mut server = Daemon {
        child: Command::new(BIN)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["server", "--no-relay", "--listen", &listen])
            .env("LANRAGE_STORE", &url)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            let mut log = String::new();
            if let Some(mut err) = server.child.stderr.take() {
                std::io::Read::read_to_string(&mut err, &mut log).unwrap();
            }
            panic!("server exited at start ({status}): {log}");
        }
        assert!(Instant::now() < deadline, "server did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        pg.sql("parties", "SELECT max(version) FROM lanrage_schema"),
        "2"
    );
    assert_eq!(pg.sql("parties", "SELECT count(*) FROM parties"), "0");

    // PostgreSQL going away stops the serving (another server may take over); the server
    // waits for it and serves again when it is back, without anyone restarting it.
    pg.pause();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(&listen).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still serving without PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pg.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server exited instead of waiting for PostgreSQL"
        );
        assert!(
            Instant::now() < deadline,
            "not serving again with PostgreSQL back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    let mut log = String::new();
    if let Some(mut err) = server.child.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut log).unwrap();
    }
    assert!(
        log.contains("PostgreSQL postgres://lanrage:…@127.0.0.1"),
        "the log says where parties are kept: {log}"
    );
    assert!(log.contains("waiting to serve again"), "{log}");
    assert!(status.success(), "{log}");
    assert!(!log.contains("hunter2"), "{log}");
    assert!(!dir.path().join("server.db").exists());
}
