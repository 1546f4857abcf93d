//! `lanrage service`: the engine as a Windows service.
//!
//! Creating a network adapter needs an administrator, and a player should not see a UAC prompt
//! each time they play: the installer registers this service (LocalSystem, started with
//! Windows), which runs the same engine and local API as `lanrage up`. The app and the CLI run
//! as the player and reach it through that API on the named pipe `\\.\pipe\lanrage`, which
//! only the interactive user and administrators can open (see [`crate::pipe`]).

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use lanrage_settings::DataDir;
use tokio_util::sync::CancellationToken;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use crate::service_acl;

/// The name the installer registers (`sc.exe create LANrage ...`).
pub use lanrage_local_api::pipe::SERVICE_NAME;

define_windows_service!(ffi_service_main, service_main);

/// Hands this process to the service manager; returns when the service has stopped.
pub fn run(data_dir: DataDir) -> anyhow::Result<()> {
    // The dispatcher calls `service_main` on its own thread with no way to pass arguments.
    DATA_DIR
        .set(data_dir)
        .map_err(|_| anyhow::anyhow!("the service was started twice in one process"))?;
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).context(
        "`lanrage service` is started by Windows' service manager (the installer registers it: \
         `sc.exe start LANrage`); to run the engine in a terminal, use `lanrage up` as an administrator",
    )
}

static DATA_DIR: std::sync::OnceLock<DataDir> = std::sync::OnceLock::new();

fn service_main(_args: Vec<OsString>) {
    if let Err(e) = serve() {
        tracing::error!(error = format!("{e:#}"), "the LANrage service stopped");
    }
}

fn status(state: ServiceState, exit: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code: ServiceExitCode::Win32(exit),
        checkpoint: 0,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    }
}

fn serve() -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let on_stop = stop.clone();
    let handle = service_control_handler::register(SERVICE_NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            on_stop.cancel();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .context("registering with the service manager")?;
    handle
        .set_service_status(status(ServiceState::StartPending, 0))
        .context("reporting the service's state")?;
    let result = run_engine(stop, &handle);
    let exit = if result.is_ok() { 0 } else { 1 };
    let _ = handle.set_service_status(status(ServiceState::Stopped, exit));
    result
}

fn run_engine(
    stop: CancellationToken,
    handle: &service_control_handler::ServiceStatusHandle,
) -> anyhow::Result<()> {
    let data_dir = DATA_DIR
        .get()
        .cloned()
        .context("no data directory was given to the service")?;
    data_dir
        .ensure()
        .with_context(|| format!("creating {}", data_dir.root().display()))?;
    let _guard = lanrage_core::logging::init(None, Some(&data_dir.log_dir()))?;
    icacls(&service_acl::close_dir(data_dir.root()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    handle
        .set_service_status(status(ServiceState::Running, 0))
        .context("reporting the service's state")?;
    runtime.block_on(crate::daemon::run(
        data_dir,
        None,
        None,
        None,
        stop.cancelled_owned(),
    ))
}

/// Runs `icacls`; a failure is logged (the engine still works, with the inherited ACL).
fn icacls(args: &[String]) {
    match Command::new("icacls.exe").args(args).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => tracing::warn!(
            args = ?args,
            output = %String::from_utf8_lossy(&out.stdout).trim(),
            "could not set who may read LANrage's data"
        ),
        Err(e) => tracing::warn!(error = %e, "could not run icacls"),
    }
}
