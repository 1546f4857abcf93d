//! LANrage metrics: the pure building blocks of the engine's MetricsCollector.
//!
//! - [`quality`]: the per-peer quality score and grade (the formula lives there, once) and the
//!   party score;
//! - [`history`]: bounded time series (a minute at 1 s, an hour at 10 s);
//! - [`system`]: system CPU, memory and network throughput from `sysinfo`;
//! - [`collector`]: [`MetricsCollector`], the state machine the engine ticks once a second;
//! - [`prometheus`]: the Prometheus text export of a [`Snapshot`].
//!
//! Everything takes time as an argument (Unix milliseconds); nothing here reads a clock except
//! [`unix_millis`], a convenience for callers.
//!
//! ```
//! use lanrage_metrics::{MetricsCollector, PeerInput};
//!
//! let mut collector = MetricsCollector::new();
//! let peer = PeerInput {
//!     public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".into(),
//!     connection: "direct".into(),
//!     rtt_ms: Some(12.0),
//!     jitter_ms: Some(1.5),
//!     loss: Some(0.0),
//!     ..Default::default()
//! };
//! collector.on_tick(1_700_000_000_000, &[peer], None);
//! let snapshot = collector.snapshot();
//! assert_eq!(snapshot.peers[0].quality.unwrap().grade.as_str(), "A");
//! let text = lanrage_metrics::prometheus::render(&snapshot);
//! assert!(text.contains("lanrage_peer_rtt_seconds{peer=\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"} 0.012"));
//! ```

pub mod collector;
pub mod history;
pub mod prometheus;
pub mod quality;
pub mod system;

pub use collector::{
    HistoryView, MetricsCollector, MetricsEvent, PeerHistory, PeerInput, PeerPoint, PeerSnapshot,
    Snapshot, SystemPoint, Window,
};
pub use quality::{party_quality, quality, Component, Grade, PartyQuality, Quality};
pub use system::{SystemSample, SystemSampler};

/// Unix milliseconds of a wall-clock time (0 before 1970).
pub fn unix_millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
