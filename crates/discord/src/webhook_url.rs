//! A validated Discord webhook URL whose token is never displayed.

use reqwest::Url;
use std::fmt;

/// Why a webhook URL was refused. Messages are sentences for the settings page and never repeat
/// the URL (it holds a secret token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("The webhook URL is empty.")]
    Empty,
    #[error("The webhook URL is not a valid URL.")]
    NotAUrl,
    #[error("The webhook URL must start with https://.")]
    NotHttps,
    #[error("The webhook URL must point at discord.com, not {host}.")]
    NotDiscord { host: String },
    #[error("The webhook URL must not contain a user name, password or port.")]
    Unexpected,
    #[error(
        "The webhook URL must look like https://discord.com/api/webhooks/<id>/<token> \
         (copy it from the channel's Integrations > Webhooks settings)."
    )]
    BadPath,
}

const DISCORD_HOSTS: &[&str] = &[
    "discord.com",
    "discordapp.com",
    "canary.discord.com",
    "ptb.discord.com",
    "canary.discordapp.com",
    "ptb.discordapp.com",
];

/// A Discord webhook URL (`https://discord.com/api/webhooks/<id>/<token>`).
///
/// `Display` and `Debug` show it redacted (`https://discord.com/api/webhooks/1234…/****`); the
/// full URL is only available through [`WebhookUrl::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: Url,
    redacted: String,
}

impl WebhookUrl {
    /// Validates a webhook URL as users paste it: https, a Discord host, the
    /// `/api[/v<n>]/webhooks/<id>/<token>` path, no query other than `thread_id=<digits>`.
    pub fn parse(input: &str) -> Result<Self, WebhookUrlError> {
        Self::parse_inner(input, false)
    }

    /// Like [`parse`](Self::parse) but accepts any `http` or `https` host and any path prefix
    /// before `webhooks/<id>/<token>`: for tests against a local server (and a local relay).
    /// Settings from users must go through [`parse`](Self::parse).
    pub fn parse_allow_any_host(input: &str) -> Result<Self, WebhookUrlError> {
        Self::parse_inner(input, true)
    }

    fn parse_inner(input: &str, any_host: bool) -> Result<Self, WebhookUrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(WebhookUrlError::Empty);
        }
        let url = Url::parse(input).map_err(|_| WebhookUrlError::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if any_host => {}
            _ => return Err(WebhookUrlError::NotHttps),
        }
        let host = url.host_str().ok_or(WebhookUrlError::NotAUrl)?.to_string();
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookUrlError::Unexpected);
        }
        if !any_host {
            if !DISCORD_HOSTS.contains(&host.to_ascii_lowercase().as_str()) {
                return Err(WebhookUrlError::NotDiscord { host });
            }
            if url.port().is_some() {
                return Err(WebhookUrlError::Unexpected);
            }
        }
        if url.fragment().is_some() {
            return Err(WebhookUrlError::BadPath);
        }
        for (k, v) in url.query_pairs() {
            if k != "thread_id" || v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WebhookUrlError::BadPath);
            }
        }
        let mut segments: Vec<&str> = url
            .path_segments()
            .ok_or(WebhookUrlError::BadPath)?
            .collect();
        if segments.last() == Some(&"") {
            segments.pop();
        }
        let n = segments.len();
        if n < 3 {
            return Err(WebhookUrlError::BadPath);
        }
        let (prefix, tail) = segments.split_at(n - 3);
        let (webhooks, id, token) = (tail[0], tail[1], tail[2]);
        let id_ok = (1..=25).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit());
        let token_ok = (1..=200).contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if webhooks != "webhooks" || !id_ok || !token_ok {
            return Err(WebhookUrlError::BadPath);
        }
        if !any_host {
            let version_ok = |s: &str| {
                s.strip_prefix('v')
                    .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            };
            let prefix_ok = match prefix {
                ["api"] => true,
                ["api", v] => version_ok(v),
                _ => false,
            };
            if !prefix_ok {
                return Err(WebhookUrlError::BadPath);
            }
        }
        let origin = match url.port() {
            Some(port) => format!("{}://{}:{}", url.scheme(), host, port),
            None => format!("{}://{}", url.scheme(), host),
        };
        let mut path = String::new();
        for s in prefix {
            path.push('/');
            path.push_str(s);
        }
        let shown: String = id.chars().take(4).collect();
        let redacted = format!("{origin}{path}/webhooks/{shown}…/****");
        Ok(Self { url, redacted })
    }

    /// The full URL, token included. Only for making the request: never log or display it.
    pub fn expose_secret(&self) -> &str {
        self.url.as_str()
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The redacted form (the same as `Display`).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl std::str::FromStr for WebhookUrl {
    type Err = WebhookUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "aBcD-efGh_1234567890ijklMNOPqrstUVwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV";

    fn real() -> String {
        format!("https://discord.com/api/webhooks/1234567890123456789/{TOKEN}")
    }

    #[test]
    fn accepts_discord_webhooks() {
        for url in [
            real(),
            format!("https://discordapp.com/api/webhooks/1234567890123456789/{TOKEN}"),
            format!("https://canary.discord.com/api/webhooks/1234567890123456789/{TOKEN}"),
            format!("https://discord.com/api/v10/webhooks/1234567890123456789/{TOKEN}"),
            format!("https://discord.com/api/webhooks/1234567890123456789/{TOKEN}/"),
            format!("https://discord.com/api/webhooks/1234567890123456789/{TOKEN}?thread_id=42"),
            format!("  https://Discord.com/api/webhooks/1234567890123456789/{TOKEN}\n"),
        ] {
            assert!(WebhookUrl::parse(&url).is_ok(), "{url}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        let cases = [
            (String::new(), WebhookUrlError::Empty),
            ("not a url".to_string(), WebhookUrlError::NotAUrl),
            (real().replace("https", "http"), WebhookUrlError::NotHttps),
            (
                real().replace("discord.com", "evil.example"),
                WebhookUrlError::NotDiscord {
                    host: "evil.example".into(),
                },
            ),
            (
                real().replace("discord.com", "discord.com.evil.example"),
                WebhookUrlError::NotDiscord {
                    host: "discord.com.evil.example".into(),
                },
            ),
            (
                real().replace("https://", "https://user:pw@"),
                WebhookUrlError::Unexpected,
            ),
            (
                real().replace("discord.com", "discord.com:8443"),
                WebhookUrlError::Unexpected,
            ),
            (
                "https://discord.com/api/webhooks/123".to_string(),
                WebhookUrlError::BadPath,
            ),
            (
                format!("https://discord.com/api/webhooks/abc/{TOKEN}"),
                WebhookUrlError::BadPath,
            ),
            (
                "https://discord.com/api/webhooks/123/tok%20en".to_string(),
                WebhookUrlError::BadPath,
            ),
            (
                format!("https://discord.com/channels/webhooks/123/{TOKEN}"),
                WebhookUrlError::BadPath,
            ),
            (format!("{}?wait=true", real()), WebhookUrlError::BadPath),
            (format!("{}#x", real()), WebhookUrlError::BadPath),
            (
                format!("ftp://discord.com/api/webhooks/1/{TOKEN}"),
                WebhookUrlError::NotHttps,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(WebhookUrl::parse(&input), Err(want), "{input}");
        }
    }

    #[test]
    fn errors_never_repeat_the_token() {
        for input in [
            real().replace("https", "http"),
            real().replace("discord.com", "evil.example"),
            format!("{}#x", real()),
        ] {
            let e = WebhookUrl::parse(&input).unwrap_err();
            assert!(!e.to_string().contains(TOKEN));
            assert!(!format!("{e:?}").contains(TOKEN));
        }
    }

    #[test]
    fn display_and_debug_redact_the_token() {
        let u = WebhookUrl::parse(&real()).unwrap();
        assert_eq!(u.to_string(), "https://discord.com/api/webhooks/1234…/****");
        assert_eq!(
            format!("{u:?}"),
            "WebhookUrl(https://discord.com/api/webhooks/1234…/****)"
        );
        assert!(!format!("{u:#?}").contains(TOKEN));
        assert_eq!(u.expose_secret(), real());
        let parsed: WebhookUrl = real().parse().unwrap();
        assert_eq!(parsed, u);
    }

    #[test]
    fn any_host_is_only_for_the_explicit_constructor() {
        let local = "http://127.0.0.1:8080/api/webhooks/42/secret-token";
        assert_eq!(WebhookUrl::parse(local), Err(WebhookUrlError::NotHttps));
        let u = WebhookUrl::parse_allow_any_host(local).unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8080/api/webhooks/42…/****");
        assert!(!format!("{u:?}").contains("secret-token"));
        // The path shape still matters (the token has to be found to be hidden).
        assert_eq!(
            WebhookUrl::parse_allow_any_host("http://127.0.0.1:8080/hook"),
            Err(WebhookUrlError::BadPath)
        );
        assert_eq!(
            WebhookUrl::parse_allow_any_host("file:///api/webhooks/1/x"),
            Err(WebhookUrlError::NotHttps)
        );
    }
}
