//! Every log line the bot, twilight and hyper write at TRACE while the bot connects, posts,
//! is rate limited, loses its gateway and has its token rejected: the token is in none. In a
//! process of its own (tracing caches per-callsite interest globally).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod fake_discord;
mod support;

use std::time::Duration;

use fake_discord::FakeDiscord;
use lanrage_discord::bot::{Announcement, Bot, BotConfig, BotState};
use support::LogCapture;
use tokio::sync::watch;

const TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.GlogTk.this-token-must-never-be-logged";

#[tokio::test]
async fn the_bot_token_never_reaches_the_logs() {
    let logs = LogCapture::start();

    let fake = FakeDiscord::start(TOKEN).await;
    let config = BotConfig::new(TOKEN, "42", &fake.api_url()).unwrap();
    let (_tx, party) = watch::channel(None);
    let bot = Bot::spawn(config, party);
    let mut status = bot.status();
    let online = status.wait_for(|s| s.state == BotState::Online);
    tokio::time::timeout(Duration::from_secs(5), online)
        .await
        .unwrap()
        .unwrap();
    fake.rate_limit_next(1);
    bot.announce(Announcement::MemberJoined {
        party: "p".into(),
        name: "Bob".into(),
    });
    fake.wait(5, "the post", |f| f.messages().len() == 1).await;
    fake.slash_command(1, "invite");
    fake.wait(5, "the answer", |f| f.replies().len() == 1).await;
    fake.set_token("another");
    fake.drop_sessions();
    let mut status = bot.status();
    let rejected = status.wait_for(|s| s.state == BotState::TokenRejected);
    tokio::time::timeout(Duration::from_secs(10), rejected)
        .await
        .unwrap()
        .unwrap();
    bot.shutdown(Duration::from_secs(1)).await;

    let logs = logs.text();
    assert!(
        logs.contains("Discord bot"),
        "the capture saw the bot's lines: {logs}"
    );
    // The token, and its secret part alone (after the last dot), appear nowhere.
    let secret = TOKEN.rsplit('.').next().unwrap();
    for needle in [TOKEN, secret] {
        assert!(!logs.contains(needle), "token in the logs:\n{logs}");
    }
}
