use crate::scan::{exe_file_name, file_name};
use crate::{scan_processes, Catalogue, Detector, GameEvent, ProcessScanner};

#[test]
fn file_names_from_unix_and_windows_paths() {
    assert_eq!(file_name("/usr/games/openttd"), "openttd");
    assert_eq!(
        file_name(r"Z:\home\ana\ARK\ShooterGame\Binaries\Win64\ShooterGameServer.exe"),
        "ShooterGameServer.exe"
    );
    assert_eq!(file_name("openttd"), "openttd");
    assert_eq!(file_name("./redeclipse"), "redeclipse");
    assert_eq!(exe_file_name("openttd (deleted)"), "openttd");
    assert_eq!(exe_file_name("openttd"), "openttd");
}

#[test]
fn the_scan_lists_this_process_with_its_names() {
    let me = std::process::id();
    let processes = scan_processes();
    let this = processes
        .iter()
        .find(|p| p.pid == me)
        .expect("the test process is listed");
    assert!(!this.name.is_empty());
    let exe = std::env::current_exe().unwrap();
    let exe_name = exe.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(this.exe_name.as_deref(), Some(exe_name.as_str()));
    if cfg!(target_os = "linux") {
        assert!(
            this.name.len() <= crate::COMM_LEN,
            "comm is cut: {}",
            this.name
        );
        assert!(this.cmd_name.is_some());
    }
}

struct Kill(Vec<std::process::Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn sleep_binary() -> &'static str {
    ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("sleep")
}

/// Runs a copy of `sleep` under each name, scans for real and feeds the detector.
#[cfg(target_os = "linux")]
#[test]
fn real_processes_are_detected_by_their_executable_names() {
    let sleep = sleep_binary();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Kill(Vec::new());
    let mut pids = Vec::new();
    for name in ["openttd", "armagetronad-dedicated.real", "openttd-helper"] {
        let path = dir.path().join(name);
        std::fs::copy(sleep, &path).unwrap();
        let child = std::process::Command::new(&path).arg("30").spawn().unwrap();
        pids.push(child.id());
        children.0.push(child);
    }

    let processes = ProcessScanner::new().scan();
    let long = processes.iter().find(|p| p.pid == pids[1]).unwrap();
    assert_eq!(long.name, "armagetronad-de", "Linux cuts comm to 15 bytes");
    assert_eq!(
        long.exe_name.as_deref(),
        Some("armagetronad-dedicated.real")
    );

    let mut detector = Detector::new(&Catalogue::builtin());
    let ours: Vec<(String, u32)> = detector
        .scan(&processes)
        .into_iter()
        .filter_map(|event| match event {
            GameEvent::Started(game) if pids.contains(&game.pid) => Some((game.id, game.pid)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ours,
        [
            ("armagetronad".to_owned(), pids[1]),
            ("openttd".to_owned(), pids[0]),
        ],
        "openttd-helper ({}) is not OpenTTD",
        pids[2]
    );
}

/// This test process holds UDP 27015 (Source), 3979 (OpenTTD) and TCP 25565 (Minecraft) and is
/// detected as no game.
#[test]
fn holding_game_ports_is_not_being_a_game() {
    let sockets: Vec<_> = [27015, 3979]
        .into_iter()
        .filter_map(|port| std::net::UdpSocket::bind(("127.0.0.1", port)).ok())
        .collect();
    let listener = std::net::TcpListener::bind(("127.0.0.1", 25565)).ok();
    assert!(
        !sockets.is_empty() || listener.is_some(),
        "could bind no game port"
    );
    let me = std::process::id();
    let mut detector = Detector::new(&Catalogue::builtin());
    for event in detector.scan(&scan_processes()) {
        if let GameEvent::Started(game) = event {
            assert_ne!(game.pid, me, "detected as {}", game.id);
        }
    }
    drop((sockets, listener));
}

/// A wrapper script that execs the game keeps its pid: the scanner must see the new name and
/// executable, not keep those of the script.
#[cfg(target_os = "linux")]
#[test]
fn a_process_that_execs_a_game_is_seen_as_the_game() {
    let dir = tempfile::tempdir().unwrap();
    let game = dir.path().join("supertuxkart");
    std::fs::copy(sleep_binary(), &game).unwrap();
    let script = format!("sleep 0.3; exec '{}' 30", game.display());
    let child = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let pid = child.id();
    let _kill = Kill(vec![child]);

    let mut scanner = ProcessScanner::new();
    let mut detector = Detector::new(&Catalogue::builtin());
    let before = scanner.scan();
    let shell = before.iter().find(|p| p.pid == pid).unwrap();
    assert_eq!(shell.name, "sh");
    let ours = |events: Vec<GameEvent>| -> Vec<GameEvent> {
        events
            .into_iter()
            .filter(|e| matches!(e, GameEvent::Started(g) | GameEvent::Stopped(g) if g.pid == pid))
            .collect()
    };
    assert_eq!(ours(detector.scan(&before)), []);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = scanner.scan();
        let process = now.iter().find(|p| p.pid == pid).unwrap();
        if process.name == "supertuxkart" {
            assert_eq!(process.exe_name.as_deref(), Some("supertuxkart"));
            assert_eq!(process.cmd_name.as_deref(), Some("supertuxkart"));
            let events = ours(detector.scan(&now));
            assert_eq!(events.len(), 1, "{events:?}");
            assert!(matches!(&events[0], GameEvent::Started(g) if g.id == "supertuxkart"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never exec'd: {process:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
