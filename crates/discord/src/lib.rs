//! LANrage and Discord: Rich Presence on the player's profile ([`presence`]), webhook
//! notifications to a channel, and the host's bot ([`bot`]).
//!
//! - [`WebhookUrl`]: a validated webhook URL that never shows its token;
//! - [`Notifier`]: a tokio task fed with [`Event`]s that batches them (500 ms) into webhook
//!   messages and retries them the way Discord asks ([`client`] documents the rules);
//! - [`send_test_message`]: the settings page's test button.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lanrage_discord::DiscordError> {
//! use lanrage_discord::{Event, Notifier, NotifierConfig, WebhookUrl};
//! use std::time::Duration;
//!
//! let url = WebhookUrl::parse("https://discord.com/api/webhooks/123/abc")?;
//! let notifier = Notifier::spawn(url, NotifierConfig::default())?;
//! notifier.notify(Event::MemberJoined { name: "Alice".into() })?;
//! notifier.shutdown(Duration::from_secs(3)).await;
//! # Ok(()) }
//! ```

pub mod bot;
pub mod client;
mod error;
pub mod message;
mod notifier;
pub mod presence;
mod webhook_url;

pub use client::{RetryPolicy, WebhookClient};
pub use error::DiscordError;
pub use message::{Embed, Event, WebhookMessage, MAX_EMBEDS};
pub use notifier::{Notifier, NotifierConfig, NotifierStats};
pub use webhook_url::{WebhookUrl, WebhookUrlError};

/// Sends the test message to `url` with the default settings: for the settings page's button,
/// before the URL is saved. The error says what to fix.
pub async fn send_test_message(url: &WebhookUrl) -> Result<(), DiscordError> {
    let config = NotifierConfig::default();
    WebhookClient::new(url.clone(), config.retry, config.request_timeout)?
        .send_test_message()
        .await
}
