use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::catalogue::match_key;
use crate::{
    user_file, Catalogue, CatalogueError, Discovery, Loaded, Origin, BUILTIN_PATH, BUILTIN_TOML,
    COMM_LEN,
};

fn builtin_loaded() -> Loaded {
    Catalogue::parse(BUILTIN_TOML, Path::new(BUILTIN_PATH), Origin::BuiltIn)
}

fn parse_user(text: &str) -> Loaded {
    Catalogue::parse(text, Path::new("/data/games.toml"), Origin::User)
}

/// The one error about `field`, failing with the whole list otherwise.
fn error_for<'e>(errors: &'e [CatalogueError], field: &str) -> &'e CatalogueError {
    let found: Vec<_> = errors
        .iter()
        .filter(|e| e.field.as_deref() == Some(field))
        .collect();
    assert_eq!(found.len(), 1, "one error for {field} in {errors:#?}");
    found[0]
}

#[test]
fn builtin_catalogue_loads_every_entry_without_errors() {
    let loaded = builtin_loaded();
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let entries = BUILTIN_TOML
        .lines()
        .filter(|l| l.trim() == "[[game]]")
        .count();
    assert_eq!(loaded.catalogue.len(), entries, "every [[game]] loaded");
    assert!(
        loaded.catalogue.len() >= 40,
        "{} games",
        loaded.catalogue.len()
    );
    assert_eq!(Catalogue::builtin(), loaded.catalogue);
}

#[test]
fn builtin_ids_are_unique_slugs_and_only_lab_tested_games_are_verified() {
    // The games crates/cli/tests/games_lab.rs runs for real.
    const LAB: [&str; 5] = [
        "openttd",
        "teeworlds",
        "redeclipse",
        "armagetronad",
        "minetest",
    ];
    let catalogue = Catalogue::builtin();
    let mut ids = BTreeSet::new();
    for game in catalogue.games() {
        assert!(ids.insert(game.id.clone()), "duplicate id {}", game.id);
        assert!(
            game.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}",
            game.id
        );
        assert!(!game.name.trim().is_empty(), "{}", game.id);
        assert_eq!(game.origin, Origin::BuiltIn);
        assert_eq!(
            game.verified,
            LAB.contains(&game.id.as_str()),
            "{}: verified means the games lab runs it",
            game.id
        );
        assert!(
            game.executables.all().next().is_some() || !game.discovery.is_empty(),
            "{} has neither executables nor discovery",
            game.id
        );
        for name in &game.executables.windows {
            assert!(name.to_lowercase().ends_with(".exe"), "{}: {name}", game.id);
        }
        for d in &game.discovery {
            assert!(d.ports().start() <= d.ports().end(), "{}", game.id);
        }
    }
}

#[test]
fn builtin_executable_names_belong_to_one_game_even_cut_to_15_bytes() {
    let catalogue = Catalogue::builtin();
    let mut exact: HashMap<String, &str> = HashMap::new();
    let mut cut: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for game in catalogue.games() {
        for name in game.executables.all() {
            if let Some(other) = exact.insert(match_key(name), &game.id) {
                assert_eq!(other, game.id, "{name} claimed by {other} and {}", game.id);
            }
            let lower = name.to_lowercase();
            if lower.len() > COMM_LEN {
                cut.entry(lower[..COMM_LEN].to_owned())
                    .or_default()
                    .insert(&game.id);
            }
        }
    }
    for (prefix, games) in cut {
        assert_eq!(games.len(), 1, "{prefix:?} could be any of {games:?}");
    }
}

#[test]
fn debian_games_have_the_executable_names_their_packages_install() {
    // From the Debian 12 packages' file lists (dpkg -c): /usr/games/* and what its wrapper
    // scripts exec.
    let expected: &[(&str, &[&str])] = &[
        (
            "openarena",
            &["openarena", "openarena-server", "ioquake3", "ioq3ded"],
        ),
        ("openttd", &["openttd"]),
        ("supertuxkart", &["supertuxkart"]),
        ("minetest", &["minetest", "minetestserver"]),
        ("teeworlds", &["teeworlds", "teeworlds-server"]),
        ("warzone2100", &["warzone2100"]),
        (
            "armagetronad",
            &[
                "armagetronad",
                "armagetronad.real",
                "armagetronad-dedicated",
                "armagetronad-dedicated.real",
            ],
        ),
        ("redeclipse", &["redeclipse", "redeclipse-server"]),
        ("0ad", &["0ad", "pyrogenesis"]),
        ("wesnoth", &["wesnoth-1.16", "wesnothd-1.16"]),
        ("hedgewars", &["hedgewars", "hwengine", "hedgewars-server"]),
        (
            "freeciv",
            &[
                "freeciv-server",
                "freeciv-gtk3.22",
                "freeciv-qt",
                "freeciv-sdl2",
            ],
        ),
        ("bzflag", &["bzflag", "bzfs"]),
        ("chocolate-doom", &["chocolate-doom", "chocolate-server"]),
        ("widelands", &["widelands"]),
        ("megaglest", &["megaglest"]),
        ("openclonk", &["openclonk"]),
        ("spring", &["spring", "spring-dedicated", "spring-headless"]),
    ];
    let catalogue = Catalogue::builtin();
    for (id, names) in expected {
        let game = catalogue.get(id).unwrap_or_else(|| panic!("{id} missing"));
        for name in *names {
            assert!(
                game.executables.linux.iter().any(|n| n == name),
                "{id} lacks {name}: {:?}",
                game.executables.linux
            );
        }
    }
}

#[test]
fn popular_lan_titles_are_there() {
    let catalogue = Catalogue::builtin();
    for id in [
        "minecraft-java",
        "minecraft-bedrock",
        "terraria",
        "stardew-valley",
        "factorio",
        "aoe2-de",
        "aoe2-hd",
        "starcraft",
        "warcraft3",
        "cs16",
        "css",
        "l4d2",
        "diablo2",
        "civ5",
        "civ6",
        "dont-starve-together",
        "ut99",
        "ut2004",
        "quake3",
        "valheim",
        "project-zomboid",
        "satisfactory",
        "7-days-to-die",
        "ark",
        "borderlands2",
        "halo-ce",
        "cnc-red-alert-2",
        "serious-sam-classic",
        "trackmania-forever",
        "torchlight2",
    ] {
        assert!(catalogue.get(id).is_some(), "{id} missing");
    }
}

#[test]
fn discovery_facts_the_tunnel_relies_on() {
    let catalogue = Catalogue::builtin();
    let java = catalogue.get("minecraft-java").unwrap();
    assert_eq!(
        java.discovery,
        vec![Discovery::Multicast {
            group: Ipv4Addr::new(224, 0, 2, 60),
            port: 4445,
            last_port: 4445
        }]
    );
    assert!(
        java.executables.all().next().is_none(),
        "java is not matched"
    );
    let bedrock = catalogue.get("minecraft-bedrock").unwrap();
    assert_eq!(
        bedrock.discovery,
        vec![Discovery::Broadcast {
            port: 19132,
            last_port: 19132
        }]
    );
    let cs = catalogue.get("cs16").unwrap();
    assert_eq!(cs.discovery[0].ports(), 27015..=27020);
    assert_eq!(
        catalogue.multicast_groups(),
        vec![Ipv4Addr::new(224, 0, 2, 60), Ipv4Addr::new(225, 1, 1, 1)]
    );
}

#[test]
fn discovery_serializes_with_its_kind() {
    let json = serde_json::to_value(Discovery::Multicast {
        group: Ipv4Addr::new(224, 0, 2, 60),
        port: 4445,
        last_port: 4445,
    })
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "multicast", "group": "224.0.2.60", "port": 4445, "last_port": 4445})
    );
    let json = serde_json::to_value(Discovery::SubnetBroadcast {
        port: 3979,
        last_port: 3979,
    })
    .unwrap();
    assert_eq!(json["kind"], "subnet_broadcast");
}

#[test]
fn a_players_entry_overrides_the_builtin_one_and_new_ones_are_added() {
    let dir = tempfile::tempdir().unwrap();
    let path = user_file(dir.path());
    assert_eq!(path, dir.path().join("games.toml"));
    std::fs::write(
        &path,
        r#"
# my games
[[game]]
id = "openttd"
name = "OpenTTD (JGR patch pack)"
linux = ["openttd-jgr"]
windows = ["openttd-jgr.exe"]
discovery = [{ kind = "subnet_broadcast", port = 3979 }]

[[game]]
id = "my-game"
name = "My Game"
linux = ["mygame-server"]
udp = [40000]
"#,
    )
    .unwrap();
    let builtin = Catalogue::builtin();
    let loaded = Catalogue::with_user_file(&path);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let catalogue = loaded.catalogue;
    assert_eq!(catalogue.len(), builtin.len() + 1);
    let openttd = catalogue.get("openttd").unwrap();
    assert_eq!(openttd.name, "OpenTTD (JGR patch pack)");
    assert_eq!(openttd.origin, Origin::User);
    assert_eq!(openttd.executables.linux, ["openttd-jgr"]);
    let position = |c: &Catalogue| c.games().iter().position(|g| g.id == "openttd");
    assert_eq!(
        position(&catalogue),
        position(&builtin),
        "replaced in place"
    );
    let mine = catalogue.get("my-game").unwrap();
    assert_eq!(mine.ports.udp, [40000]);
    assert_eq!(mine.origin, Origin::User);
    assert!(!mine.verified);
    assert_eq!(catalogue.games().last().unwrap().id, "my-game");
}

#[test]
fn no_user_file_is_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Catalogue::with_user_file(&user_file(dir.path()));
    assert!(loaded.errors.is_empty());
    assert_eq!(loaded.catalogue, Catalogue::builtin());
}

#[test]
fn an_unreadable_user_file_is_one_error_and_the_builtin_catalogue_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let path = user_file(dir.path());
    std::fs::create_dir(&path).unwrap();
    let loaded = Catalogue::with_user_file(&path);
    assert_eq!(loaded.errors.len(), 1, "{:#?}", loaded.errors);
    assert_eq!(loaded.errors[0].file, path);
    assert_eq!(loaded.errors[0].line, None);
    assert!(loaded.errors[0].message.starts_with("cannot be read"));
    assert_eq!(loaded.catalogue, Catalogue::builtin());

    let other = dir.path().join("latin1.toml");
    std::fs::write(&other, b"[[game]]\nid = \"caf\xe9\"\n").unwrap();
    let loaded = Catalogue::with_user_file(&other);
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(loaded.errors[0].message, "is not UTF-8 text");
    assert_eq!(loaded.catalogue, Catalogue::builtin());
}

const BROKEN: &str = r#"# a player's file with good and bad entries
[[game]]
id = "good-one"
name = "Good One"
linux = ["goodone"]

[[game]]
id = "bad-port"
name = "Bad Port"
linux = ["badport"]
udp = [7777,
       70000]

[[game]]
id = "typo"
name = "Typo"
linux = ["typo-bin"]
discovry = []

[[game]]
id = "unclosed"
name = "Unclosed string
linux = ["unclosed"]

[[game]]
id = "nameless"
linux = ["nameless"]

[[game]]
id = "good-two"
name = "Good Two"
windows = ["GoodTwo.exe"]
discovery = [{ kind = "multicast", group = "239.1.2.3", port = 5000, last_port = 5001 }]
"#;

#[test]
fn bad_entries_are_reported_with_file_line_and_field_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = user_file(dir.path());
    std::fs::write(&path, BROKEN).unwrap();
    let loaded = Catalogue::with_user_file(&path);
    let errors = &loaded.errors;
    assert_eq!(errors.len(), 4, "{errors:#?}");
    for error in errors {
        assert_eq!(error.file, path);
    }

    let port = error_for(errors, "udp[1]");
    assert_eq!(port.line, Some(12), "the line of 70000");
    assert_eq!(port.game.as_deref(), Some("bad-port"));
    assert_eq!(port.message, "must be a port number from 1 to 65535");
    assert_eq!(
        port.to_string(),
        format!(
            "{}:12: game `bad-port`: field `udp[1]`: must be a port number from 1 to 65535",
            path.display()
        )
    );

    let typo = error_for(errors, "discovry");
    assert_eq!(typo.line, Some(18));
    assert_eq!(typo.game.as_deref(), Some("typo"));
    assert!(
        typo.message.contains("not a known field"),
        "{}",
        typo.message
    );

    let nameless = error_for(errors, "name");
    assert_eq!(nameless.line, Some(25), "the entry's [[game]] line");
    assert_eq!(nameless.game.as_deref(), Some("nameless"));
    assert_eq!(nameless.message, "is required");

    let syntax: Vec<_> = errors.iter().filter(|e| e.field.is_none()).collect();
    assert_eq!(syntax.len(), 1, "{errors:#?}");
    assert_eq!(syntax[0].game.as_deref(), Some("unclosed"));
    let line = syntax[0].line.unwrap();
    assert!((20..=23).contains(&line), "syntax error at line {line}");

    let catalogue = &loaded.catalogue;
    assert!(catalogue.get("good-one").is_some());
    let two = catalogue.get("good-two").unwrap();
    assert_eq!(two.discovery[0].ports(), 5000..=5001);
    assert_eq!(two.discovery[0].group(), Some(Ipv4Addr::new(239, 1, 2, 3)));
    for id in ["bad-port", "typo", "unclosed", "nameless"] {
        assert!(catalogue.get(id).is_none(), "{id} should not load");
    }
    assert_eq!(catalogue.len(), Catalogue::builtin().len() + 2);
    assert!(
        catalogue.get("openttd").is_some(),
        "built-in entries still load"
    );
}

#[test]
fn executable_names_are_checked() {
    let loaded = parse_user(
        r#"
[[game]]
id = "runtime"
name = "Runs on Java"
linux = ["java", "/usr/games/runtime"]
windows = ["runtime", "javaw.exe"]
"#,
    );
    assert!(loaded.catalogue.is_empty());
    let errors = &loaded.errors;
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(error_for(errors, "linux[0]")
        .message
        .contains("runs many programs"));
    assert!(error_for(errors, "linux[1]").message.contains("is a path"));
    assert!(error_for(errors, "windows[0]")
        .message
        .contains("must end in .exe"));
    assert!(error_for(errors, "windows[1]")
        .message
        .contains("runs many programs"));
    for e in errors {
        assert_eq!(
            e.line,
            Some(if e.field.as_deref().unwrap().starts_with("linux") {
                5
            } else {
                6
            })
        );
    }
}

#[test]
fn discovery_entries_are_checked_field_by_field() {
    let loaded = parse_user(
        r#"
[[game]]
id = "lan-thing"
name = "LAN Thing"
discovery = [
  { kind = "brodcast", port = 1 },
  { kind = "multicast", port = 2 },
  { kind = "multicast", group = "10.0.0.1", port = 3 },
  { kind = "broadcast", group = "224.0.0.1", port = 4 },
  { kind = "broadcast", port = 6, last_port = 5 },
  { kind = "broadcast" },
  { kind = "broadcast", port = 7, ttl = 1 },
  "broadcast:8",
]
"#,
    );
    assert!(loaded.catalogue.is_empty());
    let errors = &loaded.errors;
    assert_eq!(errors.len(), 8, "{errors:#?}");
    let at = |field: &str, line: usize, text: &str| {
        let e = error_for(errors, field);
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains(text), "{e}");
    };
    at("discovery[0].kind", 6, "is not a discovery kind");
    at("discovery[1].group", 7, "required for multicast");
    at("discovery[2].group", 8, "not a multicast address");
    at("discovery[3].group", 9, "only for multicast");
    at("discovery[4].last_port", 10, "must not be below port");
    at("discovery[5].port", 11, "is required");
    at("discovery[6].ttl", 12, "not a discovery field");
    at("discovery[7]", 13, "must be a table");
}

#[test]
fn ids_and_names_are_checked_and_duplicates_refused() {
    let loaded = parse_user(
        r#"
[[game]]
id = "first"
name = "First"
linux = ["shared-bin"]

[[game]]
id = "first"
name = "First again"

[[game]]
id = "second"
name = "Second"
linux = ["SHARED-BIN"]

[[game]]
id = "Not A Slug"
name = ""
verified = "yes"
tcp = "27015"
"#,
    );
    let errors = &loaded.errors;
    assert_eq!(loaded.catalogue.len(), 1, "{errors:#?}");
    assert_eq!(loaded.catalogue.games()[0].name, "First");
    assert_eq!(errors.len(), 6, "{errors:#?}");
    let dup: Vec<_> = errors
        .iter()
        .filter(|e| e.field.as_deref() == Some("id"))
        .collect();
    assert_eq!(dup.len(), 2);
    assert_eq!(dup[0].line, Some(7));
    assert_eq!(dup[0].message, "is already used by the entry at line 2");
    assert!(dup[1].message.contains("is not a slug"));
    let shared = error_for(errors, "linux[0]");
    assert_eq!(shared.line, Some(14));
    assert_eq!(shared.message, "is already the executable of `first`");
    assert_eq!(error_for(errors, "name").message, "must not be empty");
    assert!(error_for(errors, "verified")
        .message
        .contains("true or false"));
    assert!(error_for(errors, "tcp").message.contains("must be a list"));
}

#[test]
fn keys_outside_an_entry_are_reported() {
    let loaded = parse_user(
        r#"version = 2

[[game]]
id = "ok"
name = "OK"

[other]
x = 1
"#,
    );
    assert_eq!(loaded.catalogue.len(), 1, "the entry itself loads");
    let errors = &loaded.errors;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(error_for(errors, "version").line, Some(1));
    assert_eq!(error_for(errors, "other").line, Some(7));
}

#[test]
fn an_empty_file_is_an_empty_catalogue() {
    for text in ["", "# nothing yet\n", "\n\n"] {
        let loaded = parse_user(text);
        assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
        assert!(loaded.catalogue.is_empty());
    }
}

#[test]
fn errors_name_the_builtin_file_by_its_repository_path() {
    let loaded = Catalogue::parse(
        "[[game]]\nid = \"x\"\n",
        Path::new(BUILTIN_PATH),
        Origin::BuiltIn,
    );
    assert_eq!(loaded.errors[0].file, PathBuf::from(BUILTIN_PATH));
    assert_eq!(
        loaded.errors[0].to_string(),
        "crates/games/catalogue/games.toml:1: game `x`: field `name`: is required"
    );
}

#[test]
fn a_bad_override_leaves_the_builtin_entry_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = user_file(dir.path());
    std::fs::write(
        &path,
        "[[game]]\nid = \"openttd\"\nname = \"My OpenTTD\"\nudp = [0]\n",
    )
    .unwrap();
    let loaded = Catalogue::with_user_file(&path);
    assert_eq!(loaded.errors.len(), 1, "{:#?}", loaded.errors);
    assert_eq!(
        loaded.errors[0].to_string(),
        format!(
            "{}:4: game `openttd`: field `udp[0]`: must be a port number from 1 to 65535",
            path.display()
        )
    );
    let openttd = loaded.catalogue.get("openttd").unwrap();
    assert_eq!(openttd.name, "OpenTTD");
    assert_eq!(openttd.origin, Origin::BuiltIn);
}

/// The README shows players how to add a game; that entry must load as written.
#[test]
fn the_readme_example_entry_loads() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = &readme[readme.find("## Games").expect("a Games section")..];
    let start = section.find("```toml\n").expect("a toml example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let loaded = parse_user(example);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let game = loaded.catalogue.get("my-game").expect("the example game");
    assert_eq!(game.name, "My Game");
    assert_eq!(game.discovery.len(), 1);
}
