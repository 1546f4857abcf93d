//! What the bot needs to run: its token (never shown), the channel it posts to and where
//! Discord's REST API is.

use std::fmt;

/// Discord's REST base when the `discord_api_url` setting is left alone.
pub const DEFAULT_API_URL: &str = "https://discord.com";

/// Why a bot setting cannot be used. The message names the setting and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BotConfigError {
    #[error("the Discord API URL must start with https:// (or http:// for a local test server) and name a host")]
    ApiUrl,
    #[error("http:// is only for a Discord API on this machine or the local network: the bot token would cross the internet unencrypted")]
    PlainHttpRemote,
    #[error("the Discord channel ID is a number (right-click the channel in Discord with Developer Mode on, then Copy Channel ID)")]
    ChannelId,
    #[error("the Discord bot token is empty")]
    Token,
}

/// Discord's REST base: twilight takes the host (and any path prefix) and whether to use
/// plain HTTP apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    host: String,
    plain_http: bool,
}

impl ApiUrl {
    /// Accepts `https://host[:port][/prefix]` and, for tests and local proxies,
    /// `http://...`; nothing with a query, a fragment or credentials.
    pub fn parse(raw: &str) -> Result<Self, BotConfigError> {
        let raw = raw.trim();
        let (plain_http, rest) = if let Some(rest) = raw.strip_prefix("https://") {
            (false, rest)
        } else if let Some(rest) = raw.strip_prefix("http://") {
            (true, rest)
        } else {
            return Err(BotConfigError::ApiUrl);
        };
        let host = rest.trim_end_matches('/');
        let authority = host.split('/').next().unwrap_or_default();
        if authority.is_empty()
            || host.contains(['?', '#', '@', ' '])
            || host.chars().any(char::is_control)
        {
            return Err(BotConfigError::ApiUrl);
        }
        if plain_http && !is_local(authority) {
            return Err(BotConfigError::PlainHttpRemote);
        }
        Ok(Self {
            host: host.to_string(),
            plain_http,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn plain_http(&self) -> bool {
        self.plain_http
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.plain_http { "http" } else { "https" };
        write!(f, "{scheme}://{}", self.host)
    }
}

/// `host[:port]` is this machine or a private network, where plain HTTP carries the token no
/// further than the owner's own network.
fn is_local(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_loopback() || a.is_private(),
        Ok(std::net::IpAddr::V6(a)) => a.is_loopback() || (a.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// A Discord channel (a snowflake: a non-zero number).
pub fn parse_channel_id(raw: &str) -> Result<u64, BotConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|id| *id != 0)
        .ok_or(BotConfigError::ChannelId)
}

/// Everything the bot runs with. `Debug` never shows the token.
#[derive(Clone)]
pub struct BotConfig {
    token: String,
    pub channel_id: u64,
    pub api: ApiUrl,
}

impl BotConfig {
    pub fn new(token: &str, channel_id: &str, api_url: &str) -> Result<Self, BotConfigError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(BotConfigError::Token);
        }
        Ok(Self {
            token: token.to_string(),
            channel_id: parse_channel_id(channel_id)?,
            api: ApiUrl::parse(api_url)?,
        })
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotConfig")
            .field("token", &"<secret>")
            .field("channel_id", &self.channel_id)
            .field("api", &self.api.to_string())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls() {
        let u = ApiUrl::parse("https://discord.com").unwrap();
        assert_eq!((u.host(), u.plain_http()), ("discord.com", false));
        let u = ApiUrl::parse("http://127.0.0.1:4000/").unwrap();
        assert_eq!((u.host(), u.plain_http()), ("127.0.0.1:4000", true));
        assert_eq!(u.to_string(), "http://127.0.0.1:4000");
        let u = ApiUrl::parse("https://proxy.example/discord").unwrap();
        assert_eq!(u.host(), "proxy.example/discord");
        // Plain HTTP only where the token stays on this machine or the owner's network.
        for local in [
            "http://localhost:3000",
            "http://[::1]:80",
            "http://192.168.1.5/x",
        ] {
            assert!(ApiUrl::parse(local).is_ok(), "{local}");
        }
        for remote in [
            "http://discord.com",
            "http://8.8.8.8:80",
            "http://[2001:db8::1]:80",
        ] {
            assert_eq!(
                ApiUrl::parse(remote),
                Err(BotConfigError::PlainHttpRemote),
                "{remote}"
            );
        }
        for bad in [
            "",
            "discord.com",
            "ftp://discord.com",
            "https://",
            "https:///api",
            "https://a@discord.com",
            "https://discord.com/?x=1",
        ] {
            assert_eq!(ApiUrl::parse(bad), Err(BotConfigError::ApiUrl), "{bad}");
        }
    }

    #[test]
    fn channel_ids_and_tokens() {
        assert_eq!(
            parse_channel_id(" 123456789012345678 "),
            Ok(123456789012345678)
        );
        for bad in ["", "0", "-1", "abc", "1.5", "99999999999999999999"] {
            assert_eq!(
                parse_channel_id(bad),
                Err(BotConfigError::ChannelId),
                "{bad}"
            );
        }
        assert_eq!(
            BotConfig::new(" ", "1", DEFAULT_API_URL).unwrap_err(),
            BotConfigError::Token
        );
        let c = BotConfig::new("abc.def.ghi", "42", DEFAULT_API_URL).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("abc.def"), "{shown}");
        assert!(shown.contains("42"));
    }
}
