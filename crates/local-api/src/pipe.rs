//! The local API on Windows: a named pipe that only the LANrage service may own.
//!
//! On Windows the engine runs in a LocalSystem service and the app and CLI run as the player.
//! A loopback port can be opened by every process on the machine, so the API is served on
//! `\\.\pipe\lanrage` instead, created with an explicit security descriptor: owned by
//! LocalSystem, full control for LocalSystem and Administrators, and for INTERACTIVE (whoever is
//! logged on at the machine) just enough to read and write the API's bytes. The pipe's DACL is
//! the API's authentication there, as the token file is on Linux.
//!
//! Two attacks shape the rest. A program that creates the pipe before the service starts would
//! receive the player's commands: the server asks for the first instance
//! (FILE_FLAG_FIRST_PIPE_INSTANCE) and fails loudly when someone holds the name, and the client
//! refuses a pipe whose owner is not LocalSystem, which no ordinary user can make. A player who
//! could create a second instance of the genuine pipe would serve other players' connections:
//! INTERACTIVE is not granted FILE_CREATE_PIPE_INSTANCE (part of FILE_GENERIC_WRITE), which is
//! why the client opens the pipe with [`CLIENT_ACCESS`] rather than GENERIC_WRITE.
//!
//! The decisions (the SDDL, whose owner is trusted, the sentences a player reads) are plain
//! functions, tested on every OS; the Win32 calls sit in [`win`].
#![cfg_attr(not(windows), allow(dead_code))]

/// The pipe the service serves the local API on.
pub const PIPE_NAME: &str = r"\\.\pipe\lanrage";

/// The Windows service that runs the engine (registered by the installer).
pub const SERVICE_NAME: &str = "LANrage";

/// The account the service runs as; the only owner the client trusts.
pub const LOCAL_SYSTEM: &str = "S-1-5-18";
const ADMINISTRATORS: &str = "S-1-5-32-544";
/// Everyone logged on at the machine's console or by Remote Desktop (not services, batch jobs
/// or network logons).
const INTERACTIVE: &str = "S-1-5-4";

// Access rights (winnt.h), spelled out so the descriptor can be checked on every OS.
const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
const FILE_GENERIC_READ: u32 = 0x0012_0089;
const FILE_WRITE_DATA: u32 = 0x0002;
/// What the player's programs may do with the pipe, and exactly what the client asks for.
pub const CLIENT_ACCESS: u32 = FILE_GENERIC_READ | FILE_WRITE_DATA;

/// Who may open the pipe, and with which rights (SID, access mask).
pub const GRANTS: [(&str, u32); 3] = [
    (LOCAL_SYSTEM, FILE_ALL_ACCESS),
    (ADMINISTRATORS, FILE_ALL_ACCESS),
    (INTERACTIVE, CLIENT_ACCESS),
];

/// The pipe's security descriptor as SDDL: owner LocalSystem (without it the kernel would take
/// the service token's default owner, Administrators), a protected DACL with [`GRANTS`] only.
pub fn sddl() -> String {
    let mut s = format!("O:{LOCAL_SYSTEM}G:{LOCAL_SYSTEM}D:P");
    for (sid, mask) in GRANTS {
        s += &format!("(A;;0x{mask:x};;;{sid})");
    }
    s
}

/// What the service manager says about the LANrage service, to tell a player why the pipe is
/// missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    NotInstalled,
    Stopped,
    /// Running or starting, but the pipe is not there (yet).
    Starting,
    /// The service manager could not be asked.
    Unknown,
}

/// The sentence for "nothing serves the pipe": what happened and what to do.
pub fn absent_sentence(pipe: &str, service: ServiceState) -> String {
    match service {
        ServiceState::NotInstalled => format!(
            "LANrage's service is not installed on this computer (nothing answers on {pipe}): \
             install LANrage with its setup program, which registers the service"
        ),
        ServiceState::Stopped => format!(
            "the LANrage service is not running (nothing answers on {pipe}): start it in \
             Services (LANrage > Start), or run `sc.exe start LANrage` as an administrator"
        ),
        ServiceState::Starting => format!(
            "the LANrage service is running but does not answer on {pipe} yet: try again in a \
             few seconds; if it stays like this, its log is in %ProgramData%\\LANrage\\logs"
        ),
        ServiceState::Unknown => format!(
            "LANrage is not running here (nothing answers on {pipe}): start the LANrage service \
             (Services > LANrage > Start, or `sc.exe start LANrage` as an administrator), or \
             install LANrage if it is not installed"
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("{}", absent_sentence(pipe, *service))]
    Absent { pipe: String, service: ServiceState },
    #[error(
        "refusing to talk to {pipe}: it belongs to {owner}, not to the LANrage service \
         (LocalSystem), so another program may be posing as LANrage. Nothing was sent. Restart \
         the computer so the service claims its pipe first; if this message comes back, check \
         the computer for malware"
    )]
    NotOurs { pipe: String, owner: String },
    #[error(
        "Windows refused this session access to {pipe}: only the player logged on at this \
         computer (at its screen or by Remote Desktop) and administrators may drive the LANrage \
         service. Run this there, or from a terminal opened as administrator"
    )]
    Denied { pipe: String },
    #[error(
        "cannot serve the local API: another program already holds {pipe} (another LANrage \
         engine, or a program posing as LANrage). Stop the other one (`sc.exe stop LANrage` for \
         the service) or restart the computer"
    )]
    Taken { pipe: String },
    #[error(
        "cannot serve the local API on {pipe}: only the LANrage service or an administrator can \
         create it. Use the service, or run `lanrage up` in a terminal opened as administrator"
    )]
    NotPrivileged { pipe: String },
    #[error("{what} {pipe}: {source}")]
    Io {
        what: &'static str,
        pipe: String,
        #[source]
        source: std::io::Error,
    },
}

/// The client's check, before anything is sent: the pipe's owner must be LocalSystem. Not
/// Administrators either: that is also what a LocalSystem process gets without asking, and the
/// genuine pipe always names its owner.
/// A pipe with no owner recorded is refused too (Wine makes such pipes; Windows never does).
pub fn check_owner(pipe: &str, owner_sid: Option<&str>) -> Result<(), PipeError> {
    if owner_sid == Some(LOCAL_SYSTEM) {
        return Ok(());
    }
    Err(PipeError::NotOurs {
        pipe: pipe.to_string(),
        owner: owner_sid.map_or_else(|| "no account".to_string(), describe_sid),
    })
}

/// A SID as a player can read it (the few that matter here have names).
fn describe_sid(sid: &str) -> String {
    match sid {
        ADMINISTRATORS => format!("the Administrators group ({sid})"),
        INTERACTIVE => format!("the logged-on users ({sid})"),
        s if s.starts_with("S-1-5-21-") => format!("a user account ({sid})"),
        s => format!("the account {s}"),
    }
}

#[cfg(windows)]
pub use win::{connect, PipeListener};

#[cfg(windows)]
mod win {
    use std::ffi::{c_void, OsStr};
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, RawHandle};
    use std::time::Duration;

    use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer, ServerOptions};
    use windows_sys::Win32::Foundation::{
        LocalFree, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INVALID_OWNER, ERROR_PIPE_BUSY,
        ERROR_SEM_TIMEOUT, ERROR_SERVICE_DOES_NOT_EXIST, HANDLE, INVALID_HANDLE_VALUE, LUID,
    };
    use windows_sys::Win32::Security::Authorization::{
        ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
        GetSecurityInfo, SDDL_REVISION_1, SE_KERNEL_OBJECT,
    };
    use windows_sys::Win32::Security::{
        AdjustTokenPrivileges, LookupPrivilegeValueW, OWNER_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, SE_PRIVILEGE_ENABLED, SE_RESTORE_NAME,
        TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_FLAG_OVERLAPPED, OPEN_EXISTING, SECURITY_IDENTIFICATION,
        SECURITY_SQOS_PRESENT,
    };
    use windows_sys::Win32::System::Pipes::{GetNamedPipeServerProcessId, WaitNamedPipeW};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    use super::{check_owner, sddl, PipeError, ServiceState, CLIENT_ACCESS, SERVICE_NAME};

    fn wide(s: &str) -> Vec<u16> {
        OsStr::new(s)
            .encode_wide()
            .chain(std::iter::once(0))
            .collect()
    }

    /// A security descriptor made from SDDL, freed with LocalFree.
    pub struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

    // SAFETY: the descriptor is a heap block this value alone owns; it is only read after it is
    // made, and freed once, on drop.
    unsafe impl Send for SecurityDescriptor {}

    impl SecurityDescriptor {
        pub fn from_sddl(sddl: &str) -> io::Result<Self> {
            let text = wide(sddl);
            let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
            // SAFETY: `text` is NUL-terminated and outlives the call; `sd` is an out-pointer.
            let ok = unsafe {
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    text.as_ptr(),
                    SDDL_REVISION_1,
                    &mut sd,
                    std::ptr::null_mut(),
                )
            };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Self(sd))
        }

        pub fn as_ptr(&self) -> PSECURITY_DESCRIPTOR {
            self.0
        }
    }

    impl Drop for SecurityDescriptor {
        fn drop(&mut self) {
            // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW, which
            // documents LocalFree; nothing refers to it after this.
            unsafe { LocalFree(self.0) };
        }
    }

    /// A SID in its string form (S-1-5-18).
    pub fn sid_string(sid: PSID) -> io::Result<String> {
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: `sid` points to a valid SID (the caller's descriptor is alive); `text` is an
        // out-pointer to a LocalAlloc'd, NUL-terminated string.
        if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = 0;
        // SAFETY: the string is NUL-terminated; we read up to the NUL, then free it once.
        let s = unsafe {
            while *text.add(len) != 0 {
                len += 1;
            }
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            s
        };
        Ok(s)
    }

    /// The owner of the kernel object behind `handle`. The pipe's owner, set when it was
    /// created, rather than the server process's token: a process ID can be reused between
    /// asking for it and opening the process, and ordinary users cannot read a service's token.
    pub fn owner_of(handle: HANDLE) -> io::Result<Option<String>> {
        let mut owner: PSID = std::ptr::null_mut();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `handle` is an open pipe handle; the out-pointers are locals. On success the
        // system allocates `sd` and points `owner` into it.
        let err = unsafe {
            GetSecurityInfo(
                handle,
                SE_KERNEL_OBJECT,
                OWNER_SECURITY_INFORMATION,
                &mut owner,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut sd,
            )
        };
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err as i32));
        }
        let result = if owner.is_null() {
            Ok(None)
        } else {
            sid_string(owner).map(Some)
        };
        // SAFETY: allocated by GetSecurityInfo; `owner` is not used after this.
        unsafe { LocalFree(sd) };
        result
    }

    /// What the service manager says about the LANrage service.
    fn service_state() -> ServiceState {
        use windows_service::service::{ServiceAccess, ServiceState as Scm};
        use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
        let Ok(scm) = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        else {
            return ServiceState::Unknown;
        };
        match scm.open_service(SERVICE_NAME, ServiceAccess::QUERY_STATUS) {
            Ok(service) => match service.query_status() {
                Ok(s) if s.current_state == Scm::Stopped => ServiceState::Stopped,
                Ok(_) => ServiceState::Starting,
                Err(_) => ServiceState::Unknown,
            },
            Err(windows_service::Error::Winapi(e))
                if e.raw_os_error() == Some(ERROR_SERVICE_DOES_NOT_EXIST as i32) =>
            {
                ServiceState::NotInstalled
            }
            Err(_) => ServiceState::Unknown,
        }
    }

    /// Opens the pipe (waiting while every instance is busy) and checks its owner before
    /// anything is sent.
    pub async fn connect(pipe: &str) -> Result<NamedPipeClient, PipeError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let client = loop {
            match open(pipe) {
                Ok(c) => break c,
                Err(e)
                    if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) if e.raw_os_error() == Some(ERROR_FILE_NOT_FOUND as i32) => {
                    return Err(PipeError::Absent {
                        pipe: pipe.to_string(),
                        service: service_state(),
                    })
                }
                Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
                    return Err(PipeError::Denied {
                        pipe: pipe.to_string(),
                    })
                }
                Err(source) => {
                    return Err(PipeError::Io {
                        what: "cannot open",
                        pipe: pipe.to_string(),
                        source,
                    })
                }
            }
        };
        let handle = client.as_raw_handle() as HANDLE;
        let owner = owner_of(handle).map_err(|source| PipeError::Io {
            what: "cannot read the owner of",
            pipe: pipe.to_string(),
            source,
        })?;
        check_owner(pipe, owner.as_deref())?;
        let mut pid = 0u32;
        // SAFETY: `handle` is the open pipe; `pid` is an out-pointer. Only for the log.
        if unsafe { GetNamedPipeServerProcessId(handle, &mut pid) } != 0 {
            tracing::debug!(pipe, server_pid = pid, "connected to the local API");
        }
        Ok(client)
    }

    fn open(pipe: &str) -> io::Result<NamedPipeClient> {
        let name = wide(pipe);
        // SAFETY: `name` is NUL-terminated. Identification-level impersonation only, so a
        // server posing as LANrage cannot act as the player.
        let h = unsafe {
            CreateFileW(
                name.as_ptr(),
                CLIENT_ACCESS,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `h` is an overlapped pipe handle we own, handed over once.
        unsafe { NamedPipeClient::from_raw_handle(h as RawHandle) }
    }

    /// The server side: one instance waiting for a client at all times, every instance with the
    /// pipe's descriptor. Implements axum's `Listener`, so the same router serves it.
    pub struct PipeListener {
        pipe: String,
        sd: SecurityDescriptor,
        next: NamedPipeServer,
    }

    impl PipeListener {
        /// Creates the pipe; fails if anyone else already has it.
        pub fn bind(pipe: &str) -> Result<Self, PipeError> {
            // FILE_FLAG_FIRST_PIPE_INSTANCE is what stops a squatter on Windows; asking first
            // also covers systems that ignore the flag (Wine does).
            if exists(pipe) {
                return Err(PipeError::Taken {
                    pipe: pipe.to_string(),
                });
            }
            let sd = SecurityDescriptor::from_sddl(&sddl()).map_err(|source| PipeError::Io {
                what: "cannot build the security descriptor for",
                pipe: pipe.to_string(),
                source,
            })?;
            let next = match create(pipe, &sd, true) {
                // An administrator's process may name another owner once it enables its
                // restore privilege (the service, running as the owner, needs none).
                Err(PipeError::NotPrivileged { .. }) if enable_restore_privilege() => {
                    create(pipe, &sd, true)?
                }
                r => r?,
            };
            Ok(Self {
                pipe: pipe.to_string(),
                sd,
                next,
            })
        }
    }

    /// Whether some server already has an instance of `pipe` (free or busy).
    fn exists(pipe: &str) -> bool {
        let name = wide(pipe);
        // SAFETY: `name` is NUL-terminated; waits at most 1 ms and connects to nothing.
        if unsafe { WaitNamedPipeW(name.as_ptr(), 1) } != 0 {
            return true;
        }
        matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(c) if c == ERROR_SEM_TIMEOUT as i32 || c == ERROR_PIPE_BUSY as i32
        )
    }

    fn create(
        pipe: &str,
        sd: &SecurityDescriptor,
        first: bool,
    ) -> Result<NamedPipeServer, PipeError> {
        let mut attrs = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: sd.as_ptr(),
            bInheritHandle: 0,
        };
        // SAFETY: `attrs` is a valid SECURITY_ATTRIBUTES whose descriptor is alive; the system
        // copies it during the call.
        let made = unsafe {
            ServerOptions::new()
                .first_pipe_instance(first)
                .reject_remote_clients(true)
                .create_with_security_attributes_raw(
                    pipe,
                    (&mut attrs as *mut SECURITY_ATTRIBUTES).cast::<c_void>(),
                )
        };
        made.map_err(|source| match source.raw_os_error() {
            Some(c)
                if first && (c == ERROR_ACCESS_DENIED as i32 || c == ERROR_PIPE_BUSY as i32) =>
            {
                PipeError::Taken {
                    pipe: pipe.to_string(),
                }
            }
            Some(c) if c == ERROR_INVALID_OWNER as i32 => PipeError::NotPrivileged {
                pipe: pipe.to_string(),
            },
            _ => PipeError::Io {
                what: "cannot create",
                pipe: pipe.to_string(),
                source,
            },
        })
    }

    /// Enables SeRestorePrivilege if this process's token has it (an elevated administrator's
    /// does), so `lanrage up` can give the pipe to LocalSystem as the service does.
    fn enable_restore_privilege() -> bool {
        let mut token: HANDLE = std::ptr::null_mut();
        let mut luid = LUID::default();
        // SAFETY: out-pointers are locals; the token handle is closed below.
        unsafe {
            if OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES, &mut token) == 0 {
                return false;
            }
            let token = std::os::windows::io::OwnedHandle::from_raw_handle(token as RawHandle);
            if LookupPrivilegeValueW(std::ptr::null(), SE_RESTORE_NAME, &mut luid) == 0 {
                return false;
            }
            let mut privileges = TOKEN_PRIVILEGES {
                PrivilegeCount: 1,
                ..Default::default()
            };
            privileges.Privileges[0].Luid = luid;
            privileges.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
            let ok = AdjustTokenPrivileges(
                token.as_raw_handle() as HANDLE,
                0,
                &privileges,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            // AdjustTokenPrivileges succeeds without the privilege; the last error says so.
            ok != 0 && io::Error::last_os_error().raw_os_error() == Some(0)
        }
    }

    impl axum::serve::Listener for PipeListener {
        type Io = NamedPipeServer;
        type Addr = String;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                let connected = self.next.connect().await;
                // The next instance exists before this one is handed out, so a client never
                // finds the name missing while the engine runs.
                let fresh = match create(&self.pipe, &self.sd, false) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "local API: cannot make the next pipe instance");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let ready = std::mem::replace(&mut self.next, fresh);
                match connected {
                    Ok(()) => return (ready, self.pipe.clone()),
                    Err(e) => {
                        tracing::debug!(error = %e, "local API: a client left before it was served")
                    }
                }
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(self.pipe.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_admits_only_the_service_administrators_and_the_player_at_the_keyboard() {
        assert_eq!(
            sddl(),
            "O:S-1-5-18G:S-1-5-18D:P(A;;0x1f01ff;;;S-1-5-18)(A;;0x1f01ff;;;S-1-5-32-544)\
             (A;;0x12008b;;;S-1-5-4)"
        );
        let sids: Vec<&str> = GRANTS.iter().map(|g| g.0).collect();
        // No Everyone, Users, Authenticated Users, Anonymous, Network or Service.
        for outsider in [
            "S-1-1-0",
            "S-1-5-32-545",
            "S-1-5-11",
            "S-1-5-7",
            "S-1-5-2",
            "S-1-5-6",
        ] {
            assert!(!sids.contains(&outsider), "{outsider} must not be granted");
        }
    }

    #[test]
    fn the_player_cannot_add_a_pipe_instance_of_their_own() {
        // FILE_APPEND_DATA means this on a pipe: whoever holds it may add server instances.
        const FILE_CREATE_PIPE_INSTANCE: u32 = 0x0004;
        let (_, player) = GRANTS[2];
        assert_eq!(player & FILE_CREATE_PIPE_INSTANCE, 0);
        // Nor change who may open it, or take it over.
        const WRITE_DAC: u32 = 0x0004_0000;
        const WRITE_OWNER: u32 = 0x0008_0000;
        assert_eq!(player & (WRITE_DAC | WRITE_OWNER), 0);
        // But reading and writing the API's bytes it can, and the client asks for no more.
        assert_eq!(player, CLIENT_ACCESS);
    }

    #[test]
    fn only_a_pipe_owned_by_local_system_is_trusted() {
        assert!(check_owner(PIPE_NAME, Some("S-1-5-18")).is_ok());
        let user = check_owner(
            PIPE_NAME,
            Some("S-1-5-21-1004336348-1177238915-682003330-1001"),
        )
        .expect_err("a user's pipe is refused");
        let text = user.to_string();
        assert!(
            text.starts_with(
                r"refusing to talk to \\.\pipe\lanrage: it belongs to a user account (S-1-5-21-"
            ),
            "{text}"
        );
        assert!(text.contains("Nothing was sent"), "{text}");
        assert!(check_owner(PIPE_NAME, Some("S-1-5-32-544")).is_err());
        assert!(check_owner(PIPE_NAME, Some("S-1-5-4")).is_err());
        let nobody = check_owner(PIPE_NAME, None).expect_err("an ownerless pipe is refused");
        assert!(
            nobody.to_string().contains("it belongs to no account"),
            "{nobody}"
        );
    }

    #[test]
    fn a_missing_pipe_tells_the_player_what_to_do() {
        let not_installed = absent_sentence(PIPE_NAME, ServiceState::NotInstalled);
        assert!(not_installed.contains("not installed"), "{not_installed}");
        assert!(not_installed.contains("setup program"), "{not_installed}");
        let stopped = absent_sentence(PIPE_NAME, ServiceState::Stopped);
        assert!(stopped.contains("not running"), "{stopped}");
        assert!(stopped.contains("sc.exe start LANrage"), "{stopped}");
        let starting = absent_sentence(PIPE_NAME, ServiceState::Starting);
        assert!(starting.contains("try again"), "{starting}");
        let unknown = absent_sentence(PIPE_NAME, ServiceState::Unknown);
        assert!(unknown.contains("start the LANrage service") && unknown.contains("install"));
        for s in [not_installed, stopped, starting, unknown] {
            assert!(s.contains(PIPE_NAME), "{s}");
        }
    }

    #[test]
    fn a_session_the_pipe_does_not_admit_is_told_who_may_use_it() {
        let text = PipeError::Denied {
            pipe: PIPE_NAME.into(),
        }
        .to_string();
        assert!(
            text.contains("only the player logged on at this computer"),
            "{text}"
        );
        assert!(text.contains("administrator"), "{text}");
    }
}

#[cfg(all(test, windows))]
mod windows_tests;
