//! `acidbase check --exhaustive` as a user runs it: exit codes, the printed path, the
//! RON path written with --out and re-executed with --replay.

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};

#[test]
fn a_violating_config_exits_1_with_a_shortest_path_that_replays() {
    let dir = TempDir::new("check-violation");
    let path = dir.path("path.ron");
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--max-crashes",
        "1",
        "--max-drops",
        "0",
        "--out",
        path_str(&path),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(out.contains("VIOLATION blocking"), "{out}");
    assert!(out.contains("shortest path (32 steps)"), "{out}");
    assert!(out.contains("    5. [0 ms] tm crashes"), "{out}");
    assert!(out.contains("distinct states: 1672"), "{out}");
    assert!(stderr(&o).contains("--replay"), "{}", stderr(&o));
    let written = std::fs::read_to_string(&path).expect("--out wrote the path");
    assert!(
        written.contains("Crash(\n        node: \"tm\""),
        "{written}"
    );

    let r = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--max-crashes",
        "1",
        "--max-drops",
        "0",
        "--replay",
        path_str(&path),
    ]);
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(stdout(&r).contains("VIOLATION blocking"), "{}", stdout(&r));
    assert!(stdout(&r).contains("   32. "), "{}", stdout(&r));
}

#[test]
fn a_safe_config_exits_0_and_reports_the_state_count() {
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--max-crashes",
        "0",
        "--max-drops",
        "2",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("distinct states: 2294"), "{out}");
    assert!(out.contains("exhausted:       yes"), "{out}");
    assert!(out.contains("no violation found"), "{out}");
}

#[test]
fn json_output_carries_the_counts_and_the_path() {
    let o = acidbase(&[
        "check",
        "scenarios/2pc-no-decision-retry.ron",
        "--exhaustive",
        "--max-crashes",
        "0",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert!(v["distinct_states"].as_u64().unwrap() > 0);
    assert_eq!(v["violation"]["finding"]["kind"], "atomicity");
    assert!(!v["violation"]["steps"].as_array().unwrap().is_empty());
}

#[test]
fn bad_input_exits_2_and_says_what_was_expected() {
    let cases: &[(&[&str], &str)] = &[
        (&["check", "scenarios/check-2pc.ron"], "--exhaustive"),
        (
            &[
                "check",
                "scenarios/check-2pc.ron",
                "--exhaustive",
                "--crash",
                "nosuch",
            ],
            "no such node",
        ),
        (
            &[
                "check",
                "scenarios/check-2pc.ron",
                "--exhaustive",
                "--horizon-ms",
                "nan",
            ],
            "--horizon-ms",
        ),
        (
            &[
                "check",
                "scenarios/check-2pc.ron",
                "--exhaustive",
                "--max-drops",
                "x",
            ],
            "--max-drops",
        ),
        (&["check", "nosuch.ron", "--exhaustive"], "nosuch.ron"),
    ];
    for (args, says) in cases {
        let o = acidbase(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let dir = TempDir::new("check-bad-replay");
    let bad = dir.write("bad.ron", "[Deliver(from: \"tm\")]");
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--replay",
        path_str(&bad),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("RON list of steps"), "{}", stderr(&o));
    let wrong = dir.write("wrong.ron", "[Crash(node: \"rm9\")]");
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--replay",
        path_str(&wrong),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not enabled"), "{}", stderr(&o));
}

/// A search the state bound cut short verified nothing: exit 3, said on stderr, so a
/// CI job cannot read it as a pass.
#[test]
fn a_search_cut_short_exits_3_not_0() {
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--max-crashes",
        "0",
        "--max-drops",
        "2",
        "--max-states",
        "50",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("exhausted:       no (cut short"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
    // The same search with room enough visits everything: exit 0.
    let o = acidbase(&[
        "check",
        "scenarios/check-2pc.ron",
        "--exhaustive",
        "--max-crashes",
        "0",
        "--max-drops",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `--threads N` changes how fast, never what: the same report (counts, depth,
/// sometimes, the first violation and its path), text and JSON, and the same exit
/// status at 1, 2, 3 and 4 threads — for violations, a safe world, and searches cut
/// short by the state and depth bounds.
#[test]
fn the_report_is_the_same_at_any_thread_count() {
    let configs: [&[&str]; 5] = [
        // blocking, 32 steps
        &[
            "scenarios/check-2pc.ron",
            "--max-crashes",
            "1",
            "--max-drops",
            "0",
        ],
        // atomicity (a dropped Commit, then presumed abort)
        &[
            "scenarios/2pc-no-decision-retry.ron",
            "--max-crashes",
            "0",
            "--max-drops",
            "1",
        ],
        // safe, 21,873 states
        &[
            "scenarios/2pc-coordinator-crash.ron",
            "--max-crashes",
            "0",
            "--max-drops",
            "2",
        ],
        // cut short by the state bound, mid-level
        &[
            "scenarios/check-2pc.ron",
            "--max-crashes",
            "1",
            "--max-drops",
            "1",
            "--max-states",
            "777",
        ],
        // cut short by the depth bound
        &[
            "scenarios/check-2pc.ron",
            "--max-crashes",
            "1",
            "--max-drops",
            "1",
            "--max-depth",
            "9",
        ],
    ];
    for config in configs {
        for format in ["text", "json"] {
            let run = |threads: &str| {
                let mut args = vec![
                    "check",
                    "--exhaustive",
                    "--format",
                    format,
                    "--threads",
                    threads,
                ];
                args.extend_from_slice(config);
                let o = acidbase(&args);
                (o.status.code(), stdout(&o))
            };
            let one = run("1");
            assert!(matches!(one.0, Some(0 | 1 | 3)), "{config:?}: {:?}", one);
            assert!(one.1.contains("collision"), "{}", one.1);
            for threads in ["2", "3", "4"] {
                assert_eq!(
                    run(threads),
                    one,
                    "{config:?} {format} at {threads} threads"
                );
            }
        }
    }
}
