//! The shipped scenarios as regression tests, determinism across threads, and the
//! golden numbers of fault-free 2PC.

use crate::common::run;
use acidbase::scenario::Scenario;
use std::path::PathBuf;

/// The shipped scenarios and the book's example scenarios (so the book cannot rot).
fn shipped() -> Vec<(PathBuf, acidbase::run::Validated)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["scenarios", "book/src/examples"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("the folder exists"))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let l = acidbase::run::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, l)
        })
        .collect()
}

#[test]
fn every_shipped_scenario_meets_its_expectations() {
    let all = shipped();
    assert!(all.len() >= 6, "the shipped scenarios are there");
    for (path, l) in &all {
        let s = &l.scenario;
        assert!(!s.expect.is_empty(), "{} has expectations", path.display());
        let source = std::fs::read_to_string(path).expect("readable");
        assert!(
            source.trim_start().starts_with("//"),
            "{} opens with a comment saying what it teaches",
            path.display()
        );
        let r = run(s, s.seed, None).report;
        assert_eq!(
            r.expectations.failed,
            0,
            "{}: {}",
            path.display(),
            r.to_text()
        );
        assert_eq!(r.expectations.passed as usize, s.expect.len());
    }
}

#[test]
fn same_digest_at_any_thread_count() {
    let all: Vec<Scenario> = shipped()
        .into_iter()
        .map(|(_, l)| l.into_scenario())
        .filter(|s| s.name != "bench-2pc")
        .collect();
    let sequential: Vec<String> = all
        .iter()
        .map(|s| run(s, s.seed, None).report.digest)
        .collect();
    for threads in [2, 4] {
        let chunks: Vec<Vec<(usize, Scenario)>> = (0..threads)
            .map(|t| {
                all.iter()
                    .cloned()
                    .enumerate()
                    .filter(|(i, _)| i % threads == t)
                    .collect()
            })
            .collect();
        let mut parallel = vec![String::new(); all.len()];
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|(i, s)| (i, run(&s, s.seed, None).report.digest))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                for (i, d) in h.join().expect("a run thread finished") {
                    parallel[i] = d;
                }
            }
        });
        assert_eq!(parallel, sequential, "{threads} threads");
    }
}

/// Fault-free 2PC over N participants: 4N messages (Prepare, Vote, Commit, Ack to and
/// from each), 4 message delays, and 2N + 2 durable writes (each RM forces its
/// prepared record and its commit; the TM forces Commit and its end record).
#[test]
fn golden_numbers_per_committed_transaction() {
    for n in 2..=8u32 {
        let mut s = acidbase::run::parse(
            "(duration_ms: 300, drain_ms: 200, workload: Transfer(accounts_per_shard: 16, initial_balance: 100000, fan_out: 1, keys: PerSession), clients: (load: Closed(sessions: 4, think_ms: 1)), two_pc: (answer_client_after_acks: true))",
            "golden.ron",
        )
        .expect("valid")
        .into_scenario();
        s.rms = n;
        let acidbase::scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
            unreachable!("parsed as a transfer")
        };
        t.fan_out = n - 1;
        let r = run(&s, 3, None).report;
        assert!(r.txns.committed > 20, "N = {n}: {}", r.to_text());
        assert_eq!(r.txns.aborted, 0, "N = {n}");
        assert_eq!(r.per_commit.messages, f64::from(4 * n), "N = {n}");
        assert_eq!(r.per_commit.message_delays, 4.0, "N = {n}");
        assert_eq!(r.per_commit.durable_writes, f64::from(2 * n + 2), "N = {n}");
    }
}

#[test]
fn the_same_seed_gives_the_same_fault_schedule_whatever_the_options() {
    // Random crashes are drawn per node name, never from the protocol's own draws:
    // toggling a protocol option must not move the crashes.
    let src = "(duration_ms: 2000, faults: (random_crashes: [(nodes: [\"all\"], rate_per_s: 2, mean_downtime_ms: 50)]))";
    let base = acidbase::run::parse(src, "x.ron")
        .expect("valid")
        .into_scenario();
    let names = acidbase::run::Registry::builtin()
        .node_names(&base)
        .expect("known protocol");
    let plan_a = acidbase::run::fault_plan(&base, 11, &names);
    let mut other = base.clone();
    other.two_pc.cooperative_termination = true;
    other.two_pc.vote_timeout_ms = 17.0;
    let plan_b = acidbase::run::fault_plan(&other, 11, &names);
    assert!(!plan_a.crashes.is_empty());
    assert_eq!(plan_a, plan_b);
    // With a standby there is one more node; the others' crashes do not move.
    other.two_pc.standby_tm = true;
    let names_c = acidbase::run::Registry::builtin()
        .node_names(&other)
        .expect("known protocol");
    let plan_c = acidbase::run::fault_plan(&other, 11, &names_c);
    for c in &plan_a.crashes {
        let name = &names[c.node.index()];
        let id = names_c.iter().position(|n| n == name).expect("same name");
        assert!(
            plan_c.crashes.iter().any(|d| d.node.index() == id
                && d.at_us == c.at_us
                && d.restart_us == c.restart_us),
            "{name}"
        );
    }
}

fn parse(src: &str) -> Scenario {
    acidbase::run::parse(src, "test.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario()
}

/// One transfer whose third RM never answers: the TM's vote timeout decides. With the
/// TM's clock running fast, its timeout fires early in real (virtual) time; slow, late.
#[test]
fn clock_drift_moves_timeouts() {
    let latency_with = |ppm: i32| {
        let s = parse(&format!(
            "(rms: 3, duration_ms: 50, drain_ms: 500,
              workload: Transfer(accounts_per_shard: 4, fan_out: 2),
              clients: (load: Closed(sessions: 1, think_ms: 1000), deadline_ms: 1000),
              network: (latency: Constant(ms: 5)),
              two_pc: (vote_timeout_ms: 100),
              faults: (one_way: [(from: [\"rm3\"], to: [\"tm\"], from_ms: 0, to_ms: 50)],
                       drift: [(node: \"tm\", ppm: {ppm})]))"
        ));
        let r = run(&s, 1, None).report;
        assert_eq!(r.txns.aborted, 1, "{}", r.to_text());
        r.latency_ms.p50
    };
    // Request 5 ms, then the vote timeout, then the reply 5 ms: 110 ms undrifted.
    let exact = latency_with(0);
    let fast = latency_with(250_000); // 100 ms on a clock 25% fast: 80 ms
    let slow = latency_with(-200_000); // on a clock 20% slow: 125 ms
    assert!((exact - 110.0).abs() < 2.0, "{exact}");
    assert!((fast - 90.0).abs() < 2.0, "{fast}");
    assert!((slow - 135.0).abs() < 3.0, "{slow}");
}

#[test]
fn open_loop_issues_requests_at_the_rate() {
    let s = parse(
        "(rms: 3, duration_ms: 2000, drain_ms: 500,
          workload: Transfer(accounts_per_shard: 1000, initial_balance: 100000),
          clients: (load: Open(rate_per_s: 300), deadline_ms: 500))",
    );
    let r = run(&s, 5, None).report;
    // Poisson with mean 600 over 2 s: well within 600 ± 5 σ.
    assert!(
        (480..=720).contains(&r.txns.requests),
        "{}",
        r.txns.requests
    );
    assert_eq!(r.availability, 1.0, "{}", r.to_text());
    assert_eq!(r.violations.atomicity + r.violations.invariant, 0);
}

#[test]
fn a_client_crash_loses_its_sessions_but_never_reuses_an_id() {
    let s = parse(
        "(rms: 3, duration_ms: 1000, drain_ms: 1000,
          clients: (load: Closed(sessions: 4, think_ms: 2), deadline_ms: 200),
          faults: (crashes: [(node: \"client\", at_ms: 200, restart_ms: 300),
                             (node: \"client\", at_ms: 600, restart_ms: 650)]))",
    );
    let r = run(&s, 2, None).report;
    // A reused id would begin the same transaction twice or tangle two of them.
    assert!(r.txns.begun <= r.txns.requests);
    assert_eq!(r.txns.unresolved, 0, "{}", r.to_text());
    assert_eq!(r.violations.atomicity + r.violations.invariant, 0);
    assert!(
        r.availability < 1.0,
        "requests in flight at the crash go unanswered"
    );
    assert!(r.txns.requests > 50);
}

#[test]
fn the_event_guard_stops_a_run_and_says_so() {
    let s = parse("(duration_ms: 5000, max_events: 500)");
    let r = run(&s, 1, None).report;
    assert!(r.stopped_by_event_guard);
    assert_eq!(r.events, 500);
    assert!(r.sim_time_ms < 5000.0, "stopped early: {}", r.sim_time_ms);
    assert!(r.to_text().contains("stopped by max_events"));
    let unguarded = run(&parse("(duration_ms: 5000)"), 1, None).report;
    assert!(!unguarded.stopped_by_event_guard);
    assert!(unguarded.events > 500);
}

/// The TM dies for good in phase one: rm1 and rm2 prepared, rm3 never saw Prepare.
/// Nobody committed, so no money moved: the in-doubt changes are not "in flight" and
/// money is conserved (a half-prepared transaction is blocking, not a lost transfer).
#[test]
fn a_half_prepared_transaction_is_not_lost_money() {
    let s = parse(
        "(rms: 3, duration_ms: 100, drain_ms: 500,
          workload: Transfer(accounts_per_shard: 4, fan_out: 2),
          clients: (load: Closed(sessions: 1, think_ms: 1000)),
          network: (latency: Constant(ms: 5)),
          faults: (one_way: [(from: [\"tm\"], to: [\"rm3\"], from_ms: 0, to_ms: 50)],
                   crashes: [(node: \"tm\", at_ms: 12)]))",
    );
    let r = run(&s, 1, None).report;
    assert_eq!(r.txns.in_doubt, 1, "{}", r.to_text());
    assert_eq!(r.money.in_doubt, 0, "nothing committed, nothing in flight");
    assert_eq!(r.violations.invariant, 0, "{}", r.to_text());
    assert_eq!(r.violations.atomicity, 0);
}

/// With heavy reordering an Abort can overtake its Prepare. The RM must remember the
/// abort and refuse the late Prepare; otherwise it prepares a transaction the TM has
/// already forgotten and holds its locks in doubt until an inquiry, without any fault.
/// Checked on the trace: no RM prepares a transaction it has already finished.
#[test]
fn an_abort_that_overtakes_its_prepare_is_not_prepared_later() {
    let dir = std::env::temp_dir().join(format!("acidbase-overtake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut overtaken = 0;
    for seed in 1..=5u64 {
        let s = parse(
            "(rms: 4, duration_ms: 1000, drain_ms: 1000,
              workload: Transfer(accounts_per_shard: 10, fan_out: 3),
              clients: (load: Closed(sessions: 40, think_ms: 1), deadline_ms: 500),
              network: (latency: Uniform(min_ms: 1, max_ms: 10), reorder_probability: 0.5, reorder_delay_ms: 30))",
        );
        let path = dir.join(format!("trace-{seed}.jsonl"));
        let file = std::fs::File::create(&path).expect("trace file");
        let r = run(&s, seed, Some(Box::new(file))).report;
        assert_eq!(r.violations.atomicity + r.violations.invariant, 0);
        assert_eq!(r.txns.unresolved, 0);
        let trace = std::fs::read_to_string(&path).expect("trace written");
        let mut finished = std::collections::BTreeSet::new();
        for line in trace.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if v["kind"] != "observe" {
                continue;
            }
            let node = v["node"].as_str().expect("node").to_string();
            // An observation is `{"Variant": {fields}}` (the trace's structured form).
            let obs = v["obs"].as_object().expect("obs is a JSON object");
            let (variant, fields) = obs.iter().next().expect("one variant");
            let txn = fields["txn"]
                .as_u64()
                .expect("every observation names its txn");
            if variant == "Applied"
                && fields["outcome"] == "Abort"
                && !finished.contains(&(node.clone(), txn))
            {
                // An abort applied with nothing prepared: the Abort arrived first.
                if fields["in_doubt_us"] == 0 && fields["locks"] == 0 {
                    overtaken += 1;
                }
                finished.insert((node.clone(), txn));
            } else if variant == "Applied" {
                finished.insert((node.clone(), txn));
            }
            assert!(
                !(variant == "Prepared" && finished.contains(&(node.clone(), txn))),
                "seed {seed}: {node} prepared txn {txn} after finishing it"
            );
        }
    }
    assert!(
        overtaken > 0,
        "the scenario does make Aborts overtake Prepares"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Golden digests of the shipped scenarios. A change that alters any run changes
/// these: update them on purpose, saying why in the commit, never blindly.
#[test]
fn golden_digests_of_the_shipped_scenarios() {
    let golden = [
        ("2pc-cooperative-termination", "59536133049dd3ca"),
        ("2pc-coordinator-crash", "da3e7e546144baac"),
        ("2pc-happy", "3769ff0253be1012"),
        ("2pc-no-decision-retry", "34d36e05ae565c3a"),
        ("2pc-partition", "c0b16480b2a56de2"),
        ("2pc-standby-can-abort", "e7b3376237bfac0d"),
        ("2pc-standby-tm", "2a9f4d01efc173d6"),
        ("2pc-unsafe-timeout", "c15b3a32c82474ca"),
        ("bench-2pc", "d836d116757c47b5"),
        ("flash-sale", "17f4c35200624ffe"),
        ("ids-duplicate-node-id", "4079583dbca7a184"),
        ("ids-segment-restart-gaps", "9f2d4de82645175b"),
        ("ids-snowflake-clock-step-back", "b2c302ef48d1ca46"),
        ("ids-snowflake-guard-restart", "4601bfd70e1e9a11"),
        ("ids-snowflake-guard-wait", "7aa9164b08cd7167"),
        ("order-inventory", "c1d6eecddf6c2cd7"),
        ("tcc-empty-rollback", "1ffbdcf085e5e39d"),
        ("tcc-hanging", "cb7ac42fdb069ccf"),
        ("tcc-happy", "1e7e1937cf23375e"),
        ("tcc-no-idempotency", "338cbd00c86f6d2b"),
    ];
    let all = shipped();
    for (name, digest) in golden {
        let (_, l) = all
            .iter()
            .find(|(_, l)| l.scenario.name == name)
            .unwrap_or_else(|| panic!("{name} is shipped"));
        let r = run(&l.scenario, l.scenario.seed, None).report;
        assert_eq!(
            r.digest, digest,
            "{name}: the run changed; if on purpose, update the golden digest"
        );
    }
}
