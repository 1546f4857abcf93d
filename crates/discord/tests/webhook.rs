//! The notifier against a local HTTP server standing in for Discord (127.0.0.1 only).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use lanrage_discord::{
    DiscordError, Event, Notifier, NotifierConfig, RetryPolicy, WebhookClient, WebhookUrl,
};
use std::time::Duration;
use support::{embeds, fast, joined, reply, wait_until, Reply, Server, TOKEN};
use tokio::time::Instant;

#[tokio::test]
async fn events_within_half_a_second_go_out_as_one_message() {
    let server = Server::start(vec![]).await;
    // The real window: 500 ms.
    let n = Notifier::spawn(server.url.clone(), NotifierConfig::default()).unwrap();
    let t0 = Instant::now();
    n.notify(joined("Alice")).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    n.notify(Event::PartyCreated {
        name: "Friday".into(),
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    n.notify(Event::ServerAnnounced {
        game: "Minecraft".into(),
        server_name: "Castle".into(),
        players: 3,
        max_players: Some(10),
    })
    .unwrap();
    server.wait_for(1).await;
    let first = server.times()[0];
    assert!(
        first - t0 >= Duration::from_millis(500),
        "sent before the window closed"
    );
    let bodies = server.bodies();
    assert_eq!(embeds(&bodies[0]), 3);
    assert_eq!(bodies[0]["embeds"][0]["title"], "Alice joined the party");
    assert_eq!(bodies[0]["embeds"][1]["title"], "Party Friday created");
    assert_eq!(bodies[0]["embeds"][2]["description"], "3/10 players");

    // One second after the first event: a new batch.
    tokio::time::sleep_until(t0 + Duration::from_secs(1)).await;
    assert_eq!(server.count(), 1);
    n.notify(Event::MemberLeft { name: "Bob".into() }).unwrap();
    server.wait_for(2).await;
    let bodies = server.bodies();
    assert_eq!(embeds(&bodies[1]), 1);
    assert_eq!(bodies[1]["embeds"][0]["title"], "Bob left the party");
    assert!(n.shutdown(Duration::from_secs(2)).await);
    assert_eq!(server.count(), 2);
    let stats = n.stats();
    assert_eq!((stats.messages_sent, stats.events_sent), (2, 4));
}

#[tokio::test]
async fn more_than_ten_events_are_split_into_messages() {
    let server = Server::start(vec![]).await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    for i in 0..23 {
        n.notify(joined(&format!("p{i}"))).unwrap();
    }
    server.wait_for(3).await;
    let sizes: Vec<usize> = server.bodies().iter().map(embeds).collect();
    assert_eq!(sizes, vec![10, 10, 3]);
    assert_eq!(
        server.bodies()[2]["embeds"][2]["title"],
        "p22 joined the party"
    );
    n.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn rate_limit_honours_retry_after_header() {
    let server = Server::start(vec![Reply {
        status: 429,
        headers: vec![("retry-after", "0.3".into())],
        body: String::new(),
    }])
    .await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    n.notify(joined("Alice")).unwrap();
    server.wait_for(2).await;
    let t = server.times();
    assert!(
        t[1] - t[0] >= Duration::from_millis(300),
        "{:?}",
        t[1] - t[0]
    );
    assert_eq!(server.bodies()[0], server.bodies()[1]);
    n.shutdown(Duration::from_secs(2)).await;
    assert_eq!(server.count(), 2);
    assert_eq!(n.stats().messages_sent, 1);
}

#[tokio::test]
async fn rate_limit_honours_the_json_retry_after() {
    let server = Server::start(vec![Reply {
        status: 429,
        headers: vec![("content-type", "application/json".into())],
        body: r#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#
            .into(),
    }])
    .await;
    let client =
        WebhookClient::new(server.url.clone(), fast().retry, Duration::from_secs(5)).unwrap();
    client.send_test_message().await.unwrap();
    let t = server.times();
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= Duration::from_millis(250));
}

#[tokio::test]
async fn rate_limit_longer_than_allowed_is_not_waited_for() {
    let server = Server::start(vec![Reply {
        status: 429,
        headers: vec![("retry-after", "3600".into())],
        body: String::new(),
    }])
    .await;
    let client =
        WebhookClient::new(server.url.clone(), fast().retry, Duration::from_secs(5)).unwrap();
    let e = client.send_test_message().await.unwrap_err();
    assert_eq!(
        e,
        DiscordError::RateLimited {
            retry_after_secs: 3600.0
        }
    );
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn server_error_then_success_is_retried_once() {
    let server = Server::start(vec![reply(503), reply(204)]).await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    n.notify(joined("Alice")).unwrap();
    server.wait_for(2).await;
    let t = server.times();
    assert!(t[1] - t[0] >= Duration::from_millis(50), "backoff");
    assert!(n.shutdown(Duration::from_secs(2)).await);
    assert_eq!(server.count(), 2);
    let s = n.stats();
    assert_eq!(
        (s.messages_sent, s.events_sent, s.events_dropped),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn server_errors_exhaust_the_attempts_with_growing_waits() {
    let server = Server::start(vec![reply(500); 10]).await;
    let client =
        WebhookClient::new(server.url.clone(), fast().retry, Duration::from_secs(5)).unwrap();
    let msg = lanrage_discord::WebhookMessage::batch(
        &[(joined("A"), std::time::SystemTime::now())],
        None,
    );
    let e = client.send(&msg[0]).await.unwrap_err();
    assert_eq!(
        e,
        DiscordError::ServerError {
            status: 500,
            attempts: 5
        }
    );
    let t = server.times();
    assert_eq!(t.len(), 5);
    // Waits of 50, 100, 200, 400 ms.
    for (i, min) in [50u64, 100, 200, 400].iter().enumerate() {
        assert!(t[i + 1] - t[i] >= Duration::from_millis(*min), "wait {i}");
    }
}

#[tokio::test]
async fn client_error_is_sent_exactly_once() {
    let server = Server::start(vec![Reply {
        status: 400,
        headers: vec![("content-type", "application/json".into())],
        body: r#"{"message": "Cannot send an empty message", "code": 50006}"#.into(),
    }])
    .await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    n.notify(joined("Alice")).unwrap();
    server.wait_for(1).await;
    wait_until("the failure to be counted", || {
        n.stats().messages_failed == 1
    })
    .await;
    // Longer than every backoff of the policy: still no second request.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.count(), 1);
    let s = n.stats();
    assert_eq!(
        (s.messages_sent, s.messages_failed, s.events_dropped),
        (0, 1, 1)
    );
    assert_eq!(
        s.last_error.as_deref(),
        Some("Discord refused the message (HTTP 400: Cannot send an empty message).")
    );
    assert!(!s.webhook_dead);
    // The next batch is still tried.
    n.notify(joined("Bob")).unwrap();
    server.wait_for(2).await;
    n.shutdown(Duration::from_secs(2)).await;
    assert_eq!(n.stats().messages_sent, 1);
}

#[tokio::test]
async fn deleted_webhook_stops_notifications_and_the_test_button_says_why() {
    let server = Server::start(vec![
        Reply {
            status: 404,
            headers: vec![],
            body: r#"{"message": "Unknown Webhook", "code": 10015}"#.into(),
        },
        Reply {
            status: 404,
            headers: vec![],
            body: r#"{"message": "Unknown Webhook", "code": 10015}"#.into(),
        },
    ])
    .await;
    let n = Notifier::spawn(server.url.clone(), fast()).unwrap();
    n.notify(joined("Alice")).unwrap();
    server.wait_for(1).await;
    wait_until("the webhook to be marked dead", || n.stats().webhook_dead).await;
    n.notify(joined("Bob")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.count(),
        1,
        "nothing more is sent to a deleted webhook"
    );
    assert_eq!(n.stats().events_dropped, 2);
    // The test button still reaches Discord and explains.
    let e = n.send_test_message().await.unwrap_err();
    assert!(e.webhook_is_dead());
    assert!(e.to_string().contains("Unknown Webhook"), "{e}");
    assert!(e.to_string().contains("copy it again"), "{e}");
    n.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn test_message_success_and_payload_shape() {
    let server = Server::start(vec![]).await;
    lanrage_discord::send_test_message(&server.url)
        .await
        .unwrap();
    let r = server.script.requests.lock().unwrap();
    assert_eq!(r.len(), 1);
    assert!(r[0].content_type.starts_with("application/json"));
    assert!(r[0].path.starts_with("/api/webhooks/123456789012345678/"));
    let body = &r[0].body;
    assert!(body["content"]
        .as_str()
        .unwrap()
        .contains("LANrage test message"));
    assert_eq!(embeds(body), 1);
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[tokio::test]
async fn payload_shape_of_a_batch() {
    let server = Server::start(vec![]).await;
    let config = NotifierConfig {
        username: Some("LANrage".into()),
        ..fast()
    };
    let n = Notifier::spawn(server.url.clone(), config).unwrap();
    n.notify(joined("@everyone **Mallory**")).unwrap();
    n.notify(Event::ServerAnnounced {
        game: "Factorio".into(),
        server_name: "Base".into(),
        players: 1,
        max_players: None,
    })
    .unwrap();
    server.wait_for(1).await;
    let body = &server.bodies()[0];
    let obj = body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["allowed_mentions", "content", "embeds", "username"]
    );
    assert_eq!(body["content"], "LANrage: 2 updates");
    assert_eq!(body["username"], "LANrage");
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    let e0 = &body["embeds"][0];
    assert_eq!(
        e0["title"],
        "@everyone \\*\\*Mallory\\*\\* joined the party"
    );
    assert!(e0["color"].as_u64().is_some());
    assert!(e0["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        body["embeds"][1]["title"],
        "Factorio server announced: Base"
    );
    assert_eq!(body["embeds"][1]["description"], "1 player");
    n.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn network_errors_are_retried_then_reported_without_the_token() {
    // A port with nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = WebhookUrl::parse_allow_any_host(&format!(
        "http://{addr}/api/webhooks/123456789012345678/{TOKEN}"
    ))
    .unwrap();
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
        ..fast().retry
    };
    let client = WebhookClient::new(url, retry, Duration::from_secs(2)).unwrap();
    let start = Instant::now();
    let e = client.send_test_message().await.unwrap_err();
    assert!(matches!(e, DiscordError::Network { .. }), "{e:?}");
    assert_eq!(e.code(), "discord_unreachable");
    // Two waits: 50 + 100 ms.
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert!(!e.to_string().contains(TOKEN), "{e}");
    assert!(!format!("{e:?}").contains(TOKEN), "{e:?}");
    assert!(!e.to_string().contains("123456789012345678"), "{e}");
}

#[tokio::test]
async fn shutdown_flushes_pending_events_at_once() {
    let server = Server::start(vec![]).await;
    let config = NotifierConfig {
        batch_window: Duration::from_secs(30),
        ..fast()
    };
    let n = Notifier::spawn(server.url.clone(), config).unwrap();
    n.notify(joined("Alice")).unwrap();
    n.notify(joined("Bob")).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.count(), 0, "still inside the window");
    assert!(n.shutdown(Duration::from_secs(5)).await);
    assert_eq!(server.count(), 1);
    assert_eq!(embeds(&server.bodies()[0]), 2);
    assert_eq!(n.notify(joined("Carol")), Err(DiscordError::Closed));
    // A second shutdown is harmless.
    assert!(n.shutdown(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn shutdown_wait_is_bounded() {
    // Discord keeps answering 503: the flush cannot finish within the timeout.
    let server = Server::start(vec![reply(503); 20]).await;
    let config = NotifierConfig {
        retry: RetryPolicy {
            max_attempts: 20,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(5),
        },
        ..fast()
    };
    let n = Notifier::spawn(server.url.clone(), config).unwrap();
    n.notify(joined("Alice")).unwrap();
    let start = Instant::now();
    assert!(!n.shutdown(Duration::from_millis(300)).await);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_full_queue_refuses_instead_of_blocking() {
    let server = Server::start(vec![]).await;
    let config = NotifierConfig {
        queue_capacity: 2,
        batch_window: Duration::from_secs(30),
        ..fast()
    };
    let n = Notifier::spawn(server.url.clone(), config).unwrap();
    // The task takes the first event into its batch; then the queue holds two more.
    n.notify(joined("a")).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let results: Vec<_> = (0..5).map(|i| n.notify(joined(&format!("p{i}")))).collect();
    assert!(
        results.contains(&Err(DiscordError::QueueFull)),
        "{results:?}"
    );
    n.shutdown(Duration::from_secs(2)).await;
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let url =
        WebhookUrl::parse_allow_any_host(&format!("http://127.0.0.1:9/api/webhooks/1/{TOKEN}"))
            .unwrap();
    assert_eq!(
        Notifier::spawn(url, NotifierConfig::default()).unwrap_err(),
        DiscordError::NoRuntime
    );
}
