//! Where the app's engine lives. On Linux and macOS the app runs the engine itself, unless
//! `lanrage up` already runs one on the same data directory: then the window attaches to that
//! engine. On Windows the engine always runs in the LANrage service (it needs an administrator
//! for the adapter) and the app, running as the player, is its window over the service's named
//! pipe. Either way the UI gets the same JSON: the local API sends what the engine's types
//! serialize to, and an in-process result is serialized the same way here.

use std::sync::Arc;

#[cfg(not(windows))]
use lanrage_core::settings::LockError;
use lanrage_core::settings::{DataDir, DataDirLock};
#[cfg(not(windows))]
use lanrage_core::EngineOptions;
use lanrage_core::{Engine, EngineError, ErrorReport};
use lanrage_local_api::client::{segment, ApiClient, ClientError};
use serde::Serialize;
use serde_json::{json, Value};

// On Windows only `Attached` is made: the engine is always the service's.
#[cfg_attr(windows, allow(dead_code))]
#[derive(Clone)]
pub enum Backend {
    /// The engine runs in this process.
    InProcess(Engine),
    /// The engine of `lanrage up` or of the Windows service; the app is its window.
    Attached(Arc<ApiClient>),
    /// No engine: why, shown in the window instead of one that silently does nothing.
    Failed(ErrorReport),
}

pub type Reply = Result<Value, ErrorReport>;

fn engine_error(e: EngineError) -> ErrorReport {
    ErrorReport::from(&e)
}

fn to_json<T: Serialize>(r: Result<T, EngineError>) -> Reply {
    let v = r.map_err(engine_error)?;
    serde_json::to_value(v).map_err(|e| ErrorReport {
        code: "internal".into(),
        message: format!("the engine's answer could not be encoded: {e}"),
        field: None,
    })
}

fn api_error(e: ClientError) -> ErrorReport {
    match e {
        ClientError::Api {
            code,
            message,
            field,
        } => ErrorReport {
            code,
            message,
            field,
        },
        other => ErrorReport {
            code: "engine_unreachable".into(),
            message: other.to_string(),
            field: None,
        },
    }
}

/// The operations the window needs, one per Tauri command that reaches the engine.
pub enum Op<'a> {
    Status,
    ListSettings,
    SetSetting {
        key: &'a str,
        value: &'a Value,
    },
    ResetSetting {
        key: &'a str,
    },
    ResetSettings,
    ListConfigs,
    SaveConfig {
        name: &'a str,
    },
    ActivateConfig {
        name: &'a str,
    },
    DeleteConfig {
        name: &'a str,
    },
    CreateParty {
        name: &'a str,
    },
    JoinParty {
        code: &'a str,
    },
    LeaveParty,
    NewInvite {
        ttl_secs: Option<u64>,
    },
    RevokeInvite,
    Kick {
        member: &'a str,
    },
    CloseParty,
    MetricsHistory {
        window: lanrage_metrics::Window,
    },
    Games {
        limit: usize,
    },
    TestWebhook,
    ListServers {
        filter: &'a lanrage_core::browser::ServerFilter,
    },
    AnnounceServer {
        server: lanrage_core::browser::GameServer,
    },
    RemoveServer {
        id: &'a str,
    },
    SetFavorite {
        key: &'a str,
        on: bool,
    },
}

/// An operation that changes something answers `null` to the UI, as the in-process commands
/// always did; the API's small acknowledgements (`{"left": true}`) are for scripts.
fn acknowledged(r: Result<(), EngineError>) -> Reply {
    r.map(|()| Value::Null).map_err(engine_error)
}

impl Backend {
    pub async fn call(&self, op: Op<'_>) -> Reply {
        match self {
            Backend::InProcess(engine) => in_process(engine, op).await,
            Backend::Attached(client) => attached(client, op).await,
            Backend::Failed(report) => Err(report.clone()),
        }
    }

    /// Boolean settings' values, in the order asked; `None` when the engine cannot say (an
    /// attached engine that is not up yet), which is not the same as off.
    pub async fn setting_bools<const N: usize>(&self, keys: [&str; N]) -> [Option<bool>; N] {
        let settings = match self.call(Op::ListSettings).await {
            Ok(Value::Array(settings)) => settings,
            _ => Vec::new(),
        };
        keys.map(|key| {
            settings
                .iter()
                .find(|s| s["key"] == key)
                .and_then(|s| s["value"].as_bool())
        })
    }
}

async fn in_process(engine: &Engine, op: Op<'_>) -> Reply {
    match op {
        Op::Status => to_json(Ok(engine.status())),
        Op::ListSettings => to_json(engine.list_settings()),
        Op::SetSetting { key, value } => to_json(engine.set_setting(key, value)),
        Op::ResetSetting { key } => to_json(engine.reset_setting(key)),
        Op::ResetSettings => to_json(engine.reset_settings()),
        Op::ListConfigs => to_json(engine.list_configs()),
        Op::SaveConfig { name } => to_json(engine.save_config(name)),
        Op::ActivateConfig { name } => to_json(engine.activate_config(name)),
        Op::DeleteConfig { name } => to_json(engine.delete_config(name)),
        Op::CreateParty { name } => to_json(engine.create_party(name, None, None).await),
        Op::JoinParty { code } => to_json(engine.join_party(code).await),
        Op::LeaveParty => acknowledged(engine.leave_party().await),
        Op::NewInvite { ttl_secs } => to_json(engine.new_invite(ttl_secs).await),
        Op::RevokeInvite => acknowledged(engine.revoke_invite().await),
        Op::Kick { member } => acknowledged(engine.kick(member).await),
        Op::CloseParty => acknowledged(engine.close_party().await),
        Op::MetricsHistory { window } => to_json(Ok(engine.metrics_history(window))),
        Op::Games { limit } => to_json(engine.games(limit)),
        Op::TestWebhook => acknowledged(engine.test_webhook().await),
        Op::ListServers { filter } => to_json(engine.list_servers(filter).await),
        Op::AnnounceServer { server } => acknowledged(engine.announce_server(server).await),
        Op::RemoveServer { id } => acknowledged(engine.remove_server(id).await),
        Op::SetFavorite { key, on } => acknowledged(engine.set_favorite(key, on)),
    }
}

/// The same operations as requests to the engine's local API (the routes in
/// `lanrage_local_api`).
async fn attached(client: &ApiClient, op: Op<'_>) -> Reply {
    let answer = match op {
        Op::Status => client.get("/v1/status").await,
        Op::ListSettings => client.get("/v1/settings").await,
        Op::SetSetting { key, value } => {
            let path = format!("/v1/settings/{}", segment(key));
            client.put(&path, &json!({ "value": value })).await
        }
        Op::ResetSetting { key } => {
            client
                .delete(&format!("/v1/settings/{}", segment(key)))
                .await
        }
        Op::ResetSettings => client.post("/v1/settings/reset", &json!({})).await,
        Op::ListConfigs => client.get("/v1/configs").await,
        Op::SaveConfig { name } => client.post("/v1/configs", &json!({ "name": name })).await,
        Op::ActivateConfig { name } => {
            let path = format!("/v1/configs/{}/activate", segment(name));
            client.post(&path, &json!({})).await
        }
        Op::DeleteConfig { name } => {
            client
                .delete(&format!("/v1/configs/{}", segment(name)))
                .await
        }
        Op::CreateParty { name } => client.post("/v1/party", &json!({ "name": name })).await,
        Op::JoinParty { code } => client.put("/v1/party/join", &json!({ "code": code })).await,
        Op::LeaveParty => return ack(client.delete("/v1/party").await),
        Op::NewInvite { ttl_secs } => {
            let body = json!({ "ttl_secs": ttl_secs });
            client.post("/v1/party/invite", &body).await
        }
        Op::RevokeInvite => return ack(client.delete("/v1/party/invite").await),
        Op::Kick { member } => {
            let body = json!({ "member": member });
            return ack(client.post("/v1/party/kick", &body).await);
        }
        Op::CloseParty => return ack(client.post("/v1/party/close", &json!({})).await),
        Op::MetricsHistory { window } => {
            let path = format!("/v1/metrics/history?window={}", window.name());
            client.get(&path).await
        }
        Op::Games { limit } => client.get(&format!("/v1/games?limit={limit}")).await,
        Op::TestWebhook => return ack(client.post("/v1/discord/test", &json!({})).await),
        Op::ListServers { filter } => client.get(&servers_query(filter)).await,
        Op::AnnounceServer { server } => {
            let body = serde_json::to_value(server).map_err(|e| ErrorReport {
                code: "invalid_request".into(),
                message: format!("the server listing could not be encoded: {e}"),
                field: None,
            })?;
            return ack(client.post("/v1/servers", &body).await);
        }
        Op::RemoveServer { id } => {
            return ack(client.delete(&format!("/v1/servers/{}", segment(id))).await)
        }
        Op::SetFavorite { key, on } => {
            let body = json!({ "key": key, "on": on });
            return ack(client.post("/v1/servers/favorite", &body).await);
        }
    };
    answer.map_err(api_error)
}

fn ack(r: Result<Value, ClientError>) -> Reply {
    r.map(|_| Value::Null).map_err(api_error)
}

/// The server browser's filter as the API's query string (absent fields do not filter).
fn servers_query(f: &lanrage_core::browser::ServerFilter) -> String {
    let mut q = vec![
        format!("has_players={}", f.has_players),
        format!("not_full={}", f.not_full),
    ];
    if let Some(g) = &f.game {
        q.push(format!("game={}", segment(g)));
    }
    if let Some(ms) = f.max_latency_ms.filter(|ms| ms.is_finite()) {
        q.push(format!("max_latency_ms={ms}"));
    }
    format!("/v1/servers?{}", q.join("&"))
}

/// Chooses and starts the backend for `data_dir`.
///
/// The data directory's lock says whether an engine already runs on it. Taken: this app runs the
/// engine and keeps the lock (returned) until it exits. Held by `lanrage up`: the window
/// attaches to its API. Held by something that serves no API (an app that was just quit and is
/// still taking its tunnel down): wait a few seconds for it before saying the directory is in
/// use.
#[cfg(not(windows))]
pub async fn start(data_dir: &DataDir) -> (Backend, Option<DataDirLock>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match data_dir.lock() {
            Ok(lock) => {
                let started = Engine::start(EngineOptions {
                    data_dir: data_dir.clone(),
                    control_server: None,
                })
                .await;
                return match started {
                    Ok(engine) => (Backend::InProcess(engine), Some(lock)),
                    Err(e) => {
                        tracing::error!(error = %e, "engine failed to start");
                        (Backend::Failed(engine_error(e)), None)
                    }
                };
            }
            Err(LockError::InUse { .. }) => {
                if let Some(client) = running_engine(data_dir).await {
                    tracing::info!("an engine already runs on this data directory: attached to it");
                    return (Backend::Attached(Arc::new(client)), None);
                }
                if tokio::time::Instant::now() >= deadline {
                    return (Backend::Failed(in_use(data_dir)), None);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "data directory lock");
                return (
                    Backend::Failed(ErrorReport {
                        code: "data_dir_in_use".into(),
                        message: e.to_string(),
                        field: None,
                    }),
                    None,
                );
            }
        }
    }
}

/// On Windows the engine is the LANrage service's. It may not be up yet (the app can start at
/// login before the service): each request says so until it is, and the event forwarder
/// reconnects when it comes.
#[cfg(windows)]
pub async fn start(_data_dir: &DataDir) -> (Backend, Option<DataDirLock>) {
    let client = ApiClient::pipe(lanrage_local_api::pipe::PIPE_NAME);
    (Backend::Attached(Arc::new(client)), None)
}

#[cfg(not(windows))]
async fn running_engine(data_dir: &DataDir) -> Option<ApiClient> {
    let client = ApiClient::for_data_dir(data_dir).ok()?;
    client.get("/v1/status").await.ok()?;
    Some(client)
}

#[cfg(not(windows))]
fn in_use(data_dir: &DataDir) -> ErrorReport {
    ErrorReport {
        code: "data_dir_in_use".into(),
        message: format!(
            "another LANrage program holds {} and serves no local API the app can use; quit it \
             (or stop `lanrage up`) and open LANrage again",
            data_dir.root().display()
        ),
        field: None,
    }
}
