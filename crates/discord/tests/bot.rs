//! The bot against a local fake of Discord (REST and gateway): what a group sees in its
//! channel, what `/lanrage` answers, and what a bad token, a dropped gateway, an outage, rate
//! limits and a channel the bot may not use do.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod fake_discord;

use std::time::Duration;

use fake_discord::FakeDiscord;
use lanrage_discord::bot::{
    Announcement, Bot, BotConfig, BotState, BotStatus, MemberView, PartyView,
};
use tokio::sync::watch;
use tokio::time::Instant;

const TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.Gabcde.bot-token-for-tests-0123456789";
const CHANNEL: u64 = 123_456_789_012_345_678;

fn party() -> PartyView {
    PartyView {
        name: "Friday LAN".into(),
        code: "ABCD-EFGH".into(),
        link: "lanrage://join/ABCD-EFGH?server=ws://127.0.0.1:1".into(),
        members: vec![
            MemberView {
                name: "Ana".into(),
                game: Some("OpenTTD".into()),
                connection: "host".into(),
            },
            MemberView {
                name: "Bob".into(),
                game: None,
                connection: "direct, 12 ms".into(),
            },
        ],
    }
}

fn start(fake: &FakeDiscord, token: &str, party: Option<PartyView>) -> Bot {
    let config = BotConfig::new(token, &CHANNEL.to_string(), &fake.api_url()).unwrap();
    let (_tx, rx) = watch::channel(party);
    Bot::spawn(config, rx)
}

async fn wait_state(bot: &Bot, state: BotState, secs: u64) {
    wait_status(bot, secs, &format!("{state:?}"), |s| s.state == state).await;
}

/// Waits up to `secs` for the bot's status to satisfy `ok`; fails naming `what` otherwise.
async fn wait_status(bot: &Bot, secs: u64, what: &str, ok: impl FnMut(&BotStatus) -> bool) {
    let mut rx = bot.status();
    // The watch's guard is dropped at once: the bot cannot update its state while it is held.
    let found = tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(ok))
        .await
        .map(|r| r.is_ok());
    assert!(
        found == Ok(true),
        "bot not {what} within {secs} s: {:?}",
        bot.status().borrow()
    );
}

fn opened() -> Announcement {
    Announcement::PartyOpened {
        party: "Friday LAN".into(),
        host: "Ana".into(),
        code: "ABCD-EFGH".into(),
        link: "lanrage://join/ABCD-EFGH".into(),
    }
}

fn joined(name: &str) -> Announcement {
    Announcement::MemberJoined {
        party: "Friday LAN".into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn the_bot_comes_online_posts_a_burst_as_one_message_and_answers_lanrage_invite() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = start(&fake, TOKEN, Some(party()));
    wait_state(&bot, BotState::Online, 5).await;
    assert!(bot.status().borrow().message.contains("LANrage Bot"));
    fake.wait(5, "/lanrage registered", |f| !f.commands().is_empty())
        .await;
    assert_eq!(fake.commands()[0][0]["name"], "lanrage");

    bot.announce(opened());
    bot.announce(joined("Bob"));
    bot.announce(joined("Carol"));
    fake.wait(5, "the burst posted", |f| !f.messages().is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let messages = fake.messages();
    assert_eq!(messages.len(), 1, "a burst is one message: {messages:?}");
    let (channel, body) = &messages[0];
    assert_eq!(*channel, CHANNEL);
    assert_eq!(
        fake.titles(),
        vec![
            "Party Friday LAN is open",
            "Bob joined Friday LAN",
            "Carol joined Friday LAN"
        ]
    );
    assert_eq!(body["embeds"][0]["fields"][0]["value"], "`ABCD-EFGH`");
    // Names from players never ping anyone.
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));

    fake.slash_command(1001, "invite");
    fake.wait(5, "the invite answered", |f| !f.replies().is_empty())
        .await;
    let (id, reply) = &fake.replies()[0];
    assert_eq!(id, "1001");
    assert_eq!(reply["type"], 4, "a message in the channel: {reply}");
    let text = reply["data"]["content"].as_str().unwrap();
    assert!(text.contains("`ABCD-EFGH`"), "{text}");
    assert_eq!(reply["data"]["flags"], 64, "only the caller sees it");

    fake.slash_command(1002, "status");
    fake.wait(5, "the status answered", |f| f.replies().len() == 2)
        .await;
    let text = fake.replies()[1].1["data"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("Ana playing OpenTTD"), "{text}");
    assert!(text.contains("Bob (direct, 12 ms)"), "{text}");

    // The session is kept alive the documented way.
    fake.wait(4, "a heartbeat", |f| f.heartbeats() > 0).await;
    assert_eq!(fake.rejected(), 0);
    bot.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_rejected_token_says_so_within_seconds_and_the_bot_then_stays_quiet() {
    let fake = FakeDiscord::start(TOKEN).await;
    let started = Instant::now();
    let bot = start(&fake, "not-the-token", Some(party()));
    wait_state(&bot, BotState::TokenRejected, 5).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(bot.status().borrow().message.contains("rejected"));
    bot.announce(opened());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fake.messages().is_empty());
    assert_eq!(
        fake.rejected(),
        1,
        "one refused request, then nothing until the token changes"
    );
    assert_eq!(bot.status().borrow().state, BotState::TokenRejected);
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_token_refused_by_the_gateway_alone_is_rejected_too() {
    // REST accepts it, IDENTIFY does not (a token reset between the two).
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = start(&fake, TOKEN, None);
    wait_state(&bot, BotState::Online, 5).await;
    fake.set_token("reset-token");
    fake.drop_sessions();
    wait_state(&bot, BotState::TokenRejected, 10).await;
    let tries = |f: &FakeDiscord| {
        (
            f.gateway_lookups(),
            f.identifies(),
            f.resumes(),
            f.rejected(),
        )
    };
    let before = tries(&fake);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        tries(&fake),
        before,
        "no retry loop, on REST or the gateway"
    );
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_dropped_gateway_resumes_and_what_happened_during_an_outage_is_posted_after() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = start(&fake, TOKEN, Some(party()));
    wait_state(&bot, BotState::Online, 5).await;
    fake.set_down(true);
    fake.drop_sessions();
    // The gateway cannot be reached either: said, and tried again with a growing pause.
    wait_state(&bot, BotState::Unreachable, 10).await;
    bot.announce(joined("Bob"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bot.announce(joined("Carol"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(fake.messages().is_empty());
    fake.set_down(false);
    fake.wait(30, "both announcements", |f| f.titles().len() == 2)
        .await;
    assert_eq!(
        fake.titles(),
        vec!["Bob joined Friday LAN", "Carol joined Friday LAN"]
    );
    fake.wait(30, "the session back", |f| f.resumes() + f.identifies() > 1)
        .await;
    wait_state(&bot, BotState::Online, 20).await;
    // A command after the drop still reaches the bot.
    fake.slash_command(2001, "invite");
    fake.wait(5, "the invite answered", |f| !f.replies().is_empty())
        .await;
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_a_refused_channel_is_named() {
    let fake = FakeDiscord::start(TOKEN).await;
    let bot = start(&fake, TOKEN, None);
    wait_state(&bot, BotState::Online, 5).await;
    fake.rate_limit_next(2);
    let sent = Instant::now();
    bot.announce(joined("Bob"));
    fake.wait(10, "the post after two 429s", |f| f.messages().len() == 1)
        .await;
    assert_eq!(fake.rate_limited(), 2);
    // The batch window (0.5 s), then each 429 asked for 0.4 s.
    assert!(
        sent.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        sent.elapsed()
    );

    fake.refuse_channel(CHANNEL);
    bot.announce(joined("Carol"));
    wait_status(&bot, 5, "naming the refused channel", |s| {
        s.message.contains(&CHANNEL.to_string()) && s.message.contains("403")
    })
    .await;
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn unreachable_discord_is_a_state_with_a_reason_and_the_bot_keeps_trying() {
    let fake = FakeDiscord::start(TOKEN).await;
    fake.set_down(true);
    let bot = start(&fake, TOKEN, None);
    wait_state(&bot, BotState::Unreachable, 5).await;
    assert!(
        bot.status().borrow().message.contains("502"),
        "{:?}",
        bot.status().borrow()
    );
    fake.set_down(false);
    wait_state(&bot, BotState::Online, 10).await;
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn malformed_answers_are_logged_and_never_stop_the_bot() {
    let fake = FakeDiscord::start(TOKEN).await;
    fake.set_garbage(true);
    let bot = start(&fake, TOKEN, Some(party()));
    wait_state(&bot, BotState::Unreachable, 5).await;
    assert!(
        bot.status().borrow().message.contains("unreadable"),
        "{:?}",
        bot.status().borrow()
    );
    fake.set_garbage(false);
    wait_state(&bot, BotState::Online, 10).await;

    // Frames that are not JSON, a dispatch whose payload is not what Discord sends, and an
    // interaction for a command that is not ours: skipped, the session goes on.
    fake.send_raw("{not json");
    fake.send_raw(r#"{"op": 0, "t": "INTERACTION_CREATE", "s": 50, "d": {"id": "x"}}"#);
    fake.send_raw(r#"{"op": 77, "d": null}"#);
    fake.send_dispatch(
        "INTERACTION_CREATE",
        serde_json::json!({
            "id": "3001", "application_id": "1", "type": 2, "token": "t", "version": 1,
            "authorizing_integration_owners": {}, "entitlements": [],
            "data": {"id": "1", "name": "someone-elses", "type": 1}
        }),
    );
    fake.slash_command(3002, "invite");
    fake.wait(10, "the invite answered after the junk", |f| {
        f.replies().iter().any(|(id, _)| id == "3002")
    })
    .await;
    assert!(
        !fake.replies().iter().any(|(id, _)| id == "3001"),
        "another application's command is not ours to answer"
    );
    bot.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_gateway_address_twilight_cannot_use_is_refused_before_it_reaches_it() {
    // twilight panics on a gateway or resume address that is not a URI: the bot checks both.
    let fake = FakeDiscord::start(TOKEN).await;
    fake.set_gateway_url(Some("ws://exa mple.com/\u{7f}"));
    let bot = start(&fake, TOKEN, Some(party()));
    wait_state(&bot, BotState::Unreachable, 5).await;
    assert!(
        bot.status()
            .borrow()
            .message
            .contains("unusable gateway address"),
        "{:?}",
        bot.status().borrow()
    );
    fake.set_gateway_url(None);
    fake.set_resume_url(Some("wss://bad host"));
    wait_status(&bot, 10, "refusing the resume address", |s| {
        s.message.contains("unusable resume address")
    })
    .await;
    fake.set_resume_url(None);
    wait_state(&bot, BotState::Online, 20).await;
    fake.slash_command(5001, "invite");
    fake.wait(5, "the bot still answers", |f| !f.replies().is_empty())
        .await;
    bot.shutdown(Duration::from_secs(1)).await;
}
