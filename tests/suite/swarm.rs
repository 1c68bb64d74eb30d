//! Swarm testing (src/tools/swarm.rs): every configuration the book calls safe stays safe,
//! live and consistent in its counts for every drawn world and fault schedule; every
//! unsafe variant shows its anomaly in the same swarm (so the swarm is not vacuous).
//!
//! CI runs `SEEDS` seeds per configuration and workload. The long run is
//! `cargo test --release --test suite swarm:: -- --ignored` (ACIDBASE_SWARM_SEEDS seeds, 5,000
//! by default), or the same from the command line:
//! `acidbase explore --swarm --seeds 1..5001`.

use acidbase::tools::swarm::{configurations, run_configuration, swarm, Expect, FaultMix};

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};

const SEEDS: u64 = 200;

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs every configuration for `seeds` seeds; returns what did not behave.
fn misbehaving(seeds: std::ops::RangeInclusive<u64>) -> Vec<String> {
    let mut bad = Vec::new();
    for c in configurations() {
        let seeds = *seeds.start()..=(*seeds.end()).max(seeds.start() + c.min_seeds);
        for &w in c.workloads {
            let r = run_configuration(&c, w, seeds.clone(), jobs(), &|_, _| {})
                .unwrap_or_else(|e| panic!("{} ({}): {e}", c.name, w.name()));
            if !r.as_expected {
                let kinds: Vec<String> = r
                    .exploration
                    .kinds
                    .iter()
                    .map(|k| format!("{} x{} (first seed {})", k.kind, k.seeds, k.first_seed))
                    .collect();
                bad.push(format!(
                    "{} ({}, {} faults): expected {}, got [{}]",
                    c.name,
                    w.name(),
                    c.faults.name(),
                    r.expected,
                    kinds.join(", ")
                ));
            }
        }
    }
    bad
}

#[test]
fn every_configuration_behaves_as_the_book_says_under_the_swarm() {
    let bad = misbehaving(1..=SEEDS);
    assert!(
        bad.is_empty(),
        "replay one with `acidbase explore --swarm --config NAME --seeds N`:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_swarm_covers_every_protocol_and_both_kinds_of_expectation() {
    let cs = configurations();
    for p in ["2pc", "3pc", "tcc", "saga", "messaging", "calls"] {
        let of_p: Vec<_> = cs
            .iter()
            .filter(|c| c.options.contains(&format!("protocol: \"{p}\"")))
            .collect();
        assert!(
            of_p.iter().any(|c| c.expect == Expect::Safe),
            "{p} has a safe configuration"
        );
        assert!(
            of_p.iter().any(|c| c.expect != Expect::Safe),
            "{p} has an unsafe variant, so its swarm is known to bite"
        );
    }
    assert!(cs
        .iter()
        .any(|c| c.faults == FaultMix::CrashOnly && c.expect == Expect::Safe));
}

#[test]
fn a_swarm_is_the_same_at_any_thread_count() {
    let c = configurations()
        .into_iter()
        .find(|c| c.name == "2pc-unsafe-timeout")
        .expect("shipped");
    let base =
        acidbase::tools::swarm::base_scenario(&c, acidbase::tools::swarm::WorkloadKind::Transfer)
            .expect("builds");
    let one = swarm(
        &acidbase::run::Registry::builtin(),
        &base,
        c.faults,
        0..=39,
        1,
        &|_, _| {},
    );
    let two = swarm(
        &acidbase::run::Registry::builtin(),
        &base,
        c.faults,
        0..=39,
        3,
        &|_, _| {},
    );
    assert_eq!(one, two);
    assert!(one.violating_seeds > 0, "{one:?}");
}

/// The long swarm: `cargo test --release --test suite swarm:: -- --ignored`.
#[test]
#[ignore = "long: thousands of seeds per configuration"]
fn the_long_swarm() {
    let seeds: u64 = std::env::var("ACIDBASE_SWARM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let bad = misbehaving(1..=seeds);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// --- The command line ------------------------------------------------------------

#[test]
fn explore_swarm_runs_the_built_in_configurations_and_lists_them() {
    let o = acidbase(&["explore", "--swarm", "--config", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = stdout(&o);
    assert!(
        list.contains("2pc-cooperative") && list.contains("crash-only"),
        "{list}"
    );
    let o = acidbase(&[
        "explore",
        "--swarm",
        "--config",
        "2pc,2pc-unsafe-timeout",
        "--seeds",
        "1..30",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("2pc (transfer)") && out.contains("ok: safe"),
        "{out}"
    );
    assert!(
        out.contains("2pc-unsafe-timeout (transfer)") && out.contains("ok: anomaly found"),
        "{out}"
    );
}

#[test]
fn explore_swarm_on_a_users_file_writes_the_failing_world_which_replays() {
    let dir = TempDir::new("swarm-user");
    let file = dir.write(
        "mine.ron",
        "(protocol: \"2pc\", rms: 3, two_pc: (rm_abort_on_timeout: true))",
    );
    let out_dir = dir.path("found");
    let o = acidbase(&[
        "explore",
        path_str(&file),
        "--swarm",
        "--seeds",
        "1..60",
        "--out",
        path_str(&out_dir),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "an unsafe option fails: {out}");
    assert!(out.contains("atomicity"), "{out}");
    let written: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("the failing worlds are written")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(!written.is_empty());
    // The written world replays the failure on its own.
    let replay = acidbase(&["run", path_str(&written[0]), "--format", "json"]);
    let r: serde_json::Value = serde_json::from_str(&stdout(&replay)).expect("a JSON report");
    let fails = r["violations"]["atomicity"].as_u64() > Some(0)
        || r["violations"]["invariant"].as_u64() > Some(0)
        || r["txns"]["unresolved"].as_u64() > Some(0);
    assert!(fails, "{r}");
}

#[test]
fn explore_swarm_refuses_bad_flags_with_a_message() {
    let o = acidbase(&["explore", "--swarm", "--faults", "some"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("crash-only"), "{}", stderr(&o));
    let o = acidbase(&["explore", "--swarm", "--config", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--config list"), "{}", stderr(&o));
    let o = acidbase(&["explore"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--swarm"), "{}", stderr(&o));
}
