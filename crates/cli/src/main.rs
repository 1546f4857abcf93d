//! `lanrage`: the headless daemon and the commands that talk to it.

mod commands;
mod daemon;
mod service_acl;
#[cfg(windows)]
mod windows_service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lanrage",
    version = lanrage_core::VERSION,
    about = "LANrage: play LAN games with friends over the internet",
    propagate_version = true
)]
struct Cli {
    /// Where settings, the device key and logs live [default: the user's data directory]
    #[arg(long, global = true, env = lanrage_settings::data_dir::DATA_DIR_ENV, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace); overrides RUST_LOG
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Local API address of the daemon [default: the `api_listen` setting] (Linux; on Windows
    /// the CLI uses the LANrage service's named pipe)
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    api: Option<SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine as the LANrage Windows service (started by the service manager)
    #[cfg(windows)]
    #[command(hide = true)]
    Service,
    /// Run the engine headless (until Ctrl-C or SIGTERM), serving the local API
    Up {
        /// Control server for this run (ws://HOST:PORT or wss://HOST:PORT), over the setting;
        /// repeat it for servers that serve the same parties, tried in order
        #[arg(long, value_name = "URL")]
        server: Vec<String>,
    },
    /// Show what the running daemon is doing
    Status {
        /// Print machine-readable JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the daemon's Prometheus metrics
    Metrics,
    /// What happened in your parties: who joined and left, and every path change
    Log {
        /// How many of the newest entries to show (printed oldest first)
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Games: what runs now (detected from the catalogue) and each game played in a party
    Games {
        /// How many of the newest sessions to show
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Game servers announced in your party
    #[command(subcommand)]
    Servers(ServersCmd),
    /// Read and change settings
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// Saved named configurations
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Create, join and leave parties
    #[command(subcommand)]
    Party(PartyCmd),
    /// Run the control server (parties, invite codes, addresses, signaling)
    Server {
        /// Address and port for the control WebSocket
        #[arg(long, default_value = "0.0.0.0:8667", value_name = "ADDR:PORT")]
        listen: std::net::SocketAddr,
        /// The address players reach this server at: shown in logs and given out as the STUN/TURN
        /// address [default: the --listen address, or this machine's first IPv4 address]
        #[arg(long, value_name = "IP")]
        public_ip: Option<std::net::IpAddr>,
        /// UDP port of the built-in STUN responder and TURN relay (STUN also answers on the next
        /// port, so players can tell what kind of NAT they are behind)
        #[arg(long, default_value_t = 3478, value_name = "PORT")]
        relay_port: u16,
        /// Run no STUN/TURN here (use --ice-url to point players at another server, e.g. coturn)
        #[arg(long)]
        no_relay: bool,
        /// Another STUN or TURN server to give players, as stun:HOST:PORT or turn:HOST:PORT
        /// (repeatable); TURN servers must share --turn-secret (coturn: use-auth-secret)
        #[arg(long = "ice-url", value_name = "URL")]
        ice_urls: Vec<String>,
        /// Shared secret for TURN credentials (the TURN REST scheme) [default: random per run,
        /// good for the built-in relay only]
        #[arg(
            long,
            env = "LANRAGE_TURN_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        turn_secret: Option<String>,
        /// Relay allocations in all
        #[arg(long, default_value_t = 2000, value_name = "N")]
        relay_max_allocations: usize,
        /// Relay allocations per device, at least (a player needs one per relayed friend: the limit grows to twice its party's other members)
        #[arg(long, default_value_t = 64, value_name = "N")]
        relay_allocations_per_device: usize,
        /// Relay allocations per client address, whichever devices they are (IPv6: per /64)
        #[arg(long, default_value_t = 256, value_name = "N")]
        relay_allocations_per_address: usize,
        /// Also relay to private, CGNAT (100.64.0.0/10) and unique-local addresses: for a relay
        /// on a LAN; otherwise the relay reaches public addresses only
        #[arg(long)]
        relay_allow_private: bool,
        /// Bandwidth per relay allocation in Mbit/s, both directions together (0: unlimited)
        #[arg(long, default_value_t = 100, value_name = "MBIT")]
        relay_mbps: u64,
        /// Serve wss:// with this PEM certificate chain (needs --tls-key)
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key for --tls-cert
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Keep parties in PostgreSQL, as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE
        /// [default: SQLite in the data directory]
        #[arg(
            long,
            env = "LANRAGE_STORE",
            hide_env_values = true,
            value_name = "URL"
        )]
        store: Option<String>,
        /// Join the other servers of the --store database over NATS, as nats://HOST:4222 (a NATS
        /// cluster's members separated by commas): while another serves the parties, this one
        /// takes players too and passes their sessions on
        #[arg(long, env = "LANRAGE_BUS", hide_env_values = true, value_name = "URL")]
        bus: Option<String>,
    },
    /// Run a tunnel from a standard WireGuard configuration file, without any server, until
    /// Ctrl-C or SIGTERM; SIGHUP re-reads the file's peers without disturbing the others
    WgUp {
        /// The wg-quick style configuration file ([Interface] and [Peer] sections)
        file: PathBuf,
        /// Network device name [default: the file name without .conf, like wg-quick]
        #[arg(long, value_name = "NAME")]
        interface: Option<String>,
    },
    /// Print the version
    Version,
}

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Show every setting, grouped
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one setting's value
    Get { key: String },
    /// Change one setting (lists are comma-separated)
    Set { key: String, value: String },
    /// Reset one setting, or all of them with --all
    Reset {
        key: Option<String>,
        #[arg(long, conflicts_with = "key")]
        all: bool,
    },
    /// Print every non-secret setting as JSON
    Export,
    /// Apply settings from a JSON file made by `export` (all or nothing)
    Import { file: PathBuf },
}

#[derive(Subcommand)]
pub enum ServersCmd {
    /// Announce a game server you host (kept announced while LANrage runs)
    Announce {
        #[arg(long)]
        game: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        map: Option<String>,
        #[arg(long, default_value_t = 0)]
        players: u32,
        #[arg(long = "max", default_value_t = 0)]
        max_players: u32,
        #[arg(long)]
        password: bool,
        /// Identifies this server among yours [default: GAME:PORT]
        #[arg(long)]
        id: Option<String>,
    },
    /// List your party's game servers, favorites and nearest first
    List {
        #[arg(long)]
        game: Option<String>,
        #[arg(long)]
        has_players: bool,
        #[arg(long)]
        not_full: bool,
        #[arg(long, value_name = "MS")]
        max_latency: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Stop announcing one of your servers
    Remove { id: String },
    /// Mark a server (its key from `list --json`) as a favorite, or not with --off
    Favorite {
        key: String,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// List saved configurations
    List,
    /// Save the current settings under NAME
    Save { name: String },
    /// Replace the current settings with the configuration NAME
    Activate { name: String },
    /// Delete the configuration NAME
    Delete { name: String },
}

#[derive(Subcommand)]
pub enum PartyCmd {
    /// Create a party and print its invite code (last line) and link
    Create {
        /// Party name [default: "<display name>'s party"]
        name: Option<String>,
        /// Most members, the host included
        #[arg(long, value_name = "N")]
        max: Option<u16>,
        /// The invite code stops working after this many seconds
        #[arg(long, value_name = "SECS")]
        expires: Option<u64>,
    },
    /// Join a party with an invite code or lanrage://join/... link
    Join { code: String },
    /// Leave the current party
    Leave,
    /// Host: print a fresh invite code (the old one stops working)
    Invite {
        #[arg(long, value_name = "SECS")]
        expires: Option<u64>,
    },
    /// Host: make the current invite code stop working
    Revoke,
    /// Host: remove a member (by name, virtual IP or public key)
    Kick { member: String },
    /// Host: end the party for everyone
    Close,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service manager's dispatcher takes this thread and runs its own runtime.
    #[cfg(windows)]
    if matches!(cli.command, Command::Service) {
        let run = lanrage_settings::DataDir::resolve(cli.data_dir.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(windows_service::run);
        return match run {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
