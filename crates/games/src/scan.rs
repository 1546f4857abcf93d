//! The one I/O of this crate: listing running processes with sysinfo.

use std::path::Path;

use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use crate::detect::ProcessInfo;

/// Lists the running processes (not threads, not kernel threads): pid, name, executable file
/// name and `argv[0]`'s file name. Nothing else is read (no CPU, memory, environment or user),
/// and each scan starts afresh, so a process that exec'd another program since the last scan
/// shows the new one (sysinfo keeps the first name it saw for a pid).
///
/// `argv[0]` is read on Linux only: there it is one small read per process and it names
/// Windows games under Wine/Proton; on Windows reading it means reading another process's
/// memory, and the executable's name is already complete.
pub fn scan_processes() -> Vec<ProcessInfo> {
    let refresh = ProcessRefreshKind::nothing()
        .without_tasks()
        .with_exe(UpdateKind::Always);
    let refresh = if cfg!(target_os = "linux") {
        refresh.with_cmd(UpdateKind::Always)
    } else {
        refresh
    };
    let mut system = System::new();
    system.refresh_processes_specifics(ProcessesToUpdate::All, true, refresh);
    let mut processes: Vec<ProcessInfo> = system
        .processes()
        .iter()
        .filter(|(_, process)| process.thread_kind().is_none())
        .map(|(pid, process)| ProcessInfo {
            pid: pid.as_u32(),
            name: process.name().to_string_lossy().into_owned(),
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
        })
        .collect();
    processes.sort_by_key(|p| p.pid);
    processes
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
