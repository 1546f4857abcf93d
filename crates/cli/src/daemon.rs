//! `lanrage up`: the engine without a window, for servers, LAN-party boxes and tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lanrage_core::{Engine, EngineOptions};
use lanrage_settings::DataDir;

/// Returns the token the local API requires, creating it (mode 0600) on first start. Not on
/// Windows, where the API is on a named pipe that only the player and administrators can open.
#[cfg(not(windows))]
pub fn ensure_token(data_dir: &DataDir) -> anyhow::Result<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use lanrage_settings::secret_file;
    use rand_core::RngCore;

    if let Some(t) = secret_file::read(&data_dir.api_token())? {
        let t = t.trim().to_string();
        if t.len() >= 32 {
            return Ok(t);
        }
    }
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    secret_file::write(&data_dir.api_token(), &format!("{token}\n"))?;
    Ok(token)
}

/// A WireGuard configuration file for `lanrage wg-up`, re-read on SIGHUP.
pub struct WgFile {
    path: PathBuf,
    interface: String,
}

impl WgFile {
    pub fn load(path: &Path, interface: Option<String>) -> anyhow::Result<Self> {
        let interface = interface.unwrap_or_else(|| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| !s.is_empty() && s.len() <= 15)
                .unwrap_or("lanrage0")
                .to_string()
        });
        let wg = Self {
            path: path.to_path_buf(),
            interface,
        };
        wg.parse()?; // fail before anything starts
        Ok(wg)
    }

    fn parse(&self) -> anyhow::Result<lanrage_tunnel::DeviceConfig> {
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        lanrage_tunnel::config::parse_wg_config(&text, &self.interface)
            .with_context(|| format!("{}", self.path.display()))
    }
}

/// The engine headless with its local API, until `stop` completes (Ctrl-C or SIGTERM for
/// `lanrage up`, the service manager for the Windows service).
pub async fn run(
    data_dir: DataDir,
    listen: Option<SocketAddr>,
    wg: Option<WgFile>,
    control_server: Option<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Before anything opens the settings: a second engine on this directory stops here.
    let _lock = data_dir.lock()?;
    let engine = Engine::start(EngineOptions {
        data_dir: data_dir.clone(),
        control_server,
    })
    .await?;
    if let Some(wg) = wg {
        let cfg = wg.parse()?;
        if let Err(e) = engine.start_tunnel(cfg).await {
            engine.shutdown().await;
            return Err(e.into());
        }
        tokio::spawn(reload_on_sighup(engine.clone(), wg));
    }
    for notice in engine.status().notices {
        tracing::warn!("{}", notice.message);
    }
    let cancel = engine.cancellation();
    let until_shutdown = {
        let cancel = cancel.clone();
        async move { cancel.cancelled().await }
    };
    #[cfg(not(windows))]
    let server = {
        let token = ensure_token(&data_dir)?;
        let addr = match listen {
            Some(a) => a,
            None => engine.settings()?.api_listen,
        };
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "the local API only listens on loopback (got {addr})"
        );
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                engine.shutdown().await;
                return Err(e).with_context(|| {
                    format!("cannot listen on {addr}: is another `lanrage up` running? (change the `api_listen` setting or pass --api ADDR:PORT)")
                });
            }
        };
        tracing::info!(%addr, "local API listening; `lanrage status` talks to it");
        axum::serve(
            listener,
            lanrage_local_api::router(engine.clone(), Some(token)),
        )
        .with_graceful_shutdown(until_shutdown)
    };
    // The service's pipe instead of a port: its DACL, not a token, says who may connect.
    #[cfg(windows)]
    let server = {
        let _ = (listen, &data_dir);
        let listener =
            match lanrage_local_api::pipe::PipeListener::bind(lanrage_local_api::pipe::PIPE_NAME) {
                Ok(l) => l,
                Err(e) => {
                    engine.shutdown().await;
                    return Err(e.into());
                }
            };
        tracing::info!(
            pipe = lanrage_local_api::pipe::PIPE_NAME,
            "local API listening; `lanrage status` talks to it"
        );
        axum::serve(listener, lanrage_local_api::router(engine.clone(), None))
            .with_graceful_shutdown(until_shutdown)
    };
    let shutdown_engine = engine.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("stop requested");
        shutdown_engine.shutdown().await;
    });
    server.await.context("local API server")?;
    // The server only stops once the engine is shutting down; wait until it has finished.
    engine.shutdown().await;
    Ok(())
}

/// `lanrage server`: the control server until Ctrl-C or SIGTERM. On PostgreSQL it may first
/// wait for another server to stop serving the same database, and when it loses the serving
/// lock (PostgreSQL restarted, the network cut) it stops serving and waits for the lock again,
/// so it recovers by itself once PostgreSQL is back.
pub async fn run_server(
    data_dir: DataDir,
    store: lanrage_server::store::StoreLocation,
    bus: Option<String>,
    listen: SocketAddr,
    public_ip: Option<std::net::IpAddr>,
    tls: Option<lanrage_server::TlsFiles>,
    ice: lanrage_server::IceConfig,
) -> anyhow::Result<()> {
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let config = lanrage_server::ServerConfig {
        listen,
        data_dir: data_dir.root().to_path_buf(),
        store,
        tls,
        ice,
        bus,
    };
    let stop = wait_for_signal();
    tokio::pin!(stop);
    let mut first = true;
    loop {
        let started = tokio::select! {
            s = async {
                if first {
                    lanrage_server::Server::start(config.clone()).await
                } else {
                    lanrage_server::Server::start_again(config.clone()).await
                }
            } => s,
            _ = &mut stop => {
                tracing::info!("stop requested");
                return Ok(());
            }
        };
        let server = match started {
            Ok(s) => s,
            // At the first start a wrong address or password is the operator's to fix; later,
            // PostgreSQL may just be restarting (or a hand-over met a passing fault).
            Err(e) if first && !e.after_serving() => return Err(e.into()),
            Err(e) => {
                // It has served (or taken players) before: from now on an absent database is
                // waited for, not fatal.
                first = false;
                tracing::warn!(error = %e, "cannot serve yet; trying again in 2 s");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => continue,
                    _ = &mut stop => {
                        tracing::info!("stop requested");
                        return Ok(());
                    }
                }
            }
        };
        first = false;
        let addr = server.local_addr();
        let shown = match public_ip {
            Some(ip) => SocketAddr::new(ip, addr.port()),
            None => addr,
        };
        tracing::info!("players use: lanrage up --server {scheme}://{shown}");
        tokio::select! {
            _ = &mut stop => {
                tracing::info!("stop requested");
                server.shutdown().await;
                return Ok(());
            }
            _ = server.stopped() => {}
        }
        let lost = server.lost_serving_lock();
        server.shutdown().await;
        if !lost {
            return Ok(());
        }
        tracing::warn!("stopped serving: the connection holding PostgreSQL's serving lock was lost; waiting to serve again");
    }
}

/// The address to give out when the operator named none: the listen address, else this
/// machine's first non-loopback IPv4 address.
pub fn default_public_ip(listen: std::net::IpAddr) -> Option<std::net::IpAddr> {
    if !listen.is_unspecified() {
        return Some(listen);
    }
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4())
}

/// `kill -HUP`: re-read the file's peers (as `wg syncconf` does); a bad file is logged and
/// the running tunnel left as it was.
async fn reload_on_sighup(engine: Engine, wg: WgFile) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        let cancel = engine.cancellation();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = hup.recv() => {}
            }
            match wg.parse() {
                Ok(cfg) => {
                    let n = cfg.peers.len();
                    match engine.set_tunnel_peers(cfg.peers).await {
                        Ok(()) => tracing::info!(peers = n, "configuration reloaded"),
                        Err(e) => tracing::warn!(error = %e, "reloading the configuration"),
                    }
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "configuration not reloaded"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (engine, wg);
}

/// Ctrl-C, or SIGTERM on Unix.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
