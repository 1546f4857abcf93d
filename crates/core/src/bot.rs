//! The host's Discord bot (`lanrage_discord::bot`) in step with the engine: started when a
//! token and a channel are set, restarted when they change, fed the party's events, and
//! reporting its state to `status` (`discord.bot`) and as events. What the bot says and what
//! Discord's answers mean live in the discord crate; this task only follows the engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanrage_discord::bot::{
    Announcement, Bot, BotConfig, BotStatus, MemberView, NightRecord, PartyView,
};
use lanrage_party::PartyStatus;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::events::EngineEvent;
use crate::runtime::Runtime;
use crate::session::Session;
use crate::status::NoticeLevel;

const SETTINGS: [&str; 3] = [
    "discord_bot_token",
    "discord_bot_channel_id",
    "discord_api_url",
];

/// What the bot runs with, or why it is off.
fn config(rt: &Runtime) -> Result<BotConfig, BotStatus> {
    let s = rt
        .settings()
        .map_err(|e| BotStatus::off(&format!("settings unreadable: {e}")))?;
    let token = s.discord_bot_token.expose();
    if token.is_empty() || s.discord_bot_channel_id.is_empty() {
        return Err(BotStatus::off(
            "Off: set a bot token and a channel ID in Settings → Discord to turn it on.",
        ));
    }
    BotConfig::new(token, &s.discord_bot_channel_id, &s.discord_api_url)
        .map_err(|e| BotStatus::off(&format!("Off: {e}.")))
}

/// The slash command's view of the party, this device included.
fn party_view(p: &PartyStatus, me: &str, my_game: Option<String>) -> PartyView {
    let mut members = vec![MemberView {
        name: me.to_string(),
        game: my_game,
        connection: if p.is_host {
            "host"
        } else {
            "this bot's player"
        }
        .into(),
    }];
    members.extend(p.peers.iter().map(|peer| {
        let connection = match (peer.online, peer.rtt_ms, &peer.grade) {
            (false, _, _) => "offline".to_string(),
            (true, Some(rtt), Some(grade)) => {
                format!("{}, {rtt:.0} ms, grade {grade}", peer.connection)
            }
            (true, Some(rtt), None) => format!("{}, {rtt:.0} ms", peer.connection),
            (true, None, _) => peer.connection.to_string(),
        };
        MemberView {
            name: peer.name.clone(),
            game: peer.game.as_ref().map(|g| g.name.clone()),
            connection,
        }
    }));
    let (code, link) = p
        .invite
        .as_ref()
        .map(|i| (i.code.clone(), i.link.clone().unwrap_or_default()))
        .unwrap_or_default();
    PartyView {
        name: p.name.clone(),
        code,
        link,
        members,
    }
}

/// The task's memory between events.
struct Follower {
    rt: Arc<Runtime>,
    session: Arc<Session>,
    games: Arc<crate::games::Games>,
    bot: Option<Bot>,
    bot_status: Option<watch::Receiver<BotStatus>>,
    shown: watch::Sender<BotStatus>,
    party: watch::Sender<Option<PartyView>>,
    /// A party this device created, announced once its invite is known.
    opening: Option<String>,
    night: Option<NightRecord>,
    /// Who plays what since when (this device under its display name).
    playing: HashMap<String, (String, Instant)>,
}

impl Follower {
    fn me(&self) -> String {
        self.rt
            .settings()
            .map(|s| s.display_name)
            .unwrap_or_else(|_| "Someone".into())
    }

    fn show(&mut self, status: BotStatus) {
        let before = self.shown.borrow().clone();
        if before == status {
            return;
        }
        if status.warn {
            self.rt.notify(NoticeLevel::Warning, status.message.clone());
        }
        self.shown.send_replace(status.clone());
        self.rt.emit(EngineEvent::DiscordBotChanged { bot: status });
    }

    async fn configure(&mut self) {
        if let Some(old) = self.bot.take() {
            old.shutdown(Duration::from_secs(2)).await;
        }
        self.bot_status = None;
        match config(&self.rt) {
            Ok(config) => {
                tracing::info!(channel = config.channel_id, api = %config.api, "Discord bot starting");
                let bot = Bot::spawn(config, self.party.subscribe());
                self.bot_status = Some(bot.status());
                let first = bot.status().borrow().clone();
                self.bot = Some(bot);
                self.show(first);
                // `/lanrage status` answers from the party as it is now.
                self.refresh(false);
            }
            Err(off) => self.show(off),
        }
    }

    fn announce(&self, a: Announcement) {
        if let Some(bot) = &self.bot {
            bot.announce(a);
        }
    }

    fn party_name(&self) -> String {
        self.night
            .as_ref()
            .map(|n| n.party().to_string())
            .unwrap_or_default()
    }

    /// The party as it is now: the slash command's view, the night's start and end, the
    /// invite of a party just created.
    fn refresh(&mut self, sample: bool) {
        let tunnel = self.rt.tunnel_stats();
        let party = self.session.party_status(tunnel.as_ref());
        let me = self.me();
        let view = party
            .as_ref()
            .map(|p| party_view(p, &me, self.games.current().map(|g| g.name)));
        self.party.send_if_modified(|v| {
            let changed = *v != view;
            *v = view;
            changed
        });
        match (&party, self.night.is_some()) {
            (Some(p), false) => {
                let mut night = NightRecord::new(&p.name, &me, Instant::now());
                for peer in &p.peers {
                    night.member(&peer.name);
                }
                self.night = Some(night);
            }
            (None, true) => {
                self.end_night();
                self.opening = None;
            }
            _ => {}
        }
        let Some(p) = party else { return };
        if sample {
            if let Some(night) = &mut self.night {
                for peer in p.peers.iter().filter(|peer| peer.online) {
                    night.sample(peer.rtt_ms, peer.loss_pct);
                }
            }
        }
        if self.opening.as_deref() == Some(p.name.as_str()) {
            if let Some(invite) = &p.invite {
                self.opening = None;
                self.announce(Announcement::PartyOpened {
                    party: p.name.clone(),
                    host: me,
                    code: invite.code.clone(),
                    link: invite.link.clone().unwrap_or_default(),
                });
            }
        }
    }

    fn end_night(&mut self) {
        // Games still running belong to the night that ends: their ends are not announced
        // later under no party, nor a member's next game as a stale "finished".
        self.playing.clear();
        let Some(night) = self.night.take() else {
            return;
        };
        let summary = night.summary(Instant::now());
        // A party nobody joined is no game night.
        if matches!(&summary, Announcement::NightSummary { members, .. } if members.len() > 1) {
            self.announce(summary);
        }
    }

    fn game_started(&mut self, player: String, game: String) {
        let Some(night) = &mut self.night else {
            return;
        };
        night.game(&game);
        self.playing
            .insert(player.clone(), (game.clone(), Instant::now()));
        self.announce(Announcement::GameStarted {
            party: self.party_name(),
            player,
            game,
        });
    }

    fn game_ended(&mut self, player: String) {
        if self.night.is_none() {
            return;
        }
        if let Some((game, since)) = self.playing.remove(&player) {
            self.announce(Announcement::GameEnded {
                party: self.party_name(),
                player,
                game,
                minutes: since.elapsed().as_secs() / 60,
            });
        }
    }

    async fn handle(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::SettingChanged { setting } if SETTINGS.contains(&setting.key) => {
                self.configure().await
            }
            EngineEvent::SettingsReset | EngineEvent::ConfigActivated { .. } => {
                self.configure().await
            }
            EngineEvent::PartyCreated { name } => {
                self.opening = Some(name);
                self.refresh(false);
            }
            EngineEvent::PartyChanged { .. } => self.refresh(false),
            // Every second: only worth building the party's status for a running bot (the
            // night's round trips are measured while it runs).
            EngineEvent::TunnelStats { .. } if self.bot.is_some() => self.refresh(true),
            EngineEvent::MemberJoined { name } => {
                if let Some(night) = &mut self.night {
                    night.member(&name);
                }
                self.announce(Announcement::MemberJoined {
                    party: self.party_name(),
                    name,
                });
            }
            EngineEvent::MemberLeft { name } => {
                self.announce(Announcement::MemberLeft {
                    party: self.party_name(),
                    name: name.clone(),
                });
                self.game_ended(name);
            }
            EngineEvent::GameStarted { game } => {
                let me = self.me();
                self.game_started(me, game.name);
            }
            EngineEvent::GameStopped { .. } => {
                let me = self.me();
                self.game_ended(me);
            }
            EngineEvent::MemberGame {
                name,
                game: Some(game),
            } => {
                self.game_ended(name.clone());
                self.game_started(name, game.name);
            }
            EngineEvent::MemberGame { name, game: None } => self.game_ended(name),
            _ => {}
        }
    }
}

/// Follows the engine's events until it stops. `shown` is what `status` reports.
pub(crate) fn start(
    rt: Arc<Runtime>,
    session: Arc<Session>,
    games: Arc<crate::games::Games>,
    shown: watch::Sender<BotStatus>,
) {
    let mut rx = rt.subscribe();
    let cancel = rt.cancellation();
    let mut f = Follower {
        rt: rt.clone(),
        session,
        games,
        bot: None,
        bot_status: None,
        shown,
        party: watch::channel(None).0,
        opening: None,
        night: None,
        playing: HashMap::new(),
    };
    rt.spawn(async move {
        f.configure().await;
        loop {
            let bot_changed = async {
                match &mut f.bot_status {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                ok = bot_changed => {
                    if !ok {
                        f.bot_status = None;
                        continue;
                    }
                    let now = f.bot_status.as_ref().map(|rx| rx.borrow().clone());
                    if let Some(now) = now {
                        f.show(now);
                    }
                }
                ev = rx.recv() => match ev {
                    Ok(ev) => f.handle(ev).await,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            }
        }
        // The host quitting ends the night; what is pending still goes out, briefly.
        f.end_night();
        if let Some(bot) = f.bot.take() {
            bot.shutdown(Duration::from_secs(3)).await;
        }
    });
}
