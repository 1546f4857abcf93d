//! Tauri commands: one per engine operation the UI needs. Errors reach the UI as
//! `{code, message, field?}` so it can put the message next to the right field.

use lanrage_core::party::PartyStatus;
use lanrage_core::settings::{ConfigView, SettingView};
use lanrage_core::{ErrorReport, Status};
use serde_json::Value;
use tauri::State;

use crate::EngineSlot;

type CmdResult<T> = Result<T, ErrorReport>;

fn report(e: lanrage_core::EngineError) -> ErrorReport {
    ErrorReport::from(&e)
}

#[tauri::command]
pub fn get_status(slot: State<'_, EngineSlot>) -> CmdResult<Status> {
    Ok(slot.get()?.status())
}

#[tauri::command]
pub fn list_settings(slot: State<'_, EngineSlot>) -> CmdResult<Vec<SettingView>> {
    slot.get()?.list_settings().map_err(report)
}

#[tauri::command]
pub fn set_setting(
    slot: State<'_, EngineSlot>,
    key: String,
    value: Value,
) -> CmdResult<SettingView> {
    slot.get()?.set_setting(&key, &value).map_err(report)
}

#[tauri::command]
pub fn reset_setting(slot: State<'_, EngineSlot>, key: String) -> CmdResult<SettingView> {
    slot.get()?.reset_setting(&key).map_err(report)
}

#[tauri::command]
pub fn reset_settings(slot: State<'_, EngineSlot>) -> CmdResult<Vec<SettingView>> {
    slot.get()?.reset_settings().map_err(report)
}

#[tauri::command]
pub fn list_configs(slot: State<'_, EngineSlot>) -> CmdResult<Vec<ConfigView>> {
    slot.get()?.list_configs().map_err(report)
}

#[tauri::command]
pub fn save_config(slot: State<'_, EngineSlot>, name: String) -> CmdResult<Vec<ConfigView>> {
    slot.get()?.save_config(&name).map_err(report)
}

#[tauri::command]
pub fn activate_config(slot: State<'_, EngineSlot>, name: String) -> CmdResult<Vec<ConfigView>> {
    slot.get()?.activate_config(&name).map_err(report)
}

#[tauri::command]
pub fn delete_config(slot: State<'_, EngineSlot>, name: String) -> CmdResult<Vec<ConfigView>> {
    slot.get()?.delete_config(&name).map_err(report)
}

#[tauri::command]
pub async fn create_party(slot: State<'_, EngineSlot>, name: String) -> CmdResult<PartyStatus> {
    slot.get()?
        .create_party(&name, None, None)
        .await
        .map_err(report)
}

#[tauri::command]
pub async fn join_party(slot: State<'_, EngineSlot>, code: String) -> CmdResult<PartyStatus> {
    slot.get()?.join_party(&code).await.map_err(report)
}

#[tauri::command]
pub async fn leave_party(slot: State<'_, EngineSlot>) -> CmdResult<()> {
    slot.get()?.leave_party().await.map_err(report)
}

#[tauri::command]
pub async fn new_invite(
    slot: State<'_, EngineSlot>,
    ttl_secs: Option<u64>,
) -> CmdResult<PartyStatus> {
    slot.get()?.new_invite(ttl_secs).await.map_err(report)
}

#[tauri::command]
pub async fn revoke_invite(slot: State<'_, EngineSlot>) -> CmdResult<()> {
    slot.get()?.revoke_invite().await.map_err(report)
}

#[tauri::command]
pub async fn kick(slot: State<'_, EngineSlot>, member: String) -> CmdResult<()> {
    slot.get()?.kick(&member).await.map_err(report)
}

#[tauri::command]
pub async fn close_party(slot: State<'_, EngineSlot>) -> CmdResult<()> {
    slot.get()?.close_party().await.map_err(report)
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
pub fn get_metrics(
    slot: State<'_, EngineSlot>,
    window: Option<String>,
) -> CmdResult<lanrage_metrics::HistoryView> {
    let w = match window.as_deref() {
        Some("hour") => lanrage_metrics::Window::Hour,
        _ => lanrage_metrics::Window::Minute,
    };
    Ok(slot.get()?.metrics_history(w))
}

/// The Games page: the game played now and the newest game sessions (at most `limit`, 50 by
/// default).
#[tauri::command]
pub fn get_games(
    slot: State<'_, EngineSlot>,
    limit: Option<usize>,
) -> CmdResult<lanrage_core::engine::GamesView> {
    slot.get()?
        .games(limit.unwrap_or(50).min(2_000))
        .map_err(report)
}

/// The settings page's "send a test message" button.
#[tauri::command]
pub async fn test_webhook(slot: State<'_, EngineSlot>) -> CmdResult<()> {
    slot.get()?.test_webhook().await.map_err(report)
}

/// The server browser: the party's game servers, filtered and sorted by the engine.
#[tauri::command]
pub async fn list_servers(
    slot: State<'_, EngineSlot>,
    filter: Option<lanrage_core::browser::ServerFilter>,
) -> CmdResult<Vec<lanrage_core::browser::ServerListing>> {
    slot.get()?
        .list_servers(&filter.unwrap_or_default())
        .await
        .map_err(report)
}

#[tauri::command]
pub async fn announce_server(
    slot: State<'_, EngineSlot>,
    server: lanrage_core::browser::GameServer,
) -> CmdResult<()> {
    slot.get()?.announce_server(server).await.map_err(report)
}

#[tauri::command]
pub async fn remove_server(slot: State<'_, EngineSlot>, id: String) -> CmdResult<()> {
    slot.get()?.remove_server(&id).await.map_err(report)
}

#[tauri::command]
pub fn set_favorite(slot: State<'_, EngineSlot>, key: String, on: bool) -> CmdResult<()> {
    slot.get()?.set_favorite(&key, on).map_err(report)
}
