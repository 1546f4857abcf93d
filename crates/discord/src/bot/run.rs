//! The bot's I/O: one task keeps the gateway session (READY, slash commands) and one posts
//! announcements to the channel. Both report to the status watch; neither decides anything
//! `state.rs` does not.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::Client;
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

use super::announce::{
    answer, command, embed_size, Announcement, PartyView, COMMAND, MESSAGE_EMBEDS_MAX,
};
use super::config::BotConfig;
use super::state::{close_verdict, retry_pause, BotState, BotStatus, CloseVerdict};
use crate::message::MAX_EMBEDS;

/// Events arriving within this window after the first one go out as one message.
const BATCH: Duration = Duration::from_millis(500);
/// Announcements kept while Discord cannot be reached; beyond them the newest are dropped
/// (`Bot::announce` says so in the log).
const BACKLOG: usize = 100;
/// How many times one message is tried after Discord said "slow down" before it is dropped.
const RATE_LIMIT_TRIES: u32 = 5;

/// The running bot. Dropping it stops it; [`Bot::shutdown`] first sends what is pending.
pub struct Bot {
    /// `None` once shutting down.
    announcements: Option<mpsc::Sender<Announcement>>,
    status: watch::Receiver<BotStatus>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Bot {
    /// Starts the bot on the current tokio runtime. `party` is what the slash command
    /// answers about (`None` outside a party).
    pub fn spawn(config: BotConfig, party: watch::Receiver<Option<PartyView>>) -> Bot {
        let http = Arc::new(
            Client::builder()
                .token(config.token().to_string())
                .proxy(config.api.host().to_string(), config.api.plain_http())
                .timeout(Duration::from_secs(10))
                .default_allowed_mentions(AllowedMentions::default())
                .build(),
        );
        let (status_tx, status) = watch::channel(BotStatus::connecting());
        let status_tx = Arc::new(status_tx);
        let (announcements, rx) = mpsc::channel(BACKLOG);
        let cancel = CancellationToken::new();
        let gateway = tokio::spawn(gateway(
            config.clone(),
            http.clone(),
            status_tx.clone(),
            party,
            cancel.clone(),
        ));
        let poster = tokio::spawn(post(config, http, status_tx, rx, cancel.clone()));
        Bot {
            announcements: Some(announcements),
            status,
            cancel,
            tasks: vec![gateway, poster],
        }
    }

    /// Queues an announcement; it never waits. With Discord away for long the oldest
    /// wait in the backlog and the newest beyond it are dropped (with a log line).
    pub fn announce(&self, a: Announcement) {
        // A rejected token stopped the poster: nothing to queue, nothing worth a warning.
        if self.status.borrow().is_final() {
            return;
        }
        if let Some(Err(e)) = self.announcements.as_ref().map(|tx| tx.try_send(a)) {
            tracing::warn!(error = %e, "Discord bot: announcement dropped");
        }
    }

    pub fn status(&self) -> watch::Receiver<BotStatus> {
        self.status.clone()
    }

    /// Stops the bot, giving pending announcements up to `grace` to go out.
    pub async fn shutdown(mut self, grace: Duration) {
        // Closing the queue lets the poster send what it holds and end by itself.
        self.announcements = None;
        let cancel = self.cancel.clone();
        let mut tasks = std::mem::take(&mut self.tasks).into_iter();
        let gateway = tasks.next();
        let poster = tasks.next();
        if let Some(mut poster) = poster {
            if tokio::time::timeout(grace, &mut poster).await.is_err() {
                // Whatever is still pending is given up: a restarted bot must not race an old
                // one posting with the old token to the old channel.
                poster.abort();
            }
        }
        cancel.cancel();
        if let Some(gateway) = gateway {
            let _ = gateway.await;
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The one place the bot's state changes, and its one log line per change.
fn set(status: &watch::Sender<BotStatus>, new: BotStatus) {
    status.send_if_modified(|s| {
        if *s == new {
            return false;
        }
        if new.warn {
            tracing::warn!(state = ?new.state, "Discord bot: {}", new.message);
        } else {
            tracing::info!(state = ?new.state, "Discord bot: {}", new.message);
        }
        *s = new;
        true
    });
}

/// The token is refused: both tasks stop (the cancel ends the other one) until the engine
/// restarts the bot with new settings.
fn reject_token(status: &watch::Sender<BotStatus>, cancel: &CancellationToken) {
    set(status, BotStatus::token_rejected());
    cancel.cancel();
}

/// What went wrong with a REST request, in the terms the bot acts on.
enum Failure {
    TokenRejected,
    /// Discord asked to wait this long before the same request.
    RateLimited(Duration),
    /// 403 or 404 on the channel: the bot may not post there.
    ChannelRefused(u16),
    /// A request Discord (or twilight's checks) will never accept as it is: dropped.
    Refused(String),
    /// Anything else: Discord away, a 5xx, a timeout, a body that does not parse.
    Other(String),
}

fn failure(e: &twilight_http::Error) -> Failure {
    match e.kind() {
        ErrorType::Unauthorized => Failure::TokenRejected,
        ErrorType::Response { error, status, .. } => match (status.get(), error) {
            (401, _) => Failure::TokenRejected,
            (429, ApiError::Ratelimited(r)) => Failure::RateLimited(
                Duration::try_from_secs_f64(r.retry_after.clamp(0.0, 300.0))
                    .unwrap_or(Duration::from_secs(1)),
            ),
            (429, _) => Failure::RateLimited(Duration::from_secs(1)),
            (code @ (403 | 404), _) => Failure::ChannelRefused(code),
            (408, _) => Failure::Other("HTTP 408".into()),
            (code @ 400..=499, _) => Failure::Refused(format!("HTTP {code}")),
            (code, _) => Failure::Other(format!("HTTP {code}")),
        },
        ErrorType::Validation => Failure::Refused(e.to_string()),
        ErrorType::RequestTimedOut => Failure::Other("no answer within 10 s".into()),
        ErrorType::RequestError => Failure::Other("connection failed".into()),
        _ => Failure::Other(e.to_string()),
    }
}

/// Keeps the gateway session until cancelled or the token is rejected.
async fn gateway(
    config: BotConfig,
    http: Arc<Client>,
    status: Arc<watch::Sender<BotStatus>>,
    party: watch::Receiver<Option<PartyView>>,
    cancel: CancellationToken,
) {
    let mut attempt = 0u32;
    loop {
        set(&status, BotStatus::connecting());
        // Discord documents the gateway's address as whatever this request answers.
        let url = tokio::select! {
            _ = cancel.cancelled() => return,
            r = lookup_gateway(&http) => r,
        };
        let url = match url {
            Ok(url) => url,
            Err(Failure::TokenRejected) => return reject_token(&status, &cancel),
            Err(Failure::RateLimited(wait)) => {
                if sleep_or_cancel(wait, &cancel).await {
                    return;
                }
                continue;
            }
            Err(Failure::ChannelRefused(code)) => {
                if unreachable_pause(&status, &format!("HTTP {code}"), &mut attempt, &cancel).await
                {
                    return;
                }
                continue;
            }
            Err(Failure::Other(why) | Failure::Refused(why)) => {
                if unreachable_pause(&status, &why, &mut attempt, &cancel).await {
                    return;
                }
                continue;
            }
        };
        let shard_config = ConfigBuilder::new(config.token().to_string(), Intents::empty())
            .proxy_url(url)
            .build();
        let mut shard = Shard::with_config(ShardId::ONE, shard_config);
        let wanted =
            EventTypeFlags::READY | EventTypeFlags::RESUMED | EventTypeFlags::INTERACTION_CREATE;
        let why = loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => {
                    // Sending the close frame lets Discord show the bot offline at once.
                    shard.close(CloseFrame::NORMAL);
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Some(Ok(ev)) = shard.next_event(EventTypeFlags::empty()).await {
                            if matches!(ev, Event::GatewayClose(_)) {
                                break;
                            }
                        }
                    })
                    .await;
                    return;
                }
                next = shard.next_event(wanted) => next,
            };
            match next {
                None => {
                    break "the gateway ended the session".to_string();
                }
                Some(Ok(Event::Ready(ready))) => {
                    if !usable_gateway_url(&ready.resume_gateway_url) {
                        // twilight would resume to it later and panic on it: a new session.
                        break "the gateway sent an unusable resume address".to_string();
                    }
                    attempt = 0;
                    set(
                        &status,
                        BotStatus::online(&ready.user.name, config.channel_id),
                    );
                    let app = ready.application.id;
                    let http = http.clone();
                    tokio::spawn(async move {
                        match http
                            .interaction(app)
                            .set_global_commands(&[command()])
                            .await
                        {
                            Ok(_) => tracing::info!("Discord bot: /lanrage registered"),
                            Err(e) => {
                                tracing::warn!(error = %e, "Discord bot: /lanrage not registered")
                            }
                        }
                    });
                }
                Some(Ok(Event::Resumed)) => {
                    // Already online (a resume the gateway asked for): nothing to say.
                    if status.borrow().state != BotState::Online {
                        set(&status, BotStatus::resumed());
                    }
                }
                Some(Ok(Event::InteractionCreate(i))) => {
                    let http = http.clone();
                    let party = party.borrow().clone();
                    tokio::spawn(async move { respond(&http, &i.0, party.as_ref()).await });
                }
                Some(Ok(Event::GatewayClose(frame))) => {
                    let code = frame.map(|f| f.code).unwrap_or(1006);
                    match close_verdict(code) {
                        CloseVerdict::TokenRejected => return reject_token(&status, &cancel),
                        CloseVerdict::StartOver(why) => break why,
                        CloseVerdict::Reconnect => {
                            tracing::debug!(code, "Discord gateway closed; resuming");
                            set(&status, BotStatus::connecting());
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // The library reconnects by itself (with its own growing pause); a frame
                    // it cannot read is skipped.
                    tracing::debug!(error = %e, "Discord gateway");
                    if matches!(
                        e.kind(),
                        twilight_gateway::error::ReceiveMessageErrorType::Reconnect
                    ) {
                        set(
                            &status,
                            BotStatus::unreachable("the gateway does not answer"),
                        );
                    }
                }
            }
        };
        if unreachable_pause(&status, &why, &mut attempt, &cancel).await {
            return;
        }
    }
}

async fn lookup_gateway(http: &Client) -> Result<String, Failure> {
    let response = http.gateway().authed().await.map_err(|e| failure(&e))?;
    let info = response
        .model()
        .await
        .map_err(|e| Failure::Other(format!("unreadable gateway answer: {e}")))?;
    if !usable_gateway_url(&info.url) {
        return Err(Failure::Other(
            "an unusable gateway address in Discord's answer".into(),
        ));
    }
    Ok(info.url)
}

/// A `ws://` or `wss://` address twilight can connect to. It treats the address Discord gives
/// as a valid URI (and panics otherwise), so nothing else reaches it.
fn usable_gateway_url(url: &str) -> bool {
    if url.len() > 2048 || !(url.starts_with("wss://") || url.starts_with("ws://")) {
        return false;
    }
    format!("{url}/?v=10&encoding=json")
        .parse::<http::Uri>()
        .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()))
}

/// Says Discord is unreachable and waits before the next attempt (a longer one each time).
/// Returns true when cancelled during the pause.
async fn unreachable_pause(
    status: &watch::Sender<BotStatus>,
    why: &str,
    attempt: &mut u32,
    cancel: &CancellationToken,
) -> bool {
    set(status, BotStatus::unreachable(why));
    let cancelled = sleep_or_cancel(retry_pause(*attempt), cancel).await;
    *attempt = attempt.saturating_add(1);
    cancelled
}

/// Returns true when cancelled during the pause.
async fn sleep_or_cancel(pause: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

async fn respond(http: &Client, interaction: &Interaction, party: Option<&PartyView>) {
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        return;
    };
    if data.name != COMMAND {
        return;
    }
    let sub = data.options.first().map(|o| o.name.as_str()).unwrap_or("");
    let response = InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some(answer(sub, party)),
            // Only the caller sees it: an invite asked for is not an announcement.
            flags: Some(MessageFlags::EPHEMERAL),
            allowed_mentions: Some(AllowedMentions::default()),
            ..InteractionResponseData::default()
        }),
    };
    let sent = http
        .interaction(interaction.application_id)
        .create_response(interaction.id, &interaction.token, &response)
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, sub, "Discord bot: slash command not answered");
    }
}

/// Posts announcements in batches until the queue closes (then sends what is left) or the
/// bot is cancelled.
async fn post(
    config: BotConfig,
    http: Arc<Client>,
    status: Arc<watch::Sender<BotStatus>>,
    mut rx: mpsc::Receiver<Announcement>,
    cancel: CancellationToken,
) {
    let channel = Id::new(config.channel_id);
    let mut pending: Vec<(Announcement, SystemTime)> = Vec::new();
    let mut open = true;
    let mut attempt = 0u32;
    // Discord refused the channel and no post has gone through since.
    let mut refused = false;
    while open || !pending.is_empty() {
        if cancel.is_cancelled() {
            return;
        }
        if pending.is_empty() {
            match tokio::select! {
                _ = cancel.cancelled() => return,
                a = rx.recv() => a,
            } {
                Some(a) => pending.push((a, SystemTime::now())),
                None => return,
            }
        }
        // Gather what else happens in the batch window.
        let window = tokio::time::sleep(BATCH);
        tokio::pin!(window);
        while open && pending.len() < BACKLOG {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut window => break,
                a = rx.recv() => match a {
                    Some(a) => pending.push((a, SystemTime::now())),
                    None => open = false,
                },
            }
        }
        // As many as fit one message: ten embeds and Discord's 6000 characters.
        let mut n = 0;
        let mut size = 0;
        let mut embeds = Vec::new();
        for (a, at) in pending.iter().take(MAX_EMBEDS) {
            let e = a.embed(*at);
            size += embed_size(&e);
            if n > 0 && size > MESSAGE_EMBEDS_MAX {
                break;
            }
            embeds.push(e);
            n += 1;
        }
        let mut tries = 0;
        let result = loop {
            let sent = tokio::select! {
                _ = cancel.cancelled() => return,
                r = http.create_message(channel).embeds(&embeds) => r,
            };
            match sent {
                Ok(_) => break Ok(()),
                Err(e) => match failure(&e) {
                    Failure::RateLimited(wait) if tries < RATE_LIMIT_TRIES => {
                        tries += 1;
                        tracing::debug!(?wait, "Discord bot: rate limited");
                        if sleep_or_cancel(wait, &cancel).await {
                            return;
                        }
                    }
                    other => break Err(other),
                },
            }
        };
        match result {
            Ok(()) => {
                attempt = 0;
                pending.drain(..n);
                if std::mem::take(&mut refused) {
                    let state = status.borrow().state;
                    set(&status, BotStatus::posting_again(state, config.channel_id));
                }
            }
            Err(Failure::TokenRejected) => return reject_token(&status, &cancel),
            Err(Failure::ChannelRefused(code)) => {
                // `set` logs the refusal once (a warning naming the channel).
                refused = true;
                let state = status.borrow().state;
                set(
                    &status,
                    BotStatus::channel_refused(state, config.channel_id, code),
                );
                pending.drain(..n);
            }
            Err(Failure::RateLimited(_)) => {
                tracing::warn!("Discord bot: still rate limited; {n} announcements dropped");
                pending.drain(..n);
            }
            Err(Failure::Refused(why)) => {
                tracing::warn!(
                    why,
                    "Discord bot: Discord refused a post; {n} announcements dropped"
                );
                attempt = 0;
                pending.drain(..n);
            }
            Err(Failure::Other(why)) => {
                // Kept and sent when Discord answers again: nothing that happened meanwhile
                // is lost (beyond the backlog).
                tracing::debug!(why, "Discord bot: post failed; retrying");
                if sleep_or_cancel(retry_pause(attempt), &cancel).await {
                    return;
                }
                attempt = attempt.saturating_add(1);
            }
        }
    }
}
