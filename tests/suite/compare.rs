//! `acidbase compare`, run as a user would: the same faults for every protocol, a table
//! that adds up to the single runs, and identical output at any thread count.

use crate::common::{acidbase, stderr, stdout};

fn json(args: &[&str]) -> serde_json::Value {
    let out = acidbase(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("compare --format json prints JSON")
}

#[test]
fn the_column_adds_up_to_the_single_runs() {
    let scenario = "scenarios/2pc-coordinator-crash.ron";
    let table = json(&[
        "compare",
        scenario,
        "--protocols",
        "2pc",
        "--seeds",
        "3",
        "--seed",
        "5",
        "--format",
        "json",
    ]);
    assert_eq!(table["seeds"], serde_json::json!([5, 6, 7]));
    let col = &table["columns"][0];
    assert_eq!(col["protocol"], "2pc");
    assert_eq!(col["runs"], 3);
    let (mut committed, mut blocked, mut avail) = (0, 0, 0.0);
    for seed in ["5", "6", "7"] {
        let out = acidbase(&["run", scenario, "--seed", seed, "--format", "json"]);
        let r: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json report");
        committed += r["txns"]["committed"].as_u64().expect("committed");
        blocked += r["locks"]["blocked"].as_u64().expect("blocked");
        avail += r["availability"].as_f64().expect("availability");
    }
    assert_eq!(col["committed"].as_u64(), Some(committed));
    assert_eq!(col["blocked_locks"].as_u64(), Some(blocked));
    assert!(blocked > 0, "the TM crash blocks 2PC");
    let mean = col["availability"].as_f64().expect("availability");
    assert!(
        (mean - avail / 3.0).abs() < 1e-12,
        "{mean} vs {}",
        avail / 3.0
    );
    let summary = table["summary"].as_array().expect("summary sentences");
    assert!(
        summary.iter().any(|s| s
            .as_str()
            .is_some_and(|s| s.starts_with("Blocked in doubt: 2pc"))),
        "{summary:?}"
    );
}

#[test]
fn the_table_does_not_depend_on_the_thread_count() {
    let base = ["compare", "scenarios/2pc-partition.ron", "--seeds", "6"];
    let one = acidbase(&[&base[..], &["--jobs", "1"]].concat());
    let two = acidbase(&[&base[..], &["--jobs", "2"]].concat());
    assert!(one.status.success(), "{}", stderr(&one));
    assert_eq!(stdout(&one), stdout(&two));
    let text = stdout(&one);
    assert!(text.contains("seeds 1..=6"), "{text}");
    assert!(text.contains("blocked lock·ms"), "{text}");
}

#[test]
fn csv_has_a_header_and_a_row_per_protocol() {
    let out = acidbase(&[
        "compare",
        "scenarios/2pc-happy.ron",
        "--protocols",
        "2pc",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("scenario,protocol,runs,committed,aborted,atomicity_violations"));
    assert!(lines[1].starts_with("2pc-happy,2pc,1,"), "{}", lines[1]);
    assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
}

#[test]
fn bad_input_exits_2_and_says_what_is_known() {
    let out = acidbase(&["compare", "--protocols", "2pc,4pc"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown protocol \"4pc\""), "{err}");
    assert!(err.contains("2pc"), "{err}");
    let out = acidbase(&["compare", "no/such/file.ron"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read the scenario file"));
    let out = acidbase(&["compare", "--seeds", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_protocol_runs_the_shared_transfer_schedule_and_stays_consistent() {
    let table = json(&[
        "compare",
        "scenarios/transfer-compare.ron",
        "--seeds",
        "2",
        "--format",
        "json",
    ]);
    // The cache protocols and the id generators run their own worlds (db, cache,
    // app; config, svc0.., gateway; seq, orders, gen0..): they cannot take a
    // schedule that crashes rm2, and say so.
    let skipped: Vec<&str> = table["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .filter_map(|k| k["protocol"].as_str())
        .collect();
    assert_eq!(skipped, ["cache", "local_cache", "ids"]);
    let cols = table["columns"].as_array().expect("columns");
    let names: Vec<&str> = cols.iter().filter_map(|c| c["protocol"].as_str()).collect();
    assert_eq!(
        names,
        [
            "2pc",
            "3pc",
            "tcc",
            "saga",
            "messaging",
            "calls",
            "paxos-commit"
        ]
    );
    for c in cols {
        let p = &c["protocol"];
        assert!(c["committed"].as_u64() > Some(100), "{p}: {c}");
        assert_eq!(c["atomicity_violations"], 0, "{p}");
        assert_eq!(c["invariant_violations"], 0, "{p}");
        assert_eq!(c["unresolved"], 0, "{p}");
    }
    // The lesson of the table: locks for the atomic-commit protocols, money visibly in
    // flight for the BASE ones.
    let col = |p: &str| &cols[names.iter().position(|n| *n == p).expect("present")];
    assert!(col("2pc")["blocked_locks"].as_u64() > Some(0));
    assert_eq!(col("saga")["blocked_locks"], 0);
    assert!(col("saga")["transient_anomalies"].as_u64() > Some(0));
    assert!(col("messaging")["transient_anomalies"].as_u64() > Some(0));
    assert_eq!(
        col("2pc")["time_to_consistency_p99_ms"],
        serde_json::Value::Null
    );
}
