//! A player as the lab tests drive one: a namespace, a data directory, a `lanrage up` daemon
//! and the `lanrage` CLI run as a person would.
#![allow(dead_code)] // each test file uses its own part

use std::process::Output;
use std::time::Duration;

use crate::support::lab::{Lab, ProcId};

pub const LANRAGE: &str = env!("CARGO_BIN_EXE_lanrage");

pub struct Player {
    pub ns: String,
    pub dir: tempfile::TempDir,
    pub proc: Option<ProcId>,
}

impl Player {
    pub fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn cli(&self, lab: &Lab, args: &[&str]) -> Output {
        let data = self.data();
        let mut full = vec![LANRAGE, "--data-dir", data.as_str()];
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
        serde_json::from_str(&self.ok(lab, &["status", "--json"])).unwrap()
    }

    pub fn ip(&self, lab: &Lab) -> String {
        self.status(lab)["device"]["virtual_ip"]
            .as_str()
            .unwrap_or_default()
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
        let data = self.data();
        let mut args = vec![LANRAGE, "--data-dir", data.as_str(), "up"];
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
    let code = out.lines().last().unwrap().trim().to_string();
    let link = out
        .lines()
        .find_map(|l| l.strip_prefix("Invite link: "))
        .map(str::to_string);
    (code, link)
}
