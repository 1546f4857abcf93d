//! The party machine driven with a fake clock and no network: what the shell is told to do
//! when the server's snapshots change, the tunnel starts or fails, and time passes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::{Ipv4Addr, SocketAddr};

use lanrage_proto::message::{GameRef, InviteView, MemberView, PartyView};

use super::*;

// Real-looking WireGuard public keys (32 bytes, base64), so peers parse as the tunnel's keys.
const ME: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const BOB: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";
const CAT: &str = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA=";

fn member(key: &str, name: &str, last_octet: u8, online: bool) -> MemberView {
    MemberView {
        public_key: key.into(),
        name: name.into(),
        virtual_ip: Ipv4Addr::new(10, 66, 0, last_octet),
        online,
        endpoints: vec![SocketAddr::from(([192, 168, 1, last_octet], 51820))],
        joined_at: 0,
        game: None,
    }
}

fn view(host: &str, members: Vec<MemberView>) -> PartyView {
    PartyView {
        id: "PARTY001".into(),
        name: "Friday".into(),
        host: host.into(),
        max_members: 8,
        subnet: "10.66.0.0/16".into(),
        members,
        invite: Some(InviteView {
            code: "ABCD-EFGH-JKMN-PQRS-TVWX-YZ".into(),
            expires_at: None,
        }),
    }
}

fn snapshot(v: PartyView) -> Input {
    Input::Snapshot {
        view: v,
        keepalive: Some(25),
    }
}

fn addr(last_octet: u8) -> IpNet {
    IpNet {
        addr: IpAddr::V4(Ipv4Addr::new(10, 66, 0, last_octet)),
        prefix: 16,
    }
}

fn peer_ips(peers: &[PeerConfig]) -> Vec<IpAddr> {
    peers.iter().map(|p| p.allowed_ips[0].addr).collect()
}

fn names(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::StartTunnel { .. } => "start_tunnel",
            Action::SetPeers(_) => "set_peers",
            Action::StopTunnel => "stop_tunnel",
            Action::ReportEndpoints => "report_endpoints",
            Action::Traverse(_) => "traverse",
            Action::StopTraversal => "stop_traversal",
            Action::MemberJoined { .. } => "member_joined",
            Action::MemberLeft { .. } => "member_left",
            Action::MemberOnline { .. } => "member_online",
            Action::HostChanged { .. } => "host_changed",
            Action::MemberPlaying { .. } => "member_playing",
            Action::PartyChanged => "party_changed",
            Action::Notify(_) => "notify",
            Action::Ended => "ended",
            Action::Ready { .. } => "ready",
            Action::Failed { .. } => "failed",
        })
        .collect()
}

/// A party we are in with Bob, the tunnel up at 10.66.0.2, as after a join.
fn joined(now: Instant, traversal: bool) -> Party {
    let mut p = Party::new(ME);
    p.handle(Input::TraversalAvailable(traversal), now);
    p.handle(
        snapshot(view(
            BOB,
            vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true)],
        )),
        now,
    );
    p.handle(Input::TunnelStarted(addr(2)), now);
    p
}

#[test]
fn joining_starts_the_tunnel_with_every_other_member_and_answers_the_caller() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    let a = p.handle(
        Input::Expect {
            party_id: "PARTY001".into(),
        },
        t0,
    );
    assert!(a.is_empty(), "nothing applied yet: {a:?}");
    let a = p.handle(
        snapshot(view(
            BOB,
            vec![
                member(BOB, "bob", 1, true),
                member(ME, "me", 2, true),
                member(CAT, "cat", 3, true),
            ],
        )),
        t0,
    );
    assert_eq!(names(&a), ["start_tunnel", "party_changed"]);
    match &a[0] {
        Action::StartTunnel { address, peers } => {
            assert_eq!(*address, addr(2));
            assert_eq!(
                peer_ips(peers),
                [
                    IpAddr::V4(Ipv4Addr::new(10, 66, 0, 1)),
                    IpAddr::V4(Ipv4Addr::new(10, 66, 0, 3))
                ]
            );
            // Without NAT traversal (a LAN party) members are reached where they said.
            assert_eq!(
                peers[0].endpoint,
                Some(SocketAddr::from(([192, 168, 1, 1], 51820)))
            );
            assert_eq!(peers[0].keepalive_secs, Some(25));
        }
        other => panic!("{other:?}"),
    }
    // The caller returns only once the tunnel runs.
    let a = p.handle(Input::TunnelStarted(addr(2)), t0);
    assert_eq!(names(&a), ["report_endpoints", "ready"]);
    assert!(p.in_party());
}

#[test]
fn with_nat_traversal_ice_finds_the_endpoints_and_every_member_is_traversed() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    p.handle(Input::TraversalAvailable(true), t0);
    let a = p.handle(
        snapshot(view(
            BOB,
            vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true)],
        )),
        t0,
    );
    match &a[0] {
        Action::StartTunnel { peers, .. } => assert_eq!(peers[0].endpoint, None),
        other => panic!("{other:?}"),
    }
    let a = p.handle(Input::TunnelStarted(addr(2)), t0);
    assert_eq!(
        a,
        [
            Action::ReportEndpoints,
            Action::Traverse(vec![(BOB.into(), "bob".into())])
        ]
    );
}

#[test]
fn a_new_member_is_added_without_restarting_the_tunnel_and_announced() {
    let t0 = Instant::now();
    let mut p = joined(t0, true);
    let a = p.handle(
        snapshot(view(
            BOB,
            vec![
                member(BOB, "bob", 1, true),
                member(ME, "me", 2, true),
                member(CAT, "cat", 3, true),
            ],
        )),
        t0,
    );
    assert_eq!(
        names(&a),
        ["set_peers", "traverse", "member_joined", "party_changed"]
    );
    assert_eq!(
        a[2],
        Action::MemberJoined {
            name: "cat".into(),
            virtual_ip: Ipv4Addr::new(10, 66, 0, 3)
        }
    );
}

#[test]
fn a_member_who_leaves_is_removed_from_the_tunnel_and_announced() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let a = p.handle(snapshot(view(ME, vec![member(ME, "me", 2, true)])), t0);
    assert_eq!(
        names(&a),
        ["set_peers", "member_left", "host_changed", "party_changed"]
    );
    assert_eq!(a[0], Action::SetPeers(vec![]));
    assert_eq!(a[1], Action::MemberLeft { name: "bob".into() });
    // Bob was the host: the server handed the party to us.
    assert_eq!(
        a[2],
        Action::HostChanged {
            name: "me".into(),
            is_me: true
        }
    );
}

#[test]
fn host_hand_over_between_others_keeps_the_tunnel() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    let three = |host: &str| {
        view(
            host,
            vec![
                member(BOB, "bob", 1, true),
                member(ME, "me", 2, true),
                member(CAT, "cat", 3, true),
            ],
        )
    };
    p.handle(snapshot(three(BOB)), t0);
    p.handle(Input::TunnelStarted(addr(2)), t0);
    let a = p.handle(snapshot(three(CAT)), t0);
    assert_eq!(names(&a), ["set_peers", "host_changed", "party_changed"]);
    assert_eq!(
        a[1],
        Action::HostChanged {
            name: "cat".into(),
            is_me: false
        }
    );
}

#[test]
fn a_member_going_offline_keeps_its_peer_and_path_and_coming_back_is_not_a_join() {
    let t0 = Instant::now();
    let mut p = joined(t0, true);
    let offline = view(
        BOB,
        vec![member(BOB, "bob", 1, false), member(ME, "me", 2, true)],
    );
    let a = p.handle(snapshot(offline), t0 + Duration::from_secs(5));
    // The server lost Bob's control connection; the path between us may still work.
    assert_eq!(
        a,
        [
            Action::SetPeers(p.peers_of(p.view().unwrap(), addr(0).network(), Some(25))),
            Action::Traverse(vec![(BOB.into(), "bob".into())]),
            Action::MemberOnline {
                name: "bob".into(),
                online: false
            },
            Action::PartyChanged
        ]
    );
    assert_eq!(
        peer_ips(match &a[0] {
            Action::SetPeers(peers) => peers,
            _ => unreachable!(),
        }),
        [IpAddr::V4(Ipv4Addr::new(10, 66, 0, 1))]
    );
    let back = view(
        BOB,
        vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true)],
    );
    let a = p.handle(snapshot(back), t0 + Duration::from_secs(60));
    assert_eq!(
        names(&a),
        ["set_peers", "traverse", "member_online", "party_changed"]
    );
    assert!(!names(&a).contains(&"member_joined"));
}

#[test]
fn a_server_that_reconnects_with_a_changed_snapshot_moves_the_tunnel_to_the_new_address() {
    let t0 = Instant::now();
    let mut p = joined(t0, true);
    // The server came back (restored from its database) and gave us another address, while
    // Bob left and Cat joined during the outage.
    let changed = view(
        BOB,
        vec![member(CAT, "cat", 3, true), member(ME, "me", 9, true)],
    );
    let a = p.handle(snapshot(changed), t0 + Duration::from_secs(30));
    assert_eq!(
        names(&a),
        [
            "stop_traversal",
            "stop_tunnel",
            "start_tunnel",
            "member_joined",
            "member_left",
            "party_changed"
        ]
    );
    match &a[2] {
        Action::StartTunnel { address, peers } => {
            assert_eq!(*address, addr(9));
            assert_eq!(peer_ips(peers), [IpAddr::V4(Ipv4Addr::new(10, 66, 0, 3))]);
        }
        other => panic!("{other:?}"),
    }
    // Traversal starts again on the new device, for the new members.
    let a = p.handle(Input::TunnelStarted(addr(9)), t0 + Duration::from_secs(30));
    assert_eq!(
        a,
        [
            Action::ReportEndpoints,
            Action::Traverse(vec![(CAT.into(), "cat".into())])
        ]
    );
    // The same snapshot again (a second reconnect) changes nothing but the peers' refresh.
    let same = view(
        BOB,
        vec![member(CAT, "cat", 3, true), member(ME, "me", 9, true)],
    );
    let a = p.handle(snapshot(same), t0 + Duration::from_secs(31));
    assert_eq!(names(&a), ["set_peers", "traverse", "party_changed"]);
}

#[test]
fn leaving_stops_traversal_and_the_tunnel_once() {
    let t0 = Instant::now();
    let mut p = joined(t0, true);
    let a = p.handle(Input::Left, t0);
    assert_eq!(
        names(&a),
        ["stop_traversal", "ended", "stop_tunnel", "party_changed"]
    );
    assert!(!p.in_party());
    // The server's answer to our leave arrives afterwards and changes nothing.
    let a = p.handle(
        Input::Gone {
            party_id: "PARTY001".into(),
            reason: "you left the party".into(),
        },
        t0,
    );
    assert!(a.is_empty(), "not in that party any more: {a:?}");
}

#[test]
fn being_kicked_or_the_party_closing_tells_the_user_but_our_own_leave_does_not() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let a = p.handle(
        Input::Gone {
            party_id: "PARTY001".into(),
            reason: "the host removed you".into(),
        },
        t0,
    );
    assert_eq!(
        names(&a),
        [
            "stop_traversal",
            "ended",
            "stop_tunnel",
            "party_changed",
            "notify"
        ]
    );
    assert_eq!(
        a[4],
        Action::Notify(Notice::Info(
            "You are no longer in the party: the host removed you.".into()
        ))
    );
    let mut p = joined(t0, false);
    let a = p.handle(
        Input::Gone {
            party_id: "PARTY001".into(),
            reason: "you left the party".into(),
        },
        t0,
    );
    assert!(!names(&a).contains(&"notify"));
    // Another party's news is not ours.
    let mut p = joined(t0, false);
    let a = p.handle(
        Input::Gone {
            party_id: "OTHER000".into(),
            reason: "closed".into(),
        },
        t0,
    );
    assert!(a.is_empty());
    assert!(p.in_party());
}

#[test]
fn a_member_starting_and_stopping_a_game_is_told_once_each() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let ttd = GameRef {
        id: "openttd".into(),
        name: "OpenTTD".into(),
    };
    let playing = |game: Option<GameRef>| {
        let mut bob = member(BOB, "bob", 1, true);
        bob.game = game;
        view(BOB, vec![bob, member(ME, "me", 2, true)])
    };
    let a = p.handle(snapshot(playing(Some(ttd.clone()))), t0);
    assert_eq!(
        a[1],
        Action::MemberPlaying {
            name: "bob".into(),
            game: Some(ttd.clone())
        }
    );
    let a = p.handle(snapshot(playing(Some(ttd))), t0);
    assert!(!names(&a).contains(&"member_playing"), "{a:?}");
    let a = p.handle(snapshot(playing(None)), t0);
    assert_eq!(
        a[1],
        Action::MemberPlaying {
            name: "bob".into(),
            game: None
        }
    );
}

#[test]
fn a_snapshot_that_does_not_list_us_is_ignored() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    let a = p.handle(snapshot(view(BOB, vec![member(BOB, "bob", 1, true)])), t0);
    assert!(a.is_empty());
    assert!(!p.in_party());
}

#[test]
fn a_create_or_join_whose_party_never_arrives_fails_after_the_timeout_not_before() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    p.handle(
        Input::Expect {
            party_id: "PARTY001".into(),
        },
        t0,
    );
    assert!(p
        .handle(Input::Tick, t0 + APPLY_TIMEOUT - Duration::from_millis(1))
        .is_empty());
    let a = p.handle(Input::Tick, t0 + APPLY_TIMEOUT);
    assert_eq!(
        a,
        [Action::Failed {
            party_id: "PARTY001".into(),
            reason: "the party's details did not arrive".into()
        }]
    );
    // Answered once.
    assert!(p.handle(Input::Tick, t0 + APPLY_TIMEOUT * 2).is_empty());
}

#[test]
fn a_tunnel_that_cannot_start_is_told_to_the_user_and_the_next_snapshot_tries_again() {
    let t0 = Instant::now();
    let mut p = Party::new(ME);
    let two = || {
        view(
            BOB,
            vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true)],
        )
    };
    p.handle(snapshot(two()), t0);
    let a = p.handle(Input::TunnelFailed("no permission".into()), t0);
    assert_eq!(
        a,
        [Action::Notify(Notice::Error(
            "The party's network could not start: no permission".into()
        ))]
    );
    let a = p.handle(snapshot(two()), t0 + Duration::from_secs(3));
    assert_eq!(names(&a), ["start_tunnel", "party_changed"]);
}

#[test]
fn a_party_already_applied_answers_the_caller_at_once() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let a = p.handle(
        Input::Expect {
            party_id: "PARTY001".into(),
        },
        t0,
    );
    assert_eq!(
        a,
        [Action::Ready {
            party_id: "PARTY001".into()
        }]
    );
}

#[test]
fn a_server_cannot_give_a_public_or_huge_subnet_and_the_join_fails_saying_why() {
    let t0 = Instant::now();
    for (subnet, want) in [
        ("0.0.0.0/0", "not a private network"),
        ("8.8.0.0/16", "not a private network"),
        ("10.0.0.0/8", "a /16 to a /30"),
        ("10.66.0.0/31", "a /16 to a /30"),
        ("fd00::/64", "not IPv4"),
        ("nonsense", "not an IPv4 network"),
    ] {
        let mut p = Party::new(ME);
        p.handle(
            Input::Expect {
                party_id: "PARTY001".into(),
            },
            t0,
        );
        let mut v = view(
            BOB,
            vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true)],
        );
        v.subnet = subnet.into();
        let a = p.handle(snapshot(v), t0);
        assert_eq!(names(&a), ["notify", "failed"], "{subnet}: {a:?}");
        let Action::Failed { reason, .. } = &a[1] else {
            unreachable!()
        };
        assert!(reason.contains(want), "{subnet}: {reason}");
        assert!(!p.in_party());
    }
}

#[test]
fn our_address_outside_the_subnet_is_refused_and_a_running_party_stays_as_it_was() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let mut me = member(ME, "me", 2, true);
    me.virtual_ip = Ipv4Addr::new(192, 168, 1, 1);
    let a = p.handle(
        snapshot(view(BOB, vec![member(BOB, "bob", 1, true), me])),
        t0,
    );
    assert_eq!(names(&a), ["notify"], "{a:?}");
    assert!(p.in_party());
}

#[test]
fn a_member_at_an_address_outside_the_subnet_gets_no_tunnel_peer() {
    let t0 = Instant::now();
    let mut p = joined(t0, false);
    let mut rogue = member(CAT, "cat", 3, true);
    // A "member" at a public address would pull that address's traffic into the tunnel.
    rogue.virtual_ip = Ipv4Addr::new(1, 1, 1, 1);
    let mut broadcast = member(CAT, "cat", 3, true);
    broadcast.virtual_ip = Ipv4Addr::new(10, 66, 255, 255);
    for bad in [rogue, broadcast] {
        let a = p.handle(
            snapshot(view(
                BOB,
                vec![member(BOB, "bob", 1, true), member(ME, "me", 2, true), bad],
            )),
            t0,
        );
        let peers = a
            .iter()
            .find_map(|x| match x {
                Action::SetPeers(peers) => Some(peers.clone()),
                _ => None,
            })
            .expect("the others stay peers");
        assert_eq!(peer_ips(&peers), [IpAddr::V4(Ipv4Addr::new(10, 66, 0, 1))]);
    }
}
