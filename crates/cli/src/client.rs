//! The CLI's side of the local API.

use std::net::SocketAddr;
use std::time::Duration;

use lanrage_settings::{secret_file, DataDir};
use serde_json::Value;

/// How a player starts the engine the CLI talks to.
#[cfg(not(windows))]
pub const START_HINT: &str = "start it with `lanrage up`";
#[cfg(windows)]
pub const START_HINT: &str = "start the LANrage service (Services > LANrage > Start, or `sc.exe start LANrage` as an administrator; the installer registers it)";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("LANrage is not running here (nothing answers on {0}); {START_HINT}")]
    NotRunning(SocketAddr),
    #[error("no API token in {0}: is LANrage running with this data directory? ({START_HINT})")]
    NoToken(String),
    #[error(transparent)]
    Token(#[from] secret_file::SecretFileError),
    /// The daemon answered with an error; its message is meant for people.
    #[error("{message}")]
    Api { code: String, message: String },
    #[error("local API: {0}")]
    Http(#[from] reqwest::Error),
}

pub struct ApiClient {
    base: String,
    addr: SocketAddr,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(addr: SocketAddr, data_dir: &DataDir) -> Result<Self, ClientError> {
        let token = secret_file::read(&data_dir.api_token())?
            .ok_or_else(|| ClientError::NoToken(data_dir.root().display().to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()?;
        Ok(Self {
            base: format!("http://{addr}"),
            addr,
            token: token.trim().to_string(),
            http,
        })
    }

    /// Nothing listening means the daemon is not running; anything else is a real failure.
    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() {
            ClientError::NotRunning(self.addr)
        } else {
            ClientError::Http(e)
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let ok = resp.status().is_success();
        let mut body: Value = resp.json().await?;
        printable(&mut body);
        if ok {
            return Ok(body);
        }
        Err(ClientError::Api {
            code: body["code"].as_str().unwrap_or("error").to_string(),
            message: body["message"]
                .as_str()
                .unwrap_or("the daemon refused the request")
                .to_string(),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        Ok(resp.error_for_status()?.text().await?)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }
}

/// Removes control characters from every string in `v`. Much of what the daemon reports comes
/// from the control server (party and member names, reasons), and a hostile server could put
/// terminal escapes or line breaks in them to rewrite what `lanrage status` shows.
pub fn printable(v: &mut Value) {
    match v {
        Value::String(s) if s.chars().any(char::is_control) => {
            s.retain(|c| !c.is_control());
        }
        Value::Array(items) => items.iter_mut().for_each(printable),
        Value::Object(map) => map.values_mut().for_each(printable),
        _ => {}
    }
}

/// Percent-encodes one path segment (configuration names may contain spaces).
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_breaks_from_a_server_never_reach_the_terminal() {
        let mut v = serde_json::json!({
            "party": {
                "name": "Friday\u{1b}[2J\u{1b}[31mYOU ARE HACKED",
                "peers": [{"name": "Bo\nplayer2  10.66.0.9  direct", "rtt_ms": 3.5}]
            },
            "note": "\u{9b}31mC1 too\u{7f}"
        });
        printable(&mut v);
        assert_eq!(v["party"]["name"], "Friday[2J[31mYOU ARE HACKED");
        assert_eq!(
            v["party"]["peers"][0]["name"],
            "Boplayer2  10.66.0.9  direct"
        );
        assert_eq!(v["party"]["peers"][0]["rtt_ms"], 3.5);
        assert_eq!(v["note"], "31mC1 too");
    }
}
