use std::path::Path;

use crate::{
    Catalogue, DetectedGame, Detector, GameEvent, Matcher, Origin, ProcessInfo,
    MISSED_SCANS_BEFORE_STOP,
};

fn started(id: &str, name: &str, pid: u32) -> GameEvent {
    GameEvent::Started(DetectedGame {
        id: id.to_owned(),
        name: name.to_owned(),
        pid,
    })
}

fn stopped(id: &str, name: &str, pid: u32) -> GameEvent {
    GameEvent::Stopped(DetectedGame {
        id: id.to_owned(),
        name: name.to_owned(),
        pid,
    })
}

fn detector() -> Detector {
    Detector::new(&Catalogue::builtin())
}

/// The game id a lone process is detected as.
fn game_of(process: ProcessInfo) -> Option<String> {
    let matcher = Matcher::new(&Catalogue::builtin());
    matcher.game_of(&process).map(|(id, _)| id.to_owned())
}

fn openttd(pid: u32) -> ProcessInfo {
    ProcessInfo::new(pid, "openttd").with_exe("openttd")
}

#[test]
fn a_game_starts_once_and_stops_after_the_missed_scans() {
    let mut d = detector();
    assert_eq!(d.scan(&[]), []);
    assert_eq!(
        d.scan(&[ProcessInfo::new(1, "systemd"), openttd(100)]),
        [started("openttd", "OpenTTD", 100)]
    );
    assert_eq!(d.scan(&[openttd(100)]), [], "still running: no event");
    assert_eq!(
        d.running(),
        [DetectedGame {
            id: "openttd".into(),
            name: "OpenTTD".into(),
            pid: 100
        }]
    );
    for _ in 1..MISSED_SCANS_BEFORE_STOP {
        assert_eq!(d.scan(&[]), [], "one missed scan is not a stop yet");
    }
    assert_eq!(d.scan(&[]), [stopped("openttd", "OpenTTD", 100)]);
    assert_eq!(d.running(), []);
    assert_eq!(d.scan(&[]), []);
    assert_eq!(
        d.scan(&[openttd(300)]),
        [started("openttd", "OpenTTD", 300)],
        "a later run is a new run"
    );
}

#[test]
fn two_processes_of_one_game_are_one_game() {
    let mut d = detector();
    // Debian's /usr/games/openarena-server is a script that runs /usr/lib/ioquake3/ioq3ded: the
    // script's process is named after it, cut to 15 bytes, and runs the shell.
    let wrapper = ProcessInfo::new(11, "openarena-serve")
        .with_exe("dash")
        .with_cmd("sh");
    let engine = ProcessInfo::new(12, "ioq3ded")
        .with_exe("ioq3ded")
        .with_cmd("ioq3ded");
    assert_eq!(
        d.scan(&[wrapper.clone(), engine.clone()]),
        [started("openarena", "OpenArena", 11)]
    );
    assert_eq!(
        d.scan(std::slice::from_ref(&engine)),
        [],
        "the wrapper leaving is no event"
    );
    assert_eq!(
        d.running()[0].pid,
        12,
        "the pid follows a process still running"
    );
    assert_eq!(d.scan(&[engine, wrapper]), []);
    assert_eq!(d.running()[0].pid, 12, "and stays while it lives");
}

#[test]
fn a_restart_with_a_new_pid_is_the_same_run() {
    let mut d = detector();
    assert_eq!(
        d.scan(&[openttd(100)]),
        [started("openttd", "OpenTTD", 100)]
    );
    assert_eq!(d.scan(&[openttd(200)]), [], "replaced between scans");
    assert_eq!(d.running()[0].pid, 200);
    // Gone for one scan (a restart straddling it), back with another pid.
    assert_eq!(d.scan(&[]), []);
    assert_eq!(d.scan(&[openttd(300)]), []);
    assert_eq!(d.running()[0].pid, 300);
}

#[test]
fn events_of_one_scan_come_stopped_first_then_started_by_id() {
    let mut d = detector();
    let teeworlds = ProcessInfo::new(5, "teeworlds");
    let warzone = ProcessInfo::new(6, "warzone2100");
    assert_eq!(
        d.scan(&[warzone.clone(), openttd(7), teeworlds.clone()]),
        [
            started("openttd", "OpenTTD", 7),
            started("teeworlds", "Teeworlds", 5),
            started("warzone2100", "Warzone 2100", 6),
        ]
    );
    assert_eq!(d.scan(&[openttd(7)]), [], "the first missed scan");
    let factorio = ProcessInfo::new(8, "factorio");
    let supertuxkart = ProcessInfo::new(9, "supertuxkart");
    assert_eq!(
        d.scan(&[supertuxkart, openttd(7), factorio]),
        [
            stopped("teeworlds", "Teeworlds", 5),
            stopped("warzone2100", "Warzone 2100", 6),
            started("factorio", "Factorio", 8),
            started("supertuxkart", "SuperTuxKart", 9),
        ]
    );
}

#[test]
fn exe_suffix_and_case_do_not_matter() {
    // Windows: the name is the executable's file name.
    assert_eq!(
        game_of(ProcessInfo::new(1, "OPENTTD.EXE")),
        Some("openttd".into())
    );
    assert_eq!(
        game_of(ProcessInfo::new(1, "war3.exe")),
        Some("warcraft3".into())
    );
    assert_eq!(
        game_of(ProcessInfo::new(1, "WAR3")),
        Some("warcraft3".into())
    );
    assert_eq!(
        game_of(ProcessInfo::new(1, "OpenTTD")),
        Some("openttd".into())
    );
    assert_eq!(
        game_of(ProcessInfo::new(1, "Stardew Valley.exe")),
        Some("stardew-valley".into())
    );
    // Wine/Proton on Linux: comm is the Windows name, the executable is Wine's loader.
    assert_eq!(
        game_of(
            ProcessInfo::new(1, "Terraria.exe")
                .with_exe("wine64-preloader")
                .with_cmd("Terraria.exe")
        ),
        Some("terraria".into())
    );
    // A Linux binary named like a Windows one.
    assert_eq!(
        game_of(ProcessInfo::new(1, "factorio.exe")),
        Some("factorio".into())
    );
}

#[test]
fn names_cut_to_15_bytes_by_linux_still_match() {
    // Debian's armagetronad-dedicated script execs armagetronad-dedicated.real.
    let real = ProcessInfo::new(1, "armagetronad-de").with_exe("armagetronad-dedicated.real");
    assert_eq!(
        game_of(real),
        Some("armagetronad".into()),
        "by the full exe name"
    );
    let script = ProcessInfo::new(2, "armagetronad-de")
        .with_exe("dash")
        .with_cmd("sh");
    assert_eq!(
        game_of(script),
        Some("armagetronad".into()),
        "the script, by its cut name"
    );
    let unreadable = ProcessInfo::new(3, "armagetronad.re");
    assert_eq!(
        game_of(unreadable),
        Some("armagetronad".into()),
        "exe not readable"
    );
    assert_eq!(
        game_of(ProcessInfo::new(4, "FactoryServer-L")),
        Some("satisfactory".into())
    );
    // Wine cuts a long Windows name the same way; argv[0] still has it whole.
    assert_eq!(
        game_of(
            ProcessInfo::new(5, "ShooterGameServ")
                .with_exe("wine64-preloader")
                .with_cmd("ShooterGameServer.exe")
        ),
        Some("ark".into())
    );
    assert_eq!(
        game_of(ProcessInfo::new(6, "ShooterGameServ").with_exe("wine64-preloader")),
        Some("ark".into()),
        "and without argv[0], by the cut name"
    );
    let mut d = detector();
    assert_eq!(
        d.scan(&[ProcessInfo::new(7, "armagetronad-de").with_exe("dash")]),
        [started("armagetronad", "Armagetron Advanced", 7)]
    );
}

#[test]
fn a_cut_name_is_not_a_prefix_match() {
    // The full executable name is known and is another program: no match.
    let other = ProcessInfo::new(1, "armagetronad-de").with_exe("armagetronad-deluxe");
    assert_eq!(game_of(other), None);
    let other = ProcessInfo::new(1, "armagetronad-de")
        .with_exe("dash")
        .with_cmd("armagetronad-debugger");
    assert_eq!(game_of(other), None);
    // Only a 15-byte name can be a cut one.
    assert_eq!(game_of(ProcessInfo::new(1, "armagetronad-d")), None);
    assert_eq!(game_of(ProcessInfo::new(1, "armagetronad-ded")), None);
    // A 15-byte name that begins no catalogue name.
    assert_eq!(game_of(ProcessInfo::new(1, "unrelated-progr")), None);
    // Short catalogue names are never matched by a cut name.
    assert_eq!(game_of(ProcessInfo::new(1, "openttd-123456x")), None);
}

#[test]
fn a_cut_name_two_games_could_have_is_no_match() {
    let source = r#"
[[game]]
id = "alpha"
name = "Alpha"
linux = ["longgameserver-alpha"]

[[game]]
id = "beta"
name = "Beta"
linux = ["longgameserver-beta"]
"#;
    let loaded = Catalogue::parse(source, Path::new("test.toml"), Origin::BuiltIn);
    assert!(loaded.errors.is_empty());
    let matcher = Matcher::new(&loaded.catalogue);
    assert_eq!(
        matcher.game_of(&ProcessInfo::new(1, "longgameserver-")),
        None
    );
    assert_eq!(
        matcher.game_of(&ProcessInfo::new(1, "longgameserver-").with_cmd("longgameserver-beta")),
        Some(("beta", "Beta"))
    );
}

#[test]
fn a_process_holding_a_games_ports_is_not_that_game() {
    // Detection never looks at ports: these hold 27015, 3979 and 4445 in the lab.
    let mut d = detector();
    let holders = [
        ProcessInfo::new(1, "socat").with_exe("socat"),
        ProcessInfo::new(2, "nc").with_exe("nc.openbsd"),
        ProcessInfo::new(3, "python3")
            .with_exe("python3.11")
            .with_cmd("python3"),
        ProcessInfo::new(4, "srcds_linux").with_exe("srcds_linux"),
        ProcessInfo::new(5, "java").with_exe("java"),
    ];
    assert_eq!(d.scan(&holders), []);
    assert_eq!(d.running(), []);
}

#[test]
fn a_name_that_merely_contains_a_game_name_is_not_that_game() {
    for name in [
        "openttd-helper",
        "openttd2",
        "xopenttd",
        "open",
        "openttd.sh",
        "my factorio tool",
        "teeworlds_srv_wrapper",
        "war3.exe.bak",
    ] {
        assert_eq!(
            game_of(ProcessInfo::new(1, name).with_exe(name).with_cmd(name)),
            None,
            "{name}"
        );
    }
}

#[test]
fn the_first_matching_name_decides_exe_first() {
    // A process whose executable is one game and whose name is another (it renamed itself).
    let p = ProcessInfo::new(1, "teeworlds").with_exe("openttd");
    assert_eq!(game_of(p), Some("openttd".into()));
    // Empty names are ignored.
    let p = ProcessInfo::new(1, "")
        .with_exe("")
        .with_cmd("supertuxkart");
    assert_eq!(game_of(p), Some("supertuxkart".into()));
}

#[test]
fn a_players_entry_wins_a_name_claimed_by_a_builtin_one() {
    let user = Catalogue::parse(
        r#"
[[game]]
id = "openttd-jgr"
name = "OpenTTD JGR"
linux = ["openttd", "openttd-jgr"]
"#,
        Path::new("/data/games.toml"),
        Origin::User,
    );
    assert!(user.errors.is_empty(), "{:#?}", user.errors);
    let mut catalogue = Catalogue::builtin();
    catalogue.add_overriding(user.catalogue);
    let mut d = Detector::new(&catalogue);
    assert_eq!(
        d.scan(&[openttd(1)]),
        [started("openttd-jgr", "OpenTTD JGR", 1)]
    );
}

#[test]
fn a_new_catalogue_applies_from_the_next_scan() {
    let mut d = detector();
    assert_eq!(d.scan(&[openttd(1)]), [started("openttd", "OpenTTD", 1)]);
    d.set_catalogue(&Catalogue::default());
    assert_eq!(d.scan(&[openttd(1)]), []);
    assert_eq!(d.scan(&[openttd(1)]), [stopped("openttd", "OpenTTD", 1)]);
}

#[test]
fn stop_all_stops_every_running_game() {
    let mut d = detector();
    d.scan(&[openttd(1), ProcessInfo::new(2, "minetestserver")]);
    assert_eq!(
        d.stop_all(),
        [
            stopped("minetest", "Minetest (Luanti)", 2),
            stopped("openttd", "OpenTTD", 1)
        ]
    );
    assert_eq!(d.running(), []);
    assert_eq!(d.scan(&[]), []);
}

#[test]
fn events_serialize_as_tagged_json() {
    let json = serde_json::to_value(started("openttd", "OpenTTD", 7)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"event": "started", "id": "openttd", "name": "OpenTTD", "pid": 7})
    );
}
