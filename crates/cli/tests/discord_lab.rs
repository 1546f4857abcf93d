//! The host's Discord bot in a lab: a control server and two players in their own network
//! namespaces running `lanrage up`, and a fake Discord (REST API and gateway, speaking the
//! documented protocol) served on the host player's own loopback, where its `discord_api_url`
//! points. Driven with the `lanrage` CLI as a person would. Needs root; skipped elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/mod.rs"]
mod support;

#[path = "../../discord/tests/fake_discord/mod.rs"]
mod fake_discord;

use std::time::Duration;

use fake_discord::FakeDiscord;
use support::players::create;
use support::world::World;

const SERVER_IP: &str = "198.51.100.10";
const SERVER_URL: &str = "ws://198.51.100.10:8667";
const TOKEN: &str = "MTAwMDAwMDAwMDAwMDAwMDAx.GLabTk.the-bot-token-no-output-may-show";
const CHANNEL: &str = "123456789012345678";

fn bot_state(status: &serde_json::Value) -> String {
    status["discord"]["bot"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_hosts_bot_announces_the_party_answers_lanrage_invite_and_never_shows_its_token() {
    if !support::require(
        support::is_root(),
        "the Discord lab needs root (network namespaces, TUN devices)",
    ) {
        return;
    }
    let mut w = World::new("discord");
    w.server("srv", SERVER_IP);
    w.start_server(&[]);
    for (i, ns) in ["p0", "p1"].iter().enumerate() {
        w.host(ns, &format!("198.51.100.{}", 11 + i));
        w.player(ns);
    }
    // A game only Bo's LANrage knows (its own catalogue entry), played by a program with that
    // executable name: the process scan sees it as it sees any game.
    let bo_data = w.players[1].data();
    std::fs::create_dir_all(&bo_data).unwrap();
    std::fs::write(
        format!("{bo_data}/games.toml"),
        "[[game]]\nid = \"lab-arena\"\nname = \"Lab Arena\"\nlinux = [\"lab-arena-srv\"]\n",
    )
    .unwrap();
    let game_dir = tempfile::tempdir().unwrap();
    let game_exe = game_dir.path().join("lab-arena-srv");
    std::fs::copy("/bin/sleep", &game_exe).unwrap();
    // Debug logs: twilight's and ours, so the token check covers what people turn on.
    w.players[0].up_with(
        &mut w.lab,
        Some(SERVER_URL),
        "Ana",
        &[("RUST_LOG", "debug")],
    );
    w.players[1].up(&mut w.lab, Some(SERVER_URL), "Bo");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _enter = rt.enter();
    let fake = FakeDiscord::start_on(w.lab.tcp_listener_in("p0"), TOKEN);
    let lab = &w.lab;
    let [a, b] = &w.players[..] else {
        unreachable!()
    };
    assert_eq!(bot_state(&a.status(lab)), "off");

    a.ok(
        lab,
        &["settings", "set", "discord_api_url", &fake.api_url()],
    );
    a.ok(lab, &["settings", "set", "discord_bot_channel_id", CHANNEL]);
    a.ok(lab, &["settings", "set", "discord_bot_token", TOKEN]);
    support::wait_for(Duration::from_secs(10), "the bot online", || {
        bot_state(&a.status(lab)) == "online"
    });
    let msg = a.status(lab)["discord"]["bot"]["message"].clone();
    assert!(msg.as_str().unwrap().contains(CHANNEL), "{msg}");
    let human = a.ok(lab, &["status"]);
    assert!(
        human.contains("Discord:  bot online. Online as LANrage Bot"),
        "{human}"
    );

    let (code, _) = create(lab, a, &["friday"]);
    rt.block_on(fake.wait(10, "the party announced", |f| {
        f.titles().iter().any(|t| t == "Party friday is open")
    }));
    let opened = fake
        .messages()
        .into_iter()
        .flat_map(|(ch, m)| {
            assert_eq!(ch.to_string(), CHANNEL);
            m["embeds"].as_array().cloned().unwrap()
        })
        .find(|e| e["title"] == "Party friday is open")
        .unwrap();
    assert_eq!(opened["fields"][0]["value"], format!("`{code}`"));
    assert!(
        opened["description"]
            .as_str()
            .unwrap()
            .starts_with("Ana is hosting"),
        "{opened}"
    );

    b.ok(lab, &["party", "join", &code]);
    rt.block_on(fake.wait(10, "Bo's arrival announced", |f| {
        f.titles().iter().any(|t| t == "Bo joined friday")
    }));

    fake.slash_command(4242, "invite");
    rt.block_on(fake.wait(10, "/lanrage invite answered", |f| !f.replies().is_empty()));
    let reply = fake.replies()[0].1.clone();
    assert!(
        reply["data"]["content"].as_str().unwrap().contains(&code),
        "{reply}"
    );
    fake.slash_command(4243, "status");
    rt.block_on(fake.wait(10, "/lanrage status answered", |f| f.replies().len() == 2));
    let text = fake.replies()[1].1["data"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("**friday**: 2 members"), "{text}");
    assert!(text.contains("• Bo ("), "{text}");

    // The token is stored and used, and shown nowhere: not by the CLI, not in status, not
    // in the daemon's debug log or any file of its data directory but the settings database.
    let shown = [
        a.ok(lab, &["settings", "get", "discord_bot_token"]),
        a.ok(lab, &["settings", "list"]),
        a.ok(lab, &["settings", "export"]),
        a.ok(lab, &["status", "--json"]),
        a.ok(lab, &["status"]),
        lab.log(a.proc.unwrap()),
    ];
    for out in &shown {
        assert!(!out.contains(TOKEN), "the token shown: {out}");
    }
    assert!(shown[0].contains("(set, hidden)"), "{}", shown[0]);
    for entry in walk(a.dir.path()) {
        if entry
            .extension()
            .is_some_and(|e| e == "db" || e == "db-wal")
        {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token in {}",
            entry.display()
        );
    }

    // Bo plays a game: the channel hears who started what, and when it ended.
    let game = w
        .lab
        .spawn("p1", "lab-arena", &[game_exe.to_str().unwrap(), "600"], &[]);
    rt.block_on(fake.wait(15, "Bo's game announced", |f| {
        f.titles().iter().any(|t| t == "Bo started Lab Arena")
    }));
    w.lab.kill(game);
    rt.block_on(fake.wait(15, "the game's end announced", |f| {
        f.titles().iter().any(|t| t == "Bo finished Lab Arena")
    }));

    // The night ends with the party: one summary of who came and what was played.
    let lab = &w.lab;
    let [a, b] = &w.players[..] else {
        unreachable!()
    };
    b.ok(lab, &["party", "leave"]);
    rt.block_on(fake.wait(10, "Bo's leaving announced", |f| {
        f.titles().iter().any(|t| t == "Bo left friday")
    }));
    a.ok(lab, &["party", "close"]);
    rt.block_on(fake.wait(10, "the night's summary", |f| {
        f.titles()
            .iter()
            .any(|t| t == "Game night in friday is over")
    }));
    let summary = fake
        .messages()
        .into_iter()
        .flat_map(|(_, m)| m["embeds"].as_array().cloned().unwrap())
        .find(|e| e["title"] == "Game night in friday is over")
        .unwrap();
    let field = |name: &str| {
        summary["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["value"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("Members"), "Ana, Bo", "{summary}");
    assert_eq!(field("Games"), "Lab Arena", "{summary}");
    assert!(field("Connections").ends_with("% loss"), "{summary}");

    // A token Discord rejects: said within seconds, then the bot stays quiet.
    fake.set_token("a-reset-token");
    a.ok(
        lab,
        &["settings", "set", "discord_bot_token", "the-old-token"],
    );
    support::wait_for(Duration::from_secs(5), "token_rejected", || {
        bot_state(&a.status(lab)) == "token_rejected"
    });
    let notices = a.status(lab)["notices"].to_string();
    assert!(notices.contains("rejected the bot token"), "{notices}");
    let refused = fake.rejected();
    create(lab, a, &["saturday"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        fake.rejected(),
        refused,
        "no retries after a rejected token"
    );
    assert!(!fake.titles().iter().any(|t| t.contains("saturday")));
    let log = lab.log(a.proc.unwrap());
    assert!(!log.contains("the-old-token"), "the rejected token logged");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
