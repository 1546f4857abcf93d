//! System CPU, memory and network throughput from `sysinfo`, plus this process's own footprint.
//!
//! CPU usage is a difference between two readings of the kernel's counters, so one
//! [`SystemSampler`] keeps one `sysinfo::System` alive and refreshes it on every tick; the first
//! call only takes the baseline and returns `None`. Network throughput is the bytes counted by
//! `sysinfo` since the previous refresh divided by the time since the previous sample (from the
//! caller's timestamps). Loopback and any interface the caller excludes (LANrage's own TUN, whose
//! traffic is already counted on the physical interface) are left out.

use serde::{Deserialize, Serialize};
use sysinfo::{Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use ts_rs::TS;

/// One system reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct SystemSample {
    /// Unix milliseconds of the reading.
    pub t_ms: u64,
    /// Whole-machine CPU use since the previous sample, 0.0..=1.0 (all cores together).
    pub cpu_ratio: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// Bytes per second received and sent on all non-excluded interfaces.
    pub net_rx_bytes_per_sec: f64,
    pub net_tx_bytes_per_sec: f64,
    /// This process's CPU use since the previous sample, in cores (0.05 = 5 % of one core).
    pub process_cpu_cores: Option<f64>,
    /// This process's resident memory.
    pub process_memory_bytes: Option<u64>,
}

/// Takes [`SystemSample`]s; keep one and call [`SystemSampler::sample`] on every tick.
pub struct SystemSampler {
    system: System,
    networks: Networks,
    excluded: Vec<String>,
    pid: Option<Pid>,
    last_t_ms: Option<u64>,
}

impl std::fmt::Debug for SystemSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemSampler")
            .field("excluded", &self.excluded)
            .field("last_t_ms", &self.last_t_ms)
            .finish_non_exhaustive()
    }
}

impl Default for SystemSampler {
    fn default() -> Self {
        Self::new()
    }
}

/// CPU readings closer together than this are noise; `sysinfo` documents 200 ms on Linux.
pub const MIN_INTERVAL_MS: u64 = 200;

impl SystemSampler {
    /// A sampler that leaves out `lo`.
    pub fn new() -> Self {
        Self {
            system: System::new(),
            networks: Networks::new_with_refreshed_list(),
            excluded: vec!["lo".to_string()],
            pid: sysinfo::get_current_pid().ok(),
            last_t_ms: None,
        }
    }

    /// Also leave out this interface (e.g. LANrage's TUN, `lanrage0`).
    pub fn exclude_interface(&mut self, name: impl Into<String>) {
        let name = name.into();
        if !self.excluded.contains(&name) {
            self.excluded.push(name);
        }
    }

    /// Refreshes and returns a reading, `None` on the first call (the baseline), when called
    /// less than [`MIN_INTERVAL_MS`] after the previous reading (which then stays the baseline),
    /// or when `now_ms` went backwards (a new baseline is taken).
    pub fn sample(&mut self, now_ms: u64) -> Option<SystemSample> {
        let elapsed_ms = match self.last_t_ms {
            Some(last) if now_ms < last => {
                self.refresh();
                self.last_t_ms = Some(now_ms);
                return None;
            }
            Some(last) if now_ms - last < MIN_INTERVAL_MS => return None,
            Some(last) => Some(now_ms - last),
            None => None,
        };
        self.refresh();
        self.last_t_ms = Some(now_ms);
        let elapsed_ms = elapsed_ms?;
        let secs = elapsed_ms as f64 / 1000.0;
        let (mut rx, mut tx) = (0u64, 0u64);
        for (name, data) in self.networks.iter() {
            if self.excluded.iter().any(|e| e == name) {
                continue;
            }
            rx = rx.saturating_add(data.received());
            tx = tx.saturating_add(data.transmitted());
        }
        let process = self.pid.and_then(|pid| self.system.process(pid));
        Some(SystemSample {
            t_ms: now_ms,
            cpu_ratio: (f64::from(self.system.global_cpu_usage()) / 100.0).clamp(0.0, 1.0),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
            net_rx_bytes_per_sec: rx as f64 / secs,
            net_tx_bytes_per_sec: tx as f64 / secs,
            process_cpu_cores: process.map(|p| (f64::from(p.cpu_usage()) / 100.0).max(0.0)),
            process_memory_bytes: process.map(|p| p.memory()),
        })
    }

    fn refresh(&mut self) {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.networks.refresh(true);
        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reading_is_the_baseline_then_real_values() {
        let mut s = SystemSampler::new();
        let t0 = 1_700_000_000_000;
        assert_eq!(s.sample(t0), None);
        // Too soon: still no reading, the baseline is kept.
        assert_eq!(s.sample(t0 + 50), None);
        // Burn a little CPU so the reading has something to see.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(250) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let r = s.sample(t0 + 300).unwrap();
        assert_eq!(r.t_ms, t0 + 300);
        assert!((0.0..=1.0).contains(&r.cpu_ratio), "{}", r.cpu_ratio);
        assert!(r.memory_total_bytes > 0);
        assert!(r.memory_used_bytes > 0 && r.memory_used_bytes <= r.memory_total_bytes);
        assert!(r.net_rx_bytes_per_sec >= 0.0 && r.net_tx_bytes_per_sec >= 0.0);
        assert!(r.process_memory_bytes.unwrap_or(0) > 0);
        assert!(r.process_cpu_cores.unwrap_or(0.0) >= 0.0);
    }

    #[test]
    fn clock_going_back_takes_a_new_baseline() {
        let mut s = SystemSampler::new();
        s.exclude_interface("lanrage0");
        s.exclude_interface("lanrage0");
        assert_eq!(s.excluded, vec!["lo".to_string(), "lanrage0".to_string()]);
        assert!(s.sample(10_000).is_none());
        assert!(s.sample(5_000).is_none());
        assert!(s.sample(5_400).is_some());
    }
}
