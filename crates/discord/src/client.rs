//! Sending one webhook message with Discord's retry rules.
//!
//! - 2xx: delivered.
//! - 429: wait as long as Discord says (the `Retry-After` header, seconds, may be fractional,
//!   and the JSON body's `retry_after`, seconds; the longer of the two), then retry. A wait longer
//!   than [`RetryPolicy::max_retry_after`] is not waited for: the message is dropped.
//! - 5xx and network errors (connect, TLS, timeout): exponential backoff
//!   ([`RetryPolicy::initial_backoff`], doubling, at most [`RetryPolicy::max_backoff`]).
//! - any other status (4xx, or 3xx: redirects are not followed so the token never travels
//!   elsewhere): not retried.
//!
//! At most [`RetryPolicy::max_attempts`] requests per message, whatever the reasons.

use crate::error::DiscordError;
use crate::message::WebhookMessage;
use crate::webhook_url::WebhookUrl;
use reqwest::StatusCode;
use std::time::Duration;

/// How a message is retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Requests per message, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt after a 5xx or network error; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest 429 wait honoured; a longer one drops the message.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waits of 0.5 s, 1 s, 2 s, 4 s; 429 waits up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Posts messages to one webhook. Cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    url: WebhookUrl,
    retry: RetryPolicy,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient")
            .field("url", &self.url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A reqwest error as a sentence, without the URL (reqwest puts the full URL, token included,
/// into its errors' `Display`).
fn describe(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if timeout && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

/// Seconds from a `Retry-After` header or a body's `retry_after`; `None` unless finite, >= 0.
fn seconds(v: f64) -> Option<Duration> {
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(1e9)))
}

fn retry_after(headers: &reqwest::header::HeaderMap, body: &str) -> Option<Duration> {
    let header = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(seconds);
    let body = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64))
        .and_then(seconds);
    match (header, body) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Discord's error `message` from a JSON body, else the start of the body, single line.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str().map(str::to_string))
        });
    let text = from_json.unwrap_or_else(|| body.to_string());
    text.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

enum Outcome {
    Done,
    Retry { wait: Duration, error: DiscordError },
    Fail(DiscordError),
}

impl WebhookClient {
    /// A client with the given per-request timeout.
    pub fn new(
        url: WebhookUrl,
        retry: RetryPolicy,
        request_timeout: Duration,
    ) -> Result<Self, DiscordError> {
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("LANrage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DiscordError::Client {
                detail: describe(e),
            })?;
        Ok(Self { http, url, retry })
    }

    pub fn url(&self) -> &WebhookUrl {
        &self.url
    }

    /// Sends one message, retrying as the module documentation says.
    pub async fn send(&self, message: &WebhookMessage) -> Result<(), DiscordError> {
        self.send_attempts(message, self.retry.max_attempts).await
    }

    /// Sends the settings page's test message (at most 3 attempts, so the answer comes
    /// quickly) and says clearly what went wrong.
    pub async fn send_test_message(&self) -> Result<(), DiscordError> {
        let attempts = self.retry.max_attempts.clamp(1, 3);
        self.send_attempts(&WebhookMessage::test_message(None), attempts)
            .await
    }

    async fn send_attempts(
        &self,
        message: &WebhookMessage,
        max_attempts: u32,
    ) -> Result<(), DiscordError> {
        let max_attempts = max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.attempt(message, attempt).await {
                Outcome::Done => {
                    tracing::debug!(webhook = %self.url, attempt, "discord webhook delivered");
                    return Ok(());
                }
                Outcome::Fail(e) => return Err(e),
                Outcome::Retry { wait, error } => {
                    if attempt >= max_attempts {
                        return Err(error);
                    }
                    tracing::debug!(
                        webhook = %self.url,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "discord webhook attempt failed, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn attempt(&self, message: &WebhookMessage, attempt: u32) -> Outcome {
        let backoff = self.retry.backoff(attempt);
        let response = match self
            .http
            .post(self.url.url().clone())
            .json(message)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    wait: backoff,
                    error: DiscordError::Network {
                        detail: describe(e),
                    },
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Done;
        }
        let headers = response.headers().clone();
        // Error bodies from Discord are small JSON objects; a failure to read one is not fatal.
        let body = response.text().await.unwrap_or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after(&headers, &body).unwrap_or(backoff);
            let error = DiscordError::RateLimited {
                retry_after_secs: wait.as_secs_f64(),
            };
            if wait > self.retry.max_retry_after {
                return Outcome::Fail(error);
            }
            return Outcome::Retry { wait, error };
        }
        if status.is_server_error() {
            return Outcome::Retry {
                wait: backoff,
                error: DiscordError::ServerError {
                    status: status.as_u16(),
                    attempts: attempt,
                },
            };
        }
        Outcome::Fail(DiscordError::Rejected {
            status: status.as_u16(),
            message: error_message(&body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::default();
        let waits: Vec<u128> = (1..=6).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, vec![500, 1000, 2000, 4000, 8000, 8000]);
        assert_eq!(p.backoff(100), p.max_backoff);
    }

    #[test]
    fn retry_after_from_header_and_body() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, ""), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.3"));
        assert_eq!(retry_after(&h, ""), Some(Duration::from_millis(300)));
        assert_eq!(
            retry_after(
                &h,
                r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#
            ),
            Some(Duration::from_millis(1500))
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(
            retry_after(&h, "{\"retry_after\": 0.25}"),
            Some(Duration::from_millis(250))
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, "not json"), None);
    }

    #[test]
    fn error_messages_come_from_discord_json() {
        assert_eq!(
            error_message(r#"{"message": "Unknown Webhook", "code": 10015}"#),
            "Unknown Webhook"
        );
        assert_eq!(error_message("plain\nerror"), "plainerror");
        assert_eq!(error_message(&"x".repeat(1000)).len(), 200);
    }
}
