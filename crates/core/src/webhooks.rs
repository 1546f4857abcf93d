//! Discord webhook notifications for party events, from the `discord_webhook_url` setting.
//! One task follows the engine's events: it (re)creates the notifier when the URL changes and
//! forwards who joined, who left and which party was created.

use std::time::Duration;

use lanrage_discord::{Event, Notifier, NotifierConfig, WebhookUrl};
use tokio::sync::broadcast::error::RecvError;

use std::sync::Arc;

use lanrage_settings::Settings;

use crate::error::EngineError;
use crate::events::EngineEvent;
use crate::runtime::Runtime;

fn notifier_for(rt: &Runtime) -> Option<Notifier> {
    let settings = rt.settings().ok()?;
    let raw = settings.discord_webhook_url.expose();
    if raw.is_empty() {
        return None;
    }
    match WebhookUrl::parse(raw) {
        Ok(url) => match Notifier::spawn(url, NotifierConfig::default()) {
            Ok(n) => {
                tracing::info!("Discord webhook notifications on");
                Some(n)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Discord webhook notifications off");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "the Discord webhook URL setting is not usable");
            None
        }
    }
}

/// Whether game starts are posted (their own setting beside the webhook URL).
fn games_on(rt: &Runtime) -> bool {
    rt.settings().is_ok_and(|s| s.discord_webhook_games)
}

/// Follows the engine's events into webhook messages until the engine stops.
pub(crate) fn start(rt: Arc<Runtime>) {
    let mut rx = rt.subscribe();
    let cancel = rt.cancellation();
    let engine = rt.clone();
    rt.spawn(async move {
        let mut notifier = notifier_for(&engine);
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            let event = match ev {
                EngineEvent::SettingChanged { setting } if setting.key == "discord_webhook_url" => {
                    if let Some(old) = notifier.take() {
                        old.shutdown(Duration::from_secs(2)).await;
                    }
                    notifier = notifier_for(&engine);
                    continue;
                }
                EngineEvent::SettingsReset | EngineEvent::ConfigActivated { .. } => {
                    if let Some(old) = notifier.take() {
                        old.shutdown(Duration::from_secs(2)).await;
                    }
                    notifier = notifier_for(&engine);
                    continue;
                }
                EngineEvent::MemberJoined { name } => Event::MemberJoined { name },
                EngineEvent::MemberLeft { name } => Event::MemberLeft { name },
                EngineEvent::PartyCreated { name } => Event::PartyCreated { name },
                EngineEvent::GameStarted { game } if games_on(&engine) => Event::GameStarted {
                    name: engine
                        .settings()
                        .map(|s| s.display_name)
                        .unwrap_or_else(|_| "Someone".into()),
                    game: game.name,
                },
                EngineEvent::MemberGame {
                    name,
                    game: Some(game),
                } if games_on(&engine) => Event::GameStarted {
                    name,
                    game: game.name,
                },
                _ => continue,
            };
            if let Some(n) = &notifier {
                if let Err(e) = n.notify(event) {
                    tracing::debug!(error = %e, "webhook notification dropped");
                }
            }
        }
        if let Some(n) = notifier {
            // Pending events (a party closing as LANrage quits) still go out, briefly.
            n.shutdown(Duration::from_secs(3)).await;
        }
    });
}

/// Sends a test message to the configured webhook, for the settings page's button.
pub(crate) async fn test(settings: &Settings) -> Result<(), EngineError> {
    let raw = settings.discord_webhook_url.expose();
    if raw.is_empty() {
        return Err(EngineError::Webhook("no Discord webhook URL is set".into()));
    }
    let url = WebhookUrl::parse(raw).map_err(|e| EngineError::Webhook(e.to_string()))?;
    lanrage_discord::send_test_message(&url)
        .await
        .map_err(|e| EngineError::Webhook(e.to_string()))
}
