//! One server at a time serves a PostgreSQL database's parties. The registry lives in the
//! serving server's memory and is written behind, so two servers serving one database at once
//! would each decide on their own copy (two members on one address, a host handed over twice).
//! PostgreSQL's session advisory lock settles who serves: it belongs to one connection at a
//! time and goes the moment that connection ends, which a crash or `kill -9` does at once. The
//! other servers wait without listening, so players' clients move on to the next server in
//! their list (on a bus they take players and pass them to the serving one: `edge`), and the
//! first to get the lock loads the parties and serves.
//!
//! The lock's connection is checked every second and a check gets 3 s, so a server cut off
//! from PostgreSQL stops serving within 4 s, well before PostgreSQL, hearing nothing from it for
//! 11 s (the session's keepalives below), gives the lock to another. A server that loses the
//! lock (PostgreSQL restarted, the network cut) stops serving at once: another server may
//! already hold it and have loaded the parties (`lanrage server` then waits for the lock again).
//! Should a write of the old server still be under way, the new server's term fences it
//! (`PostgresStore::start_term`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_util::sync::CancellationToken;

use super::postgres::{config_for, error};
use super::StoreError;

/// Chosen once; every LANrage server asks for the same one.
const SERVING_LOCK: i64 = 0x4c41_4e52_6167_6502;
/// How often a waiting server asks for the lock, and a serving one checks its connection.
const WAIT_POLL: Duration = Duration::from_millis(500);
const HOLD_CHECK: Duration = Duration::from_secs(1);
/// How long a check may go unanswered (TCP's user timeout on the lock's connection).
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The lock's connection. PostgreSQL notices a client gone without a word (its machine off, the
/// network cut) only when TCP keepalive says so, two hours by default; until then the lock
/// stays with the dead server and nobody serves. These keepalives are the session's own.
fn connect(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<postgres::Client, postgres::Error> {
    let mut client = config.connect(tls.clone())?;
    client.batch_execute(
        "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3",
    )?;
    Ok(client)
}

type Ready = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

/// Whether the serving lock's last connection attempt reached PostgreSQL and was let in, for
/// `/metrics` on a server that does not serve. It starts true and turns false on the first
/// failed attempt (a host that drops packets takes the connect timeout, 5 s). Cloning shares
/// it.
#[derive(Debug, Clone)]
pub struct Reachability(Arc<AtomicBool>);

impl Default for Reachability {
    fn default() -> Self {
        Reachability(Arc::new(AtomicBool::new(true)))
    }
}

impl Reachability {
    pub fn reachable(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn set(&self, reachable: bool) {
        self.0.store(reachable, Ordering::Relaxed);
    }
}

/// How the wait for the lock treats a database it cannot reach at first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// It is an error: a server starting says so (a wrong address or password is the
    /// operator's to fix).
    ReportUnreachable,
    /// It is waited out: a server that served (or passed players on) before and lost the
    /// database waits for it to come back.
    WaitForDatabase,
}

/// Says why (`failed`, in the words of `why`) and connects again every two seconds until
/// PostgreSQL answers; None when the caller stopped waiting meanwhile. Each different error is
/// logged again (a PostgreSQL that came back refusing this server's password must not hide
/// behind the refused connections before it).
fn reconnect(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
    target: &str,
    ready: &Ready,
    reachable: &Reachability,
    failed: &postgres::Error,
    why: &str,
) -> Option<postgres::Client> {
    let mut said = error(target, failed).to_string();
    tracing::warn!(store = %target, error = %said, "{why}");
    reachable.set(false);
    loop {
        if ready.is_closed() {
            return None;
        }
        std::thread::sleep(WAIT_POLL * 4);
        match connect(config, tls) {
            Ok(c) => {
                tracing::info!(store = %target, "PostgreSQL answers again");
                reachable.set(true);
                return Some(c);
            }
            Err(e) => {
                let now = error(target, &e).to_string();
                if now != said {
                    if e.as_db_error().is_some() {
                        tracing::error!(store = %target, error = %now, "PostgreSQL answers but refuses this server (check the store's user, password and database); trying again");
                    } else {
                        tracing::warn!(store = %target, error = %now, "still cannot reach PostgreSQL; trying again");
                    }
                    said = now;
                }
            }
        }
    }
}

/// Takes the lock, waiting as long as another server holds it; None when the caller stopped
/// waiting. PostgreSQL unreachable at the start is an error unless `patience` says to wait it
/// out; once waiting, PostgreSQL going away is waited out too. `reachable` says which it is.
fn wait_for_lock(
    config: &postgres::Config,
    tls: &MakeRustlsConnect,
    target: &str,
    ready: &Ready,
    patience: Patience,
    reachable: &Reachability,
) -> Result<Option<postgres::Client>, StoreError> {
    let mut client = match (connect(config, tls), patience) {
        (Ok(c), _) => c,
        (Err(e), Patience::ReportUnreachable) => return Err(error(target, &e)),
        (Err(e), Patience::WaitForDatabase) => {
            let why = "cannot reach PostgreSQL; trying again until it answers";
            match reconnect(config, tls, target, ready, reachable, &e, why) {
                Some(c) => c,
                None => return Ok(None),
            }
        }
    };
    let mut said_waiting = false;
    loop {
        let got = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&SERVING_LOCK])
            .and_then(|row| row.try_get::<_, bool>(0));
        match got {
            Ok(true) => {
                if said_waiting {
                    tracing::info!(store = %target, "the serving lock is ours: taking over");
                }
                return Ok(Some(client));
            }
            Ok(false) => {
                if !said_waiting {
                    // A normal state with several servers, not a fault.
                    tracing::info!(
                        store = %target,
                        "another LANrage server is serving this database; this one takes over \
                         when it stops"
                    );
                    said_waiting = true;
                }
            }
            Err(e) if !said_waiting && patience == Patience::ReportUnreachable => {
                return Err(error(target, &e))
            }
            Err(e) => {
                let why = "PostgreSQL went away while this server waits to serve; trying again";
                client = match reconnect(config, tls, target, ready, reachable, &e, why) {
                    Some(c) => c,
                    None => return Ok(None),
                };
            }
        }
        if ready.is_closed() {
            return Ok(None);
        }
        std::thread::sleep(WAIT_POLL);
    }
}

/// Holds the lock until released (the receiver's sender dropped) or its connection fails,
/// which cancels `lost`.
fn hold(
    mut client: postgres::Client,
    release: &mpsc::Receiver<()>,
    lost: &CancellationToken,
    target: &str,
) {
    loop {
        match release.recv_timeout(HOLD_CHECK) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if let Err(e) = client.simple_query("SELECT 1") {
            tracing::error!(
                store = %target,
                error = %error(target, &e),
                "lost the connection that holds the serving lock; another server may take \
                 over, so this one stops serving"
            );
            lost.cancel();
            return;
        }
    }
}

/// Held while this server serves; dropping it gives the lock back.
pub struct ServingLock {
    lost: CancellationToken,
    /// Dropped to release: the lock's thread ends at once and its connection closes.
    _release: mpsc::Sender<()>,
}

impl ServingLock {
    /// Waits until this server may serve the database at `url`. An unreachable database at
    /// this point is an error or waited out, as `patience` says; once waiting, only the lock is
    /// waited for, and `reachable` says whether PostgreSQL answers meanwhile. Cancelling the
    /// future (dropping it) ends the wait.
    pub async fn acquire(
        url: &str,
        patience: Patience,
        reachable: Reachability,
    ) -> Result<ServingLock, StoreError> {
        let (mut config, target, tls) = config_for(url)?;
        config.tcp_user_timeout(CHECK_TIMEOUT);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let lost = CancellationToken::new();
        let thread_lost = lost.clone();
        // A thread of its own rather than a blocking task: a runtime shutting down waits for
        // its blocking tasks, and this one may wait for the lock forever.
        std::thread::Builder::new()
            .name("lanrage-serving-lock".into())
            .spawn(move || {
                match wait_for_lock(&config, &tls, &target, &ready_tx, patience, &reachable) {
                    Ok(Some(client)) => {
                        // Sent in vain when the caller gave up meanwhile: the lock goes with the
                        // connection.
                        if ready_tx.send(Ok(())).is_ok() {
                            hold(client, &release_rx, &thread_lost, &target);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(ServingLock {
                lost,
                _release: release_tx,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Thread(std::io::Error::other(
                "the serving lock's thread ended",
            ))),
        }
    }

    /// Cancelled when the lock is lost: the server must stop serving.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }
}
