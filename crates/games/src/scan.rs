//! The one I/O of this crate: listing running processes with sysinfo.

use std::collections::HashMap;
use std::path::Path;

use sysinfo::{
    Pid, Process, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind,
};

use crate::detect::ProcessInfo;

/// Lists running processes for the [`Detector`](crate::Detector), cheaply enough to run every
/// [`SCAN_INTERVAL`](crate::SCAN_INTERVAL).
///
/// Each scan lists the processes afresh (not threads, not kernel threads) with their names
/// only; the executable's name and `argv[0]` are read just for processes that are new since the
/// last scan or whose name changed (the same pid after `exec`, or a program renaming itself as
/// Wine does with the Windows executable's name), and kept for the others. Nothing else is read
/// (no CPU, memory, environment or user). A fresh listing each time matters: sysinfo keeps the
/// first name it saw for a pid, which would hide a game that a wrapper exec'd.
///
/// `argv[0]` is read on Linux only: there it is one small read per new process and it names
/// Windows games under Wine/Proton; on Windows reading it means reading another process's
/// memory, and the executable's name is already complete.
#[derive(Debug, Default)]
pub struct ProcessScanner {
    known: HashMap<u32, Known>,
}

#[derive(Debug)]
struct Known {
    name: String,
    start_time: u64,
    exe_name: Option<String>,
    cmd_name: Option<String>,
}

impl ProcessScanner {
    pub fn new() -> ProcessScanner {
        ProcessScanner::default()
    }

    /// Every process running now, sorted by pid.
    pub fn scan(&mut self) -> Vec<ProcessInfo> {
        let list = ProcessRefreshKind::nothing().without_tasks();
        let mut system = System::new();
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, list);
        let changed: Vec<Pid> = system
            .processes()
            .iter()
            .filter(|(_, process)| running(process))
            .filter(|(pid, process)| {
                self.known.get(&pid.as_u32()).is_none_or(|known| {
                    known.start_time != process.start_time() || *known.name != *process.name()
                })
            })
            .map(|(pid, _)| *pid)
            .collect();
        if !changed.is_empty() {
            let details = list.with_exe(UpdateKind::Always);
            let details = if cfg!(target_os = "linux") {
                details.with_cmd(UpdateKind::Always)
            } else {
                details
            };
            system.refresh_processes_specifics(ProcessesToUpdate::Some(&changed), false, details);
        }
        let mut known = HashMap::with_capacity(system.processes().len());
        for pid in changed {
            if let Some(process) = system.process(pid) {
                known.insert(pid.as_u32(), Known::of(process));
            }
        }
        for (pid, process) in system.processes() {
            let pid = pid.as_u32();
            if running(process) && !known.contains_key(&pid) {
                if let Some(old) = self.known.remove(&pid) {
                    known.insert(pid, old);
                }
            }
        }
        self.known = known;
        let mut processes: Vec<ProcessInfo> = self
            .known
            .iter()
            .map(|(&pid, known)| ProcessInfo {
                pid,
                name: known.name.clone(),
                exe_name: known.exe_name.clone(),
                cmd_name: known.cmd_name.clone(),
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        processes
    }
}

/// A process, not a thread, and not one that has ended: a game that quit stays in the process
/// table as a zombie, name and all, until its parent (a launcher) reaps it.
fn running(process: &Process) -> bool {
    process.thread_kind().is_none()
        && !matches!(
            process.status(),
            ProcessStatus::Zombie | ProcessStatus::Dead
        )
}

impl Known {
    fn of(process: &Process) -> Known {
        Known {
            name: process.name().to_string_lossy().into_owned(),
            start_time: process.start_time(),
            exe_name: process
                .exe()
                .and_then(Path::file_name)
                .map(|name| exe_file_name(&name.to_string_lossy()))
                .filter(|name| !name.is_empty()),
            cmd_name: process
                .cmd()
                .first()
                .map(|arg| file_name(&arg.to_string_lossy()).to_owned())
                .filter(|name| !name.is_empty()),
        }
    }
}

/// One scan with a new [`ProcessScanner`]: every name read, nothing kept. The engine keeps a
/// scanner instead, which reads executable names only for new processes.
pub fn scan_processes() -> Vec<ProcessInfo> {
    ProcessScanner::new().scan()
}

/// The last component of a path written with `/` or `\` separators.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// An executable's file name without the ` (deleted)` Linux appends when the file was replaced
/// while running (a game updated by the package manager mid-session).
pub(crate) fn exe_file_name(name: &str) -> String {
    name.strip_suffix(" (deleted)").unwrap_or(name).to_owned()
}
