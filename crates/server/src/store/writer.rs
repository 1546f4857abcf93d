//! The writer thread: the registry hands over its changes without waiting, and they reach the
//! store in the order they were made, retried until they land.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{Store, StoreError};
use crate::registry::Write;

/// Writes stored in one transaction at most: batches that queued up while the database was
/// slow are taken together, but a huge backlog does not become one huge transaction.
const MAX_WRITES_PER_TRANSACTION: usize = 4096;
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Figures for the metrics page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Writes handed over and not stored yet.
    pub pending: u64,
    /// Rows inserted, updated or deleted.
    pub rows: u64,
    /// Failed transactions (each is retried).
    pub errors: u64,
    /// Writes given up: the server stopped while the database still failed.
    pub lost: u64,
}

/// The handle to the writer thread. `submit` never blocks; batches are stored in the order
/// they were submitted.
pub struct Writer {
    queue: Mutex<Queue>,
    state: Arc<State>,
    /// Disconnects when the thread has finished.
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

struct Queue {
    tx: Option<mpsc::Sender<Vec<Write>>>,
    /// Batches submitted so far.
    submitted: u64,
}

#[derive(Default)]
struct State {
    /// Batches the thread is done with (stored or given up).
    finished: Mutex<u64>,
    changed: Condvar,
    pending: AtomicU64,
    rows: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    abandon: AtomicBool,
}

impl Writer {
    /// Moves the store to its own thread; from now on it is written through the `Writer`.
    pub fn start(store: Box<dyn Store>) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let state = Arc::new(State::default());
        let thread_state = state.clone();
        std::thread::Builder::new()
            .name("lanrage-db".into())
            .spawn(move || {
                write_loop(store, &rx, &thread_state);
                drop(done_tx);
            })
            .map_err(StoreError::Thread)?;
        Ok(Writer {
            queue: Mutex::new(Queue {
                tx: Some(tx),
                submitted: 0,
            }),
            state,
            done: Mutex::new(Some(done_rx)),
        })
    }

    /// Queues `writes` behind everything submitted before. Callers submit while they still
    /// hold the registry, so the queue has the registry's order.
    pub fn submit(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let n = writes.len() as u64;
        let mut queue = self.queue.lock();
        self.state.pending.fetch_add(n, Ordering::Relaxed);
        let sent = queue.tx.as_ref().is_some_and(|tx| tx.send(writes).is_ok());
        if sent {
            queue.submitted += 1;
        } else {
            self.state.pending.fetch_sub(n, Ordering::Relaxed);
            self.state.lost.fetch_add(n, Ordering::Relaxed);
            tracing::error!(
                writes = n,
                "party changes after the database closed are not stored"
            );
        }
    }

    /// Waits until everything submitted so far is stored (or given up); false on timeout.
    pub fn flush(&self, timeout: Duration) -> bool {
        let target = self.queue.lock().submitted;
        let deadline = std::time::Instant::now() + timeout;
        let mut finished = self.state.finished.lock();
        while *finished < target {
            if self
                .state
                .changed
                .wait_until(&mut finished, deadline)
                .timed_out()
            {
                return *finished >= target;
            }
        }
        true
    }

    /// Stores what is queued and stops the thread. Waits at most `timeout` (a database locked
    /// by another process must not hang the shutdown); false when writes were given up.
    pub fn close(&self, timeout: Duration) -> bool {
        drop(self.queue.lock().tx.take());
        let Some(done) = self.done.lock().take() else {
            return true;
        };
        match done.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                {
                    // Under the lock the thread checks the flag with, so it cannot miss it.
                    let _finished = self.state.finished.lock();
                    self.state.abandon.store(true, Ordering::Relaxed);
                    self.state.changed.notify_all();
                }
                tracing::error!(
                    writes = self.state.pending.load(Ordering::Relaxed),
                    "the database did not take the last party changes in time; they are lost"
                );
                false
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        }
    }

    pub fn stats(&self) -> WriterStats {
        let s = &self.state;
        WriterStats {
            pending: s.pending.load(Ordering::Relaxed),
            rows: s.rows.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
        }
    }
}

/// The writer thread: takes batches in order, several at a time when they queued up, and
/// retries a failed transaction (a locked or full disk) until it lands, so a later change never
/// lands before an earlier one. Ends when the queue is closed and empty.
fn write_loop(mut db: Box<dyn Store>, rx: &mpsc::Receiver<Vec<Write>>, state: &State) {
    while let Ok(mut batch) = rx.recv() {
        let mut batches = 1u64;
        while batch.len() < MAX_WRITES_PER_TRANSACTION {
            match rx.try_recv() {
                Ok(more) => {
                    batch.extend(more);
                    batches += 1;
                }
                Err(_) => break,
            }
        }
        let mut backoff = RETRY_FIRST;
        loop {
            if state.abandon.load(Ordering::Relaxed) {
                state.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                break;
            }
            match db.apply(&batch) {
                Ok(rows) => {
                    state.rows.fetch_add(rows, Ordering::Relaxed);
                    break;
                }
                // Never retried: the server now serving decides, and has loaded without these.
                Err(StoreError::Fenced) => {
                    state.lost.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::warn!(
                        writes = batch.len(),
                        "party changes not stored: another server serves this database now"
                    );
                    break;
                }
                Err(e) => {
                    state.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        error = %e,
                        writes = batch.len(),
                        retry_in_ms = backoff.as_millis() as u64,
                        "storing party changes failed; retrying"
                    );
                    let mut finished = state.finished.lock();
                    if !state.abandon.load(Ordering::Relaxed) {
                        state.changed.wait_for(&mut finished, backoff);
                    }
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
        state
            .pending
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        *state.finished.lock() += batches;
        state.changed.notify_all();
    }
}
