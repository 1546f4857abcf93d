//! Tauri commands: one per engine operation the UI needs, answered by the engine in this
//! process or by the one the app is attached to (see [`crate::backend`]). Errors reach the UI
//! as `{code, message, field?}` so it can put the message next to the right field.

use serde_json::Value;
use tauri::State;

use crate::backend::{Backend, Op};
use lanrage_core::ErrorReport;

type CmdResult = Result<Value, ErrorReport>;

#[tauri::command]
pub async fn get_status(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::Status).await
}

#[tauri::command]
pub async fn list_settings(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::ListSettings).await
}

#[tauri::command]
pub async fn set_setting(backend: State<'_, Backend>, key: String, value: Value) -> CmdResult {
    backend
        .call(Op::SetSetting {
            key: &key,
            value: &value,
        })
        .await
}

#[tauri::command]
pub async fn reset_setting(backend: State<'_, Backend>, key: String) -> CmdResult {
    backend.call(Op::ResetSetting { key: &key }).await
}

#[tauri::command]
pub async fn reset_settings(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::ResetSettings).await
}

#[tauri::command]
pub async fn list_configs(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::ListConfigs).await
}

#[tauri::command]
pub async fn save_config(backend: State<'_, Backend>, name: String) -> CmdResult {
    backend.call(Op::SaveConfig { name: &name }).await
}

#[tauri::command]
pub async fn activate_config(backend: State<'_, Backend>, name: String) -> CmdResult {
    backend.call(Op::ActivateConfig { name: &name }).await
}

#[tauri::command]
pub async fn delete_config(backend: State<'_, Backend>, name: String) -> CmdResult {
    backend.call(Op::DeleteConfig { name: &name }).await
}

#[tauri::command]
pub async fn create_party(backend: State<'_, Backend>, name: String) -> CmdResult {
    backend.call(Op::CreateParty { name: &name }).await
}

#[tauri::command]
pub async fn join_party(backend: State<'_, Backend>, code: String) -> CmdResult {
    backend.call(Op::JoinParty { code: &code }).await
}

#[tauri::command]
pub async fn leave_party(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::LeaveParty).await
}

#[tauri::command]
pub async fn new_invite(backend: State<'_, Backend>, ttl_secs: Option<u64>) -> CmdResult {
    backend.call(Op::NewInvite { ttl_secs }).await
}

#[tauri::command]
pub async fn revoke_invite(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::RevokeInvite).await
}

#[tauri::command]
pub async fn kick(backend: State<'_, Backend>, member: String) -> CmdResult {
    backend.call(Op::Kick { member: &member }).await
}

#[tauri::command]
pub async fn close_party(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::CloseParty).await
}

/// The join field as the engine's invite parser reads it: what the text is (empty, link, code,
/// still typing, wrong) and the hint for under the field. `has_server`: whether a control server
/// is configured (`null` while the UI does not know).
#[tauri::command]
pub fn classify_invite(text: String, has_server: Option<bool>) -> lanrage_proto::invite::JoinInput {
    lanrage_proto::invite::JoinInput::classify(&text, has_server)
}

/// The engine's grading of a connection's numbers, for UI code that has numbers but no grade
/// (party status and `metrics` events carry their own). Loss in percent, as the UI shows it;
/// `null` when no number is given.
#[tauri::command]
pub fn grade_connection(
    rtt_ms: Option<f64>,
    jitter_ms: Option<f64>,
    loss_pct: Option<f64>,
) -> Option<lanrage_metrics::Quality> {
    lanrage_metrics::quality::quality_from_percent(rtt_ms, jitter_ms, loss_pct)
}

/// A `lanrage://join/...` link the app was started with, for the UI to pick up once.
#[tauri::command]
pub fn take_deep_link(links: State<'_, crate::PendingLink>) -> Option<String> {
    links.take()
}

/// Histories for the dashboard's charts: `minute` (1 s points) or `hour` (10 s points).
#[tauri::command]
pub async fn get_metrics(backend: State<'_, Backend>, window: Option<String>) -> CmdResult {
    let window = lanrage_metrics::Window::named(window.as_deref());
    backend.call(Op::MetricsHistory { window }).await
}

/// The Games page: the game played now and the newest game sessions (at most `limit`, 50 by
/// default).
#[tauri::command]
pub async fn get_games(backend: State<'_, Backend>, limit: Option<usize>) -> CmdResult {
    let limit = limit.unwrap_or(50).min(2_000);
    backend.call(Op::Games { limit }).await
}

/// The settings page's "send a test message" button.
#[tauri::command]
pub async fn test_webhook(backend: State<'_, Backend>) -> CmdResult {
    backend.call(Op::TestWebhook).await
}

/// The server browser: the party's game servers, filtered and sorted by the engine.
#[tauri::command]
pub async fn list_servers(
    backend: State<'_, Backend>,
    filter: Option<lanrage_core::browser::ServerFilter>,
) -> CmdResult {
    let filter = filter.unwrap_or_default();
    backend.call(Op::ListServers { filter: &filter }).await
}

#[tauri::command]
pub async fn announce_server(
    backend: State<'_, Backend>,
    server: lanrage_core::browser::GameServer,
) -> CmdResult {
    backend.call(Op::AnnounceServer { server }).await
}

#[tauri::command]
pub async fn remove_server(backend: State<'_, Backend>, id: String) -> CmdResult {
    backend.call(Op::RemoveServer { id: &id }).await
}

#[tauri::command]
pub async fn set_favorite(backend: State<'_, Backend>, key: String, on: bool) -> CmdResult {
    backend.call(Op::SetFavorite { key: &key, on }).await
}
