//! How much CPU metrics collection costs per one-second tick, idle and with 8 peers.
//!
//! Run in release mode: `cargo run --release -p lanrage-metrics --example tick_cost`.
//! It prints timings; it asserts nothing (timings depend on the machine).

use lanrage_metrics::{prometheus, MetricsCollector, PeerInput, SystemSampler, Window};
use std::hint::black_box;
use std::time::{Duration, Instant};

const T0: u64 = 1_700_000_000_000;

fn peers(n: usize, tick: u64) -> Vec<PeerInput> {
    (0..n)
        .map(|i| PeerInput {
            public_key: format!("{i:0>43}="),
            name: Some(format!("player{i}")),
            connection: if i % 3 == 0 { "relayed" } else { "direct" }.into(),
            rtt_ms: Some(10.0 + i as f64 + (tick % 7) as f64),
            jitter_ms: Some(1.0 + (tick % 3) as f64),
            loss: Some(if tick.is_multiple_of(50) { 0.01 } else { 0.0 }),
            rx_bytes: tick * 50_000 * (i as u64 + 1),
            tx_bytes: tick * 40_000 * (i as u64 + 1),
            rx_packets: tick * 100,
            tx_packets: tick * 90,
        })
        .collect()
}

fn per_op(total: Duration, n: u64) -> f64 {
    total.as_secs_f64() * 1e6 / n as f64
}

fn main() {
    // Two simulated hours, so the hour rings are full and wrapping.
    let ticks = 7200u64;
    let mut per_second_8 = 0.0;
    let mut per_second_0 = 0.0;
    for n in [0usize, 8] {
        let mut c = MetricsCollector::new();
        let inputs: Vec<Vec<PeerInput>> = (0..ticks).map(|t| peers(n, t)).collect();
        let start = Instant::now();
        for (t, input) in inputs.iter().enumerate() {
            black_box(c.on_tick(T0 + t as u64 * 1000, input, None));
        }
        let tick = per_op(start.elapsed(), ticks);

        let reps = 1000u64;
        let start = Instant::now();
        for _ in 0..reps {
            black_box(c.snapshot());
        }
        let snapshot = per_op(start.elapsed(), reps);
        let snap = c.snapshot();
        let start = Instant::now();
        for _ in 0..reps {
            black_box(prometheus::render(&snap));
        }
        let render = per_op(start.elapsed(), reps);
        let start = Instant::now();
        for _ in 0..100 {
            black_box(c.history(Window::Hour));
        }
        let hour = per_op(start.elapsed(), 100);
        let start = Instant::now();
        let mut json = 0;
        for _ in 0..reps {
            json = black_box(serde_json::to_vec(&snap).map_or(0, |v| v.len()));
        }
        let to_json = per_op(start.elapsed(), reps);
        let current = c.snapshot_current();
        let start = Instant::now();
        let mut current_json = 0;
        for _ in 0..reps {
            current_json = black_box(serde_json::to_vec(&current).map_or(0, |v| v.len()));
        }
        let current_to_json = per_op(start.elapsed(), reps);
        println!(
            "{n} peers: on_tick {tick:.2} µs, snapshot {snapshot:.1} µs, snapshot to JSON \
             {to_json:.1} µs ({json} bytes; without the minute charts {current_to_json:.1} µs, \
             {current_json} bytes), prometheus render {render:.1} µs, hour history {hour:.0} µs"
        );
        // What the engine does every second: a tick, a snapshot for the UI, as JSON.
        let second = tick + snapshot + to_json;
        if n == 8 {
            per_second_8 = second;
        } else {
            per_second_0 = second;
        }
    }

    // The system sampler reads /proc: the dominant cost.
    let mut s = SystemSampler::new();
    let mut now = T0;
    s.sample(now);
    let reps = 200u64;
    let mut total = Duration::ZERO;
    for _ in 0..reps {
        now += 1000;
        let start = Instant::now();
        black_box(s.sample(now));
        total += start.elapsed();
    }
    let sys = per_op(total, reps);
    println!("system sample (sysinfo refresh: cpu, memory, networks, own process): {sys:.1} µs");
    // µs per second -> percent of one core: divide by 1e6, times 100.
    for (n, work) in [(0, per_second_0), (8, per_second_8)] {
        let total = work + sys;
        println!(
            "=> {n} peers, one tick per second (tick + system sample + snapshot as JSON): \
             {total:.0} µs per second = {:.4}% of one core",
            total / 1e4
        );
    }
}
