//! The daemon's local HTTP API: JSON for commands, a WebSocket event stream, Prometheus metrics.
//!
//! On Linux it binds to loopback only and every request must carry the token from the data
//! directory (`Authorization: Bearer <token>`), so other local users and web pages cannot drive
//! the engine. On Windows it is served on the service's named pipe, whose DACL decides who may
//! connect (see [`crate::pipe`]), and takes no token.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lanrage_core::{Engine, EngineError, ErrorReport};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

pub const TOKEN_HEADER_SCHEME: &str = "Bearer ";

#[derive(Clone)]
struct AppState {
    engine: Engine,
}

/// An engine error as an HTTP response: the status says what kind, the body says what exactly.
struct ApiError(ErrorReport);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        Self(ErrorReport::from(&e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code.as_str() {
            "invalid_setting" | "invalid_request" | "invalid_code" | "invalid" => {
                StatusCode::BAD_REQUEST
            }
            "unknown_setting" | "config_not_found" | "unknown_member" => StatusCode::NOT_FOUND,
            "not_available" => StatusCode::NOT_IMPLEMENTED,
            "shutting_down" => StatusCode::SERVICE_UNAVAILABLE,
            "server_unreachable" => StatusCode::BAD_GATEWAY,
            "unauthorized" => StatusCode::UNAUTHORIZED,
            "internal" | "tunnel" | "no_permission" => StatusCode::INTERNAL_SERVER_ERROR,
            "webhook" => StatusCode::BAD_GATEWAY,
            // What the control server refused (wrong code, full party, not host, ...).
            _ => StatusCode::CONFLICT,
        };
        (status, Json(self.0)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The API; with `token`, every request must present it.
pub fn router(engine: Engine, token: Option<String>) -> Router {
    let state = AppState { engine };
    let routes = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/settings", get(list_settings))
        .route("/v1/settings/reset", post(reset_settings))
        .route("/v1/settings/export", get(export_settings))
        .route("/v1/settings/import", post(import_settings))
        .route(
            "/v1/settings/{key}",
            get(get_setting).put(set_setting).delete(reset_setting),
        )
        .route("/v1/configs", get(list_configs).post(save_config))
        .route("/v1/configs/{name}/activate", post(activate_config))
        .route("/v1/configs/{name}", axum::routing::delete(delete_config))
        .route("/v1/party", post(create_party).delete(leave_party))
        .route("/v1/party/join", put(join_party).post(join_party))
        .route("/v1/party/invite", post(new_invite).delete(revoke_invite))
        .route("/v1/party/kick", post(kick))
        .route("/v1/party/close", post(close_party))
        .route("/v1/discord/test", post(test_webhook))
        .route("/v1/servers", get(list_servers).post(announce_server))
        .route("/v1/session-log", get(session_log))
        .route("/v1/games", get(games))
        .route("/v1/servers/favorite", post(set_favorite))
        .route("/v1/servers/{id}", axum::routing::delete(remove_server))
        .route("/v1/metrics/history", get(metrics_history))
        .route("/v1/events", get(events))
        .route("/metrics", get(metrics));
    let routes = match token {
        Some(t) => routes.layer(middleware::from_fn_with_state(
            Arc::<str>::from(t),
            require_token,
        )),
        None => routes,
    };
    routes
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

async fn require_token(
    State(token): State<Arc<str>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(TOKEN_HEADER_SCHEME))
        .unwrap_or("");
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "local API request without a valid token refused");
    ApiError(ErrorReport {
        code: "unauthorized".into(),
        message: "missing or wrong API token: the token is in the data directory's api.token file"
            .into(),
        field: None,
    })
    .into_response()
}

async fn status(State(st): State<AppState>) -> Json<lanrage_core::Status> {
    Json(st.engine.status())
}

async fn list_settings(State(st): State<AppState>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.list_settings()?)))
}

async fn get_setting(State(st): State<AppState>, Path(key): Path<String>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.get_setting(&key)?)))
}

/// `{"value": <json>}` sets a typed value (the app), `{"text": "..."}` parses what a person
/// typed (the CLI), so parsing rules live in the engine only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    value: Option<Value>,
    text: Option<String>,
}

async fn set_setting(
    State(st): State<AppState>,
    Path(key): Path<String>,
    Json(body): Json<SetBody>,
) -> ApiResult<Value> {
    let view = match (body.value, body.text) {
        (Some(v), None) => st.engine.set_setting(&key, &v)?,
        (None, Some(t)) => st.engine.set_setting_text(&key, &t)?,
        _ => {
            return Err(ApiError(ErrorReport {
                code: "invalid_request".into(),
                message: "send either `value` or `text`".into(),
                field: None,
            }))
        }
    };
    Ok(Json(json!(view)))
}

async fn reset_setting(State(st): State<AppState>, Path(key): Path<String>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.reset_setting(&key)?)))
}

async fn reset_settings(State(st): State<AppState>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.reset_settings()?)))
}

async fn export_settings(State(st): State<AppState>) -> ApiResult<Value> {
    Ok(Json(st.engine.export_settings()?))
}

async fn import_settings(State(st): State<AppState>, Json(doc): Json<Value>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.import_settings(&doc)?)))
}

#[derive(Deserialize)]
struct NameBody {
    name: String,
}

async fn list_configs(State(st): State<AppState>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.list_configs()?)))
}

async fn save_config(State(st): State<AppState>, Json(b): Json<NameBody>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.save_config(&b.name)?)))
}

async fn activate_config(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.activate_config(&name)?)))
}

async fn delete_config(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.delete_config(&name)?)))
}

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    max_members: Option<u16>,
    invite_ttl_secs: Option<u64>,
}

async fn create_party(State(st): State<AppState>, Json(b): Json<CreateBody>) -> ApiResult<Value> {
    let p = st
        .engine
        .create_party(&b.name, b.max_members, b.invite_ttl_secs)
        .await?;
    Ok(Json(json!(p)))
}

#[derive(Deserialize)]
struct InviteBody {
    ttl_secs: Option<u64>,
}

async fn new_invite(State(st): State<AppState>, Json(b): Json<InviteBody>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.new_invite(b.ttl_secs).await?)))
}

async fn revoke_invite(State(st): State<AppState>) -> ApiResult<Value> {
    st.engine.revoke_invite().await?;
    Ok(Json(json!({"revoked": true})))
}

#[derive(Deserialize)]
struct KickBody {
    member: String,
}

async fn kick(State(st): State<AppState>, Json(b): Json<KickBody>) -> ApiResult<Value> {
    st.engine.kick(&b.member).await?;
    Ok(Json(json!({"kicked": b.member})))
}

#[derive(serde::Deserialize)]
struct LogQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn session_log(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> ApiResult<Value> {
    let limit = q.limit.unwrap_or(100).min(5_000);
    Ok(Json(json!(st.engine.session_log(limit)?)))
}

async fn games(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> ApiResult<Value> {
    let limit = q.limit.unwrap_or(50).min(2_000);
    Ok(Json(json!(st.engine.games(limit)?)))
}

async fn list_servers(
    State(st): State<AppState>,
    axum::extract::Query(f): axum::extract::Query<lanrage_core::browser::ServerFilter>,
) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.list_servers(&f).await?)))
}

async fn announce_server(
    State(st): State<AppState>,
    Json(server): Json<lanrage_proto::message::GameServer>,
) -> ApiResult<Value> {
    st.engine.announce_server(server).await?;
    Ok(Json(json!({"announced": true})))
}

async fn remove_server(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Value> {
    st.engine.remove_server(&id).await?;
    Ok(Json(json!({"removed": id})))
}

#[derive(Deserialize)]
struct FavoriteBody {
    key: String,
    on: bool,
}

async fn set_favorite(State(st): State<AppState>, Json(b): Json<FavoriteBody>) -> ApiResult<Value> {
    st.engine.set_favorite(&b.key, b.on)?;
    Ok(Json(json!({"favorite": b.on})))
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    window: Option<String>,
}

/// The dashboard's charts: `minute` (1 s points, the default) or `hour` (10 s points).
async fn metrics_history(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<HistoryQuery>,
) -> Json<lanrage_metrics::HistoryView> {
    let window = lanrage_metrics::Window::named(q.window.as_deref());
    Json(st.engine.metrics_history(window))
}

async fn test_webhook(State(st): State<AppState>) -> ApiResult<Value> {
    st.engine.test_webhook().await?;
    Ok(Json(json!({"sent": true})))
}

async fn close_party(State(st): State<AppState>) -> ApiResult<Value> {
    st.engine.close_party().await?;
    Ok(Json(json!({"closed": true})))
}

#[derive(Deserialize)]
struct JoinBody {
    code: String,
}

async fn join_party(State(st): State<AppState>, Json(b): Json<JoinBody>) -> ApiResult<Value> {
    Ok(Json(json!(st.engine.join_party(&b.code).await?)))
}

async fn leave_party(State(st): State<AppState>) -> ApiResult<Value> {
    st.engine.leave_party().await?;
    Ok(Json(json!({"left": true})))
}

async fn events(State(st): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| stream_events(st.engine, socket))
}

async fn stream_events(engine: Engine, mut socket: WebSocket) {
    let mut rx = engine.subscribe();
    let cancel = engine.cancellation();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "event stream subscriber lagged");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

async fn metrics(State(st): State<AppState>) -> Response {
    let status = st.engine.status();
    let mut body = format!(
        "# HELP lanrage_info LANrage build and device information.\n\
         # TYPE lanrage_info gauge\n\
         lanrage_info{{version=\"{}\"}} 1\n\
         # HELP lanrage_up Whether the engine is running (1) or stopping (0).\n\
         # TYPE lanrage_up gauge\n\
         lanrage_up {}\n\
         # HELP lanrage_party_members Members of the current party, this device included.\n\
         # TYPE lanrage_party_members gauge\n\
         lanrage_party_members {}\n\
         # HELP lanrage_notices Notices waiting for the user.\n\
         # TYPE lanrage_notices gauge\n\
         lanrage_notices {}\n",
        status.version,
        u8::from(status.state == lanrage_core::engine::EngineState::Running),
        status
            .party
            .as_ref()
            .map(|p| p.peers.len() + 1)
            .unwrap_or(0),
        status.notices.len(),
    );
    body.push_str(&lanrage_metrics::prometheus::render(
        &st.engine.metrics_snapshot(),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
