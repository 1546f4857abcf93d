//! Every log line written while delivering, failing and retrying, at TRACE, in a process of its
//! own (tracing caches per-callsite interest globally, so a test running in parallel without a
//! subscriber could hide lines from this one).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use lanrage_discord::{Notifier, RetryPolicy, WebhookUrl};
use std::time::Duration;
use support::{fast, joined, reply, LogCapture, Reply, Server, TOKEN};

/// Every log line the crate (and reqwest, hyper) writes during failures and retries, at TRACE:
/// the webhook shows redacted, the token never.
#[tokio::test]
async fn the_token_never_reaches_the_logs() {
    let logs = LogCapture::start();

    let server = Server::start(vec![
        Reply {
            status: 429,
            headers: vec![("retry-after", "0.05".into())],
            body: String::new(),
        },
        reply(503),
        reply(204),
        reply(400),
        reply(404),
    ])
    .await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    n.notify(joined("Alice")).unwrap();
    server.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    n.notify(joined("Bob")).unwrap();
    server.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    n.notify(joined("Carol")).unwrap();
    server.wait_for(5).await;
    n.shutdown(Duration::from_secs(2)).await;
    let _ = n.send_test_message().await;

    // Network errors: nothing listens on this port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = WebhookUrl::parse_allow_any_host(&format!(
        "http://{addr}/api/webhooks/123456789012345678/{TOKEN}"
    ))
    .unwrap();
    let config = lanrage_discord::NotifierConfig {
        retry: RetryPolicy {
            max_attempts: 2,
            ..fast().retry
        },
        ..fast()
    };
    let dead = Notifier::spawn(url, config).unwrap();
    dead.notify(joined("Dave")).unwrap();
    assert!(dead.shutdown(Duration::from_secs(5)).await);
    assert!(dead
        .stats()
        .last_error
        .unwrap()
        .starts_with("Could not reach Discord"));

    let logs = logs.text();
    assert!(
        logs.contains("/api/webhooks/1234…/****"),
        "the redacted webhook is logged: {logs}"
    );
    assert!(logs.contains("discord notification dropped"), "{logs}");
    assert!(
        logs.contains("discord webhook attempt failed, retrying"),
        "{logs}"
    );
    assert!(logs.contains("Could not reach Discord"), "{logs}");
    assert!(!logs.contains(TOKEN), "token in logs:\n{logs}");
    assert!(
        !logs.contains("123456789012345678"),
        "full id in logs:\n{logs}"
    );
}
