//! The rule for skipping a test, kept in a file of its own so that crates which cannot take the
//! whole support module (it needs the root crate's dependencies) can include it by path.

use std::path::{Path, PathBuf};

/// Tests that need tools or privileges skip with a reason on a developer's machine, but fail in
/// CI (where `CI` is set and the set-up script installed everything), so a missing tool can never
/// turn a CI run green by skipping.
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("required for this test in CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
    // Test output is captured, so the reason is also written where scripts/test reports it.
    let log = workspace_target().join("test-skips.log");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        use std::io::Write;
        let _ = writeln!(f, "SKIPPED: {why}");
    }
    false
}

/// The workspace's target directory, whichever crate's tests include this module.
pub fn workspace_target() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() {
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
    dir.join("target")
}
