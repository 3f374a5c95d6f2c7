//! Replays every committed seed (and every crash found and fixed, kept in the same folders)
//! through the fuzz checks, so that CI on stable keeps them passing without libFuzzer.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
        count += 1;
    }
    assert!(
        count >= 5,
        "{target}: only {count} seeds in {}",
        dir.display()
    );
}

#[test]
fn config_seeds_pass() {
    replay("config", trendmaster_fuzz::config);
}

#[test]
fn ratelimit_seeds_pass() {
    replay("ratelimit", trendmaster_fuzz::ratelimit);
}

#[test]
fn prometheus_answer_seeds_pass() {
    replay("prometheus_answer", trendmaster_fuzz::prometheus_answer);
}
