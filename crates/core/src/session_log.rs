//! The session log: who joined and left, and every path change, kept in the settings database
//! so a player can look back at what happened during last night's game.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::engine::{lock, Engine, EngineError};
use crate::events::EngineEvent;
pub use crate::settings::SessionEntry;

impl Engine {
    pub(crate) fn start_session_log(&self) {
        let engine = self.clone();
        let mut rx = self.subscribe();
        let cancel = self.cancellation();
        self.spawn(async move {
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
                let r = lock(&engine.inner.settings).log_session(kind, &name, &detail);
                if let Err(e) = r {
                    tracing::warn!(error = %e, "writing the session log");
                    // A full disk or a locked file: try again later rather than spin.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
    }

    /// The newest `limit` entries, newest first.
    pub fn session_log(&self, limit: usize) -> Result<Vec<SessionEntry>, EngineError> {
        Ok(lock(&self.inner.settings).session_log(limit)?)
    }
}
