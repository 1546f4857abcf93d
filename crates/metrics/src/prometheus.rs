//! Prometheus text exposition (format 0.0.4) of a [`Snapshot`].
//!
//! Families (all prefixed `lanrage_`; a family with no sample is left out, except `lanrage_peers`):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `lanrage_peers` | gauge | |
//! | `lanrage_peer_info` | gauge (1) | `peer`, `name` |
//! | `lanrage_peer_connection` | gauge (1) | `peer`, `type` |
//! | `lanrage_peer_connection_seconds_total` | counter | `peer`, `type` |
//! | `lanrage_peer_rtt_seconds` | gauge | `peer` |
//! | `lanrage_peer_jitter_seconds` | gauge | `peer` |
//! | `lanrage_peer_loss_ratio` | gauge | `peer` |
//! | `lanrage_peer_{rx,tx}_bytes_total` | counter | `peer` |
//! | `lanrage_peer_{rx,tx}_packets_total` | counter | `peer` |
//! | `lanrage_peer_quality_score` | gauge | `peer` |
//! | `lanrage_party_quality_score` | gauge | |
//! | `lanrage_system_cpu_ratio` | gauge | |
//! | `lanrage_system_memory_used_bytes`, `..._total_bytes` | gauge | |
//! | `lanrage_system_network_{rx,tx}_bytes_per_second` | gauge | |
//! | `lanrage_process_cpu_cores`, `lanrage_process_resident_memory_bytes` | gauge | |
//!
//! `peer` is the peer's WireGuard public key (base64). Measurements not known yet (no probe
//! answered) have no sample rather than a made-up value.

use crate::collector::Snapshot;
use std::fmt::Write as _;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A float the way Prometheus writes them (`NaN`, `+Inf`, `-Inf`, else the shortest exact form).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    lines: Vec<String>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind,
            help,
            lines: Vec::new(),
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: String) {
        let mut line = String::from(self.name);
        if !labels.is_empty() {
            line.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let _ = write!(line, "{k}=\"{}\"", escape_label_value(v));
            }
            line.push('}');
        }
        line.push(' ');
        line.push_str(&value);
        self.lines.push(line);
    }

    fn write(&self, out: &mut String, always: bool) {
        if self.lines.is_empty() && !always {
            return;
        }
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
    }
}

/// Renders the snapshot as Prometheus text.
pub fn render(s: &Snapshot) -> String {
    let mut peers = Family::new("lanrage_peers", "gauge", "Peers in the party.");
    let mut info = Family::new(
        "lanrage_peer_info",
        "gauge",
        "Peer display name (value always 1).",
    );
    let mut conn = Family::new(
        "lanrage_peer_connection",
        "gauge",
        "Current connection type of the peer (value always 1).",
    );
    let mut conn_secs = Family::new(
        "lanrage_peer_connection_seconds_total",
        "counter",
        "Time the peer spent in each connection type.",
    );
    let mut rtt = Family::new(
        "lanrage_peer_rtt_seconds",
        "gauge",
        "Round-trip time to the peer through the tunnel (smoothed).",
    );
    let mut jitter = Family::new(
        "lanrage_peer_jitter_seconds",
        "gauge",
        "Round-trip jitter to the peer (RFC 3550 estimator).",
    );
    let mut loss = Family::new(
        "lanrage_peer_loss_ratio",
        "gauge",
        "Share of recent probes to the peer that were lost (0 to 1).",
    );
    let mut rx_bytes = Family::new(
        "lanrage_peer_rx_bytes_total",
        "counter",
        "Bytes received from the peer.",
    );
    let mut tx_bytes = Family::new(
        "lanrage_peer_tx_bytes_total",
        "counter",
        "Bytes sent to the peer.",
    );
    let mut rx_packets = Family::new(
        "lanrage_peer_rx_packets_total",
        "counter",
        "Packets received from the peer.",
    );
    let mut tx_packets = Family::new(
        "lanrage_peer_tx_packets_total",
        "counter",
        "Packets sent to the peer.",
    );
    let mut quality = Family::new(
        "lanrage_peer_quality_score",
        "gauge",
        "Connection quality score of the peer, 0 to 100 (the worst of latency, jitter and loss).",
    );
    let mut party = Family::new(
        "lanrage_party_quality_score",
        "gauge",
        "Party quality score, 0 to 100: the worst peer's score.",
    );
    let mut cpu = Family::new(
        "lanrage_system_cpu_ratio",
        "gauge",
        "Whole-machine CPU use, 0 to 1.",
    );
    let mut mem_used = Family::new(
        "lanrage_system_memory_used_bytes",
        "gauge",
        "Memory in use on the machine.",
    );
    let mut mem_total = Family::new(
        "lanrage_system_memory_total_bytes",
        "gauge",
        "Memory installed in the machine.",
    );
    let mut net_rx = Family::new(
        "lanrage_system_network_rx_bytes_per_second",
        "gauge",
        "Bytes received per second on the machine's interfaces (loopback and the tunnel excluded).",
    );
    let mut net_tx = Family::new(
        "lanrage_system_network_tx_bytes_per_second",
        "gauge",
        "Bytes sent per second on the machine's interfaces (loopback and the tunnel excluded).",
    );
    let mut proc_cpu = Family::new(
        "lanrage_process_cpu_cores",
        "gauge",
        "CPU used by LANrage, in cores (0.05 is 5% of one core).",
    );
    let mut proc_mem = Family::new(
        "lanrage_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the LANrage process.",
    );

    peers.sample(&[], s.peers.len().to_string());
    for p in &s.peers {
        let key = p.public_key.as_str();
        let l = [("peer", key)];
        if let Some(name) = &p.name {
            info.sample(&[("peer", key), ("name", name)], "1".into());
        }
        conn.sample(&[("peer", key), ("type", &p.connection)], "1".into());
        for (state, ms) in &p.time_in_state_ms {
            conn_secs.sample(
                &[("peer", key), ("type", state)],
                float(*ms as f64 / 1000.0),
            );
        }
        if let Some(v) = p.rtt_ms {
            rtt.sample(&l, float(v / 1000.0));
        }
        if let Some(v) = p.jitter_ms {
            jitter.sample(&l, float(v / 1000.0));
        }
        if let Some(v) = p.loss {
            loss.sample(&l, float(v));
        }
        rx_bytes.sample(&l, p.rx_bytes_total.to_string());
        tx_bytes.sample(&l, p.tx_bytes_total.to_string());
        rx_packets.sample(&l, p.rx_packets_total.to_string());
        tx_packets.sample(&l, p.tx_packets_total.to_string());
        if let Some(q) = &p.quality {
            quality.sample(&l, q.score.to_string());
        }
    }
    if let Some(pq) = &s.party {
        party.sample(&[], pq.score.to_string());
    }
    if let Some(sys) = &s.system {
        cpu.sample(&[], float(sys.cpu_ratio));
        mem_used.sample(&[], sys.memory_used_bytes.to_string());
        mem_total.sample(&[], sys.memory_total_bytes.to_string());
        net_rx.sample(&[], float(sys.net_rx_bytes_per_sec));
        net_tx.sample(&[], float(sys.net_tx_bytes_per_sec));
        if let Some(c) = sys.process_cpu_cores {
            proc_cpu.sample(&[], float(c));
        }
        if let Some(m) = sys.process_memory_bytes {
            proc_mem.sample(&[], m.to_string());
        }
    }

    let mut out = String::with_capacity(4096);
    peers.write(&mut out, true);
    for f in [
        &info,
        &conn,
        &conn_secs,
        &rtt,
        &jitter,
        &loss,
        &rx_bytes,
        &tx_bytes,
        &rx_packets,
        &tx_packets,
        &quality,
        &party,
        &cpu,
        &mem_used,
        &mem_total,
        &net_rx,
        &net_tx,
        &proc_cpu,
        &proc_mem,
    ] {
        f.write(&mut out, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_label_value("abc+/=="), "abc+/==");
    }

    #[test]
    fn floats_use_prometheus_spelling() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(0.0235), "0.0235");
        assert_eq!(float(1e-9), "0.000000001");
    }

    #[test]
    fn empty_snapshot_has_zero_peers() {
        let s = crate::MetricsCollector::new().snapshot();
        let text = render(&s);
        assert_eq!(
            text,
            "# HELP lanrage_peers Peers in the party.\n# TYPE lanrage_peers gauge\nlanrage_peers 0\n"
        );
    }
}
