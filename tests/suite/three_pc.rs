//! Three-phase commit: both sides of its trade, for every generated schedule or for
//! some; the golden cost numbers of 2PC and 3PC for 2 to 8 participants; the shipped
//! 3PC scenarios run through the binary as a user would.
//!
//! - With one crash (of any node) and no partition, 3PC never blocks, under either
//!   `three_pc.timeouts`: every participant that did not crash leaves its uncertain
//!   state within a bound set by the timeouts, nothing is in doubt or unresolved at
//!   the end, and the outcome is atomic.
//! - With many crashes and restarts (still no partition, no loss), the faithful
//!   protocol (`Terminate`, the default) stays atomic and resolves everything once
//!   the sites are back; `DecideAlone` splits.
//! - With partitions, some schedule splits the outcome (under either choice of
//!   `on_precommit_ack_timeout`).

use crate::common;

use crate::common::run;
use crate::common::{acidbase, stderr, stdout, TempDir};
use acidbase::report::Report;
use acidbase::scenario::{
    self, AckTimeoutSpec, CrashSpec, PartitionSpec, RandomPartitionSpec, Scenario, TimeoutsSpec,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

fn parse(src: &str) -> Scenario {
    acidbase::run::parse(src, "test.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario()
}

/// Three RMs, transfers over two or three of them, short timers: many transactions
/// are in every phase when a fault strikes.
fn base() -> Scenario {
    parse(
        r#"(
            protocol: "3pc",
            rms: 3,
            duration_ms: 1000,
            drain_ms: 2000,
            workload: Transfer(accounts_per_shard: 8, initial_balance: 500, amount_min: 1, amount_max: 80, fan_out: 2),
            clients: (load: Closed(sessions: 5, think_ms: 2), deadline_ms: 300),
            network: (latency: Uniform(min_ms: 1, max_ms: 8)),
        )"#,
    )
}

fn report(s: &Scenario) -> Report {
    run(s, s.seed, None).report
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The longest one-way delay of `base()`.
const MAX_LATENCY_MS: f64 = 8.0;

/// One world and one crash (no partition, no loss).
#[derive(Clone, Debug)]
struct OneCrash {
    seed: u64,
    rms: u32,
    fan_out: u32,
    sessions: u32,
    vote_timeout_ms: f64,
    ack_timeout_ms: f64,
    /// How much longer the participants' timeouts are than the TM's.
    rm_margin_ms: f64,
    abort_on_ack_timeout: bool,
    standby: bool,
    decide_alone: bool,
    duplicate: f64,
    /// Index into the node names (mapped onto the world's nodes).
    node: usize,
    at_ms: f64,
    /// `None`: the node never restarts (RMs always do: an RM that stays down keeps
    /// its own vote in doubt, which is no one else's blocking).
    down_ms: Option<f64>,
}

fn one_crash() -> impl Strategy<Value = OneCrash> {
    (2u32..=5)
        .prop_flat_map(|rms| {
            (
                (any::<u64>(), Just(rms), 1..rms, 1u32..=8),
                (20.0..80.0f64, 20.0..80.0f64, 10.0..60.0f64),
                (
                    any::<bool>(),
                    any::<bool>(),
                    any::<bool>(),
                    prop_oneof![Just(0.0), 0.0..0.2f64],
                ),
                (
                    0usize..16,
                    0.0..950.0f64,
                    prop_oneof![Just(None), (1.0..500.0f64).prop_map(Some)],
                ),
            )
        })
        .prop_map(
            |(
                (seed, rms, fan_out, sessions),
                (vote_timeout_ms, ack_timeout_ms, rm_margin_ms),
                (abort_on_ack_timeout, standby, decide_alone, duplicate),
                (node, at_ms, down_ms),
            )| OneCrash {
                seed,
                rms,
                fan_out,
                sessions,
                vote_timeout_ms,
                ack_timeout_ms,
                rm_margin_ms,
                abort_on_ack_timeout,
                standby,
                decide_alone,
                duplicate,
                node,
                at_ms,
                down_ms,
            },
        )
}

/// The scenario of a case, the crashed node's name, and how long it was down.
fn apply_one_crash(c: &OneCrash) -> (Scenario, String, f64) {
    let mut s = base();
    s.seed = c.seed;
    s.rms = c.rms;
    let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
        unreachable!("the base scenario is a transfer")
    };
    t.fan_out = c.fan_out;
    s.clients.load = scenario::LoadSpec::Closed {
        sessions: c.sessions,
        think_ms: 2.0,
    };
    let p = &mut s.three_pc;
    p.vote_timeout_ms = c.vote_timeout_ms;
    p.precommit_ack_timeout_ms = c.ack_timeout_ms;
    // The participants outwait the TM by more than a one-way delay (bounded delays:
    // 3PC's assumption).
    p.rm_wait_timeout_ms = c.vote_timeout_ms + MAX_LATENCY_MS + c.rm_margin_ms;
    p.rm_precommit_timeout_ms = c.ack_timeout_ms + MAX_LATENCY_MS + c.rm_margin_ms;
    p.on_precommit_ack_timeout = if c.abort_on_ack_timeout {
        AckTimeoutSpec::Abort
    } else {
        AckTimeoutSpec::Commit
    };
    p.standby_tm = c.standby;
    p.timeouts = if c.decide_alone {
        TimeoutsSpec::DecideAlone
    } else {
        TimeoutsSpec::Terminate
    };
    s.network.duplicate_probability = c.duplicate;
    let names = acidbase::run::Registry::builtin()
        .node_names(&s)
        .expect("known protocol");
    let node = names[c.node % names.len()].clone();
    let is_rm = node.starts_with("rm");
    let down = match c.down_ms {
        Some(d) => Some(d),
        None if is_rm => Some(300.0),
        None => None,
    };
    let restart = down.map(|d| (c.at_ms + d).min(s.duration_ms));
    s.faults.crashes.push(CrashSpec {
        node: node.clone(),
        at_ms: c.at_ms,
        restart_ms: restart.filter(|r| *r > c.at_ms),
    });
    let down_for = restart.map_or(0.0, |r| r - c.at_ms);
    (s, node, down_for)
}

/// 3PC's promise: one crash blocks nobody for longer than the timeouts, and leaves
/// nothing in doubt; and with no partition the outcome is atomic.
fn check_one_crash(c: &OneCrash) -> Result<(), TestCaseError> {
    let (s, node, down_ms) = apply_one_crash(c);
    let r = report(&s);
    let why = || format!("{node} crashed: {}", r.to_text());
    prop_assert_eq!(r.violations.atomicity, 0, "{}", why());
    prop_assert_eq!(r.violations.invariant, 0, "{}", why());
    prop_assert_eq!(r.txns.in_doubt, 0, "{}", why());
    prop_assert_eq!(r.txns.unresolved, 0, "{}", why());
    prop_assert_eq!(r.locks.held_at_end, 0, "{}", why());
    prop_assert!(!r.stopped_by_event_guard);
    prop_assert!(r.txns.requests > 0);
    // A participant is uncertain (w) for at most its wait timeout and pre-committed
    // (p) for at most its pre-commit timeout. Then, deciding alone, it decides (with a
    // standby, each timeout may come twice: ask the standby, then decide alone);
    // terminating, the site it elects (up: the one crash was the TM's) starts within
    // a delay, polls for a window and, by TR4, pre-commits the others (two delays)
    // before its decision arrives (one more). A participant that crashed itself adds
    // its downtime, then asks until answered.
    let p = &s.three_pc;
    let d = MAX_LATENCY_MS;
    let waits = p.rm_wait_timeout_ms + p.rm_precommit_timeout_ms;
    let mut bound = match p.timeouts {
        TimeoutsSpec::DecideAlone if p.standby_tm => 2.0 * waits + d,
        TimeoutsSpec::DecideAlone => waits + d,
        TimeoutsSpec::Terminate => waits + p.inquiry_interval_ms + 5.0 * d,
    };
    if node.starts_with("rm") {
        bound += down_ms
            + p.inquiry_interval_ms
            + p.vote_timeout_ms
            + p.precommit_ack_timeout_ms
            + 4.0 * MAX_LATENCY_MS;
    }
    prop_assert!(
        r.locks.max_hold_ms <= bound,
        "held {} ms > bound {bound} ms: {}",
        r.locks.max_hold_ms,
        why()
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn one_crash_never_blocks_3pc(c in one_crash()) {
        check_one_crash(&c)?;
    }
}

/// The same property over 5,000 schedules:
/// `cargo test --release --test suite three_pc:: -- --ignored`.
#[test]
#[ignore]
fn one_crash_never_blocks_3pc_long() {
    let mut runner = TestRunner::new(config(5_000));
    if let Err(e) = runner.run(&one_crash(), |c| check_one_crash(&c)) {
        panic!("{e}");
    }
}

/// A crash schedule that blocks 2PC (the TM down for 600 ms right after votes) does
/// not block 3PC: the contrast the scenarios teach, over many seeds.
#[test]
fn a_tm_crash_blocks_2pc_but_not_3pc() {
    for seed in 1..=10u64 {
        let mut s = base();
        s.seed = seed;
        // 3PC's waits are bounded by its timeouts (a wait timeout, a polling window and
        // a few delays: under 200 ms here); 2PC's last as long as the TM is down.
        s.checks.blocked_after_ms = 300.0;
        s.faults.crashes.push(CrashSpec {
            node: "tm".into(),
            at_ms: 300.0,
            restart_ms: Some(900.0),
        });
        let three = report(&s);
        assert_eq!(three.locks.blocked, 0, "seed {seed}: {}", three.to_text());
        assert_eq!(three.violations.atomicity, 0);
        s.protocol = "2pc".into();
        let two = report(&s);
        assert!(two.locks.blocked >= 1, "seed {seed}: {}", two.to_text());
        assert_eq!(two.violations.atomicity, 0);
    }
}

/// Partition windows (scripted and random) over the base world.
#[derive(Clone, Debug)]
struct Partitions {
    seed: u64,
    windows: Vec<(Vec<bool>, f64, f64)>,
    random_rate_per_s: f64,
}

fn partitions() -> impl Strategy<Value = Partitions> {
    (
        any::<u64>(),
        prop::collection::vec(
            (
                prop::collection::vec(any::<bool>(), 6),
                0.0..900.0f64,
                20.0..300.0f64,
            ),
            0..3,
        ),
        prop_oneof![Just(0.0), 0.0..4.0f64],
    )
        .prop_map(|(seed, windows, random_rate_per_s)| Partitions {
            seed,
            windows: windows
                .into_iter()
                .map(|(sides, from, len)| (sides, from, (from + len).min(999.0)))
                .collect(),
            random_rate_per_s,
        })
}

fn apply_partitions(p: &Partitions, ack: AckTimeoutSpec) -> Scenario {
    let mut s = base();
    s.seed = p.seed;
    s.three_pc.on_precommit_ack_timeout = ack;
    let names = acidbase::run::Registry::builtin()
        .node_names(&s)
        .expect("known protocol");
    for (sides, from, to) in &p.windows {
        let side = |want: bool| -> Vec<String> {
            names
                .iter()
                .zip(sides)
                .filter(|(_, s)| **s == want)
                .map(|(n, _)| n.clone())
                .collect()
        };
        let (a, b) = (side(true), side(false));
        if !a.is_empty() && !b.is_empty() {
            s.faults.partitions.push(PartitionSpec {
                groups: vec![a, b],
                from_ms: *from,
                to_ms: to.max(from + 1.0),
            });
        }
    }
    if p.random_rate_per_s > 0.0 {
        s.faults.random_partitions = Some(RandomPartitionSpec {
            rate_per_s: p.random_rate_per_s,
            mean_duration_ms: 100.0,
            nodes: vec![],
        });
    }
    s
}

/// Searches partition schedules for one that splits the outcome; returns the shrunk
/// counterexample.
fn find_split(ack: AckTimeoutSpec) -> Option<Partitions> {
    let mut runner = TestRunner::new(config(256));
    let result = runner.run(&partitions(), |p| {
        let r = report(&apply_partitions(&p, ack));
        prop_assert_eq!(r.violations.atomicity, 0);
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, p)) => Some(p),
        _ => None,
    }
}

#[test]
fn a_partition_splits_3pc_for_some_schedule_whatever_the_ack_timeout_choice() {
    for ack in [AckTimeoutSpec::Commit, AckTimeoutSpec::Abort] {
        let found = find_split(ack)
            .unwrap_or_else(|| panic!("{ack:?}: some partition should split the outcome"));
        let r = report(&apply_partitions(&found, ack));
        assert!(r.violations.atomicity >= 1, "{ack:?}: {found:?}");
    }
}

/// Golden numbers of a fault-free commit over N participants, both protocols.
/// 2PC: 4N messages (CanCommit... Prepare, Vote, Commit, Ack), 4 delays, 2N + 2
/// durable writes. 3PC: 6N messages (CanCommit, Vote, PreCommit, PreCommit ack,
/// DoCommit, HaveCommitted), 6 delays, 3N + 3 durable writes (each RM forces
/// prepared, pre-committed and its commit; the TM forces its pre-commit record, its
/// Commit record and the forget). Client messages are not counted.
#[test]
fn golden_numbers_per_committed_transaction_2pc_and_3pc() {
    for n in 2..=8u32 {
        for protocol in ["2pc", "3pc"] {
            let mut s = parse(&format!(
                "(protocol: \"{protocol}\", duration_ms: 300, drain_ms: 300,
                  workload: Transfer(accounts_per_shard: 16, initial_balance: 100000, keys: PerSession),
                  clients: (load: Closed(sessions: 4, think_ms: 1)),
                  network: (latency: Constant(ms: 5)),
                  two_pc: (answer_client_after_acks: true))"
            ));
            s.rms = n;
            let scenario::WorkloadSpec::Transfer(t) = &mut s.workload else {
                unreachable!("the base scenario is a transfer")
            };
            t.fan_out = n - 1;
            let r = run(&s, 3, None).report;
            let (messages, delays, writes) = match protocol {
                "2pc" => (4 * n, 4, 2 * n + 2),
                _ => (6 * n, 6, 3 * n + 3),
            };
            let at = format!("{protocol}, N = {n}");
            assert!(r.txns.committed > 10, "{at}: {}", r.to_text());
            assert_eq!(r.txns.aborted, 0, "{at}: {}", r.to_text());
            assert_eq!(r.per_commit.messages, f64::from(messages), "{at}");
            assert_eq!(r.per_commit.message_delays, f64::from(delays), "{at}");
            assert_eq!(r.per_commit.durable_writes, f64::from(writes), "{at}");
        }
    }
}

/// Golden digests of the shipped 3PC scenarios (kept here rather than in
/// tests/suite/scenarios.rs so branches merge without touching one table). Update on
/// purpose, never blindly.
#[test]
fn golden_digests_of_the_3pc_scenarios() {
    for (file, digest) in [
        ("scenarios/3pc-coordinator-crash.ron", "5a8ae70fd62fda9c"),
        ("scenarios/3pc-partition.ron", "3bc2fb91b08fe304"),
        ("scenarios/3pc-ack-timeout-abort.ron", "bb5e02a34ea92b67"),
        ("scenarios/3pc-crashes.ron", "cf701758b4389989"),
        ("scenarios/3pc-decide-alone-crashes.ron", "86c1eddc20b9811e"),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let l = acidbase::run::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let r = report(&l.scenario);
        assert_eq!(r.digest, digest, "{file}: the run changed");
    }
}

fn json(args: &[&str]) -> (i32, serde_json::Value) {
    let o = acidbase(args);
    let code = o.status.code().expect("an exit code");
    let v = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    (code, v)
}

#[test]
fn the_binary_runs_the_3pc_scenarios() {
    let (code, v) = json(&[
        "run",
        "scenarios/3pc-coordinator-crash.ron",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["protocol"], "3pc");
    assert_eq!(v["locks"]["blocked"], 0);
    assert_eq!(v["txns"]["in_doubt"], 0);
    assert_eq!(v["txns"]["unresolved"], 0);
    assert_eq!(v["violations"]["atomicity"], 0);
    assert_eq!(v["per_commit"]["message_delays"], 6.0);

    for file in [
        "scenarios/3pc-partition.ron",
        "scenarios/3pc-ack-timeout-abort.ron",
        "scenarios/3pc-decide-alone-crashes.ron",
    ] {
        // The violation is the lesson, so it is expected and the run exits 0.
        let (code, v) = json(&["run", file, "--format", "json"]);
        assert_eq!(code, 0, "{file}: {v}");
        assert_eq!(v["violations"]["atomicity"], 1, "{file}");
        assert_eq!(v["violations"]["invariant"], 1, "{file}");
        if !file.contains("crashes") {
            assert_eq!(v["locks"]["blocked"], 0, "{file}");
        }
    }
    let (code, v) = json(&["run", "scenarios/3pc-crashes.ron", "--format", "json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["violations"]["atomicity"], 0);
    assert_eq!(v["txns"]["unresolved"], 0);

    let o = acidbase(&["run", "scenarios/3pc-partition.ron"]);
    let text = stdout(&o);
    assert!(
        text.contains("ATOMICITY VIOLATED on txn 0: Abort was decided while rm1 committed"),
        "{text}"
    );
}

/// Flipping the option a scenario teaches makes its lesson disappear (exit 1: the
/// expectations no longer hold).
#[test]
fn flipping_the_option_flips_the_lesson() {
    let dir = TempDir::new("3pc-flip");
    let read = |f: &str| {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f))
            .expect("readable")
    };
    let cases = [
        (
            "scenarios/3pc-coordinator-crash.ron",
            "protocol: \"3pc\"",
            "protocol: \"2pc\"",
        ),
        (
            "scenarios/3pc-partition.ron",
            "rm_precommit_timeout_ms: 80)",
            "rm_precommit_timeout_ms: 80, on_precommit_ack_timeout: Abort)",
        ),
        (
            "scenarios/3pc-ack-timeout-abort.ron",
            "rm_precommit_timeout_ms: 80, on_precommit_ack_timeout: Abort",
            "rm_precommit_timeout_ms: 80, on_precommit_ack_timeout: Commit",
        ),
        (
            "scenarios/3pc-decide-alone-crashes.ron",
            "three_pc: (timeouts: DecideAlone),",
            "three_pc: (timeouts: Terminate),",
        ),
        (
            "scenarios/3pc-crashes.ron",
            "network: (latency: Uniform(min_ms: 1, max_ms: 10)),",
            "network: (latency: Uniform(min_ms: 1, max_ms: 10)), three_pc: (timeouts: DecideAlone),",
        ),
    ];
    for (i, (file, from, to)) in cases.iter().enumerate() {
        let src = read(file);
        assert!(src.contains(from), "{file} has {from}");
        let p = dir.write(&format!("flip{i}.ron"), &src.replacen(from, to, 1));
        let o = acidbase(&["run", common::path_str(&p), "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stdout(&o));
    }
}

#[test]
fn bad_three_pc_sections_are_located() {
    let dir = TempDir::new("3pc-bad");
    let cases = [
        (
            "(\n  protocol: \"3pc\",\n  three_pc: (vote_timeout_ms: 0),\n)",
            "s.ron:3:14: three_pc.vote_timeout_ms = 0.0",
        ),
        (
            "(\n  protocol: \"3pc\",\n  three_pc: (vote_timeout_ms: 100, rm_wait_timeout_ms: 90),\n)",
            "s.ron:3:36: three_pc.rm_wait_timeout_ms = 90.0 must be longer than vote_timeout_ms = 100.0",
        ),
        (
            "(\n  three_pc: (precommit_ack_timeout_ms: 100),\n)",
            "s.ron:2:3: three_pc.rm_precommit_timeout_ms = 80.0 must be longer than precommit_ack_timeout_ms = 100.0",
        ),
        (
            "(\n  three_pc: (on_precommit_ack_timeout: Maybe),\n)",
            "s.ron:2:",
        ),
        (
            "(\n  protocol: \"3pc\",\n  network: (latency: Constant(ms: 20)),\n  three_pc: (inquiry_interval_ms: 50),\n)",
            "s.ron:4:14: three_pc.inquiry_interval_ms = 50.0 must be longer than three delays (60.000 ms with delays up to 20.0 ms)",
        ),
        (
            "(\n  protocol: \"3pc\",\n  network: (latency: Exponential(floor_ms: 1, mean_ms: 2)),\n)",
            "s.ron:3:13: 3PC (three_pc.timeouts: Terminate) assumes bounded delays, and Exponential latency has no maximum",
        ),
        (
            "(\n  protocol: \"3pc\",\n  faults: (max_drift_ppm: 300000),\n)",
            "three_pc.rm_wait_timeout_ms = 80.0 must be longer than vote_timeout_ms + one delay (67.143 ms with delays up to 10.0 ms, on clocks that drift up to 300000 ppm)",
        ),
        (
            "(\n  protocol: \"4pc\",\n)",
            "expected one of: 2pc, 3pc",
        ),
    ];
    for (src, want) in cases {
        let p = dir.write("s.ron", src);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_acidbase"))
            .args(["run", "s.ron"])
            .current_dir(&dir.0)
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{src}");
        assert!(stderr(&o).contains(want), "{src}: {}", stderr(&o));
        let _ = p;
    }
}

/// The standby node exists for a 3PC scenario that asks for it, and a crash of the
/// TM for good is then terminated by the standby, not by timeouts alone.
#[test]
fn the_standby_terminates_what_a_dead_tm_left() {
    let s = parse(
        r#"(
            protocol: "3pc",
            rms: 3,
            duration_ms: 100,
            drain_ms: 500,
            workload: Transfer(accounts_per_shard: 10, fan_out: 2),
            clients: (load: Closed(sessions: 1, think_ms: 5), max_requests: 1),
            network: (latency: Constant(ms: 5)),
            three_pc: (standby_tm: true),
            faults: (crashes: [(node: "tm", at_ms: 16)]),
        )"#,
    );
    // PreCommit left the TM at 15 ms; it dies at 16. The RMs voted at 10 ms,
    // pre-commit at 20 ms, time out at 100 ms and elect the standby (next in rank
    // after the TM). It polls from 105 ms, finds every site that is up committable,
    // and at the end of its window (155 ms) pre-commits them again (TR4); with their
    // acks in (165 ms) it commits, applied at 170 ms: 160 ms in doubt.
    assert_eq!(
        acidbase::run::Registry::builtin()
            .node_names(&s)
            .expect("known protocol")
            .last()
            .map(String::as_str),
        Some("client")
    );
    assert!(acidbase::run::Registry::builtin()
        .node_names(&s)
        .expect("known protocol")
        .contains(&"standby".to_string()));
    let r = report(&s);
    assert_eq!(r.txns.committed, 1, "{}", r.to_text());
    assert_eq!(r.violations.atomicity, 0);
    assert_eq!(r.locks.max_hold_ms, 160.0, "{}", r.to_text());
    assert!(
        r.to_text().contains("in doubt for 160.0 ms"),
        "{}",
        r.to_text()
    );
    // DecideAlone: the first timeout asks the standby, which finds them pre-committed
    // and commits at once, two round trips later, before the second timeout (at
    // 180 ms) would have let each RM decide alone.
    let mut s = s;
    s.three_pc.timeouts = TimeoutsSpec::DecideAlone;
    let r = report(&s);
    assert_eq!(r.txns.committed, 1, "{}", r.to_text());
    assert_eq!(r.locks.max_hold_ms, 110.0, "{}", r.to_text());
}

/// Crashes alone — of every node, at a high rate, each followed by a restart; no
/// loss, no partition — split `DecideAlone` on some seeds (265 and 656 among these)
/// and never the faithful protocol, which also resolves every transaction once the
/// sites are back.
#[test]
fn crashes_alone_split_decide_alone_but_not_3pc() {
    let mut s = parse(
        r#"(
            protocol: "3pc",
            rms: 3,
            workload: Transfer(accounts_per_shard: 100, initial_balance: 1000, amount_min: 1, amount_max: 100, fan_out: 2),
            network: (latency: Uniform(min_ms: 1, max_ms: 10)),
            faults: (random_crashes: [(nodes: ["all"], rate_per_s: 3, mean_downtime_ms: 100)]),
        )"#,
    );
    let seeds = 200..=700u64;
    let mut split = Vec::new();
    for seed in seeds.clone() {
        let r = run(&s, seed, None).report;
        assert_eq!(r.violations.atomicity, 0, "seed {seed}: {}", r.to_text());
        assert_eq!(r.violations.invariant, 0, "seed {seed}");
        assert_eq!(r.txns.unresolved, 0, "seed {seed}: {}", r.to_text());
        assert_eq!(r.locks.held_at_end, 0, "seed {seed}");
    }
    s.three_pc.timeouts = TimeoutsSpec::DecideAlone;
    for seed in seeds {
        if run(&s, seed, None).report.violations.atomicity > 0 {
            split.push(seed);
        }
    }
    assert_eq!(split, [265, 656], "DecideAlone splits on these seeds");
}
