//! A real PostgreSQL for tests: a cluster of its own in a temporary directory, listening on a
//! free loopback port, without fsync; stopped and removed when dropped. Debian keeps `initdb`
//! and `postgres` in /usr/lib/postgresql/VERSION/bin (off PATH). PostgreSQL refuses to run as
//! root, so under root (CI) the cluster belongs to the `postgres` user the package creates and
//! runs through `setpriv`, which execs rather than staying as a parent, so signals reach
//! PostgreSQL itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::skip::require;

/// The user every test database belongs to (trust authentication on loopback).
pub const USER: &str = "lanrage";

pub struct TestPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// Where it listens: loopback, or an address in a lab's namespace.
    host: String,
    /// The full name of the network namespace it runs in, if not this one.
    netns: Option<String>,
    port: u16,
    /// `postgres` when the tests run as root.
    run_as: Option<String>,
    server: Option<Child>,
}

/// The newest installed PostgreSQL's programs.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn euid_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn ids_of(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl TestPostgres {
    /// Starts a fresh cluster, or returns None after saying why it is skipped (never in CI,
    /// where scripts/setup installed PostgreSQL).
    pub fn start() -> Option<TestPostgres> {
        Self::start_at(None, "127.0.0.1")
    }

    /// Like [`TestPostgres::start`], in the network namespace `netns` (its full name), listening
    /// on its address `host`.
    pub fn start_in(netns: &str, host: &str) -> Option<TestPostgres> {
        Self::start_at(Some(netns.to_owned()), host)
    }

    fn start_at(netns: Option<String>, host: &str) -> Option<TestPostgres> {
        let bin = bin_dir();
        if !require(
            bin.is_some(),
            "PostgreSQL is not installed (scripts/setup installs Debian's postgresql)",
        ) {
            return None;
        }
        let bin = bin?;
        let run_as = euid_is_root().then(|| "postgres".to_owned());
        let dir = tempfile::tempdir().expect("a temporary directory");
        if let Some(user) = &run_as {
            let ids = ids_of(user);
            if !require(
                ids.is_some(),
                "no `postgres` user to run PostgreSQL as root",
            ) {
                return None;
            }
            let (uid, gid) = ids?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let mut pg = TestPostgres {
            bin,
            dir,
            host: host.to_owned(),
            netns,
            port: free_port(),
            run_as,
            server: None,
        };
        let out = pg
            .command("initdb")
            .args([
                "--no-sync",
                "--auth=trust",
                "--encoding=UTF8",
                "-U",
                USER,
                "-D",
            ])
            .arg(pg.data())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if pg.netns.is_some() {
            // Reached over the lab's bridge, from the namespaces it made; trust as on loopback.
            use std::io::Write;
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(pg.data().join("pg_hba.conf"))
                .expect("pg_hba.conf");
            writeln!(hba, "host all all 0.0.0.0/0 trust").expect("write pg_hba.conf");
        }
        pg.resume();
        Some(pg)
    }

    /// A connection string for database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@{}:{}/{db}", self.host, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database (each test takes its own).
    pub fn create_database(&self, name: &str) {
        let out = self
            .client("createdb")
            .args([
                "-h",
                &self.host,
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                name,
            ])
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL with psql, returning what it printed (unaligned, tuples only).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client("psql")
            .args(["-h", &self.host, "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Turns TLS on with this certificate and key (PEM) and restarts; clients may still connect
    /// without it.
    pub fn enable_tls(&mut self, cert_pem: &str, key_pem: &str) {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let data = self.data();
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, pem).expect("write a TLS file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some((uid, gid)) = self.run_as.as_deref().and_then(ids_of) {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown");
            }
        }
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        writeln!(conf, "ssl = on").expect("write postgresql.conf");
        self.pause();
        self.resume();
    }

    /// Stops PostgreSQL (a fast shutdown: sessions are cut), keeping its data.
    pub fn pause(&mut self) {
        let Some(mut child) = self.server.take() else {
            return;
        };
        // SAFETY: signalling a child we own and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts PostgreSQL on its data (again) and waits until it takes connections.
    pub fn resume(&mut self) {
        assert!(self.server.is_none(), "already running");
        let log = std::fs::File::create(self.dir.path().join("postgres.log")).expect("log file");
        if let Some(user) = &self.run_as {
            if let Some((uid, gid)) = ids_of(user) {
                let _ = std::os::unix::fs::chown(
                    self.dir.path().join("postgres.log"),
                    Some(uid),
                    Some(gid),
                );
            }
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-h", &self.host, "-p", &self.port.to_string(), "-F"])
            // Small: several tests run a cluster each at once.
            .args(["-c", "shared_buffers=16MB", "-c", "max_connections=30"])
            .arg("-k")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start postgres");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .client("pg_isready")
                .args(["-q", "-h", &self.host, "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if let Some(Ok(Some(status))) = self.server.as_mut().map(|c| c.try_wait()) {
                panic!("PostgreSQL exited at start ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start in 30 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of PostgreSQL's server programs, in its namespace, as the user it must run as.
    fn command(&self, program: &str) -> Command {
        // PostgreSQL goes with the test even when the test process is killed outright.
        let mut words: Vec<String> = vec!["setpriv".into(), "--pdeathsig".into(), "INT".into()];
        if let Some(user) = &self.run_as {
            words.extend(["--reuid", user, "--regid", user, "--init-groups"].map(str::to_owned));
        }
        words.push("--".into());
        words.push(self.bin.join(program).display().to_string());
        let mut c = self.in_netns(&words);
        c.current_dir(Path::new("/"));
        c
    }

    /// One of PostgreSQL's client programs, in its namespace.
    fn client(&self, program: &str) -> Command {
        self.in_netns(&[self.bin.join(program).display().to_string()])
    }

    fn in_netns(&self, words: &[String]) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(words);
                c
            }
            None => {
                let mut c = Command::new(&words[0]);
                c.args(&words[1..]);
                c
            }
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.pause();
    }
}
