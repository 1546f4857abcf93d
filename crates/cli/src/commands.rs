//! What each CLI command does. Settings commands go through the daemon when it runs (so the
//! engine sees the change at once) and straight to the settings database when it does not.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use lanrage_settings::{DataDir, SettingView, SettingsStore};
use serde_json::{json, Value};

use crate::{Cli, Command, ConfigCmd, PartyCmd, ServersCmd, SettingsCmd};
use lanrage_local_api::client::{segment, ApiClient, ClientError};

/// Exit code when the daemon is not running (`status` on a stopped machine is not a failure of
/// the command, but scripts want to tell it apart).
const EXIT_NOT_RUNNING: u8 = 3;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data_dir = DataDir::resolve(cli.data_dir.as_deref())?;
    #[cfg(windows)]
    anyhow::ensure!(
        cli.api.is_none(),
        "on Windows the local API is the LANrage service's named pipe {}; --api is for Linux",
        lanrage_local_api::pipe::PIPE_NAME
    );
    match cli.command {
        #[cfg(windows)]
        Command::Service => {
            anyhow::bail!("`lanrage service` is started by Windows' service manager")
        }
        Command::Up { server } => {
            let servers = lanrage_proto::servers::parse_servers(&server.join(" "))
                .map_err(|e| anyhow::anyhow!("--server: {e}"))?;
            let server =
                (!servers.is_empty()).then(|| lanrage_proto::servers::join_servers(&servers));
            data_dir
                .ensure()
                .with_context(|| format!("creating {}", data_dir.root().display()))?;
            let _guard =
                lanrage_core::logging::init(cli.log_level.as_deref(), Some(&data_dir.log_dir()))?;
            crate::daemon::run(
                data_dir,
                cli.api,
                None,
                server,
                crate::daemon::wait_for_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("lanrage {}", lanrage_core::VERSION);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => status(&data_dir, cli.api, json).await,
        Command::Metrics => {
            let client = api_client(&data_dir, cli.api)?;
            print!("{}", client.get_text("/metrics").await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { limit, json } => {
            let client = api_client(&data_dir, cli.api)?;
            let log = client
                .get(&format!("/v1/session-log?limit={limit}"))
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log)?);
            } else {
                let entries = log.as_array().cloned().unwrap_or_default();
                if entries.is_empty() {
                    println!("Nothing yet: join or create a party.");
                }
                for e in entries.iter().rev() {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    let what = match s("kind").as_str() {
                        "party_created" => format!("created the party {}", s("name")),
                        "joined" => format!("{} joined", s("name")),
                        "left" => format!("{} left", s("name")),
                        _ => format!("{}: {}", s("name"), s("detail")),
                    };
                    // "2026-11-25T23:15:46.123456789Z" -> "2026-11-25 23:15:46 UTC"
                    let at = s("at");
                    let at = match (at.get(..10), at.get(11..19)) {
                        (Some(d), Some(t)) => format!("{d} {t} UTC"),
                        _ => at,
                    };
                    println!("{at}  {what}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Games { limit, json } => {
            let client = api_client(&data_dir, cli.api)?;
            let games = client.get(&format!("/v1/games?limit={limit}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&games)?);
            } else {
                print!("{}", format_games(&games));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Settings(cmd) => settings(&data_dir, cli.api, cmd).await,
        Command::Config(cmd) => config(&data_dir, cli.api, cmd).await,
        Command::Party(cmd) => party(&data_dir, cli.api, cmd).await,
        Command::Servers(cmd) => servers(&data_dir, cli.api, cmd).await,
        Command::Server {
            listen,
            public_ip,
            relay_port,
            no_relay,
            ice_urls,
            turn_secret,
            relay_max_allocations,
            relay_allocations_per_device,
            relay_allocations_per_address,
            relay_allow_private,
            relay_mbps,
            tls_cert,
            tls_key,
            store,
            bus,
        } => {
            // Parsed here rather than by clap, whose message would repeat a password.
            let store: lanrage_server::store::StoreLocation = match store {
                Some(url) => url.parse()?,
                None => Default::default(),
            };
            let tls = tls_cert
                .zip(tls_key)
                .map(|(cert, key)| lanrage_server::TlsFiles { cert, key });
            for url in &ice_urls {
                if !(url.starts_with("stun:") || url.starts_with("turn:")) {
                    anyhow::bail!("--ice-url {url}: expected stun:HOST:PORT or turn:HOST:PORT");
                }
            }
            if turn_secret.is_none() && ice_urls.iter().any(|u| u.starts_with("turn:")) {
                anyhow::bail!(
                    "a TURN server from --ice-url checks credentials made with its shared secret: \
                     give the same secret with --turn-secret (or LANRAGE_TURN_SECRET)"
                );
            }
            let public_ip = public_ip.or_else(|| crate::daemon::default_public_ip(listen.ip()));
            let relay = match (no_relay, public_ip) {
                (true, _) => None,
                (false, Some(public_ip)) => Some(lanrage_server::RelayConfig {
                    bind: listen.ip(),
                    port: relay_port,
                    public_ip,
                    max_allocations: relay_max_allocations,
                    allocations_per_device: relay_allocations_per_device,
                    allocations_per_address: relay_allocations_per_address,
                    allow_private: relay_allow_private,
                    bandwidth_bytes_per_sec: relay_mbps.saturating_mul(125_000),
                }),
                (false, None) => {
                    anyhow::bail!("the relay needs the address players reach it at: give --public-ip (or --no-relay)")
                }
            };
            let ice = lanrage_server::IceConfig {
                relay,
                urls: ice_urls,
                secret: turn_secret.unwrap_or_default(),
                ..Default::default()
            };
            data_dir
                .ensure()
                .with_context(|| format!("creating {}", data_dir.root().display()))?;
            let _guard =
                lanrage_core::logging::init(cli.log_level.as_deref(), Some(&data_dir.log_dir()))?;
            crate::daemon::run_server(data_dir, store, bus, listen, public_ip, tls, ice).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::WgUp { file, interface } => {
            let wg = crate::daemon::WgFile::load(&file, interface)?;
            data_dir
                .ensure()
                .with_context(|| format!("creating {}", data_dir.root().display()))?;
            let _guard =
                lanrage_core::logging::init(cli.log_level.as_deref(), Some(&data_dir.log_dir()))?;
            crate::daemon::run(
                data_dir,
                cli.api,
                Some(wg),
                None,
                crate::daemon::wait_for_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Party commands always go through the running daemon: the party lives in its engine.
async fn party(
    data_dir: &DataDir,
    api: Option<SocketAddr>,
    cmd: PartyCmd,
) -> anyhow::Result<ExitCode> {
    let client = api_client(data_dir, api).map_err(|e| -> anyhow::Error {
        match e {
            #[cfg(not(windows))]
            ClientError::NoToken(_) => {
                anyhow::anyhow!(
                    "LANrage is not running here; {}",
                    lanrage_local_api::client::START_HINT
                )
            }
            e => e.into(),
        }
    })?;
    match cmd {
        PartyCmd::Create { name, max, expires } => {
            let name = match name {
                Some(n) => n,
                None => {
                    let status = client.get("/v1/status").await?;
                    format!(
                        "{}'s party",
                        status["device"]["display_name"]
                            .as_str()
                            .unwrap_or("Player")
                    )
                }
            };
            let p = client
                .post(
                    "/v1/party",
                    &json!({ "name": name, "max_members": max, "invite_ttl_secs": expires }),
                )
                .await?;
            println!(
                "Party \"{}\" created. Your address on it: {}",
                p["name"].as_str().unwrap_or("?"),
                p["virtual_ip"].as_str().unwrap_or("?")
            );
            print_invite(&p);
        }
        PartyCmd::Join { code } => {
            // A link names the server to meet at; say which before connecting to it.
            if let Ok(lanrage_proto::invite::Invite {
                server: Some(server),
                ..
            }) = lanrage_proto::invite::Invite::parse(&code)
            {
                println!("This invite link meets at {server}.");
            }
            let p = client
                .post("/v1/party/join", &json!({ "code": code }))
                .await?;
            println!(
                "Joined \"{}\" (host {}). Your address on it: {}",
                p["name"].as_str().unwrap_or("?"),
                p["host_name"].as_str().unwrap_or("?"),
                p["virtual_ip"].as_str().unwrap_or("?")
            );
            for peer in p["peers"].as_array().into_iter().flatten() {
                println!(
                    "  {} at {}",
                    peer["name"].as_str().unwrap_or("?"),
                    peer["virtual_ip"].as_str().unwrap_or("?")
                );
            }
        }
        PartyCmd::Leave => {
            client.delete("/v1/party").await?;
            println!("You left the party.");
        }
        PartyCmd::Invite { expires } => {
            let p = client
                .post("/v1/party/invite", &json!({ "ttl_secs": expires }))
                .await?;
            print_invite(&p);
        }
        PartyCmd::Revoke => {
            client.delete("/v1/party/invite").await?;
            println!(
                "The invite code no longer works. Make a new one with `lanrage party invite`."
            );
        }
        PartyCmd::Kick { member } => {
            client
                .post("/v1/party/kick", &json!({ "member": member }))
                .await?;
            println!("Removed {member} from the party.");
        }
        PartyCmd::Close => {
            client.post("/v1/party/close", &json!({})).await?;
            println!("The party is closed.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn servers(
    data_dir: &DataDir,
    api: Option<SocketAddr>,
    cmd: ServersCmd,
) -> anyhow::Result<ExitCode> {
    let client = api_client(data_dir, api)?;
    match cmd {
        ServersCmd::Announce {
            game,
            name,
            port,
            map,
            players,
            max_players,
            password,
            id,
        } => {
            let id = id.unwrap_or_else(|| format!("{game}:{port}"));
            client
                .post(
                    "/v1/servers",
                    &json!({"id": id, "game": game, "name": name, "port": port, "map": map,
                            "players": players, "max_players": max_players, "password": password}),
                )
                .await?;
            println!("Announced \"{name}\" ({game}, port {port}) to your party as `{id}`.");
        }
        ServersCmd::List {
            game,
            has_players,
            not_full,
            max_latency,
            json: as_json,
        } => {
            let mut q = vec![];
            if let Some(g) = &game {
                q.push(format!("game={}", segment(g)));
            }
            if has_players {
                q.push("has_players=true".into());
            }
            if not_full {
                q.push("not_full=true".into());
            }
            if let Some(m) = max_latency {
                q.push(format!("max_latency_ms={m}"));
            }
            let list = client.get(&format!("/v1/servers?{}", q.join("&"))).await?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let items = list.as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("No game servers announced in your party.");
            }
            for s in items {
                let latency = s["latency_ms"]
                    .as_f64()
                    .map(|l| format!("{l:.1} ms"))
                    .unwrap_or_else(|| "?".into());
                println!(
                    "{} {:<20} {:<12} {}:{}  {}/{} players  {}{}  (by {})",
                    if s["favorite"].as_bool() == Some(true) {
                        "*"
                    } else {
                        " "
                    },
                    s["name"].as_str().unwrap_or("?"),
                    s["game"].as_str().unwrap_or("?"),
                    s["host_ip"].as_str().unwrap_or("?"),
                    s["port"],
                    s["players"],
                    s["max_players"],
                    latency,
                    if s["password"].as_bool() == Some(true) {
                        ", password"
                    } else {
                        ""
                    },
                    s["host_name"].as_str().unwrap_or("?"),
                );
            }
        }
        ServersCmd::Remove { id } => {
            client
                .delete(&format!("/v1/servers/{}", segment(&id)))
                .await?;
            println!("No longer announcing `{id}`.");
        }
        ServersCmd::Favorite { key, off } => {
            client
                .post("/v1/servers/favorite", &json!({"key": key, "on": !off}))
                .await?;
            println!(
                "{}",
                if off {
                    "Removed from favorites."
                } else {
                    "Added to favorites."
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The link (for friends without a server configured) and, last, the code itself.
fn print_invite(p: &Value) {
    let invite = &p["invite"];
    if let Some(link) = invite["link"].as_str() {
        println!("Invite link: {link}");
    }
    if let Some(exp) = invite["expires_at"].as_u64() {
        println!("The code expires at {} (Unix time).", exp);
    }
    println!("{}", invite["code"].as_str().unwrap_or("(no invite code)"));
}

/// Where settings commands go: the running daemon, or the database when nothing runs.
enum Target {
    Daemon(ApiClient),
    Local(SettingsStore),
}

fn local_store(data_dir: &DataDir) -> anyhow::Result<SettingsStore> {
    data_dir
        .ensure()
        .with_context(|| format!("creating {}", data_dir.root().display()))?;
    let (store, recoveries) = SettingsStore::open(&data_dir.settings_db())?;
    for r in recoveries {
        eprintln!("warning: {}", r.message);
    }
    Ok(store)
}

#[cfg(not(windows))]
fn api_addr(data_dir: &DataDir, explicit: Option<SocketAddr>) -> anyhow::Result<SocketAddr> {
    match explicit {
        Some(a) => Ok(a),
        None => Ok(lanrage_local_api::client::api_addr(data_dir)?),
    }
}

/// The client for the daemon's local API: `--api` or the `api_listen` setting on Linux, the
/// service's named pipe on Windows.
#[cfg(not(windows))]
fn api_client(data_dir: &DataDir, explicit: Option<SocketAddr>) -> Result<ApiClient, ClientError> {
    let addr = api_addr(data_dir, explicit).map_err(|e| ClientError::Settings(format!("{e:#}")))?;
    ApiClient::new(addr, data_dir)
}

#[cfg(windows)]
fn api_client(_: &DataDir, _: Option<SocketAddr>) -> Result<ApiClient, ClientError> {
    Ok(ApiClient::pipe(lanrage_local_api::pipe::PIPE_NAME))
}

/// Where the CLI looks for the daemon, for "not running" messages.
#[cfg(not(windows))]
fn api_place(data_dir: &DataDir, explicit: Option<SocketAddr>) -> anyhow::Result<String> {
    Ok(api_addr(data_dir, explicit)?.to_string())
}

#[cfg(windows)]
fn api_place(_: &DataDir, _: Option<SocketAddr>) -> anyhow::Result<String> {
    Ok(lanrage_local_api::pipe::PIPE_NAME.to_string())
}

async fn target(data_dir: &DataDir, explicit: Option<SocketAddr>) -> anyhow::Result<Target> {
    match api_client(data_dir, explicit) {
        Ok(client) => match client.get("/v1/status").await {
            Ok(_) => return Ok(Target::Daemon(client)),
            Err(e) if e.is_not_running() => {}
            Err(e) => return Err(e.into()),
        },
        Err(e) if e.is_not_running() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Target::Local(local_store(data_dir)?))
}

async fn status(
    data_dir: &DataDir,
    api: Option<SocketAddr>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let addr = api_place(data_dir, api)?;
    let result = match api_client(data_dir, api) {
        Ok(client) => client.get("/v1/status").await,
        Err(e) => Err(e),
    };
    let status = match result {
        Ok(s) => s,
        Err(e) if e.is_not_running() => {
            if as_json {
                println!(
                    "{}",
                    json!({"state": "not_running", "data_dir": data_dir.root().display().to_string(), "api": addr})
                );
            } else if cfg!(windows) {
                // The pipe's error already says whether the service is installed or stopped.
                println!("{}.", capitalized(&e.to_string()));
            } else {
                println!(
                    "LANrage is not running (no daemon on {addr} for {}).\n{}.",
                    data_dir.root().display(),
                    capitalized(lanrage_local_api::client::START_HINT)
                );
            }
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", format_status(&status));
    }
    Ok(ExitCode::SUCCESS)
}

fn format_status(s: &Value) -> String {
    let str_of = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let mut out = format!(
        "LANrage {} — {}\n",
        str_of(&s["version"]),
        str_of(&s["state"])
    );
    out += &format!(
        "  Device:   {} (public key {}){}\n",
        str_of(&s["device"]["display_name"]),
        str_of(&s["device"]["public_key"]),
        playing(&s["device"]["game"])
    );
    out += &format!("  Data:     {}\n", str_of(&s["data_dir"]));
    let server = match s["control"]["server"].as_str() {
        Some(url) => format!("control server {url} ({})", str_of(&s["control"]["state"])),
        None => "no control server configured".to_string(),
    };
    out += &format!("  Mode:     {} ({server})\n", str_of(&s["mode"]));
    if s["party"].is_null() {
        out += "  Party:    none (create one with `lanrage party create`)\n";
    }
    if let Some(nat) = s["nat"].as_object() {
        let public = nat["public_addr"]
            .as_str()
            .map(|a| format!(", seen as {a}"))
            .unwrap_or_default();
        out += &format!(
            "  NAT:      {}{public}. {}\n",
            str_of(&nat["kind"]).replace('_', " "),
            str_of(&nat["summary"])
        );
    }
    if let Some(t) = s["tunnel"].as_object() {
        let addrs: Vec<&str> = t["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out += &format!(
            "  Tunnel:   {} on UDP port {} ({})\n",
            str_of(&t["interface"]),
            t["listen_port"],
            addrs.join(", ")
        );
        for p in t["peers"].as_array().into_iter().flatten() {
            out += &format!("{}\n", format_peer(p));
        }
    }
    if let Some(p) = s["party"].as_object() {
        out += &format!(
            "  Party:    {} ({} of {}), you are {} at {}\n",
            str_of(&p["name"]),
            p["peers"].as_array().map(|a| a.len() + 1).unwrap_or(1),
            p["max_members"],
            if p["is_host"].as_bool() == Some(true) {
                "the host"
            } else {
                "a member"
            },
            str_of(&p["virtual_ip"])
        );
        if let Some(code) = p["invite"]["code"].as_str() {
            out += &format!("  Invite:   {code}\n");
        }
        for peer in p["peers"].as_array().into_iter().flatten() {
            let rtt = peer["rtt_ms"]
                .as_f64()
                .map(|r| format!(", {r:.1} ms"))
                .unwrap_or_default();
            out += &format!(
                "    {:<16} {:<12} {}{rtt}{}{}\n",
                str_of(&peer["name"]),
                str_of(&peer["virtual_ip"]),
                str_of(&peer["connection"]),
                format_path(&peer["path"]),
                playing(&peer["game"])
            );
        }
    }
    // The bot is a host's choice: a line only once it is configured.
    let bot = &s["discord"]["bot"];
    if bot["state"].as_str().is_some_and(|state| state != "off") {
        out += &format!(
            "  Discord:  bot {}. {}\n",
            str_of(&bot["state"]).replace('_', " "),
            str_of(&bot["message"])
        );
    }
    for n in s["notices"].as_array().into_iter().flatten() {
        out += &format!("  ! {}\n", str_of(&n["message"]));
    }
    out
}

fn format_games(g: &Value) -> String {
    let mut out = String::new();
    let running: Vec<&str> = g["running"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    out += &match running.as_slice() {
        [] => "Playing: nothing LANrage knows (see the games catalogue)\n".to_string(),
        names => format!("Playing: {}\n", names.join(", ")),
    };
    let sessions = g["sessions"].as_array().cloned().unwrap_or_default();
    if sessions.is_empty() {
        out += "No game sessions yet: they are kept for games played while in a party.\n";
    }
    for s in &sessions {
        let mins = s["duration_secs"].as_u64().unwrap_or(0).div_ceil(60);
        let with: Vec<&str> = s["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let with = if with.is_empty() {
            "alone".to_string()
        } else {
            format!("with {}", with.join(", "))
        };
        let rtt = s["rtt_ms"]["avg"]
            .as_f64()
            .map(|a| format!(", {a:.1} ms average"))
            .unwrap_or_default();
        let loss = s["loss_pct"]
            .as_f64()
            .map(|l| format!(", {l:.1} % loss"))
            .unwrap_or_default();
        out += &format!(
            "  {} for {mins} min {with}{rtt}{loss}\n",
            s["game_name"].as_str().unwrap_or("?")
        );
    }
    out
}

/// ", playing OpenTTD" when a game is known, else nothing.
fn playing(game: &Value) -> String {
    game["name"]
        .as_str()
        .map(|n| format!(", playing {n}"))
        .unwrap_or_default()
}

/// " (srflx to srflx): connected directly..." or " via 203.0.113.2:3478 (relay to relay): ...".
fn format_path(path: &Value) -> String {
    let Some(p) = path.as_object() else {
        return String::new();
    };
    let via = p["relay"]
        .as_str()
        .map(|r| format!(" via {r}"))
        .unwrap_or_default();
    let pair = match (
        p["local_candidate"].as_str(),
        p["remote_candidate"].as_str(),
    ) {
        (Some(l), Some(r)) => format!(" ({l} to {r})"),
        _ => String::new(),
    };
    let reason = p["reason"].as_str().unwrap_or_default();
    format!("{via}{pair}: {reason}")
}

fn format_peer(p: &Value) -> String {
    let key = p["public_key"].as_str().unwrap_or("?");
    let short = key.get(..8).unwrap_or(key);
    let ips: Vec<&str> = p["allowed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let endpoint = p["endpoint"].as_str().unwrap_or("no endpoint yet");
    let handshake = match p["last_handshake_secs"].as_f64() {
        Some(s) => format!("handshake {s:.0}s ago"),
        None => "no handshake yet".to_string(),
    };
    let probe = &p["probe"];
    let quality = match probe["rtt_ms"].as_f64() {
        Some(rtt) => format!(
            "rtt {rtt:.2} ms, jitter {:.2} ms, loss {:.0}%",
            probe["jitter_ms"].as_f64().unwrap_or(0.0),
            probe["loss"].as_f64().unwrap_or(0.0) * 100.0
        ),
        None => "not measured yet".to_string(),
    };
    format!(
        "    {short}… {} via {endpoint}: {handshake}; {quality}; rx {} tx {}",
        ips.join(","),
        human_bytes(p["rx_bytes"].as_u64().unwrap_or(0)),
        human_bytes(p["tx_bytes"].as_u64().unwrap_or(0)),
    )
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn show_value(v: &SettingViewLite) -> String {
    if v.secret {
        return if v.is_set {
            "(set, hidden)"
        } else {
            "(not set)"
        }
        .to_string();
    }
    match &v.value {
        Value::String(s) if s.is_empty() => "(empty)".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "(none)".to_string(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The fields of a setting the CLI prints, whether it came from the daemon (JSON) or the store.
#[derive(serde::Deserialize)]
struct SettingViewLite {
    key: String,
    group: String,
    value: Value,
    default: Value,
    secret: bool,
    is_set: bool,
}

fn lite(v: &SettingView) -> anyhow::Result<SettingViewLite> {
    Ok(serde_json::from_value(serde_json::to_value(v)?)?)
}

fn print_one(v: &SettingViewLite) {
    println!("{} = {}", v.key, show_value(v));
}

async fn settings(
    data_dir: &DataDir,
    api: Option<SocketAddr>,
    cmd: SettingsCmd,
) -> anyhow::Result<ExitCode> {
    let t = target(data_dir, api).await?;
    match cmd {
        SettingsCmd::List { json } => {
            let list: Value = match &t {
                Target::Daemon(c) => c.get("/v1/settings").await?,
                Target::Local(s) => serde_json::to_value(s.list()?)?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            let list: Vec<SettingViewLite> = serde_json::from_value(list)?;
            let mut group = "";
            for v in &list {
                if v.group != group {
                    group = &v.group;
                    println!("[{group}]");
                }
                let changed = if !v.secret && v.value != v.default {
                    "  (changed)"
                } else {
                    ""
                };
                println!("  {:<24} {}{changed}", v.key, show_value(v));
            }
        }
        SettingsCmd::Get { key } => {
            let v: SettingViewLite = match &t {
                Target::Daemon(c) => serde_json::from_value(
                    c.get(&format!("/v1/settings/{}", segment(&key))).await?,
                )?,
                Target::Local(s) => lite(&s.get(&key)?)?,
            };
            print_one(&v);
        }
        SettingsCmd::Set { key, value } => {
            let v: SettingViewLite = match &t {
                Target::Daemon(c) => serde_json::from_value(
                    c.put(
                        &format!("/v1/settings/{}", segment(&key)),
                        &json!({ "text": value }),
                    )
                    .await?,
                )?,
                Target::Local(s) => lite(&s.set_from_text(&key, &value)?)?,
            };
            print_one(&v);
        }
        SettingsCmd::Reset { key, all } => match (key, all) {
            (Some(key), false) => {
                let v: SettingViewLite = match &t {
                    Target::Daemon(c) => serde_json::from_value(
                        c.delete(&format!("/v1/settings/{}", segment(&key))).await?,
                    )?,
                    Target::Local(s) => lite(&s.reset(&key)?)?,
                };
                print_one(&v);
            }
            (None, true) => {
                match &t {
                    Target::Daemon(c) => {
                        c.post("/v1/settings/reset", &json!({})).await?;
                    }
                    Target::Local(s) => {
                        s.reset_all()?;
                    }
                }
                println!("All settings reset to their defaults.");
            }
            _ => anyhow::bail!("name a setting to reset, or pass --all to reset every setting"),
        },
        SettingsCmd::Export => {
            let doc = match &t {
                Target::Daemon(c) => c.get("/v1/settings/export").await?,
                Target::Local(s) => s.export()?,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        SettingsCmd::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            match t {
                Target::Daemon(c) => {
                    c.post("/v1/settings/import", &doc).await?;
                }
                Target::Local(mut s) => {
                    s.import(&doc)?;
                }
            }
            println!("Settings imported from {}.", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn config(
    data_dir: &DataDir,
    api: Option<SocketAddr>,
    cmd: ConfigCmd,
) -> anyhow::Result<ExitCode> {
    let t = target(data_dir, api).await?;
    let list: Value = match (&cmd, t) {
        (ConfigCmd::List, Target::Daemon(c)) => c.get("/v1/configs").await?,
        (ConfigCmd::List, Target::Local(s)) => serde_json::to_value(s.list_configs()?)?,
        (ConfigCmd::Save { name }, Target::Daemon(c)) => {
            c.post("/v1/configs", &json!({ "name": name })).await?
        }
        (ConfigCmd::Save { name }, Target::Local(s)) => serde_json::to_value(s.save_config(name)?)?,
        (ConfigCmd::Activate { name }, Target::Daemon(c)) => {
            c.post(
                &format!("/v1/configs/{}/activate", segment(name)),
                &json!({}),
            )
            .await?
        }
        (ConfigCmd::Activate { name }, Target::Local(mut s)) => {
            serde_json::to_value(s.activate_config(name)?)?
        }
        (ConfigCmd::Delete { name }, Target::Daemon(c)) => {
            c.delete(&format!("/v1/configs/{}", segment(name))).await?
        }
        (ConfigCmd::Delete { name }, Target::Local(s)) => {
            serde_json::to_value(s.delete_config(name)?)?
        }
    };
    match &cmd {
        ConfigCmd::Save { name } => println!("Saved the current settings as `{}`.", name.trim()),
        ConfigCmd::Activate { name } => println!("Now using configuration `{}`.", name.trim()),
        ConfigCmd::Delete { name } => println!("Deleted configuration `{}`.", name.trim()),
        ConfigCmd::List => {}
    }
    let items = list.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("No saved configurations. Save one with `lanrage config save NAME`.");
    }
    for c in items {
        println!(
            "{} {:<24} saved {}",
            if c["active"].as_bool() == Some(true) {
                "*"
            } else {
                " "
            },
            c["name"].as_str().unwrap_or("?"),
            c["created_at"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `s` with its first letter in upper case, to start a sentence.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
