//! 2PC's `heuristic` option (X/Open XA's heuristic decision), run as a user would:
//! the blocking crash with heuristics frees the locks and shows its damage, a guess
//! that agrees is reported without damage, an option that never fires changes
//! nothing, a bad `after_ms` is refused, in the swarm the damage is never silent,
//! and the story of an RM that decided alone (heuristically, or by the unsafe
//! timeout) says so.

use crate::common::{acidbase as bin, path_str, stderr, stdout, TempDir};
use serde_json::Value;

/// `acidbase run FILE --format json`, as JSON.
fn report(file: &str) -> Value {
    let o = bin(&["run", file, "--format", "json"]);
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{file}: {e}: {}", stderr(&o)))
}

fn count(r: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(r, |v, k| &v[k])
        .as_f64()
        .unwrap_or(0.0)
}

fn fact(r: &Value, name: &str) -> f64 {
    count(r, &format!("facts.{name}.count"))
}

/// The shipped scenario of the TM crash with heuristic commit, with `from` replaced
/// by `to` (its expectations then describe another run: only the report is read).
fn crash_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/2pc-heuristic-coordinator-crash.ron"),
    )
    .expect("shipped");
    let edited = text.replace(from, to);
    assert_ne!(edited, text, "the scenario says {from}");
    edited
}

#[test]
fn heuristics_free_the_locks_the_tm_crash_blocks_and_break_atomicity_against_its_abort() {
    let blocked = report("scenarios/2pc-coordinator-crash.ron");
    let heuristic = report("scenarios/2pc-heuristic-coordinator-crash.ron");
    assert_eq!(count(&blocked, "locks.max_hold_ms"), 910.0);
    assert_eq!(count(&heuristic, "locks.max_hold_ms"), 200.0);
    assert!(count(&heuristic, "locks.lock_ms_total") < count(&blocked, "locks.lock_ms_total"));
    assert_eq!(count(&blocked, "violations.atomicity"), 0.0);
    // Three heuristic commits against the restarted TM's presumed abort.
    assert_eq!(count(&heuristic, "violations.atomicity"), 1.0);
    assert_eq!(fact(&heuristic, "heuristic_decisions"), 3.0);
    assert_eq!(fact(&heuristic, "heuristic_commit"), 3.0);
    assert_eq!(fact(&heuristic, "heuristic_hazard"), 3.0);
    assert_eq!(fact(&heuristic, "heuristic_mixed"), 0.0);
    assert_eq!(count(&heuristic, "repair.operator"), 3.0);
    assert_eq!(
        count(&heuristic, "repair.silent"),
        0.0,
        "the operator was told"
    );
    assert_eq!(count(&blocked, "repair.operator"), 0.0);
}

#[test]
fn a_heuristic_rollback_agrees_with_presumed_abort_and_is_still_reported() {
    let dir = TempDir::new("xa-rollback-agrees");
    let f = dir.write(
        "rollback.ron",
        &crash_with("decide: Commit", "decide: Rollback"),
    );
    let o = bin(&["run", path_str(&f), "--format", "json"]);
    let r: Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(count(&r, "violations.atomicity"), 0.0);
    assert_eq!(count(&r, "violations.invariant"), 0.0);
    assert_eq!(count(&r, "locks.max_hold_ms"), 200.0);
    assert_eq!(fact(&r, "heuristic_rollback"), 3.0);
    assert_eq!(
        fact(&r, "heuristic_hazard") + fact(&r, "heuristic_mixed"),
        0.0
    );
    assert_eq!(count(&r, "repair.operator"), 3.0);
}

#[test]
fn a_heuristic_commit_agreeing_with_the_commit_is_reported_without_damage() {
    let blocked = report("scenarios/2pc-partition.ron");
    let agrees = report("scenarios/2pc-heuristic-commit-agrees.ron");
    let mixed = report("scenarios/2pc-heuristic-rollback-mixed.ron");
    assert!(count(&agrees, "locks.max_hold_ms") < count(&blocked, "locks.max_hold_ms"));
    assert_eq!(count(&agrees, "violations.atomicity"), 0.0);
    assert_eq!(count(&agrees, "txns.unresolved"), 0.0);
    assert_eq!(fact(&agrees, "heuristic_commit"), 2.0);
    assert_eq!(count(&agrees, "repair.operator"), 2.0);
    // The same run guessing Rollback: rm1 had acknowledged the Commit.
    assert_eq!(count(&mixed, "violations.atomicity"), 1.0);
    assert_eq!(fact(&mixed, "heuristic_mixed"), 2.0);
    assert_eq!(count(&mixed, "repair.silent"), 0.0);
}

#[test]
fn a_heuristic_that_never_fires_changes_nothing() {
    let dir = TempDir::new("xa-never");
    let text = crash_with("after_ms: 200", "after_ms: 1e9");
    let f = dir.write("never.ron", &text);
    let never = report(path_str(&f));
    let plain = report("scenarios/2pc-coordinator-crash.ron");
    assert_eq!(never["digest"], plain["digest"]);
    assert_eq!(never["locks"], plain["locks"]);
    assert!(never["facts"].as_object().is_none_or(|f| f.is_empty()));
}

#[test]
fn an_after_ms_out_of_range_is_refused_where_it_is_written() {
    let dir = TempDir::new("xa-bad");
    let f = dir.write("bad.ron", &crash_with("after_ms: 200", "after_ms: 0"));
    let o = bin(&["run", path_str(&f)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("bad.ron:") && err.contains("two_pc.heuristic.after_ms"),
        "{err}"
    );
}

/// Every drawn world of both unsafe rows, run one by one: a run breaks atomicity
/// exactly when the TM counted heuristic damage, and none of it is silent.
#[test]
fn in_the_swarm_heuristic_damage_is_always_reported_never_silent() {
    let dir = TempDir::new("xa-swarm");
    let o = bin(&[
        "explore",
        "--swarm",
        "--config",
        "2pc-heuristic-commit,2pc-heuristic-rollback",
        "--seeds",
        "1..=60",
        "--write-all",
        "--out",
        path_str(&dir.0),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).matches("ok: anomaly found").count(),
        2,
        "{}",
        stdout(&o)
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("written")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 120);
    let mut broken = 0;
    for f in &files {
        let r = report(path_str(f));
        let damage = fact(&r, "heuristic_mixed") + fact(&r, "heuristic_hazard");
        let violated = count(&r, "violations.atomicity") > 0.0;
        assert_eq!(violated, damage > 0.0, "{}", f.display());
        assert_eq!(count(&r, "repair.silent"), 0.0, "{}", f.display());
        assert_eq!(count(&r, "txns.in_doubt"), 0.0, "{}", f.display());
        broken += usize::from(violated);
    }
    assert!(broken > 0, "the swarm bites");
}

/// The story says what the run did: the in-doubt RMs of the crash scenario took
/// their own outcome, so it must not say they waited until they learned it; the
/// plain crash scenario's RMs did wait. The shrunk counterexample says it too.
#[test]
fn the_story_says_the_rms_decided_alone_not_that_they_waited() {
    let story = |file: &str| stdout(&bin(&["run", file]));
    let alone = story("scenarios/2pc-heuristic-coordinator-crash.ron");
    assert!(alone.contains("rm1, rm2, rm3 had voted yes on txn 0 and were in doubt for 200.0 ms, holding 3 locks: a participant that voted yes may neither commit nor abort on its own, yet each stopped waiting and took an outcome of their own"), "{alone}");
    assert!(!alone.contains("waited until it learned"), "{alone}");
    let waited = story("scenarios/2pc-coordinator-crash.ron");
    assert!(
        waited.contains("so it waited until it learned the outcome (by 920.0 ms)"),
        "{waited}"
    );
    let dir = TempDir::new("xa-story");
    let out = dir.path("shrunk.ron");
    let o = bin(&[
        "shrink",
        "scenarios/2pc-heuristic-rollback-mixed.ron",
        "--out",
        path_str(&out),
    ]);
    assert!(
        stdout(&o).contains("rm2 stopped waiting for the outcome of txn 0 and took one of its own"),
        "{}",
        stdout(&o)
    );
}

/// The unsafe timeout's RMs abort on their own too (not a heuristic: nothing is
/// remembered or reported), and the story says so rather than that they waited for
/// the outcome, in `run` and in the shrunk counterexample (a story sentence says only
/// what the run did).
#[test]
fn the_unsafe_timeout_story_says_the_rms_aborted_alone() {
    let run = stdout(&bin(&["run", "scenarios/2pc-unsafe-timeout.ron"]));
    assert!(
        !run.contains("waited until it learned the outcome"),
        "{run}"
    );
    assert!(
        run.contains("rm2, rm3 had voted yes on txn 0 and were in doubt for 300.0 ms, holding 2 locks: a participant that voted yes may neither commit nor abort on its own, yet each stopped waiting and took an outcome of their own"),
        "{run}"
    );
    let dir = TempDir::new("unsafe-timeout-story");
    let out = dir.path("shrunk.ron");
    let o = bin(&[
        "shrink",
        "scenarios/2pc-unsafe-timeout.ron",
        "--out",
        path_str(&out),
    ]);
    let story = stdout(&o);
    assert!(
        story.contains("stopped waiting for the outcome of txn 0 and took one of its own"),
        "{story}"
    );
    assert!(!story.contains("waited until it learned"), "{story}");
}
