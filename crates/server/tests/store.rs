//! The two stores behave alike: every check here runs against SQLite and against a real
//! PostgreSQL started for the test (tests/support/postgres.rs), and a few only PostgreSQL has:
//! its migrations, servers starting together, and the database going away and coming back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/postgres.rs"]
mod postgres;
#[path = "../../../tests/support/skip.rs"]
mod skip;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lanrage_server::registry::{Party, Registry, MAX_RESERVATIONS};
use lanrage_server::store::{PostgresStore, SqliteStore, Store, StoreError, StoreLocation, Writer};
use postgres::TestPostgres;

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn code(r: &Registry, id: &str) -> String {
    r.party(id).unwrap().invite.as_ref().unwrap().code.display()
}

/// Where a check stores: a SQLite file, or a database on a test PostgreSQL.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestPostgres),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// None when the test is skipped (PostgreSQL not installed, outside CI).
    fn postgres() -> Option<Backend> {
        postgres_with_database().map(Backend::Postgres)
    }

    fn open(&self) -> Box<dyn Store> {
        match self {
            Backend::Sqlite(dir) => {
                Box::new(SqliteStore::open(&dir.path().join("server.db")).unwrap())
            }
            Backend::Postgres(pg) => Box::new(PostgresStore::connect(&pg.url("lanrage")).unwrap()),
        }
    }

    fn load_sorted(&self) -> Vec<Party> {
        let mut parties = self.open().load().unwrap();
        parties.sort_by(|a, b| a.id.cmp(&b.id));
        parties
    }
}

/// Each check, once per store.
macro_rules! on_both {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $check() {
                super::$check(&super::Backend::sqlite());
            })*
        }
        mod postgresql {
            $(#[test]
            fn $check() {
                if let Some(at) = super::Backend::postgres() {
                    super::$check(&at);
                }
            })*
        }
    };
}

on_both!(
    parties_survive_a_restart,
    a_change_to_one_member_is_one_row,
    the_writer_stores_in_order_and_a_clean_stop_loses_nothing,
);

/// What a restart must bring back of a party: everything stored, in order.
fn stored(p: &Party) -> impl PartialEq + std::fmt::Debug {
    let mut reserved: Vec<_> = p.reserved.iter().map(|(k, r)| (k.clone(), *r)).collect();
    reserved.sort_by(|a, b| a.0.cmp(&b.0));
    (
        p.settings(),
        p.members
            .iter()
            .map(|m| {
                (
                    m.key.clone(),
                    m.name.clone(),
                    m.ip,
                    m.joined_at_ms,
                    m.endpoints.clone(),
                )
            })
            .collect::<Vec<_>>(),
        reserved,
    )
}

fn parties_survive_a_restart(at: &Backend) {
    let mut db = at.open();
    let mut r = Registry::default();
    let (id, ch) = r
        .create("A", "Ana", "friday", Some(8), Some(60_000), 5)
        .unwrap();
    db.apply(&ch.writes).unwrap();
    let c = code(&r, &id);
    for (key, t) in [("B", 6), ("C", 7), ("D", 8)] {
        let (_, ch) = r.join(key, key, &c, SRC, t).unwrap();
        db.apply(&ch.writes).unwrap();
    }
    let ch = r
        .set_endpoints("B", vec!["198.51.100.2:51820".parse().unwrap()])
        .unwrap();
    db.apply(&ch.writes).unwrap();
    // The host leaves (its address stays reserved); C leaves and comes back, behind D.
    db.apply(&r.leave("A").unwrap().writes).unwrap();
    db.apply(&r.leave("C").unwrap().writes).unwrap();
    db.apply(&r.join("C", "Cy", &c, SRC, 9).unwrap().1.writes)
        .unwrap();
    db.apply(&r.new_invite("B", None, 10).unwrap().writes)
        .unwrap();
    drop(db);
    let loaded = at.load_sorted();
    assert_eq!(loaded.len(), 1);
    let orig = r.party(&id).unwrap();
    assert_eq!(stored(&loaded[0]), stored(orig));
    let order: Vec<_> = loaded[0].members.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(order, ["B", "D", "C"]);
    assert_eq!(loaded[0].host, "B");
    assert_eq!(loaded[0].reserved.keys().collect::<Vec<_>>(), ["A"]);
}

fn a_change_to_one_member_is_one_row(at: &Backend) {
    let mut db = at.open();
    let mut r = Registry::default();
    let (id, ch) = r.create("H", "Host", "p", Some(64), None, 0).unwrap();
    db.apply(&ch.writes).unwrap();
    let c = code(&r, &id);
    for i in 0..(MAX_RESERVATIONS + 60) {
        let key = format!("m{i}");
        db.apply(&r.join(&key, "x", &c, SRC, 1).unwrap().1.writes)
            .unwrap();
        if i >= 60 {
            db.apply(&r.leave(&key).unwrap().writes).unwrap();
        }
    }
    let p = r.party(&id).unwrap();
    assert_eq!((p.members.len(), p.reserved.len()), (61, MAX_RESERVATIONS));
    let ch = r
        .set_endpoints("m5", vec!["192.0.2.1:1".parse().unwrap()])
        .unwrap();
    assert_eq!(db.apply(&ch.writes).unwrap(), 1);
    assert_eq!(db.apply(&r.rename("m6", "Six").unwrap().writes).unwrap(), 1);
    // A join and a leave: the member's row and the reservation's, whatever the party's size.
    let (_, ch) = r.join("new", "n", &c, SRC, 2).unwrap();
    assert_eq!(db.apply(&ch.writes).unwrap(), 1);
    let ch = r.leave("new").unwrap();
    // ...plus the oldest reservation, evicted to stay within the cap.
    assert_eq!(db.apply(&ch.writes).unwrap(), 3);
}

fn the_writer_stores_in_order_and_a_clean_stop_loses_nothing(at: &Backend) {
    let writer = Writer::start(at.open()).unwrap();
    let mut r = Registry::default();
    let mut ids = Vec::new();
    for h in 0..20 {
        let host = format!("host{h}");
        let (id, ch) = r.create(&host, "H", "p", None, None, h).unwrap();
        writer.submit(ch.writes);
        let c = code(&r, &id);
        for m in 0..10 {
            let key = format!("{host}-m{m}");
            writer.submit(r.join(&key, "x", &c, SRC, h).unwrap().1.writes);
            // Changes that only make sense after the join, and one that undoes it.
            let eps = vec![SocketAddr::from(([192, 0, 2, m as u8], 1000 + m as u16))];
            writer.submit(r.set_endpoints(&key, eps).unwrap().writes);
            if m % 3 == 0 {
                writer.submit(r.leave(&key).unwrap().writes);
            }
        }
        writer.submit(r.leave(&host).unwrap().writes);
        ids.push(id);
    }
    // A closed party leaves nothing behind.
    let (gone, ch) = r.create("short", "S", "p", None, None, 0).unwrap();
    writer.submit(ch.writes);
    writer.submit(r.close("short").unwrap().writes);
    assert!(writer.close(Duration::from_secs(30)));
    let stats = writer.stats();
    assert_eq!((stats.pending, stats.errors, stats.lost), (0, 0, 0));
    let loaded = at.load_sorted();
    assert!(loaded.iter().all(|p| p.id != gone));
    let mut expected: Vec<&Party> = ids.iter().map(|id| r.party(id).unwrap()).collect();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(loaded.len(), expected.len());
    for (l, e) in loaded.iter().zip(expected) {
        assert_eq!(stored(l), stored(e));
    }
    // Writes after the close are refused and counted, not silently dropped.
    writer.submit(r.leave("host0-m2").unwrap().writes);
    assert_eq!(writer.stats().lost, 2);
}

/// A test PostgreSQL with an empty database `lanrage`, or None when skipped.
fn postgres_with_database() -> Option<TestPostgres> {
    let pg = TestPostgres::start()?;
    pg.create_database("lanrage");
    Some(pg)
}

#[test]
fn postgresql_servers_starting_together_create_the_tables_once() {
    let Some(pg) = postgres_with_database() else {
        return;
    };
    let url = pg.url("lanrage");
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::connect(&url).map(drop))
        })
        .collect();
    for s in starts {
        s.join().unwrap().unwrap();
    }
    // Each migration once.
    assert_eq!(
        pg.sql(
            "lanrage",
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM lanrage_schema"
        ),
        "1,2"
    );
    assert!(PostgresStore::connect(&url)
        .unwrap()
        .load()
        .unwrap()
        .is_empty());
}

#[test]
fn postgresql_written_by_a_newer_server_is_refused() {
    let Some(pg) = postgres_with_database() else {
        return;
    };
    PostgresStore::connect(&pg.url("lanrage")).unwrap();
    pg.sql(
        "lanrage",
        "INSERT INTO lanrage_schema (version) VALUES (99)",
    );
    let err = PostgresStore::connect(&pg.url("lanrage")).err().unwrap();
    assert!(matches!(err, StoreError::Newer(99)), "{err}");
    assert!(err.to_string().contains("update LANrage"), "{err}");
}

#[test]
fn postgresql_going_away_and_back_loses_no_change() {
    let Some(mut pg) = postgres_with_database() else {
        return;
    };
    let url = pg.url("lanrage");
    let writer = Writer::start(Box::new(PostgresStore::connect(&url).unwrap())).unwrap();
    let mut r = Registry::default();
    let (id, ch) = r.create("A", "Ana", "p", None, None, 0).unwrap();
    writer.submit(ch.writes);
    assert!(writer.flush(Duration::from_secs(10)));

    pg.pause();
    let c = code(&r, &id);
    writer.submit(r.join("B", "Bo", &c, SRC, 1).unwrap().1.writes);
    // Handing a change over never waits for the database, even one that is down.
    assert!(!writer.flush(Duration::from_millis(1500)));
    let stats = writer.stats();
    assert!(stats.errors >= 1 && stats.pending > 0, "{stats:?}");

    pg.resume();
    assert!(
        writer.flush(Duration::from_secs(30)),
        "{:?}",
        writer.stats()
    );
    writer.submit(r.rename("B", "Bob").unwrap().writes);
    assert!(writer.close(Duration::from_secs(10)));
    assert_eq!(writer.stats().lost, 0);
    let loaded = PostgresStore::connect(&url).unwrap().load().unwrap();
    let names: Vec<_> = loaded[0].members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Ana", "Bob"]);
}

#[test]
fn postgresql_errors_name_the_database_and_never_the_password() {
    let Some(pg) = TestPostgres::start() else {
        return;
    };
    let url = format!(
        "postgres://{}:hunter2@127.0.0.1:{}/nosuchdb",
        postgres::USER,
        pg.port()
    );
    let location: StoreLocation = url.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = location.open(dir.path()).err().unwrap().to_string();
    assert!(
        err.contains("nosuchdb") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!location.to_string().contains("hunter2"));
}

/// Whether LANrage's newest connection to `pg` is encrypted ("t" or "f"), asked of PostgreSQL.
fn lanrage_uses_tls(pg: &TestPostgres) -> String {
    pg.sql(
        "lanrage",
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'lanrage-server' ORDER BY a.backend_start DESC LIMIT 1",
    )
}

#[test]
fn postgresql_over_tls_as_libpq_means_it() {
    let Some(mut pg) = postgres_with_database() else {
        return;
    };
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    pg.enable_tls(&cert.cert.pem(), &cert.signing_key.serialize_pem());
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let stranger = dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&stranger, other.cert.pem()).unwrap();
    let at = |host: &str, query: &str| {
        format!(
            "postgres://{}@{host}:{}/lanrage?{query}",
            postgres::USER,
            pg.port()
        )
    };

    // As libpq: TLS when offered, the certificate unchecked unless asked.
    for (url, tls) in [
        (at("127.0.0.1", ""), "t"),
        (at("127.0.0.1", "sslmode=require"), "t"),
        (at("127.0.0.1", "sslmode=disable"), "f"),
        (
            at(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
            ),
            "t",
        ),
        // verify-ca checks the authority, not the name (the certificate names localhost).
        (
            at(
                "127.0.0.1",
                &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
            ),
            "t",
        ),
    ] {
        let store = PostgresStore::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(lanrage_uses_tls(&pg), tls, "{url}");
        drop(store);
    }
    // A certificate from another authority, or for another name, is refused.
    for (url, says) in [
        (
            at(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={}", stranger.display()),
            ),
            "certificate",
        ),
        (
            at("127.0.0.1", &format!("sslrootcert={}", stranger.display())),
            "certificate",
        ),
        (
            at(
                "127.0.0.1",
                &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
            ),
            "certificate",
        ),
    ] {
        let err = PostgresStore::connect(&url).err().unwrap().to_string();
        assert!(err.contains(says), "{url}: {err}");
    }
}

#[test]
fn postgresql_a_server_taken_over_can_no_longer_write() {
    let Some(pg) = postgres_with_database() else {
        return;
    };
    let url = pg.url("lanrage");
    let mut a = PostgresStore::connect(&url).unwrap();
    let first = a.start_term().unwrap();
    let mut r = Registry::default();
    let (id, ch) = r.create("A", "Ana", "p", None, None, 0).unwrap();
    a.apply(&ch.writes).unwrap();

    let mut b = PostgresStore::connect(&url).unwrap();
    assert_eq!(b.start_term().unwrap(), first + 1);
    assert_eq!(b.load().unwrap().len(), 1);
    // What the first server still decides is refused, whatever it is, and never retried.
    let c = code(&r, &id);
    let join = r.join("B", "Bo", &c, SRC, 1).unwrap().1.writes;
    assert!(matches!(a.apply(&join), Err(StoreError::Fenced)));
    let writer = Writer::start(Box::new(a)).unwrap();
    writer.submit(join.clone());
    assert!(writer.flush(Duration::from_secs(5)));
    let stats = writer.stats();
    assert_eq!(
        (stats.lost, stats.errors),
        (join.len() as u64, 0),
        "{stats:?}"
    );
    // The server serving now writes as before.
    b.apply(&join).unwrap();
    assert_eq!(b.load().unwrap()[0].members.len(), 2);
}
