//! Shared pieces of the end-to-end tests: processes that are always cleaned up, a private X
//! display and D-Bus session, the rule for skipping, and the network labs: namespaces and
//! processes ([`lab`]), the world every lab builds from them ([`world`]) and its players
//! ([`players`]).
#![allow(dead_code)]

pub mod lab;
pub mod players;
pub mod postgres;
pub mod skip;
pub mod world;

pub use skip::{require, workspace_target};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn on_path(tool: &str) -> bool {
    find_on_path(tool).is_some()
}

pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A child process killed (with its process group) when dropped, even when a test panics.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_string(),
            child,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_first_line(&mut self) -> String {
        let out = self.child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The whole group: tauri-driver's WebKitWebDriver and the app go with it.
        // The "--" matters: procps kill reads "-12345" after "-KILL" as option digits and then
        // calls kill(-1, SIGKILL), which ends every process on the machine.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private X server (Xvfb) and D-Bus session bus for a desktop app under test.
pub struct Desktop {
    pub display: String,
    pub dbus_address: String,
    _xvfb: Proc,
    _dbus: Proc,
}

impl Desktop {
    pub fn start() -> Self {
        // Xvfb picks a free display itself and says which (-displayfd): tests starting desktops
        // at the same moment can never race for one number.
        let mut xvfb = Proc::spawn(
            "Xvfb",
            Command::new("Xvfb")
                // -noreset: by default Xvfb resets when its last client leaves, and an app
                // started again at that moment fails to open the display.
                .args([
                    "-displayfd",
                    "1",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let display = format!(":{}", xvfb.stdout_first_line().trim());
        let mut dbus = Proc::spawn(
            "dbus-daemon",
            Command::new("dbus-daemon")
                // A socket in the file system (not the abstract namespace): reachable from the
                // lab's network namespaces too.
                .args([
                    "--session",
                    "--nofork",
                    "--print-address=1",
                    "--address=unix:dir=/tmp",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let dbus_address = dbus.stdout_first_line();
        Self {
            display,
            dbus_address,
            _xvfb: xvfb,
            _dbus: dbus,
        }
    }

    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.dbus_address)
            .env_remove("WAYLAND_DISPLAY");
    }
}

pub fn wait_for(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where tests leave screenshots and logs for a person to look at.
pub fn artifacts_dir() -> PathBuf {
    let dir = workspace_target().join("e2e-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
