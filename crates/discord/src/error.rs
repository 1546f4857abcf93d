use crate::webhook_url::WebhookUrlError;

/// Why a webhook message was not delivered. Messages are sentences for the user and never
/// contain the webhook URL.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscordError {
    #[error(transparent)]
    InvalidUrl(#[from] WebhookUrlError),
    /// Discord answered a 4xx other than 429; retrying would not help.
    #[error("{}", rejected_message(*status, message))]
    Rejected { status: u16, message: String },
    /// Still rate limited after the allowed attempts, or asked to wait longer than allowed.
    #[error("Discord is rate limiting this webhook; try again in {retry_after_secs:.1} s.")]
    RateLimited { retry_after_secs: f64 },
    /// 5xx on every attempt.
    #[error("Discord kept failing (HTTP {status} after {attempts} attempts); try again later.")]
    ServerError { status: u16, attempts: u32 },
    /// The request did not get an answer (DNS, connect, TLS, timeout) on every attempt.
    #[error("Could not reach Discord: {detail}.")]
    Network { detail: String },
    #[error("Too many notifications are waiting; this one was dropped.")]
    QueueFull,
    #[error("The Discord notifier has stopped.")]
    Closed,
    #[error("The Discord notifier needs a running async runtime.")]
    NoRuntime,
    #[error("Could not set up the HTTP client: {detail}.")]
    Client { detail: String },
}

fn rejected_message(status: u16, message: &str) -> String {
    let hint = match status {
        401 | 403 | 404 => {
            " The webhook was deleted or the URL is wrong: copy it again from the channel's \
             Integrations > Webhooks settings."
        }
        _ => "",
    };
    if message.is_empty() {
        format!("Discord refused the message (HTTP {status}).{hint}")
    } else {
        format!("Discord refused the message (HTTP {status}: {message}).{hint}")
    }
}

impl DiscordError {
    /// A stable code for programs (the engine's `ErrorReport.code`).
    pub fn code(&self) -> &'static str {
        match self {
            DiscordError::InvalidUrl(_) => "discord_invalid_webhook_url",
            DiscordError::Rejected { .. } => "discord_rejected",
            DiscordError::RateLimited { .. } => "discord_rate_limited",
            DiscordError::ServerError { .. } => "discord_server_error",
            DiscordError::Network { .. } => "discord_unreachable",
            DiscordError::QueueFull => "discord_queue_full",
            DiscordError::Closed => "discord_notifier_stopped",
            DiscordError::NoRuntime => "discord_no_runtime",
            DiscordError::Client { .. } => "discord_client",
        }
    }

    /// Whether the webhook itself is gone or unauthorized (401/403/404): further messages are
    /// pointless until the URL changes.
    pub fn webhook_is_dead(&self) -> bool {
        matches!(
            self,
            DiscordError::Rejected {
                status: 401 | 403 | 404,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sentences_with_hints() {
        let e = DiscordError::Rejected {
            status: 404,
            message: "Unknown Webhook".into(),
        };
        assert!(e
            .to_string()
            .starts_with("Discord refused the message (HTTP 404: Unknown Webhook)."));
        assert!(e.to_string().contains("copy it again"));
        assert!(e.webhook_is_dead());
        assert_eq!(e.code(), "discord_rejected");
        let e = DiscordError::Rejected {
            status: 400,
            message: String::new(),
        };
        assert_eq!(e.to_string(), "Discord refused the message (HTTP 400).");
        assert!(!e.webhook_is_dead());
        let e: DiscordError = WebhookUrlError::NotHttps.into();
        assert_eq!(e.to_string(), "The webhook URL must start with https://.");
    }
}
