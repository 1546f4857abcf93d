//! Logging for every host: tracing to stderr and to a daily-rotated file in the data directory.

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Keeps the file writer flushing; drop it last (at the end of `main`).
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid log level `{0}`: use error, warn, info, debug, trace or a RUST_LOG filter")]
    BadLevel(String),
    #[error("log directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Starts logging. `level` (from a `--log-level` flag) wins over `RUST_LOG`; the default is
/// `info`. With `log_dir`, logs also go to `lanrage.<date>.log` there, seven files kept.
pub fn init(level: Option<&str>, log_dir: Option<&Path>) -> Result<LogGuard, LogError> {
    let (mut filter, text) = match level {
        Some(l) => (
            EnvFilter::try_new(l).map_err(|_| LogError::BadLevel(l.to_string()))?,
            l.to_string(),
        ),
        None => {
            let text = std::env::var("RUST_LOG").unwrap_or_default();
            (
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
                text,
            )
        }
    };
    // The ICE and TURN crates narrate every state change at info; ours says what matters (one
    // line per path change). Asking for them by name still gets their detail.
    // The TURN server logs each datagram it could not handle at error: strangers choose how
    // many (unknown users, bad integrity), and our relay's gate already counts them.
    // The NATS client logs each failed reconnection at info; the server says once that the bus
    // is lost and once that it is back.
    for (noisy, level) in [
        ("async_nats", "warn"),
        ("webrtc_ice", "warn"),
        ("turn", "warn"),
        ("turn::server", "off"),
        ("webrtc_util", "warn"),
        ("stun", "warn"),
    ] {
        if !text.contains(noisy) {
            if let Ok(d) = format!("{noisy}={level}").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    use std::io::IsTerminal;
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let (file_layer, guard) = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| LogError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
            let appender = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("lanrage")
                .filename_suffix("log")
                .max_log_files(7)
                .build(dir)
                .map_err(|e| LogError::Dir {
                    path: dir.display().to_string(),
                    source: std::io::Error::other(e),
                })?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(fmt::layer().with_writer(writer).with_ansi(false)),
                Some(guard),
            )
        }
        None => (None, None),
    };
    // A second init (tests, an embedding host that already logs) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file_layer)
        .try_init();
    Ok(LogGuard { _file: guard })
}
