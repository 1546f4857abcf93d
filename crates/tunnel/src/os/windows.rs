//! Windows: a WinTUN adapter through tun-rs, loaded from the checked `wintun.dll` beside the
//! program; packets one at a time (WinTUN has no offload) but drained in batches; the fixes of
//! [`crate::windows_network`] applied when the adapter comes up and undone when it goes.

use std::io;
use std::net::Ipv4Addr;
use std::os::windows::process::CommandExt;
use std::process::Command;

use super::Tun;
use crate::config::DeviceConfig;
use crate::windows_network as plan;
use crate::wintun_dll;

/// Packets taken per wake-up: one blocking read, then whatever is already queued.
pub(crate) const TUN_BATCH: usize = 64;

/// Wintun takes packets one by one: nothing is coalesced.
pub(crate) const TUN_COALESCED_MAX: usize = 0;

/// A child program that opens no console window (the app has none to share).
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

pub(crate) struct RecvState;

impl RecvState {
    pub(crate) fn new() -> Self {
        Self
    }
}

#[derive(Default)]
pub(crate) struct SendState;

impl Tun {
    pub(crate) fn open(cfg: &DeviceConfig) -> io::Result<Tun> {
        let dll = wintun_dll::beside_program()
            .ok_or_else(|| io::Error::other("cannot tell where LANrage is installed"))?;
        wintun_dll::verify(&dll).map_err(io::Error::other)?;
        let b = super::common(cfg)
            .description("LANrage")
            .metric(plan::ADAPTER_METRIC)
            .wintun_file(dll.display().to_string());
        let tun = b.build_async()?;
        let name = tun.name().unwrap_or_else(|_| cfg.interface_name.clone());
        let index = tun.if_index().unwrap_or(0);
        let script = plan::setup_script(&name, index, &plan::party_networks(&cfg.addresses));
        // Windows needs seconds to identify a new network; the tunnel works meanwhile.
        tokio::task::spawn_blocking(move || match powershell(&script) {
            Ok(()) => {
                tracing::info!(adapter = %name, "network set to Private; party traffic admitted by the firewall")
            }
            Err(e) => {
                tracing::warn!(adapter = %name, error = %e, "could not open the firewall to the party: games may not see each other")
            }
        });
        Ok(Tun(tun))
    }

    /// Reads at least one packet; returns how many, each in `bufs[i][..sizes[i]]`.
    pub(crate) async fn recv_batch(
        &self,
        _st: &mut RecvState,
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
    ) -> io::Result<usize> {
        let (Some(first), Some(size)) = (bufs.first_mut(), sizes.first_mut()) else {
            return Ok(0);
        };
        *size = self.0.recv(first).await?;
        Ok(1 + self.read_waiting(&mut bufs[1..], &mut sizes[1..]))
    }

    /// Reads what is waiting without waiting: `WouldBlock` if nothing is.
    pub(crate) fn try_recv_batch(
        &self,
        _st: &mut RecvState,
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
        _busy: bool,
    ) -> io::Result<usize> {
        match self.read_waiting(bufs, sizes) {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    /// Packets the adapter already holds, up to the buffers given.
    fn read_waiting(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> usize {
        let mut n = 0;
        while n < bufs.len().min(sizes.len()) {
            match self.0.try_recv(&mut bufs[n]) {
                Ok(len) => {
                    sizes[n] = len;
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "reading the adapter");
                    break;
                }
            }
        }
        n
    }

    /// Writes every buffer's packet, which starts at `offset`.
    pub(crate) async fn send_batch(
        &self,
        _st: &mut SendState,
        bufs: &mut [Vec<u8>],
        offset: usize,
    ) -> io::Result<()> {
        for b in bufs.iter() {
            if let Some(pkt) = b.get(offset..) {
                self.0.send(pkt).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn close(&self) {
        let script = plan::teardown_script();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = powershell(&script) {
                tracing::debug!(error = %e, "removing the firewall rules");
            }
        })
        .await;
    }
}

fn run(program: &str, args: &[String]) -> io::Result<()> {
    let out = Command::new(program)
        .args(args)
        .creation_flags(CREATE_NO_WINDOW)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = if err.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        } else {
            err.trim().to_string()
        };
        Err(io::Error::other(format!("{program}: {msg}")))
    }
}

fn powershell(script: &str) -> io::Result<()> {
    run("powershell.exe", &plan::powershell_args(script))
}

/// Routes the multicast groups into the adapter (limited broadcast goes by metric); returns
/// those it routed.
pub(crate) async fn add_host_routes(if_index: u32, dests: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    let dests = plan::routed_on_windows(dests);
    tokio::task::spawn_blocking(move || {
        dests
            .into_iter()
            .filter(|d| match run("netsh.exe", &plan::host_route_args(*d, if_index, true)) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(dest = %d, error = %e, "cannot route this address into the tunnel; games sending to it stay local");
                    false
                }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

pub(crate) async fn remove_host_routes(if_index: u32, dests: &[Ipv4Addr]) {
    let dests = dests.to_vec();
    let _ = tokio::task::spawn_blocking(move || {
        for d in dests {
            if let Err(e) = run("netsh.exe", &plan::host_route_args(d, if_index, false)) {
                tracing::debug!(dest = %d, error = %e, "removing a route (it goes with the adapter)");
            }
        }
    })
    .await;
}

/// What to do when creating the adapter is refused.
pub(crate) fn permission_hint() -> String {
    "Creating a network adapter needs an administrator: start the LANrage service (the installer registers it; `sc start LANrage`), or run this command in a terminal opened with \"Run as administrator\"".into()
}
