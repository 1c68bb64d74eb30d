//! `explore --shard I/N` and `explore --swarm --shard I/N`, then `merge`, run as a
//! user would: the merged output is what one machine running every seed prints
//! (text and JSON, the exit code, a swarm's failing worlds), and parts that do not
//! make one whole run are refused with nothing written.

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};
use std::process::{Command, Output};

const SCENARIO: &str = "scenarios/2pc-unsafe-random-faults.ron";

fn code(o: &Output) -> i32 {
    o.status.code().expect("an exit code")
}

/// Runs shard `i` of `n` of `explore ARGS`, writing its part to `dir/part-i.json`.
fn shard(dir: &TempDir, args: &[&str], i: usize, n: usize) -> String {
    let part = dir.path(&format!("part-{i}.json"));
    let spec = format!("{i}/{n}");
    let mut a = vec!["explore"];
    a.extend(args);
    a.extend([
        "--jobs",
        "1",
        "--shard",
        &spec,
        "--shard-out",
        path_str(&part),
    ]);
    let out = acidbase(&a);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("shard {i}/{n} of seeds")),
        "{}",
        stdout(&out)
    );
    path_str(&part).to_string()
}

fn merge(parts: &[String], extra: &[&str]) -> Output {
    let mut a = vec!["merge"];
    a.extend(parts.iter().map(String::as_str));
    a.extend(extra);
    acidbase(&a)
}

/// The one wall-clock figure a swarm prints ("runs in X s", "seconds": X), masked:
/// the merge prints the shards' sum there.
fn mask_seconds(text: &str) -> String {
    text.lines()
        .map(|l| {
            if let Some(i) = l.find(" runs in ") {
                format!("{} runs in X s", &l[..i])
            } else if let Some(i) = l.find("\"seconds\": ") {
                format!("{}\"seconds\": X,", &l[..i])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn three_explore_shards_merge_into_exactly_the_one_machine_output() {
    let dir = TempDir::new("explore-shards");
    let args = [SCENARIO, "--seeds", "1..=60", "--ignore-expect"];
    let parts: Vec<String> = (0..3).map(|i| shard(&dir, &args, i, 3)).collect();
    let mut whole_args = vec!["explore"];
    whole_args.extend(args);
    whole_args.extend(["--jobs", "2"]);
    let whole = acidbase(&whole_args);
    assert_eq!(code(&whole), 1, "some seeds break atomicity");
    assert!(stdout(&whole).contains("60 seeds:"), "{}", stdout(&whole));
    let merged = merge(&parts, &[]);
    assert_eq!(stdout(&merged), stdout(&whole), "{}", stderr(&merged));
    assert_eq!(code(&merged), code(&whole));
    let e = merge(&parts, &["--out", "x"]);
    assert_eq!(code(&e), 2);
    assert!(stderr(&e).contains("write no files"), "{}", stderr(&e));
    // JSON: the one machine's --format json, byte for byte (merge --format json,
    // and shards that were themselves asked for JSON).
    whole_args.extend(["--format", "json"]);
    let whole_json = acidbase(&whole_args);
    let merged_json = merge(&parts, &["--format", "json"]);
    assert_eq!(stdout(&merged_json), stdout(&whole_json));
    let json_dir = TempDir::new("explore-shards-json");
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json_parts: Vec<String> = (0..3).map(|i| shard(&json_dir, &json_args, i, 3)).collect();
    assert_eq!(stdout(&merge(&json_parts, &[])), stdout(&whole_json));
    // The first failing seed of each kind is the least over all shards.
    let j: serde_json::Value = serde_json::from_str(&stdout(&whole_json)).expect("JSON");
    let first = j["first_violating_seed"].as_u64().expect("a failing seed");
    let holder = ((first - 1) % 3) as usize;
    let part: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&parts[holder]).expect("the part"))
            .expect("JSON");
    assert_eq!(
        part["rows"][0]["exploration"]["first_violating_seed"].as_u64(),
        Some(first)
    );
}

#[test]
fn a_swarm_of_two_rows_in_three_shards_merges_into_the_one_machine_output() {
    let dir = TempDir::new("swarm-shards");
    let args = [
        "--swarm",
        "--config",
        "2pc,2pc-unsafe-timeout",
        "--seeds",
        "1..=30",
    ];
    let parts: Vec<String> = (0..3).map(|i| shard(&dir, &args, i, 3)).collect();
    let mut whole_args = vec!["explore"];
    whole_args.extend(args);
    let whole = acidbase(&whole_args);
    assert_eq!(code(&whole), 0, "{}", stdout(&whole));
    assert!(stdout(&whole).contains("ok: anomaly found"));
    let merged = merge(&parts, &[]);
    assert_eq!(code(&merged), 0, "{}", stderr(&merged));
    assert_eq!(
        mask_seconds(&stdout(&merged)),
        mask_seconds(&stdout(&whole))
    );
    whole_args.extend(["--format", "json"]);
    let merged_json = merge(&parts, &["--format", "json"]);
    assert_eq!(
        mask_seconds(&stdout(&merged_json)),
        mask_seconds(&stdout(&acidbase(&whole_args)))
    );
}

#[test]
fn a_sharded_swarm_of_a_file_writes_the_same_failing_worlds_once_merged() {
    let dir = TempDir::new("swarm-file-shards");
    let (one, many) = (dir.path("one"), dir.path("many"));
    let file = "scenarios/2pc-unsafe-timeout.ron";
    let args = [
        file,
        "--swarm",
        "--seeds",
        "1..=30",
        "--out",
        path_str(&many),
    ];
    let parts: Vec<String> = (0..3).map(|i| shard(&dir, &args, i, 3)).collect();
    assert!(!many.exists(), "a shard writes no failing world");
    let whole = acidbase(&[
        "explore",
        file,
        "--swarm",
        "--seeds",
        "1..=30",
        "--out",
        path_str(&one),
    ]);
    assert_eq!(code(&whole), 1, "the unsafe 2PC fails its swarm");
    let merged = merge(&parts, &[]);
    assert_eq!(code(&merged), 1, "{}", stderr(&merged));
    let rename = |t: &str| t.replace(path_str(&one), path_str(&many));
    assert_eq!(
        mask_seconds(&stdout(&merged)),
        mask_seconds(&rename(&stdout(&whole)))
    );
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .expect("the failing worlds")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    };
    assert!(!names(&one).is_empty());
    assert_eq!(names(&one), names(&many));
    for n in names(&one) {
        let a = std::fs::read_to_string(one.join(&n)).expect("written");
        let b = std::fs::read_to_string(many.join(&n)).expect("written");
        assert_eq!(rename(&a), b, "{n}");
    }
}

#[test]
fn parts_that_are_not_one_whole_run_are_refused_and_nothing_is_written() {
    let dir = TempDir::new("explore-shard-errors");
    let out = dir.path("failures");
    let args = [
        "--swarm",
        "--config",
        "2pc",
        "--seeds",
        "1..=6",
        "--out",
        path_str(&out),
    ];
    let parts: Vec<String> = (0..3).map(|i| shard(&dir, &args, i, 3)).collect();
    let refused = |o: Output, what: &str| {
        assert_eq!(code(&o), 2, "{what}: {}", stdout(&o));
        assert!(stdout(&o).is_empty(), "{what}: {}", stdout(&o));
        assert!(!out.exists(), "{what}: nothing written");
        stderr(&o)
    };
    let e = refused(merge(&parts[..2], &[]), "missing");
    assert!(e.contains("1 of 3 shards are missing (2/3)"), "{e}");
    let twice = [parts[0].clone(), parts[1].clone(), parts[1].clone()];
    let e = refused(merge(&twice, &[]), "duplicate");
    assert!(e.contains("shard 1/3 is given twice"), "{e}");
    // Another run: other seeds, or another split.
    let other = TempDir::new("explore-shard-errors-other");
    let mut other_args = args.to_vec();
    other_args[4] = "1..=7";
    let stranger = shard(&other, &other_args, 2, 3);
    let e = refused(
        merge(&[parts[0].clone(), parts[1].clone(), stranger], &[]),
        "another run",
    );
    assert!(e.contains("belongs to another run"), "{e}");
    let split = shard(&other, &args, 1, 2);
    let e = refused(merge(&[parts[0].clone(), split], &[]), "another N");
    assert!(e.contains("every shard must be of the same N"), "{e}");
    let e = refused(merge(&parts, &["--format", "svg"]), "a chart format");
    assert!(e.contains("text or json"), "{e}");
    let not_a_part = dir.write("x.json", "{}");
    let e = refused(
        merge(&[path_str(&not_a_part).to_string()], &[]),
        "not a part",
    );
    assert!(e.contains("not a part written by explore --shard"), "{e}");
}

#[test]
fn bad_shard_flags_are_refused_with_exit_2() {
    for (flag, says) in [
        ("3/3", "shard index 3 of 3: expected 0 <= I < N"),
        ("1-3", "expected I/N, e.g. 0/4"),
        ("a/3", "I must be a whole number"),
        ("0/0", "shard index 0 of 0"),
    ] {
        let o = acidbase(&["explore", SCENARIO, "--seeds", "1..4", "--shard", flag]);
        assert_eq!(code(&o), 2, "--shard {flag}");
        assert!(stderr(&o).contains(says), "--shard {flag}: {}", stderr(&o));
    }
    let o = acidbase(&["explore", SCENARIO, "--seeds", "1..4", "--shards", "3"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--shards N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"));
    let o = acidbase(&["explore", SCENARIO, "--shard-out", "x.json"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--shard-out needs --shard I/N or --shards N"));
    let o = acidbase(&[
        "explore", "--swarm", "--config", "2pc", "--shard", "0/2", "--shrink",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--shrink with --shard"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shards_take_their_index_from_a_slurm_array_or_a_kubernetes_indexed_job() {
    let dir = TempDir::new("explore-shard-env");
    let run = |env: &[(&str, &str)], name: &str| {
        let part = dir.path(name);
        let mut c = Command::new(env!("CARGO_BIN_EXE_acidbase"));
        c.args([
            "explore",
            SCENARIO,
            "--seeds",
            "1..=9",
            "--ignore-expect",
            "--shards",
            "3",
            "--shard-out",
            path_str(&part),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("runs");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&part).expect("a part")).expect("JSON");
        (
            j["shard"][0].as_u64(),
            j["shard"][1].as_u64(),
            path_str(&part).to_string(),
        )
    };
    let a = run(
        &[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        "a.json",
    );
    assert_eq!((a.0, a.1), (Some(1), Some(3)));
    let b = run(&[("JOB_COMPLETION_INDEX", "0")], "b.json");
    assert_eq!((b.0, b.1), (Some(0), Some(3)));
    let c = run(&[("JOB_COMPLETION_INDEX", "2")], "c.json");
    let merged = merge(&[a.2, b.2, c.2], &[]);
    let whole = acidbase(&["explore", SCENARIO, "--seeds", "1..=9", "--ignore-expect"]);
    assert_eq!(stdout(&merged), stdout(&whole));
}
