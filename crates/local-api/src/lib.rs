//! The engine's local API, both ends. A host that runs the engine headless (`lanrage up`, the
//! Windows service) serves [`router`]; the CLI and the desktop app attached to such an engine
//! talk to it with [`client::ApiClient`]. Who may connect is decided here: loopback HTTP with
//! the data directory's token on Linux, the service's named pipe and its DACL on Windows
//! ([`pipe`]).

mod api;
pub mod client;
pub mod pipe;

pub use api::{router, TOKEN_HEADER_SCHEME};
