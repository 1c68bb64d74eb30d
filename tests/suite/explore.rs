//! Explore, schedule export and replay, shrink and sequence diagrams, run as a user
//! would run them (plus the library where sizes are compared).

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};
use acidbase::tools::explore::has_kind;
use acidbase::tools::schedule::Sizes;
use acidbase::tools::shrink::{shrink, ShrinkOptions};
use serde_json::Value;

/// Unsafe 2PC (RMs abort on their own after a timeout) under random message faults
/// and partitions: some seeds break atomicity, others do not.
const RANDOM_UNSAFE: &str = "// Unsafe 2PC under random faults.
(
    rms: 3,
    duration_ms: 600,
    drain_ms: 1000,
    clients: (load: Closed(sessions: 2, think_ms: 5)),
    network: (latency: Uniform(min_ms: 1, max_ms: 6), loss_probability: 0.02, duplicate_probability: 0.02, reorder_probability: 0.05, reorder_delay_ms: 20),
    two_pc: (rm_abort_on_timeout: true, rm_timeout_ms: 50),
    faults: (random_partitions: (rate_per_s: 2, mean_duration_ms: 100)),
)";

fn json(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| {
        panic!(
            "stdout should be JSON ({e}): {}\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

fn digest_of(args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let out = acidbase(&a);
    json(&out)["digest"].as_str().expect("a digest").to_string()
}

/// Well-formed enough: every opened tag is closed, in order.
fn balanced(svg: &str) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(j) = rest.find('>') else {
            return false;
        };
        let tag = &rest[..j];
        rest = &rest[j + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name.trim()) {
                return false;
            }
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    stack.is_empty()
}

#[test]
fn explore_finds_violating_seeds_and_its_repro_reproduces() {
    let dir = TempDir::new("explore-finds");
    let file = dir.write("rand-unsafe.ron", RANDOM_UNSAFE);
    let file = path_str(&file);
    let out = acidbase(&["explore", file, "--seeds", "1..21", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("atomicity"), "{text}");
    let repro = format!("acidbase run {file} --seed ");
    let line = text
        .lines()
        .find(|l| l.contains("First violating seed"))
        .expect("a first violating seed line");
    let seed: u64 = line
        .split(&repro)
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .expect("the repro command names the seed");
    // The repro really violates; the JSON summary agrees with the text.
    let r = json(&acidbase(&[
        "run",
        file,
        "--seed",
        &seed.to_string(),
        "--format",
        "json",
    ]));
    assert!(r["violations"]["atomicity"].as_u64().expect("count") > 0);
    let j = json(&acidbase(&[
        "explore", file, "--seeds", "1..=20", "--jobs", "1", "--format", "json",
    ]));
    assert_eq!(j["first_violating_seed"].as_u64(), Some(seed));
    assert_eq!(j["seeds_run"].as_u64(), Some(20));
    let violating = j["violating_seeds"].as_u64().expect("count");
    assert!(0 < violating && violating < 20, "some seeds, not all: {j}");
    let atomicity = j["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .find(|k| k["kind"] == "atomicity")
        .expect("an atomicity group");
    assert_eq!(atomicity["first_seed"].as_u64(), Some(seed));
}

#[test]
fn explore_finds_the_shipped_unsafe_scenario_and_passes_a_safe_one() {
    let out = acidbase(&[
        "explore",
        "scenarios/2pc-unsafe-timeout.ron",
        "--seeds",
        "1..4",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("acidbase run scenarios/2pc-unsafe-timeout.ron --seed 1"));
    let out = acidbase(&["explore", "scenarios/2pc-happy.ron", "--seeds", "1..4"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("No seed violated"));
}

#[test]
fn explore_refuses_bad_seeds_and_protocols() {
    let out = acidbase(&["explore", "scenarios/2pc-happy.ron", "--seeds", "5..1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--seeds"), "{}", stderr(&out));
    let out = acidbase(&["explore", "scenarios/2pc-happy.ron", "--protocol", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected one of"), "{}", stderr(&out));
}

#[test]
fn an_exported_schedule_replays_to_the_same_digest() {
    let dir = TempDir::new("export-replay");
    let lossy_constant = dir.write(
        "lossy.ron",
        "// lossy\n(duration_ms: 400, network: (latency: Constant(ms: 3), loss_probability: 0.05, duplicate_probability: 0.05, reorder_probability: 0.2, reorder_delay_ms: 20))",
    );
    let random = dir.write("random.ron", RANDOM_UNSAFE);
    let crashes = dir.write(
        "crashes.ron",
        "// crashes\n(duration_ms: 500, faults: (max_drift_ppm: 200, random_crashes: [(nodes: [\"all\"], rate_per_s: 3, mean_downtime_ms: 50)]))",
    );
    let cases: Vec<(String, &str)> = vec![
        ("scenarios/2pc-partition.ron".into(), "3"),
        ("scenarios/2pc-coordinator-crash.ron".into(), "1"),
        (path_str(&lossy_constant).into(), "1"),
        (path_str(&lossy_constant).into(), "2"),
        (path_str(&random).into(), "1"),
        (path_str(&random).into(), "5"),
        (path_str(&crashes).into(), "4"),
    ];
    let mut faulted_messages = 0;
    for (i, (file, seed)) in cases.iter().enumerate() {
        let schedule = dir.path(&format!("schedule-{i}.ron"));
        let original = digest_of(&[
            "run",
            file,
            "--seed",
            seed,
            "--export-schedule",
            path_str(&schedule),
        ]);
        let text = std::fs::read_to_string(&schedule).expect("the schedule was written");
        assert!(!text.contains("random_crashes: [("), "{text}");
        assert!(text.contains("loss_probability: 0.0"), "{text}");
        faulted_messages += text.matches("fate: Lose").count()
            + text.matches("fate: Duplicate").count()
            + text.matches("fate: Delay").count();
        // The replay takes its seed from the file: no --seed needed.
        let replay = digest_of(&["run", path_str(&schedule)]);
        assert_eq!(replay, original, "{file} --seed {seed}");
    }
    assert!(faulted_messages > 10, "the cases include message faults");
}

#[test]
fn shrink_writes_a_counterexample_that_still_violates_and_replays_deterministically() {
    let dir = TempDir::new("shrink-cli");
    let cx = dir.path("cx.ron");
    let svg = dir.path("cx.svg");
    let out = acidbase(&[
        "shrink",
        "scenarios/2pc-unsafe-timeout.ron",
        "--seed",
        "1",
        "--out",
        path_str(&cx),
        "--diagram",
        path_str(&svg),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("before") && text.contains("after"), "{text}");
    assert!(text.contains("atomicity is broken"), "{text}");
    assert!(text.contains("in doubt"), "{text}");
    let body = std::fs::read_to_string(&cx).expect("written");
    assert!(body.starts_with("//"));
    assert!(body.contains("random_partitions: None"));
    // Runs the same twice and still breaks atomicity (exit 1: an invariant failed).
    let a = acidbase(&["run", path_str(&cx), "--format", "json"]);
    let b = acidbase(&["run", path_str(&cx), "--format", "json"]);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(json(&a)["digest"], json(&b)["digest"]);
    assert!(json(&a)["violations"]["atomicity"].as_u64().expect("count") > 0);
    assert!(stderr(&a).contains(&format!("acidbase run {}", path_str(&cx))));
    let svg = std::fs::read_to_string(&svg).expect("drawn");
    assert!(balanced(&svg));
    // The shrunk world still has a tm, a client and at least two RMs, one lane each.
    assert!(svg.matches(r#"class="lane""#).count() >= 4);
}

#[test]
fn shrinking_never_grows_and_keeps_the_kind_on_two_scenarios() {
    let random = acidbase::run::parse(RANDOM_UNSAFE, "rand-unsafe.ron").expect("valid");
    let shipped = acidbase::run::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/2pc-unsafe-timeout.ron"
    )))
    .expect("valid");
    // Random crashes of the TM and the RMs under a TM that forgets decisions early.
    let crashes = acidbase::run::parse(
        "(rms: 3, duration_ms: 800, drain_ms: 500, clients: (load: Closed(sessions: 3, think_ms: 5)), \
         network: (latency: Uniform(min_ms: 1, max_ms: 6)), two_pc: (no_decision_retry: true), \
         faults: (random_crashes: [(nodes: [\"tm\", \"rms\"], rate_per_s: 3, mean_downtime_ms: 80)]))",
        "crashes.ron",
    )
    .expect("valid");
    for (s, seed) in [(&random, 1), (&shipped, 2), (&crashes, 1), (&crashes, 3)] {
        let shrunk = shrink(
            &acidbase::run::Registry::builtin(),
            s,
            seed,
            &ShrinkOptions::default(),
        )
        .expect("the seed violates");
        assert!(
            shrunk.after.no_larger_than(&shrunk.before),
            "{}: {:?} vs {:?}",
            s.scenario.name,
            shrunk.after,
            shrunk.before
        );
        assert!(
            shrunk.after.events < shrunk.before.events,
            "{}",
            s.scenario.name
        );
        // The counterexample, read back from its file, shows the same kind.
        let text = acidbase::tools::shrink::counterexample_ron(
            &shrunk, "acidbase", "x.ron", seed, "cx.ron",
        );
        let l = acidbase::run::parse(&text, "cx.ron").expect("the counterexample is valid");
        assert!(l.scenario.faults.random_crashes.is_empty());
        assert!(l.scenario.faults.random_partitions.is_none());
        let report = l.run(l.scenario.seed, None).report;
        assert!(has_kind(&report, &shrunk.kind), "{}", report.to_text());
        assert_eq!(Sizes::measure(&l.scenario, &report), shrunk.after);
    }
}

#[test]
fn shrink_reports_sizes_as_json() {
    let dir = TempDir::new("shrink-json");
    let cx = dir.path("cx.ron");
    let out = acidbase(&[
        "shrink",
        "scenarios/2pc-no-decision-retry.ron",
        "--out",
        path_str(&cx),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["kind"], "atomicity");
    for key in [
        "faults",
        "messages_faulted",
        "requests",
        "sessions",
        "participants",
        "events",
    ] {
        let (b, a) = (j["before"][key].as_u64(), j["after"][key].as_u64());
        assert!(a.is_some() && a <= b, "{key}: {j}");
    }
    assert!(j["after"]["events"].as_u64() < j["before"]["events"].as_u64());
    // The counterexample replays to the digest the summary names.
    assert_eq!(
        digest_of(&["run", path_str(&cx)]),
        j["digest"].as_str().expect("hex")
    );
}

#[test]
fn shrink_refuses_a_seed_that_does_not_fail() {
    let out = acidbase(&["shrink", "scenarios/2pc-happy.ron", "--seed", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not violate"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diagrams_have_one_lane_per_node_and_honour_the_window() {
    let dir = TempDir::new("diagram");
    let full = dir.path("full.svg");
    let window = dir.path("window.svg");
    let out = acidbase(&[
        "run",
        "scenarios/2pc-coordinator-crash.ron",
        "--diagram",
        path_str(&full),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = acidbase(&[
        "run",
        "scenarios/2pc-coordinator-crash.ron",
        "--diagram",
        path_str(&window),
        "--txn",
        "0",
        "--from",
        "0",
        "--to",
        "40",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let full = std::fs::read_to_string(&full).expect("drawn");
    let window = std::fs::read_to_string(&window).expect("drawn");
    for svg in [&full, &window] {
        assert!(svg.starts_with("<svg"));
        assert!(balanced(svg));
        // tm, rm1, rm2, rm3, client
        assert_eq!(svg.matches(r#"class="lane""#).count(), 5);
    }
    assert!(full.contains(r#"class="crash""#) && full.contains(r#"class="restart""#));
    // The TM crashed before deciding: the window shows the RMs in doubt, no decision.
    assert!(window.contains("in doubt") && !window.contains("decided"));
    let arrows = |s: &str| s.matches(r#"class="msg"#).count();
    assert!(0 < arrows(&window) && arrows(&window) < arrows(&full));
    // --txn needs --diagram.
    let out = acidbase(&["run", "scenarios/2pc-happy.ron", "--txn", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `--from NaN` (or inf, or a negative time) was accepted and drew some window;
/// now refused with exit 2, before anything is run or written.
#[test]
fn a_diagram_window_must_be_finite_and_not_negative() {
    let dir = TempDir::new("diagram-window");
    let svg = dir.path("d.svg");
    for (flag, v) in [
        ("--from", "NaN"),
        ("--to", "inf"),
        ("--from", "-5"),
        ("--to", "1e300"),
    ] {
        let out = acidbase(&[
            "run",
            "scenarios/2pc-happy.ron",
            "--diagram",
            path_str(&svg),
            &format!("{flag}={v}"),
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} {v}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("{flag} "))
                && stderr(&out).contains("expected a time in ms from 0 to"),
            "{}",
            stderr(&out)
        );
        assert!(!svg.exists(), "nothing drawn for {flag} {v}");
    }
}

/// The book's counterexample (book/src/figures) still reproduces its violation.
#[test]
fn the_books_counterexample_still_breaks_atomicity() {
    let out = acidbase(&[
        "run",
        "book/src/figures/2pc-unsafe-timeout-counterexample.ron",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out);
    assert_eq!(r["violations"]["atomicity"].as_u64(), Some(1));
    assert_eq!(r["txns"]["requests"].as_u64(), Some(1));
}

#[test]
fn explore_can_ignore_a_lesson_scenarios_expectations() {
    let args = [
        "explore",
        "scenarios/2pc-unsafe-random-faults.ron",
        "--seeds",
        "1..11",
        "--format",
        "json",
    ];
    let judged = json(&acidbase(&args));
    let mut ignoring = args.to_vec();
    ignoring.push("--ignore-expect");
    let invariants_only = json(&acidbase(&ignoring));
    assert_eq!(judged["violating_seeds"].as_u64(), Some(10));
    let v = invariants_only["violating_seeds"].as_u64().expect("count");
    assert!(0 < v && v < 10, "{invariants_only}");
}

mod replay_property {
    use acidbase::tools::schedule::{revalidate, run_and_export};
    use proptest::prelude::*;

    /// A small world with every kind of random fault the scenario can draw.
    fn scenario_text() -> impl Strategy<Value = (String, u64)> {
        (
            (2u32..=4, 1u32..=4, prop::bool::ANY, prop::bool::ANY),
            (0.0..0.1f64, 0.0..0.1f64, 0.0..0.3f64),
            (0.0..4.0f64, 0.0..4.0f64, 0u32..=500),
            0u64..1000,
        )
            .prop_map(
                |((rms, sessions, constant, one_way), (loss, dup, reorder), (crash, part, drift), seed)| {
                    let latency = if constant {
                        "Constant(ms: 3)"
                    } else {
                        "Uniform(min_ms: 1, max_ms: 8)"
                    };
                    let cut = if one_way {
                        "one_way: [(from: [\"tm\"], to: [\"rm1\"], from_ms: 20, to_ms: 60)],"
                    } else {
                        ""
                    };
                    let text = format!(
                        "(rms: {rms}, duration_ms: 300, drain_ms: 300, \
                         clients: (load: Closed(sessions: {sessions}, think_ms: 2)), \
                         network: (latency: {latency}, loss_probability: {loss}, duplicate_probability: {dup}, reorder_probability: {reorder}, reorder_delay_ms: 15), \
                         faults: ({cut} max_drift_ppm: {drift}, \
                           random_crashes: [(nodes: [\"all\"], rate_per_s: {crash}, mean_downtime_ms: 30)], \
                           random_partitions: (rate_per_s: {part}, mean_duration_ms: 40)))"
                    );
                    (text, seed)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Every run's exported schedule replays to the same digest.
        #[test]
        fn every_exported_schedule_replays_to_the_same_digest((text, seed) in scenario_text()) {
            let s = acidbase::run::parse(&text, "p.ron").expect("valid");
            let (original, exported) = run_and_export(&s, seed);
            let replay = revalidate(&acidbase::run::Registry::builtin(), &exported, "exported.ron").expect("valid export");
            prop_assert!(replay.scenario.faults.random_crashes.is_empty());
            prop_assert_eq!(replay.run(seed, None).report.digest, original.report.digest);
        }
    }
}
