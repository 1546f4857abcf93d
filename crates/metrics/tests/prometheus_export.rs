//! The Prometheus export read back by two independent parsers, values checked against the inputs.
//!
//! `prom_text_format_parser` is strict (it rejects malformed lines and bad escapes) and keeps
//! label values as written, so label values are unescaped here and compared exactly.
//! `prometheus-parse` is lenient: it drops label pairs whose value contains `=` (every base64
//! WireGuard key ends with one), so with it the per-peer values are compared as sets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use lanrage_metrics::prometheus::{render, CONTENT_TYPE};
use lanrage_metrics::{MetricsCollector, PeerInput, Snapshot, SystemSample};
use std::collections::HashMap;

const T0: u64 = 1_700_000_000_000;

fn inputs(step: u64) -> Vec<PeerInput> {
    vec![
        PeerInput {
            public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".into(),
            name: Some("Alice \"The Host\"".into()),
            connection: "direct".into(),
            rtt_ms: Some(23.5),
            jitter_ms: Some(1.25),
            loss: Some(0.0),
            rx_bytes: 1_000_000 + step * 12_345,
            tx_bytes: 2_000_000 + step * 54_321,
            rx_packets: 1000 + step * 10,
            tx_packets: 2000 + step * 20,
        },
        PeerInput {
            public_key: "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=".into(),
            name: Some("back\\slash\nnew line".into()),
            connection: "relayed".into(),
            rtt_ms: Some(140.0),
            jitter_ms: Some(30.0),
            loss: Some(0.02),
            rx_bytes: 77 + step,
            tx_bytes: 88 + step,
            rx_packets: 7,
            tx_packets: 8,
        },
        PeerInput {
            public_key: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=".into(),
            name: None,
            connection: "connecting".into(),
            rtt_ms: None,
            jitter_ms: None,
            loss: None,
            rx_bytes: 0,
            tx_bytes: 0,
            rx_packets: 0,
            tx_packets: 0,
        },
    ]
}

fn snapshot() -> Snapshot {
    let mut c = MetricsCollector::new();
    let sys = SystemSample {
        t_ms: T0 + 2000,
        cpu_ratio: 0.375,
        memory_used_bytes: 3_221_225_472,
        memory_total_bytes: 25_769_803_776,
        net_rx_bytes_per_sec: 1234.5,
        net_tx_bytes_per_sec: 678.25,
        process_cpu_cores: Some(0.0125),
        process_memory_bytes: Some(25_000_000),
    };
    c.on_tick(T0, &inputs(0), None);
    c.on_tick(T0 + 1000, &inputs(1), None);
    c.on_tick(T0 + 2000, &inputs(2), Some(sys));
    c.snapshot()
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => panic!("dangling escape in {v:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

type Key = (String, Vec<(String, String)>);

/// Every sample as ((metric, sorted unescaped labels), value), plus each metric's type.
fn strict_parse(text: &str) -> (HashMap<Key, f64>, HashMap<String, String>) {
    let scrape = prom_text_format_parser::Scrape::parse(text).expect("valid exposition");
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    for m in &scrape.metrics {
        types.insert(m.name.clone(), m.kind.to_string());
        assert!(m.help_desc.is_some(), "{} has HELP", m.name);
        for s in &m.samples {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|l| (l.key.clone(), unescape(&l.value)))
                .collect();
            labels.sort();
            let key = (m.name.clone(), labels);
            let value = s.value.value.as_f64();
            assert!(samples.insert(key, value).is_none(), "duplicate sample");
        }
    }
    (samples, types)
}

fn get(samples: &HashMap<Key, f64>, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    samples.get(&(metric.to_string(), l)).copied()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn the_strict_parser_rejects_bad_escapes() {
    // A control: the parser used below would catch an escaping mistake.
    let bad = "# HELP x x\n# TYPE x gauge\nx{a=\"b\\q\"} 1\n";
    assert!(prom_text_format_parser::Scrape::parse(bad).is_err());
    let good = "# HELP x x\n# TYPE x gauge\nx{a=\"b\\\\q\\\"\"} 1\n";
    assert!(prom_text_format_parser::Scrape::parse(good).is_ok());
}

#[test]
fn strict_parser_reads_back_every_input() {
    let snap = snapshot();
    let text = render(&snap);
    let (samples, types) = strict_parse(&text);
    let ins = inputs(2);

    assert_eq!(get(&samples, "lanrage_peers", &[]), Some(3.0));
    for p in &ins {
        let k = p.public_key.as_str();
        let peer = [("peer", k)];
        let rtt = get(&samples, "lanrage_peer_rtt_seconds", &peer);
        let jitter = get(&samples, "lanrage_peer_jitter_seconds", &peer);
        let loss = get(&samples, "lanrage_peer_loss_ratio", &peer);
        match p.rtt_ms {
            Some(v) => assert!(close(rtt.unwrap(), v / 1000.0), "{rtt:?} vs {v}"),
            None => assert_eq!(rtt, None),
        }
        match p.jitter_ms {
            Some(v) => assert!(close(jitter.unwrap(), v / 1000.0)),
            None => assert_eq!(jitter, None),
        }
        match p.loss {
            Some(v) => assert!(close(loss.unwrap(), v)),
            None => assert_eq!(loss, None),
        }
        let counter = |m: &str| get(&samples, m, &peer).unwrap();
        assert_eq!(counter("lanrage_peer_rx_bytes_total"), p.rx_bytes as f64);
        assert_eq!(counter("lanrage_peer_tx_bytes_total"), p.tx_bytes as f64);
        assert_eq!(
            counter("lanrage_peer_rx_packets_total"),
            p.rx_packets as f64
        );
        assert_eq!(
            counter("lanrage_peer_tx_packets_total"),
            p.tx_packets as f64
        );
        assert_eq!(
            get(
                &samples,
                "lanrage_peer_connection",
                &[("peer", k), ("type", &p.connection)]
            ),
            Some(1.0)
        );
        // Two seconds observed, all in the one connection type.
        assert_eq!(
            get(
                &samples,
                "lanrage_peer_connection_seconds_total",
                &[("peer", k), ("type", &p.connection)]
            ),
            Some(2.0)
        );
        if let Some(name) = &p.name {
            assert_eq!(
                get(
                    &samples,
                    "lanrage_peer_info",
                    &[("peer", k), ("name", name)]
                ),
                Some(1.0),
                "name {name:?} survives escaping"
            );
        }
        let q = snap
            .peers
            .iter()
            .find(|s| s.public_key == p.public_key)
            .unwrap()
            .quality;
        assert_eq!(
            get(&samples, "lanrage_peer_quality_score", &peer),
            q.map(|q| f64::from(q.score))
        );
    }
    // 23.5 ms -> 84.3, 1.25 ms jitter -> 97.5: 84. 140 ms -> 6.7, 30 ms -> 40, 2 % -> 60: 7.
    assert_eq!(
        get(
            &samples,
            "lanrage_peer_quality_score",
            &[("peer", ins[0].public_key.as_str())]
        ),
        Some(84.0)
    );
    assert_eq!(get(&samples, "lanrage_party_quality_score", &[]), Some(7.0));
    assert_eq!(get(&samples, "lanrage_system_cpu_ratio", &[]), Some(0.375));
    assert_eq!(
        get(&samples, "lanrage_system_memory_used_bytes", &[]),
        Some(3_221_225_472.0)
    );
    assert_eq!(
        get(&samples, "lanrage_system_memory_total_bytes", &[]),
        Some(25_769_803_776.0)
    );
    assert_eq!(
        get(&samples, "lanrage_system_network_rx_bytes_per_second", &[]),
        Some(1234.5)
    );
    assert_eq!(
        get(&samples, "lanrage_system_network_tx_bytes_per_second", &[]),
        Some(678.25)
    );
    assert_eq!(
        get(&samples, "lanrage_process_cpu_cores", &[]),
        Some(0.0125)
    );
    assert_eq!(
        get(&samples, "lanrage_process_resident_memory_bytes", &[]),
        Some(25_000_000.0)
    );

    for (name, kind) in [
        ("lanrage_peers", "gauge"),
        ("lanrage_peer_rtt_seconds", "gauge"),
        ("lanrage_peer_rx_bytes_total", "counter"),
        ("lanrage_peer_tx_bytes_total", "counter"),
        ("lanrage_peer_connection", "gauge"),
        ("lanrage_peer_connection_seconds_total", "counter"),
        ("lanrage_peer_quality_score", "gauge"),
        ("lanrage_party_quality_score", "gauge"),
        ("lanrage_system_cpu_ratio", "gauge"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert!(types.keys().all(|n| n.starts_with("lanrage_")));
    assert!(CONTENT_TYPE.starts_with("text/plain; version=0.0.4"));
}

#[test]
fn prometheus_parse_reads_the_same_values() {
    use prometheus_parse::{Scrape, Value};
    let snap = snapshot();
    let text = render(&snap);
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let values = |metric: &str| -> Vec<f64> {
        let mut v: Vec<f64> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| match s.value {
                Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => v,
                _ => panic!("unexpected type for {metric}"),
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let ins = inputs(2);
    assert_eq!(values("lanrage_peers"), vec![3.0]);
    assert_eq!(values("lanrage_peer_rtt_seconds"), vec![0.0235, 0.14]);
    assert_eq!(values("lanrage_peer_jitter_seconds"), vec![0.00125, 0.03]);
    assert_eq!(values("lanrage_peer_loss_ratio"), vec![0.0, 0.02]);
    let mut rx: Vec<f64> = ins.iter().map(|p| p.rx_bytes as f64).collect();
    rx.sort_by(f64::total_cmp);
    assert_eq!(values("lanrage_peer_rx_bytes_total"), rx);
    assert_eq!(values("lanrage_peer_quality_score"), vec![7.0, 84.0]);
    assert_eq!(values("lanrage_party_quality_score"), vec![7.0]);
    assert_eq!(values("lanrage_system_cpu_ratio"), vec![0.375]);
    assert_eq!(
        values("lanrage_system_memory_used_bytes"),
        vec![3_221_225_472.0]
    );
    // Types: counters are counters, gauges gauges.
    let kind = |metric: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric)
            .map(|s| matches!(s.value, Value::Counter(_)))
    };
    assert_eq!(kind("lanrage_peer_tx_bytes_total"), Some(true));
    assert_eq!(kind("lanrage_peer_rtt_seconds"), Some(false));
    // Labels without '=' in their value come through: the connection type.
    let types: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "lanrage_peer_connection")
        .filter_map(|s| s.labels.get("type"))
        .collect();
    assert_eq!(types.len(), 3);
    assert!(types.contains(&"relayed"));
    assert!(scrape.docs.contains_key("lanrage_peer_quality_score"));
}
