//! A player as the lab tests drive one: a namespace, a data directory, a `lanrage up` daemon
//! and the `lanrage` CLI run as a person would.
#![allow(dead_code)] // each test file uses its own part

use std::process::Output;
use std::time::Duration;

use super::lab::{Lab, ProcId};

/// The `lanrage` binary: the one cargo built for this test binary (the CLI crate's tests), or
/// else the workspace's debug build (the app's tests: their package has no such binary).
pub fn lanrage() -> String {
    match option_env!("CARGO_BIN_EXE_lanrage") {
        Some(bin) => bin.to_string(),
        None => super::workspace_target()
            .join("debug")
            .join("lanrage")
            .display()
            .to_string(),
    }
}

pub struct Player {
    pub ns: String,
    pub dir: tempfile::TempDir,
    pub proc: Option<ProcId>,
}

impl Player {
    /// A player living in namespace `ns` (made by the caller), with a fresh data directory.
    pub fn new(ns: &str) -> Player {
        Player {
            ns: ns.to_string(),
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}")),
            proc: None,
        }
    }

    pub fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn cli(&self, lab: &Lab, args: &[&str]) -> Output {
        let (bin, data) = (lanrage(), self.data());
        let mut full = vec![bin.as_str(), "--data-dir", data.as_str()];
        full.extend_from_slice(args);
        lab.try_run(&self.ns, &full)
    }

    pub fn ok(&self, lab: &Lab, args: &[&str]) -> String {
        let out = self.cli(lab, args);
        assert!(
            out.status.success(),
            "`lanrage {}` in {} failed: {}{}",
            args.join(" "),
            self.ns,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn fails(&self, lab: &Lab, args: &[&str]) -> String {
        let out = self.cli(lab, args);
        assert!(
            !out.status.success(),
            "`lanrage {}` should have failed",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn status(&self, lab: &Lab) -> serde_json::Value {
        let out = self.ok(lab, &["status", "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status of {}: {e}: {out}", self.ns))
    }

    pub fn ip(&self, lab: &Lab) -> String {
        self.status(lab)["device"]["virtual_ip"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The party's invite code as `party invite` prints it (its last line).
    pub fn invite(&self, lab: &Lab) -> String {
        self.ok(lab, &["party", "invite"])
            .lines()
            .last()
            .unwrap_or_else(|| panic!("no invite code in `party invite`'s output"))
            .trim()
            .to_string()
    }

    /// Starts `lanrage up` (with `server`, if any) in the player's namespace.
    pub fn up(&mut self, lab: &mut Lab, server: Option<&str>, name: &str) {
        self.up_with(lab, server, name, &[]);
    }

    pub fn up_with(
        &mut self,
        lab: &mut Lab,
        server: Option<&str>,
        name: &str,
        envs: &[(&str, &str)],
    ) {
        let (bin, data) = (lanrage(), self.data());
        let mut args = vec![bin.as_str(), "--data-dir", data.as_str(), "up"];
        if let Some(s) = server {
            args.extend_from_slice(&["--server", s]);
        }
        let mut env = vec![("RUST_LOG", "info")];
        env.extend_from_slice(envs);
        self.proc = Some(lab.spawn(&self.ns, &format!("up-{}", self.ns), &args, &env));
        lab.wait_listening(&self.ns, "tcp", 8666, Duration::from_secs(15));
        self.ok(lab, &["settings", "set", "display_name", name]);
    }
}

/// The last line of `party create`'s output is the invite code; the link line says where.
pub fn create(lab: &Lab, p: &Player, args: &[&str]) -> (String, Option<String>) {
    let mut full = vec!["party", "create"];
    full.extend_from_slice(args);
    let out = p.ok(lab, &full);
    let code = out
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no invite code in `party create`'s output"))
        .trim()
        .to_string();
    let link = out
        .lines()
        .find_map(|l| l.strip_prefix("Invite link: "))
        .map(str::to_string);
    (code, link)
}
