//! A local HTTP server standing in for Discord (127.0.0.1 only), scripted per test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use lanrage_discord::{Event, NotifierConfig, RetryPolicy, WebhookUrl};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const TOKEN: &str = "sEcReT-tOkEn_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU";

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

pub fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: String::new(),
    }
}

pub struct Received {
    pub at: Instant,
    pub path: String,
    pub body: Value,
    pub content_type: String,
}

#[derive(Default)]
pub struct Script {
    pub replies: Mutex<VecDeque<Reply>>,
    pub requests: Mutex<Vec<Received>>,
}

async fn hook(
    State(script): State<Arc<Script>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        at: Instant::now(),
        path: uri.to_string(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    };
    script.requests.lock().unwrap().push(received);
    let r = script
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| reply(204));
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (k, v) in r.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

pub struct Server {
    pub url: WebhookUrl,
    pub script: Arc<Script>,
}

impl Server {
    pub async fn start(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = Router::new().fallback(hook).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = WebhookUrl::parse_allow_any_host(&format!(
            "http://{addr}/api/webhooks/123456789012345678/{TOKEN}"
        ))
        .unwrap();
        Server { url, script }
    }

    pub fn count(&self) -> usize {
        self.script.requests.lock().unwrap().len()
    }

    pub fn bodies(&self) -> Vec<Value> {
        let r = self.script.requests.lock().unwrap();
        r.iter().map(|r| r.body.clone()).collect()
    }

    pub fn times(&self) -> Vec<Instant> {
        let r = self.script.requests.lock().unwrap();
        r.iter().map(|r| r.at).collect()
    }

    pub async fn wait_for(&self, n: usize) {
        let start = Instant::now();
        while self.count() < n {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "expected {n} requests, got {}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Quick timings for tests that are not about the batch window.
pub fn fast() -> NotifierConfig {
    NotifierConfig {
        batch_window: Duration::from_millis(50),
        retry: RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
            max_retry_after: Duration::from_secs(5),
        },
        request_timeout: Duration::from_secs(5),
        ..NotifierConfig::default()
    }
}

pub fn joined(name: &str) -> Event {
    Event::MemberJoined { name: name.into() }
}

pub fn embeds(body: &Value) -> usize {
    body["embeds"].as_array().map_or(0, Vec::len)
}

/// Polls `cond` every 10 ms for up to 15 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every line logged at TRACE on this thread while it lives (the tests that read logs run on
/// a current-thread runtime, so the bot's and the notifier's tasks log here too).
pub struct LogCapture {
    buf: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn start() -> LogCapture {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        LogCapture {
            buf,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }
}
