//! The notifier task: events in through a channel, batched webhook messages out.
//!
//! Batching: the first event that arrives when nothing is pending opens a window of
//! [`NotifierConfig::batch_window`] (500 ms). Every event that arrived before the window closes
//! joins the batch (events that queued up while a previous batch was being sent are judged by
//! the time they were queued). The batch goes out as one message per [`MAX_EMBEDS`] events.
//! Messages of a batch are sent one after another; a failed one is logged once and dropped.
//!
//! Shutdown ([`Notifier::shutdown`]) sends what is pending at once, without waiting for the
//! window, and gives up after the caller's timeout.

use crate::client::{RetryPolicy, WebhookClient};
use crate::error::DiscordError;
use crate::message::{Event, WebhookMessage, MAX_EMBEDS};
use crate::webhook_url::WebhookUrl;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Notifier settings; `Default` is what the app uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Events within this time of the first pending one go out together. Default 500 ms.
    pub batch_window: Duration,
    pub retry: RetryPolicy,
    /// Per request (connect included). Default 10 s.
    pub request_timeout: Duration,
    /// Overrides the webhook's display name when set. Default `None` (the name chosen in
    /// Discord).
    pub username: Option<String>,
    /// Events waiting to be batched; beyond this [`Notifier::notify`] refuses. Default 256.
    pub queue_capacity: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            batch_window: Duration::from_millis(500),
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(10),
            username: None,
            queue_capacity: 256,
        }
    }
}

/// Counters for the settings page ("last error") and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifierStats {
    /// Messages Discord accepted.
    pub messages_sent: u64,
    /// Events in those messages.
    pub events_sent: u64,
    /// Events given up on (refused, retries exhausted, queue full, dead webhook).
    pub events_dropped: u64,
    /// Requests that failed, retries not counted separately.
    pub messages_failed: u64,
    /// The last delivery error, as a sentence.
    pub last_error: Option<String>,
    /// Set after a 401/403/404: the webhook is gone and nothing more is sent.
    pub webhook_dead: bool,
}

struct Queued {
    event: Event,
    queued_at: Instant,
    happened_at: SystemTime,
}

/// Handle to the notifier task. Cheap to clone; every clone feeds the same task.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Queued>,
    client: WebhookClient,
    cancel: CancellationToken,
    closed: Arc<AtomicBool>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    stats: Arc<Mutex<NotifierStats>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", self.client.url())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the notifier task on the current tokio runtime.
    pub fn spawn(url: WebhookUrl, config: NotifierConfig) -> Result<Self, DiscordError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DiscordError::NoRuntime)?;
        let client = WebhookClient::new(url, config.retry, config.request_timeout)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let cancel = CancellationToken::new();
        let stats = Arc::new(Mutex::new(NotifierStats::default()));
        let worker = Worker {
            rx,
            client: client.clone(),
            cancel: cancel.clone(),
            config,
            stats: stats.clone(),
            carry: None,
        };
        let task = runtime.spawn(worker.run());
        Ok(Self {
            tx,
            client,
            cancel,
            closed: Arc::new(AtomicBool::new(false)),
            task: Arc::new(Mutex::new(Some(task))),
            stats,
        })
    }

    /// Queues an event; never waits. Fails when the queue is full or the notifier stopped.
    pub fn notify(&self, event: Event) -> Result<(), DiscordError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(DiscordError::Closed);
        }
        let queued = Queued {
            event,
            queued_at: Instant::now(),
            happened_at: SystemTime::now(),
        };
        self.tx.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                let mut s = self.stats.lock();
                s.events_dropped += 1;
                tracing::warn!(webhook = %self.client.url(), "discord notification queue full, event dropped");
                DiscordError::QueueFull
            }
            mpsc::error::TrySendError::Closed(_) => DiscordError::Closed,
        })
    }

    /// Sends the test message now (outside the batch queue) and returns what went wrong.
    pub async fn send_test_message(&self) -> Result<(), DiscordError> {
        self.client.send_test_message().await
    }

    pub fn stats(&self) -> NotifierStats {
        self.stats.lock().clone()
    }

    pub fn url(&self) -> &WebhookUrl {
        self.client.url()
    }

    /// Stops accepting events, sends the pending ones at once and waits at most `timeout` for
    /// that. Returns `true` when everything pending was handled (sent or refused by Discord),
    /// `false` when the wait timed out (the rest is dropped). Safe to call more than once.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.closed.store(true, Ordering::Release);
        self.cancel.cancel();
        let task = self.task.lock().take();
        let Some(mut task) = task else {
            return true;
        };
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                tracing::warn!(
                    webhook = %self.client.url(),
                    "discord notifier did not finish sending within {} ms; pending notifications dropped",
                    timeout.as_millis()
                );
                false
            }
        }
    }
}

struct Worker {
    rx: mpsc::Receiver<Queued>,
    client: WebhookClient,
    cancel: CancellationToken,
    config: NotifierConfig,
    stats: Arc<Mutex<NotifierStats>>,
    /// An event taken from the queue that belongs to the next batch.
    carry: Option<Queued>,
}

impl Worker {
    async fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            // Wait for the first event of a batch.
            let first = match self.carry.take() {
                Some(q) => q,
                None => tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => break,
                    q = self.rx.recv() => match q {
                        Some(q) => q,
                        None => break,
                    },
                },
            };
            let deadline = first.queued_at + self.config.batch_window;
            let mut batch = vec![first];
            // Collect until the window closes (or shutdown: then send at once).
            loop {
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => { stopping = true; break; }
                    q = self.rx.recv() => match q {
                        Some(q) if q.queued_at <= deadline => batch.push(q),
                        Some(q) => { self.carry = Some(q); break; }
                        None => { stopping = true; break; }
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            if stopping {
                // Everything still queued goes out now.
                if let Some(q) = self.carry.take() {
                    batch.push(q);
                }
                while let Ok(q) = self.rx.try_recv() {
                    batch.push(q);
                }
            }
            self.send_batch(batch).await;
        }
        // Cancelled while idle: flush whatever raced in.
        let mut rest = Vec::new();
        if let Some(q) = self.carry.take() {
            rest.push(q);
        }
        self.rx.close();
        while let Ok(q) = self.rx.try_recv() {
            rest.push(q);
        }
        if !rest.is_empty() {
            self.send_batch(rest).await;
        }
    }

    async fn send_batch(&self, batch: Vec<Queued>) {
        let events: Vec<(Event, SystemTime)> = batch
            .into_iter()
            .map(|q| (q.event, q.happened_at))
            .collect();
        let messages = WebhookMessage::batch(&events, self.config.username.as_deref());
        tracing::debug!(
            webhook = %self.client.url(),
            events = events.len(),
            messages = messages.len(),
            "sending discord notifications"
        );
        for message in messages {
            let n = message.embeds.len() as u64;
            debug_assert!(message.embeds.len() <= MAX_EMBEDS);
            if self.stats.lock().webhook_dead {
                self.stats.lock().events_dropped += n;
                tracing::debug!(webhook = %self.client.url(), "discord webhook is gone; notification dropped");
                continue;
            }
            match self.client.send(&message).await {
                Ok(()) => {
                    let mut s = self.stats.lock();
                    s.messages_sent += 1;
                    s.events_sent += n;
                }
                Err(e) => {
                    let dead = e.webhook_is_dead();
                    {
                        let mut s = self.stats.lock();
                        s.messages_failed += 1;
                        s.events_dropped += n;
                        s.last_error = Some(e.to_string());
                        s.webhook_dead |= dead;
                    }
                    if dead {
                        tracing::warn!(
                            webhook = %self.client.url(),
                            error = %e,
                            "discord webhook refused; no more notifications are sent until it is changed"
                        );
                    } else {
                        tracing::warn!(
                            webhook = %self.client.url(),
                            error = %e,
                            events = n,
                            "discord notification dropped"
                        );
                    }
                }
            }
        }
    }
}
