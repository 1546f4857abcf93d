//! What one process scan costs: `cargo run --release -p lanrage-games --example scan_cost [N]`.
//!
//! Starts `sleep` processes until N (default 500) processes run, times scans and detection, and
//! prints the share of one core they take at the engine's 2 s interval (target: under 0.5 %).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use lanrage_games::{scan_processes, Catalogue, Detector, ProcessScanner, SCAN_INTERVAL};

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 500,
    };
    let mut children = Children(Vec::new());
    let running = scan_processes().len();
    for _ in running..target {
        children.0.push(Command::new("sleep").arg("120").spawn()?);
    }
    let catalogue = Catalogue::builtin();
    let mut detector = Detector::new(&catalogue);
    let mut scanner = ProcessScanner::new();
    detector.scan(&scanner.scan());
    let rounds = 50u32;
    let mut scanned = 0;
    let (mut scanning, mut detecting) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = Instant::now();
        let processes = scanner.scan();
        scanning += start.elapsed();
        scanned = processes.len();
        let start = Instant::now();
        detector.scan(&processes);
        detecting += start.elapsed();
    }
    let per_scan = (scanning + detecting) / rounds;
    println!(
        "scan {:.2} ms, detection {:.3} ms; a scan without the scanner's memory {:.2} ms",
        (scanning / rounds).as_secs_f64() * 1000.0,
        (detecting / rounds).as_secs_f64() * 1000.0,
        {
            let start = Instant::now();
            scan_processes();
            start.elapsed().as_secs_f64() * 1000.0
        }
    );
    let share = per_scan.as_secs_f64() / SCAN_INTERVAL.as_secs_f64() * 100.0;
    println!(
        "{scanned} processes: {:.2} ms per scan and detection, {share:.3} % of one core every {} s (target < 0.5 %)",
        per_scan.as_secs_f64() * 1000.0,
        SCAN_INTERVAL.as_secs()
    );
    drop(children);
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}
