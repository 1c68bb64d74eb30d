//! Global ids (protocol `ids`): a backward wall-clock step repeats Snowflake ids
//! without a guard and never with one; two generators with the same node id repeat
//! ids on correct clocks; segment generators leave gaps on restarts and never repeat;
//! each duplicate drops a real order in the dedupe table, and reconciliation finds
//! every lost order; bad options and clock steps are refused.

use crate::common::{acidbase, path_str, run, stderr, stdout, TempDir};
use acidbase::report::Report;
use acidbase::scenario::Scenario;

/// Two generators, 16 sessions with little think time, latency below 1 ms.
fn world(options: &str, faults: &str) -> Scenario {
    let text = format!(
        r#"(
            protocol: "ids",
            duration_ms: 600,
            drain_ms: 1500,
            clients: (load: Closed(sessions: 16, think_ms: 0.5), deadline_ms: 300),
            network: (latency: Uniform(min_ms: 0.2, max_ms: 1){faults}),
            options: ({options}),
        )"#
    );
    acidbase::run::parse(&text, "ids-test.ron")
        .unwrap_or_else(|e| panic!("{e}"))
        .into_scenario()
}

/// Every fault kind on every node, healing at the horizon, and backward and
/// forward steps of both generators' wall clocks.
const FAULTS: &str = r#", loss_probability: 0.03, duplicate_probability: 0.05,
    reorder_probability: 0.1, reorder_delay_ms: 30, message_faults_until_ms: 600),
    faults: (random_crashes: [(nodes: ["seq", "orders", "gen0", "gen1", "client"],
        rate_per_s: 3, mean_downtime_ms: 30)], max_drift_ppm: 2000,
        clock_steps: [(node: "gen0", at_ms: 150, step_ms: -40),
                      (node: "gen1", at_ms: 250, step_ms: 30),
                      (node: "gen1", at_ms: 400, step_ms: -80)]"#;

const STEP_BACK: &str = r#"),
    faults: (clock_steps: [(node: "gen0", at_ms: 300, step_ms: -50)]"#;

fn reports(s: &Scenario, seeds: std::ops::RangeInclusive<u64>) -> Vec<Report> {
    seeds.map(|seed| run(s, seed, None).report).collect()
}

#[test]
fn the_scenarios_hold_their_expectations_and_show_the_counts() {
    for f in [
        "scenarios/ids-snowflake-clock-step-back.ron",
        "scenarios/ids-snowflake-guard-wait.ron",
        "scenarios/ids-duplicate-node-id.ron",
        "scenarios/ids-segment-restart-gaps.ron",
        "scenarios/ids-snowflake-guard-restart.ron",
    ] {
        let o = acidbase(&["run", f]);
        assert_eq!(o.status.code(), Some(0), "{f}: {}", stdout(&o));
        let text = stdout(&o);
        assert!(text.contains("  ids            "), "{f}: {text}");
        assert!(text.contains("  orders         "), "{f}: {text}");
    }
    let o = acidbase(&[
        "run",
        "scenarios/ids-snowflake-clock-step-back.ron",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let ids = &json["ids"];
    let n = |k: &str| ids[k].as_u64().unwrap_or_else(|| panic!("ids.{k}: {ids}"));
    assert!(n("duplicate_ids") > 0);
    // No fault but the step: every duplicate id reached the table and dropped a
    // real order, every order was accepted, and reconciliation found each loss.
    assert_eq!(n("dropped_real_orders"), n("duplicate_ids"));
    assert_eq!(n("lost_orders"), n("duplicate_ids"));
    assert_eq!(n("lost_found_by_reconciliation"), n("lost_orders"));
    assert_eq!(n("issued"), n("recorded") + n("dropped_real_orders"));
    assert_eq!(n("accepted"), n("issued"));
    assert_eq!(
        json["violations"]["invariant"].as_u64(),
        Some(n("duplicate_ids") + n("lost_orders"))
    );
}

#[test]
fn a_backward_step_repeats_ids_without_a_guard_and_never_with_one() {
    let none = reports(&world("guard: None", STEP_BACK), 1..=5);
    assert!(
        none.iter().all(|r| r.ids.duplicate_ids > 0),
        "every seed repeats"
    );
    assert!(none.iter().all(|r| r.ids.non_monotonic > 0));
    for guard in ["Wait", "Refuse"] {
        let rs = reports(&world(&format!("guard: {guard}"), STEP_BACK), 1..=5);
        for r in &rs {
            assert_eq!(
                (r.ids.duplicate_ids, r.ids.non_monotonic, r.ids.lost_orders),
                (0, 0, 0),
                "{guard}"
            );
            assert_eq!(r.violations.invariant, 0, "{guard}");
        }
        // The guard's price: waits as long as the step, or refused requests.
        match guard {
            "Wait" => assert!(rs.iter().all(|r| r.ids.waited > 0
                && r.ids.waited_ms_max > 40.0
                && r.ids.waited_ms_max <= 50.0
                && r.ids.refused == 0)),
            _ => assert!(rs.iter().all(|r| r.ids.refused > 0 && r.ids.waited == 0)),
        }
        assert!(rs.iter().all(|r| r.ids.lease_writes > 0));
    }
}

#[test]
fn guarded_snowflake_and_segments_never_repeat_an_id_under_every_fault() {
    for options in [
        "generator: Snowflake, guard: Wait",
        "generator: Snowflake, guard: Refuse",
        "generator: Segment, block: 20",
    ] {
        let rs = reports(&world(options, FAULTS), 1..=30);
        for r in &rs {
            assert_eq!(r.ids.duplicate_ids, 0, "{options}: seed {}", r.seed);
            assert_eq!(r.ids.dropped_real_orders, 0, "{options}: seed {}", r.seed);
            assert_eq!(r.ids.lost_orders, 0, "{options}: seed {}", r.seed);
            assert_eq!(r.ids.non_monotonic, 0, "{options}: seed {}", r.seed);
            assert!(!r.truncated);
        }
        assert!(
            rs.iter().map(|r| r.ids.issued).sum::<u64>() > 3_000,
            "{options}"
        );
        if options.contains("Segment") {
            assert!(rs.iter().all(|r| r.ids.gaps > 0), "crashes leave gaps");
        }
    }
    // The same faults without a guard do repeat ids, and reconciliation finds
    // every order lost to them.
    let rs = reports(&world("generator: Snowflake, guard: None", FAULTS), 1..=30);
    assert!(rs.iter().any(|r| r.ids.duplicate_ids > 0));
    assert!(rs.iter().any(|r| r.ids.lost_orders > 0));
    for r in &rs {
        let i = &r.ids;
        assert_eq!(
            i.lost_found_by_reconciliation, i.lost_orders,
            "seed {}",
            r.seed
        );
    }
}

/// The same schedule (a 200 ms backward step, then a crash of that generator)
/// with the guard `Wait` kept in memory and kept as a durable lease.
#[test]
fn a_guard_in_memory_forgets_its_last_id_on_a_restart_and_the_lease_does_not() {
    let path = "scenarios/ids-snowflake-guard-restart.ron";
    let text = std::fs::read_to_string(path).expect("shipped");
    assert!(text.contains(", lease: false"));
    let reports = |text: &str| {
        let s = acidbase::run::parse(text, path)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_scenario();
        (1..=5)
            .map(|seed| run(&s, seed, None).report)
            .collect::<Vec<_>>()
    };
    for r in reports(&text) {
        assert!(r.ids.duplicate_ids > 0, "seed {}", r.seed);
        assert_eq!(r.ids.lease_writes, 0);
    }
    for r in reports(&text.replace(", lease: false", "")) {
        assert_eq!(
            (r.ids.duplicate_ids, r.ids.lost_orders),
            (0, 0),
            "seed {}",
            r.seed
        );
        assert!(
            r.ids.lease_writes > 0 && r.ids.waited > 0,
            "seed {}",
            r.seed
        );
    }
}

#[test]
fn reconciliation_finds_every_lost_order_of_a_misconfigured_node_id() {
    let rs = reports(&world("guard: Wait, node_ids: [3, 3]", ""), 1..=5);
    for r in &rs {
        assert!(r.ids.duplicate_ids > 0);
        assert_eq!(r.ids.non_monotonic, 0, "each node is right on its own");
        assert_eq!(r.ids.lost_found_by_reconciliation, r.ids.lost_orders);
        assert!(r.ids.lost_orders > 0);
    }
}

#[test]
fn a_clock_step_is_in_the_trace_and_bad_input_is_refused() {
    let t = TempDir::new("ids-trace");
    let trace = t.path("trace.jsonl");
    let o = acidbase(&[
        "run",
        "scenarios/ids-snowflake-guard-wait.ron",
        "--trace",
        path_str(&trace),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&trace).expect("trace");
    let step: Vec<&str> = text.lines().filter(|l| l.contains("clock_step")).collect();
    assert_eq!(step.len(), 1, "{step:?}");
    let j: serde_json::Value = serde_json::from_str(step[0]).expect("JSON");
    assert_eq!(j["node"], "gen0");
    assert_eq!(j["step_us"], -50_000);
    assert_eq!(j["t_us"], 300_000);
    for (file, says) in [
        (
            "options: (guard: Sometimes)",
            "Sometimes",
        ),
        ("options: (node_ids: [1])", "node_ids lists 1 ids for 2 generators"),
        ("options: (node_ids: [1, 1024])", "1024 does not fit in 10 bits"),
        (
            "options: (generator: Segment, node_ids: [1, 2])",
            "node_ids applies to the Snowflake generator only",
        ),
        ("options: (block: 0)", "block must be between 1"),
        ("options: (generators: 0)", "generators must be between 1 and 64"),
        (
            "faults: (clock_steps: [(node: \"gen9\", at_ms: 10, step_ms: -5)])",
            "faults.clock_steps: no node named \"gen9\"; this scenario's nodes are: seq, orders, gen0, gen1, client",
        ),
        (
            "faults: (clock_steps: [(node: \"gen0\", at_ms: 10, step_ms: 0)])",
            "faults.clock_steps step_ms = 0",
        ),
    ] {
        let f = t.write("bad.ron", &format!("(protocol: \"ids\", {file})"));
        let o = acidbase(&["run", path_str(&f)]);
        assert_eq!(o.status.code(), Some(2), "{file}");
        assert!(stderr(&o).contains(says), "{file}: {}", stderr(&o));
    }
}
