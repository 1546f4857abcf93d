//! The client side of the local API (the CLI, and the app attached to a running engine):
//! loopback HTTP with the token on Linux, the service's named pipe on Windows (see
//! [`crate::pipe`]); the same requests and the same event stream either way.

#[cfg(not(windows))]
use std::net::SocketAddr;
use std::time::Duration;

#[cfg(not(windows))]
use lanrage_settings::{secret_file, DataDir, Settings, SettingsStore};
use serde_json::Value;

/// How a player starts the engine the CLI talks to.
#[cfg(not(windows))]
pub const START_HINT: &str = "start it with `lanrage up`";
#[cfg(windows)]
pub const START_HINT: &str = "start the LANrage service (Services > LANrage > Start, or `sc.exe start LANrage` as an administrator; the installer registers it)";

/// How long one request may take: longer than the engine's own bound on a party request (it
/// waits up to 10 s for the control server, then up to 10 s for the answer), so the engine's
/// sentence ("the control server … cannot be reached") reaches the player, not a timeout here.
const TIMEOUT: Duration = Duration::from_secs(25);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[cfg(not(windows))]
    #[error("LANrage is not running here (nothing answers on {0}); {START_HINT}")]
    NotRunning(SocketAddr),
    #[cfg(not(windows))]
    #[error("no API token in {0}: is LANrage running with this data directory? ({START_HINT})")]
    NoToken(String),
    #[cfg(not(windows))]
    #[error("reading the api_listen setting: {0}")]
    Settings(String),
    #[cfg(not(windows))]
    #[error(transparent)]
    Token(#[from] secret_file::SecretFileError),
    /// The pipe is missing, or not the service's.
    #[cfg(windows)]
    #[error(transparent)]
    Pipe(#[from] crate::pipe::PipeError),
    /// The daemon answered with an error; its message is meant for people.
    #[error("{message}")]
    Api {
        code: String,
        message: String,
        /// The setting a validation error is about.
        field: Option<String>,
    },
    #[cfg(not(windows))]
    #[error("local API: {0}")]
    Http(#[from] reqwest::Error),
    #[cfg(windows)]
    #[error("local API: {0}")]
    Http(#[from] hyper::Error),
    #[cfg(windows)]
    #[error("local API: no answer within {} seconds", TIMEOUT.as_secs())]
    Timeout,
    #[error("local API: the daemon answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("local API: unreadable answer: {0}")]
    Json(#[from] serde_json::Error),
    #[error("local API event stream: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

impl ClientError {
    /// Nothing serves the API: the engine is not running (scripts tell this apart).
    pub fn is_not_running(&self) -> bool {
        #[cfg(not(windows))]
        return matches!(self, Self::NotRunning(_) | Self::NoToken(_));
        #[cfg(windows)]
        return matches!(self, Self::Pipe(crate::pipe::PipeError::Absent { .. }));
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

pub struct ApiClient {
    #[cfg(not(windows))]
    base: String,
    #[cfg(not(windows))]
    addr: SocketAddr,
    #[cfg(not(windows))]
    token: String,
    #[cfg(not(windows))]
    http: reqwest::Client,
    #[cfg(windows)]
    pipe: String,
}

/// The engine's events as they happen (`/v1/events`), each the JSON the engine sends. Ends when
/// the engine stops or the connection drops.
pub type EventStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Value, ClientError>> + Send>>;

/// Where the engine running on `data_dir` serves its API: its `api_listen` setting (the
/// default while the directory has no settings yet).
#[cfg(not(windows))]
pub fn api_addr(data_dir: &DataDir) -> Result<SocketAddr, ClientError> {
    if !data_dir.settings_db().exists() {
        return Ok(Settings::defaults().api_listen);
    }
    let (store, _) = SettingsStore::open(&data_dir.settings_db())
        .map_err(|e| ClientError::Settings(e.to_string()))?;
    Ok(store
        .typed()
        .map_err(|e| ClientError::Settings(e.to_string()))?
        .api_listen)
}

#[cfg(not(windows))]
impl ApiClient {
    /// The API of the engine running on `data_dir`, found the way the CLI finds it.
    pub fn for_data_dir(data_dir: &DataDir) -> Result<Self, ClientError> {
        Self::new(api_addr(data_dir)?, data_dir)
    }

    pub fn new(addr: SocketAddr, data_dir: &DataDir) -> Result<Self, ClientError> {
        let token = secret_file::read(&data_dir.api_token())?
            .ok_or_else(|| ClientError::NoToken(data_dir.root().display().to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
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

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
            Method::Put => self.http.put(url),
            Method::Delete => self.http.delete(url),
        }
        .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?.to_vec()))
    }

    /// The event stream's WebSocket, with the token like every request.
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{header, HeaderValue};

        let tcp = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(self.addr))
            .await
            .map_err(|_| ClientError::NotRunning(self.addr))?
            .map_err(|_| ClientError::NotRunning(self.addr))?;
        let mut req = format!("ws://{}/v1/events", self.addr).into_client_request()?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|e| tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))?;
        req.headers_mut().insert(header::AUTHORIZATION, bearer);
        let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(req, tcp))
            .await
            .map_err(|_| ClientError::NotRunning(self.addr))??;
        Ok(event_stream(ws))
    }
}

#[cfg(windows)]
impl ApiClient {
    /// The API on the named pipe (the service's is [`crate::pipe::PIPE_NAME`]). No token: the
    /// pipe's DACL decides who may connect.
    pub fn pipe(pipe: &str) -> Self {
        Self {
            pipe: pipe.to_string(),
        }
    }

    /// One connection per request: the pipe's owner is checked each time before anything is
    /// sent, and the CLI makes a handful of requests at most.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        use hyper::header::{CONTENT_TYPE, HOST};

        let stream = crate::pipe::connect(&self.pipe).await?;
        let exchange = async {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "local API connection");
                }
            });
            let method = match method {
                Method::Get => hyper::Method::GET,
                Method::Post => hyper::Method::POST,
                Method::Put => hyper::Method::PUT,
                Method::Delete => hyper::Method::DELETE,
            };
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, "lanrage");
            let bytes = match body {
                Some(b) => {
                    req = req.header(CONTENT_TYPE, "application/json");
                    Bytes::from(serde_json::to_vec(b)?)
                }
                None => Bytes::new(),
            };
            let req = req
                .body(Full::new(bytes))
                .map_err(|e| ClientError::Status {
                    status: 0,
                    body: e.to_string(),
                })?;
            let resp = sender.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, ClientError>((status, body.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The event stream's WebSocket, through the pipe (its owner checked like every request's).
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        let stream = crate::pipe::connect(&self.pipe).await?;
        let (ws, _) = tokio::time::timeout(
            TIMEOUT,
            tokio_tungstenite::client_async("ws://lanrage/v1/events", stream),
        )
        .await
        .map_err(|_| ClientError::Timeout)??;
        Ok(event_stream(ws))
    }
}

/// Text frames as JSON events (made printable like every answer); pings and binary frames are
/// not events; a close ends the stream.
fn event_stream<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> EventStream
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    Box::pin(
        ws.take_while(|msg| std::future::ready(!matches!(msg, Ok(Message::Close(_)))))
            .filter_map(|msg| {
                std::future::ready(match msg {
                    Ok(Message::Text(text)) => Some(
                        serde_json::from_str::<Value>(text.as_str())
                            .map(|mut v| {
                                printable(&mut v);
                                v
                            })
                            .map_err(ClientError::from),
                    ),
                    Ok(_) => None,
                    Err(e) => Some(Err(ClientError::from(e))),
                })
            }),
    )
}

impl ApiClient {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let (status, bytes) = self.request(method, path, body).await?;
        let mut body: Value = serde_json::from_slice(&bytes)?;
        printable(&mut body);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(ClientError::Api {
            code: body["code"].as_str().unwrap_or("error").to_string(),
            message: body["message"]
                .as_str()
                .unwrap_or("the daemon refused the request")
                .to_string(),
            field: body["field"].as_str().map(str::to_string),
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(Method::Get, path, None).await
    }

    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let (status, bytes) = self.request(Method::Get, path, None).await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !(200..300).contains(&status) {
            return Err(ClientError::Status { status, body: text });
        }
        Ok(text)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(Method::Post, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(Method::Put, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(Method::Delete, path, None).await
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
