//! The real desktop app under Xvfb, driven through WebDriver (tauri-driver + WebKitWebDriver)
//! as a person would use it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::{Desktop, Proc};

const APP: &str = env!("CARGO_BIN_EXE_lanrage-app");

fn tools_present() -> bool {
    support::require(
        support::on_path("Xvfb")
            && support::on_path("dbus-daemon")
            && support::on_path("WebKitWebDriver")
            && support::on_path("tauri-driver"),
        "the app end-to-end test needs Xvfb, dbus-daemon, WebKitWebDriver and tauri-driver (run scripts/setup)",
    )
}

/// One run of the app: a desktop, tauri-driver, and a WebDriver session on the app.
struct AppSession {
    client: Client,
    _driver: Proc,
    _desktop: Desktop,
}

/// The app tests share two cores and a WebKit that is slow to start: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts the app under WebDriver. WebKitWebDriver occasionally drops the first session
/// request on a loaded machine, so a failed start is retried with a fresh driver.
async fn launch(data_dir: &Path) -> AppSession {
    let mut last_error = String::new();
    for attempt in 1..=3 {
        match try_launch(data_dir, attempt).await {
            Ok(s) => return s,
            Err(e) => {
                eprintln!("app launch attempt {attempt} failed: {e}");
                last_error = e;
            }
        }
    }
    panic!("the app never started under WebDriver: {last_error}");
}

async fn try_launch(data_dir: &Path, attempt: u32) -> Result<AppSession, String> {
    let desktop = Desktop::start();
    let port = support::free_port();
    let native_port = support::free_port();
    let tauri_driver = support::find_on_path("tauri-driver").unwrap();
    let log_name = format!(
        "tauri-driver-{}-{attempt}.log",
        data_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("app")
    );
    let log = std::fs::File::create(support::artifacts_dir().join(log_name)).unwrap();
    let mut cmd = Command::new(tauri_driver);
    cmd.args([
        "--port",
        &port.to_string(),
        "--native-port",
        &native_port.to_string(),
    ])
    .env("LANRAGE_DATA_DIR", data_dir)
    .env("RUST_LOG", "info")
    .stdout(Stdio::from(log.try_clone().unwrap()))
    .stderr(Stdio::from(log));
    desktop.apply(&mut cmd);
    let driver = Proc::spawn("tauri-driver", &mut cmd);
    support::wait_for(Duration::from_secs(20), "tauri-driver", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let caps = json!({ "tauri:options": { "application": APP }, "browserName": "wry" });
    let client = ClientBuilder::native()
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("WebDriver session on the app: {e}"))?;
    Ok(AppSession {
        client,
        _driver: driver,
        _desktop: desktop,
    })
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
        .text()
        .await
        .unwrap()
}

async fn wait_for_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if t.contains(needle) {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never said `{needle}`; it says `{t}`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn input_value(c: &Client, css: &str) -> String {
    let el = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    el.prop("value").await.unwrap().unwrap_or_default()
}

/// Types into a settings field and commits it the way a person does (Enter).
/// Waits until an element is on screen (pages and dialogs switch with a short transition).
async fn displayed(c: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if el.is_displayed().await.unwrap_or(false) {
                return el;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never became visible"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_setting(c: &Client, key: &str, text: &str) {
    let el = displayed(c, &format!("#setting-{key}")).await;
    el.clear().await.unwrap();
    el.send_keys(&format!("{text}\u{E007}")).await.unwrap();
}

async fn screenshot(c: &Client, name: &str) {
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(support::artifacts_dir().join(name), png);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_form_saves_validates_and_persists_across_restart() {
    if !tools_present() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let data = tempfile::tempdir().unwrap();

    let app = launch(data.path()).await;
    let c = &app.client;
    // The first page shows this device's identity from the engine.
    let key = text_of(c, "#device-public-key").await;
    assert_eq!(key.trim().len(), 44, "public key shown: {key}");
    wait_for_text(c, "#engine-state", "Running").await;

    // A fresh install greets the player and asks for a name first.
    let name = displayed(c, "#first-run-name").await;
    screenshot(c, "app-first-run.png").await;
    name.clear().await.unwrap();
    name.send_keys("E2E Tester").await.unwrap();
    displayed(c, "#first-run-continue")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(c, "#device-name", "E2E Tester").await;

    // A bad value gets a clear message next to the field and is not saved.
    displayed(c, "#nav-settings").await.click().await.unwrap();
    type_setting(c, "mtu", "100").await;
    let err = wait_for_text(c, "#error-mtu", "1280").await;
    assert!(err.contains("9000"), "mtu error: {err}");
    screenshot(c, "app-settings.png").await;
    c.clone().close().await.unwrap();
    drop(app);

    // What was saved is there after a restart; what was refused is not.
    let app = launch(data.path()).await;
    let c = &app.client;
    wait_for_text(c, "#engine-state", "Running").await;
    assert_eq!(input_value(c, "#setting-display_name").await, "E2E Tester");
    assert_eq!(input_value(c, "#setting-mtu").await, "1420");
    assert_eq!(text_of(c, "#device-public-key").await.trim(), key.trim());
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_settings_file_is_reported_and_app_starts_with_defaults() {
    if !tools_present() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("settings.db"),
        b"not sqlite at all".repeat(500),
    )
    .unwrap();
    let app = launch(data.path()).await;
    let c = &app.client;
    wait_for_text(c, "#notices", "default settings").await;
    assert_eq!(input_value(c, "#setting-display_name").await, "Player");
    screenshot(c, "app-corrupt-settings.png").await;
    c.clone().close().await.unwrap();
    assert!(std::fs::read_dir(data.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e
            .file_name()
            .to_string_lossy()
            .starts_with("settings.db.corrupt-")));
}

async fn wait_for_value(c: &Client, css: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = input_value(c, css).await;
        if v == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} never showed `{want}`; it shows `{v}`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `lanrage` for a data directory, as a person types it.
fn cli(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(support::players::lanrage())
        .env("LANRAGE_DATA_DIR", data)
        .args(args)
        .output()
        .unwrap()
}

fn cli_ok(data: &Path, args: &[&str]) -> String {
    let out = cli(data, args);
    assert!(
        out.status.success(),
        "`lanrage {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `lanrage up` on `data`, once its API answers.
fn start_daemon(data: &Path) -> Proc {
    let log = std::fs::File::create(support::artifacts_dir().join("attached-up.log")).unwrap();
    let mut cmd = Command::new(support::players::lanrage());
    cmd.env("LANRAGE_DATA_DIR", data)
        .env("RUST_LOG", "info")
        .arg("up")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    let daemon = Proc::spawn("lanrage up", &mut cmd);
    support::wait_for(Duration::from_secs(20), "lanrage up's API", || {
        cli(data, &["status", "--json"]).status.success()
    });
    daemon
}

/// With `lanrage up` already running on the data directory, the app does not fail on the
/// directory's lock: it is that engine's window. What the window shows is the daemon's, what is
/// changed in the window changes the daemon, changes made elsewhere appear live, and the window
/// follows the engine through a restart. Closing the window leaves the engine running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lanrage_up_running_the_app_is_its_window() {
    if !tools_present()
        || !support::require(
            Path::new(&support::players::lanrage()).exists(),
            "the attached-app test needs the `lanrage` binary (cargo build -p lanrage-cli)",
        )
    {
        return;
    }
    let _serial = SERIAL.lock().await;
    let data = tempfile::tempdir().unwrap();
    let port = support::free_port().to_string();
    cli_ok(
        data.path(),
        &[
            "settings",
            "set",
            "api_listen",
            &format!("127.0.0.1:{port}"),
        ],
    );
    cli_ok(data.path(), &["settings", "set", "display_name", "Dana"]);
    let mut daemon = start_daemon(data.path());
    let status: serde_json::Value =
        serde_json::from_str(&cli_ok(data.path(), &["status", "--json"])).unwrap();
    let daemon_key = status["device"]["public_key"].as_str().unwrap().to_string();

    let app = launch(data.path()).await;
    let c = &app.client;
    wait_for_text(c, "#engine-state", "Running").await;
    wait_for_text(c, "#device-name", "Dana").await;
    assert_eq!(text_of(c, "#device-public-key").await.trim(), daemon_key);

    // A change made with the CLI reaches the open window through the event stream.
    displayed(c, "#nav-settings").await.click().await.unwrap();
    displayed(c, "#setting-mtu").await;
    cli_ok(data.path(), &["settings", "set", "mtu", "1400"]);
    wait_for_value(c, "#setting-mtu", "1400").await;

    // The window's changes are the daemon's; a refused value is explained next to its field.
    type_setting(c, "display_name", "Dana at the desk").await;
    support::wait_for(
        Duration::from_secs(20),
        "the daemon to take the name",
        || cli_ok(data.path(), &["settings", "get", "display_name"]).contains("Dana at the desk"),
    );
    type_setting(c, "mtu", "100").await;
    wait_for_text(c, "#error-mtu", "1280").await;
    assert_eq!(
        cli_ok(data.path(), &["settings", "get", "mtu"]),
        "mtu = 1400"
    );
    screenshot(c, "app-attached.png").await;

    // The engine stops: the window says so; it comes back: the window follows it.
    let stopped = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    support::wait_for(Duration::from_secs(20), "lanrage up to stop", || {
        !daemon.is_running()
    });
    wait_for_text(c, "#engine-state", "Stopped").await;
    let daemon = start_daemon(data.path());
    wait_for_text(c, "#engine-state", "Running").await;
    cli_ok(
        data.path(),
        &["settings", "set", "display_name", "Dana again"],
    );
    wait_for_value(c, "#setting-display_name", "Dana again").await;

    c.clone().close().await.unwrap();
    drop(app);
    // Closing the window is not stopping the engine it was attached to.
    assert!(cli(data.path(), &["status", "--json"]).status.success());
    drop(daemon);
}
