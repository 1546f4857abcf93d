//! The session log: who joined and left, and every path change, kept in the settings database
//! so a player can look back at what happened during last night's game.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use std::sync::Arc;

pub use lanrage_settings::SessionEntry;

use crate::events::EngineEvent;
use crate::runtime::Runtime;

/// Follows the engine's events into the settings database until the engine stops.
pub(crate) fn start(rt: Arc<Runtime>) {
    let mut rx = rt.subscribe();
    let cancel = rt.cancellation();
    let engine = rt.clone();
    rt.spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "session log fell behind the events");
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                },
            };
            let (kind, name, detail) = match ev {
                EngineEvent::PartyCreated { name } => ("party_created", name, String::new()),
                EngineEvent::MemberJoined { name } => ("joined", name, String::new()),
                EngineEvent::MemberLeft { name } => ("left", name, String::new()),
                EngineEvent::PathChanged {
                    name,
                    from,
                    to,
                    reason,
                    ..
                } => ("path_changed", name, format!("{from} -> {to}: {reason}")),
                _ => continue,
            };
            let r = engine.settings.lock().log_session(kind, &name, &detail);
            if let Err(e) = r {
                tracing::warn!(error = %e, "writing the session log");
                // A full disk or a locked file: try again later rather than spin.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
}
