//! What the bot's state is and what each thing Discord says does to it. No I/O: the shell
//! (`run.rs`) reports what happened and does what the verdict says.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The bot's state, as `lanrage status --json` shows it (`discord.bot.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// No token or no channel is set.
    Off,
    Connecting,
    Online,
    /// Discord refused the token. Nothing is retried until the token changes.
    TokenRejected,
    /// Discord cannot be reached; the bot keeps trying with a growing pause.
    Unreachable,
}

/// The state with a sentence for the player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BotStatus {
    pub state: BotState,
    pub message: String,
    /// The player should be told (a notice): the token was rejected, the channel refused.
    #[serde(skip)]
    #[ts(skip)]
    pub warn: bool,
}

impl BotStatus {
    pub fn off(why: &str) -> Self {
        Self {
            state: BotState::Off,
            message: why.to_string(),
            warn: false,
        }
    }

    pub fn connecting() -> Self {
        Self {
            state: BotState::Connecting,
            message: "Connecting to Discord…".into(),
            warn: false,
        }
    }

    pub fn online(bot_name: &str, channel_id: u64) -> Self {
        Self {
            state: BotState::Online,
            message: format!("Online as {bot_name}; posting in channel {channel_id}."),
            warn: false,
        }
    }

    /// Back online after the gateway resumed the session.
    pub fn resumed() -> Self {
        Self {
            state: BotState::Online,
            message: "Online again (session resumed).".into(),
            warn: false,
        }
    }

    /// The gateway's state as it is, and posts to the channel go through again after a
    /// refusal.
    pub fn posting_again(state: BotState, channel_id: u64) -> Self {
        Self {
            state,
            message: format!("Posting in channel {channel_id} again."),
            warn: false,
        }
    }

    /// The gateway's state as it is, but Discord refuses the bot's posts to the channel.
    pub fn channel_refused(state: BotState, channel_id: u64, http_status: u16) -> Self {
        Self {
            state,
            message: format!(
                "Discord refused the bot's posts to channel {channel_id} (HTTP {http_status}): \
                 invite the bot to that server and give it View Channel, Send Messages and \
                 Embed Links there."
            ),
            warn: true,
        }
    }

    pub fn token_rejected() -> Self {
        Self {
            state: BotState::TokenRejected,
            message: "Discord rejected the bot token. Copy it again from the Developer Portal \
                      (Bot → Reset Token) and save it; the bot stays off until then."
                .into(),
            warn: true,
        }
    }

    pub fn unreachable(why: &str) -> Self {
        Self {
            state: BotState::Unreachable,
            message: format!("Discord cannot be reached ({why}); trying again."),
            warn: false,
        }
    }

    pub fn is_final(&self) -> bool {
        self.state == BotState::TokenRejected
    }
}

/// What to do after the gateway closed the connection with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseVerdict {
    /// The gateway library resumes or reconnects by itself.
    Reconnect,
    /// 4004: the token is wrong. Stop until it changes.
    TokenRejected,
    /// A close the library will not reconnect after (bad intents, an API version Discord
    /// no longer serves...): start again from the REST gateway lookup after a pause.
    StartOver(String),
}

/// Discord's gateway close codes, as documented ("Gateway Close Event Codes").
pub fn close_verdict(code: u16) -> CloseVerdict {
    match code {
        4004 => CloseVerdict::TokenRejected,
        4010 => CloseVerdict::StartOver("the gateway refused the shard".into()),
        4011 => CloseVerdict::StartOver("the bot needs sharding".into()),
        4012 => CloseVerdict::StartOver("the gateway API version is no longer served".into()),
        4013 | 4014 => CloseVerdict::StartOver("the gateway refused the bot's intents".into()),
        _ => CloseVerdict::Reconnect,
    }
}

/// The pause before attempt `n` (from 0) to reach Discord again: 1 s, doubling, at most 60 s.
pub fn retry_pause(n: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << n.min(6)).min(std::time::Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bad_token_close_stops_and_others_reconnect() {
        assert_eq!(close_verdict(4004), CloseVerdict::TokenRejected);
        assert!(matches!(close_verdict(4014), CloseVerdict::StartOver(_)));
        for code in [1000, 1001, 4000, 4007, 4008, 4009] {
            assert_eq!(close_verdict(code), CloseVerdict::Reconnect, "{code}");
        }
        assert!(BotStatus::token_rejected().is_final());
        assert!(!BotStatus::unreachable("x").is_final());
    }

    #[test]
    fn pauses_grow_and_stop_growing() {
        let p: Vec<u64> = (0..9).map(|n| retry_pause(n).as_secs()).collect();
        assert_eq!(p, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_pause(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn the_state_is_snake_case_for_status() {
        let v = serde_json::to_value(BotStatus::token_rejected()).unwrap();
        assert_eq!(v["state"], "token_rejected");
    }
}
