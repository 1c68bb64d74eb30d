//! `acidbase sweep`, `merge` and `chart` run as a user would: results do not depend
//! on --jobs, interruptions or sharding; bad sweep files are refused clearly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{acidbase, path_str, stderr, stdout, TempDir};

/// 2 × 2 points × 2 variants × 3 seeds = 24 short runs, every chart kind.
const SWEEP: &str = r#"(
    name: "t",
    scenario: (
        rms: 3,
        duration_ms: 150,
        drain_ms: 300,
        workload: Transfer(accounts_per_shard: 10, fan_out: 2),
        clients: (load: Closed(sessions: 2, think_ms: 2), deadline_ms: 100),
        faults: (random_partitions: (rate_per_s: 0, mean_duration_ms: 40)),
    ),
    axes: [
        (path: "faults.random_partitions.rate_per_s", values: [0, 10], label: "partitions per second"),
        (path: "two_pc.vote_timeout_ms", values: [50, 200]),
    ],
    variants: [
        (name: "2pc", set: {"protocol": "2pc"}),
        (name: "2pc abort", set: {"two_pc.rm_abort_on_timeout": true, "two_pc.rm_timeout_ms": 20}),
    ],
    seeds: 3,
    charts: [
        Line(metric: "violations.atomicity", x: "faults.random_partitions.rate_per_s", stat: Share, title: "Line title"),
        Cdf(),
        Bars(metric: "per_commit.messages", x: "two_pc.vote_timeout_ms"),
        Scatter(y_metric: "violations.atomicity", along: "faults.random_partitions.rate_per_s"),
        Heatmap(metric: "locks.lock_ms_total", x: "faults.random_partitions.rate_per_s", y: "two_pc.vote_timeout_ms"),
    ],
)
"#;

const FINAL_FILES: [&str; 5] = [
    "runs.csv",
    "summary.csv",
    "summary.json",
    "plan.json",
    "journal.jsonl",
];

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
}

fn sweep(file: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", path_str(file), "--out", path_str(out), "--quiet"];
    args.extend_from_slice(extra);
    acidbase(&args)
}

fn chart_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the output dir should exist")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg" || e == "png"))
        .collect();
    v.sort();
    v
}

/// Every final file (and chart) of `a` equals `b`'s byte for byte.
fn assert_same_outputs(a: &Path, b: &Path) {
    for f in FINAL_FILES {
        let (x, y) = (a.join(f), b.join(f));
        let x = std::fs::read(&x).unwrap_or_else(|e| panic!("{}: {e}", x.display()));
        let y = std::fs::read(&y).unwrap_or_else(|e| panic!("{}: {e}", y.display()));
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
    let (ca, cb) = (chart_files(a), chart_files(b));
    assert_eq!(ca.len(), 5, "five charts expected in {}", a.display());
    assert_eq!(ca.len(), cb.len());
    for (x, y) in ca.iter().zip(&cb) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            std::fs::read(x).expect("chart") == std::fs::read(y).expect("chart"),
            "{} differs",
            x.display()
        );
    }
}

fn reference(t: &TempDir, file: &Path) -> PathBuf {
    let out = t.path("reference");
    assert_exit(&sweep(file, &out, &["--jobs", "1"]), 0);
    out
}

#[test]
fn same_results_at_jobs_1_and_2_with_every_file_and_chart() {
    let t = TempDir::new("sweep-jobs");
    let file = t.write("t.ron", SWEEP);
    let one = reference(&t, &file);
    let two = t.path("two");
    let o = sweep(&file, &two, &["--jobs", "2"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("24 runs in this sweep"),
        "{}",
        stdout(&o)
    );
    assert_same_outputs(&one, &two);
    // runs.csv: a header and one row per run, every report number flattened.
    let csv = std::fs::read_to_string(one.join("runs.csv")).expect("runs.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 25);
    assert!(lines[0].starts_with(
        "run,point,series,protocol,seed,faults.random_partitions.rate_per_s,two_pc.vote_timeout_ms,digest,"
    ));
    for key in ["violations.atomicity", "availability", "latency_cdf_ms.p50"] {
        assert!(lines[0].split(',').any(|c| c == key), "{key} not in header");
    }
    assert!(lines[1].starts_with("0,0,2pc,2pc,1,0,50,"), "{}", lines[1]);
    assert!(
        lines[24].starts_with("23,3,2pc abort,2pc,3,10,200,"),
        "{}",
        lines[24]
    );
    // The same run by hand gives the same digest as its row.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.join("summary.json")).expect("json"))
            .expect("summary.json parses");
    assert_eq!(summary["groups"].as_array().map(Vec::len), Some(8));
    assert_eq!(summary["groups"][0]["metrics"]["availability"]["n"], 3);
}

#[test]
fn stopping_midway_or_a_torn_journal_line_resumes_to_identical_files() {
    let t = TempDir::new("sweep-resume");
    let file = t.write("t.ron", SWEEP);
    let full = reference(&t, &file);

    // Stopped after 7 runs, then resumed.
    let out = t.path("stopped");
    let o = sweep(&file, &out, &["--jobs", "2", "--stop-after", "7"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("continue with: acidbase sweep ") && stdout(&o).contains(" --resume"),
        "{}",
        stdout(&o)
    );
    assert!(
        !out.join("runs.csv").exists(),
        "no final file before the end"
    );
    // Without --resume the journal is not overwritten.
    let o = sweep(&file, &out, &[]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let o = sweep(&file, &out, &["--jobs", "2", "--resume"]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains("7 resumed from the journal, 17 run now"),
        "{}",
        stdout(&o)
    );
    assert_same_outputs(&full, &out);

    // A machine lost mid-write: the journal ends in half a line.
    let torn = t.path("torn");
    std::fs::create_dir_all(&torn).expect("mkdir");
    let journal = std::fs::read_to_string(full.join("journal.jsonl")).expect("journal");
    let cut: usize = journal.lines().take(6).map(|l| l.len() + 1).sum::<usize>() + 20;
    std::fs::write(torn.join("journal.jsonl"), &journal[..cut]).expect("write");
    let o = sweep(&file, &torn, &["--resume"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("5 resumed"), "{}", stdout(&o));
    assert_same_outputs(&full, &torn);
}

/// Killed (SIGKILL, no chance to flush anything) mid-sweep at --jobs 1 and 2, then
/// resumed at the other: the directory is byte for byte an uninterrupted sweep's.
/// The journal's lines are written by the workers as runs finish and synced by
/// another thread every 100 ms; a killed process loses none that were written.
#[test]
fn a_killed_sweep_resumes_to_identical_files() {
    let t = TempDir::new("sweep-kill");
    // 160 runs, so the kill lands mid-sweep.
    let file = t.write("t.ron", &SWEEP.replace("seeds: 3,", "seeds: 20,"));
    let full = reference(&t, &file);
    for (jobs, resume_jobs) in [("1", "2"), ("2", "1")] {
        let out = t.path(&format!("killed-{jobs}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_acidbase"))
            .args([
                "sweep",
                path_str(&file),
                "--out",
                path_str(&out),
                "--quiet",
                "--jobs",
                jobs,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        // Kill it once a few runs are journalled (or when it is done, whichever first).
        for _ in 0..5000 {
            let lines =
                std::fs::read_to_string(out.join("journal.jsonl")).map_or(0, |j| j.lines().count());
            if lines >= 4 || child.try_wait().ok().flatten().is_some() {
                break;
            }
            #[allow(clippy::disallowed_methods)] // polls a child process, outside any run
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = child.kill();
        let _ = child.wait();
        let killed_midway = !out.join("runs.csv").exists();
        let o = sweep(&file, &out, &["--resume", "--jobs", resume_jobs]);
        assert_exit(&o, 0);
        if killed_midway {
            assert!(
                !stdout(&o).contains(", 0 run now"),
                "--jobs {jobs}: {}",
                stdout(&o)
            );
        }
        assert_same_outputs(&full, &out);
    }
}

#[test]
fn shards_merged_equal_the_whole_sweep() {
    let t = TempDir::new("sweep-shards");
    let file = t.write("t.ron", SWEEP);
    let full = reference(&t, &file);
    let mut dirs = Vec::new();
    for i in 0..3 {
        let d = t.path(&format!("shard{i}"));
        let o = sweep(&file, &d, &["--shard", &format!("{i}/3")]);
        assert_exit(&o, 0);
        assert!(
            stdout(&o).contains("8 runs in this shard (of 24)"),
            "{}",
            stdout(&o)
        );
        dirs.push(d);
    }
    // A merge with a shard missing refuses, naming the gap.
    let merged = t.path("merged");
    let o = acidbase(&[
        "merge",
        path_str(&dirs[0]),
        path_str(&dirs[2]),
        "--out",
        path_str(&merged),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("8 of 24 runs are missing"),
        "{}",
        stderr(&o)
    );
    let o = acidbase(&[
        "merge",
        path_str(&dirs[2]),
        path_str(&dirs[0]),
        path_str(&dirs[1]),
        "--out",
        path_str(&merged),
    ]);
    assert_exit(&o, 0);
    assert_same_outputs(&full, &merged);
    // The index can come from a Kubernetes Indexed Job's environment.
    let k = t.path("k8s");
    let o = Command::new(env!("CARGO_BIN_EXE_acidbase"))
        .args([
            "sweep",
            path_str(&file),
            "--out",
            path_str(&k),
            "--quiet",
            "--shards",
            "3",
        ])
        .env("JOB_COMPLETION_INDEX", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    assert_exit(&o, 0);
    assert_eq!(
        std::fs::read(k.join("journal.jsonl")).expect("journal"),
        std::fs::read(dirs[1].join("journal.jsonl")).expect("journal")
    );
}

/// FNV-1a of every SVG chart of [`SWEEP`], as drawn before PNG text was taken over
/// from plotters (issue 14): the SVG path must not move. A deliberate change to the
/// charts updates these.
const SVG_DIGESTS: [(&str, u64); 5] = [
    ("bars-per_commit.messages.svg", 0x3de0_836f_4d2e_9834),
    ("cdf-latency.svg", 0xc8bb_c5d3_b809_4f82),
    (
        "heatmap-locks.lock_ms_total-rate_per_s-vote_timeout_ms.svg",
        0xd5e4_d1bd_4e4c_8654,
    ),
    (
        "line-violations.atomicity-vs-rate_per_s.svg",
        0xd823_45e3_6aef_baec,
    ),
    (
        "scatter-violations.atomicity-vs-availability.svg",
        0xa611_8850_24c8_a933,
    ),
];

#[test]
fn svg_charts_are_unchanged() {
    let t = TempDir::new("sweep-svg-golden");
    let file = t.write("t.ron", SWEEP);
    let out = reference(&t, &file);
    let drawn: Vec<String> = chart_files(&out)
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    let pinned: Vec<&str> = SVG_DIGESTS.iter().map(|(n, _)| *n).collect();
    assert_eq!(drawn, pinned);
    for (name, digest) in SVG_DIGESTS {
        let bytes = std::fs::read(out.join(name)).expect("svg");
        assert_eq!(
            acidbase::rng::fnv1a(&bytes),
            digest,
            "{name} changed (0x{:016x})",
            acidbase::rng::fnv1a(&bytes)
        );
    }
}

#[test]
fn every_chart_kind_is_well_formed_in_svg_and_png() {
    let t = TempDir::new("sweep-charts");
    let file = t.write("t.ron", SWEEP);
    let out = reference(&t, &file);
    for svg in chart_files(&out) {
        let text = std::fs::read_to_string(&svg).expect("svg is text");
        assert!(text.starts_with("<svg"), "{}", svg.display());
        assert!(text.trim_end().ends_with("</svg>"), "{}", svg.display());
        assert!(text.contains("<text"), "{} has no text", svg.display());
        assert!(
            text.contains("<rect") || text.contains("<polyline") || text.contains("<path"),
            "{} draws nothing",
            svg.display()
        );
        assert_eq!(text.matches("<svg").count(), 1);
    }
    let line = std::fs::read_to_string(out.join("line-violations.atomicity-vs-rate_per_s.svg"))
        .expect("line chart");
    assert!(line.contains("Line title") && line.contains("2pc abort"));
    let png_dir = t.path("png");
    let o = acidbase(&[
        "chart",
        path_str(&out),
        "--format",
        "png",
        "--out",
        path_str(&png_dir),
    ]);
    assert_exit(&o, 0);
    let pngs = chart_files(&png_dir);
    assert_eq!(pngs.len(), 5);
    for p in pngs {
        let b = std::fs::read(&p).expect("png");
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
        assert_eq!(&b[12..16], b"IHDR");
        let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
        let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        assert_eq!((w, h), (1200, 750), "{}", p.display());
    }
    // One chart from flags, from a runs.csv alone (no plan.json beside it).
    let lone = t.path("lone");
    std::fs::create_dir_all(&lone).expect("mkdir");
    std::fs::copy(out.join("runs.csv"), lone.join("runs.csv")).expect("copy");
    let target = t.path("one.svg");
    let o = acidbase(&[
        "chart",
        path_str(&lone.join("runs.csv")),
        "--kind",
        "line",
        "--metric",
        "locks.lock_ms_total",
        "--x",
        "two_pc.vote_timeout_ms",
        "--out",
        path_str(&target),
    ]);
    assert_exit(&o, 0);
    let svg = std::fs::read_to_string(&target).expect("chart written");
    assert!(
        svg.contains("blocked lock time"),
        "the y label names the metric"
    );
    // The extension of --out picks the format.
    let cdf = t.path("cdf.png");
    let o = acidbase(&[
        "chart",
        path_str(&out),
        "--kind",
        "cdf",
        "--out",
        path_str(&cdf),
    ]);
    assert_exit(&o, 0);
    assert_eq!(&std::fs::read(&cdf).expect("png")[..4], b"\x89PNG");
    let o = acidbase(&[
        "chart",
        path_str(&out),
        "--kind",
        "line",
        "--metric",
        "nope",
        "--x",
        "rms",
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("unknown metric \"nope\""),
        "{}",
        stderr(&o)
    );
}

fn bad(name: &str, text: &str) -> String {
    let t = TempDir::new(&format!("sweep-bad-{name}"));
    let file = t.write("bad.ron", text);
    let o = sweep(&file, &t.path("out"), &[]);
    assert_exit(&o, 2);
    assert!(
        !t.path("out").join("journal.jsonl").exists(),
        "nothing runs"
    );
    stderr(&o)
}

/// A key written twice is refused with its position (before: the last one won, so
/// `set: {"protocol": "3pc", "protocol": "2pc"}` silently ran 2PC).
#[test]
fn a_duplicate_key_in_a_sweep_map_is_refused() {
    let e = bad(
        "dupset",
        "(\n  scenario: (),\n  set: {\"protocol\": \"3pc\",\n    \"protocol\": \"2pc\"},\n  seeds: 1,\n)",
    );
    assert!(
        e.contains("bad.ron:4:") && e.contains("duplicate key \"protocol\""),
        "{e}"
    );
}

#[test]
fn bad_sweep_files_get_clear_located_errors() {
    let e = bad(
        "path",
        "(\n  scenario: (),\n  axes: [(path: \"two_pc.vote_timeout\", values: [1])],\n  seeds: 2,\n)",
    );
    assert!(e.contains("bad.ron:3:"), "{e}");
    assert!(
        e.contains("unknown field \"vote_timeout\" in two_pc"),
        "{e}"
    );
    assert!(e.contains("vote_timeout_ms"), "lists the fields: {e}");
    let e = bad(
        "empty",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [])],\n  seeds: 2,\n)",
    );
    assert!(
        e.contains("bad.ron:3:") && e.contains("values is empty"),
        "{e}"
    );
    let e = bad("seeds", "(\n  scenario: (),\n  seeds: 0,\n)");
    assert!(e.contains("bad.ron:3:3: seeds = 0"), "{e}");
    let e = bad(
        "type",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [\"three\"])],\n  seeds: 1,\n)",
    );
    assert!(e.contains("rms takes a number, not three"), "{e}");
    let e = bad(
        "invalid",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [0])],\n  seeds: 1,\n)",
    );
    assert!(
        e.contains("at rms = 0, the scenario is invalid: rms = 0"),
        "{e}"
    );
    let e = bad("field", "(\n  scenario: (),\n  sedes: 1,\n)");
    assert!(e.contains("bad.ron:3:") && e.contains("sedes"), "{e}");
    let e = bad(
        "inline",
        "(\n  scenario: (\n    rmz: 3,\n  ),\n  seeds: 1,\n)",
    );
    assert!(e.contains("bad.ron:3:") && e.contains("rmz"), "{e}");
    let e = bad(
        "protocol",
        "(\n  scenario: (),\n  axes: [(path: \"protocol\", values: [\"2pc\", \"zab\"])],\n  seeds: 1,\n)",
    );
    assert!(e.contains("\"zab\" is not built into this acidbase"), "{e}");
    assert!(e.contains("--skip-unknown-protocols"), "{e}");
    let e = bad(
        "chart",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [2])],\n  seeds: 1,\n  charts: [Line(metric: \"availability\", x: \"rmz\")],\n)",
    );
    assert!(e.contains("\"rmz\" is not an axis of this sweep"), "{e}");
    let e = bad(
        "series",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [2, 3])],\n  seeds: 1,\n  charts: [Line(metric: \"availability\", x: \"rms\", series: [\"3pc\"])],\n)",
    );
    assert!(
        e.contains("series \"3pc\" is not a series of this sweep; its series are: 2pc"),
        "{e}"
    );
    let e = bad(
        "at",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [2, 3]), (path: \"two_pc.vote_timeout_ms\", values: [50])],\n  seeds: 1,\n  charts: [Line(metric: \"availability\", x: \"rms\", at: {\"two_pc.vote_timeout_ms\": 70})],\n)",
    );
    assert!(
        e.contains(
            "at \"two_pc.vote_timeout_ms\" = 70: not a value of that axis; its values are: 50"
        ),
        "{e}"
    );
    let e = bad(
        "also",
        "(\n  scenario: (),\n  axes: [(path: \"two_pc.vote_timeout_ms\", values: [50], also: [\"three_pc.vote_timeout\"])],\n  seeds: 1,\n)",
    );
    assert!(
        e.contains("bad.ron:3:") && e.contains("also \"three_pc.vote_timeout\": unknown field"),
        "{e}"
    );
}

/// An axis with `also` sets every named field; `series` and `at` draw a slice.
#[test]
fn an_axis_sets_its_also_fields_and_a_chart_draws_a_slice() {
    let t = TempDir::new("sweep-also-slice");
    let file = t.write(
        "s.ron",
        r#"(
    scenario: (rms: 3, duration_ms: 100, drain_ms: 200,
               workload: Transfer(accounts_per_shard: 10, fan_out: 1)),
    axes: [
        (path: "saga.scan_interval_ms", values: [20, 40], also: ["messaging.retry_ms"]),
        (path: "network.reorder_delay_ms", values: [0, 5]),
    ],
    variants: [(name: "saga", set: {"protocol": "saga"}), (name: "messaging", set: {"protocol": "messaging"})],
    seeds: 1,
    charts: [Line(metric: "availability", x: "saga.scan_interval_ms", series: ["messaging"],
                  at: {"network.reorder_delay_ms": 5}, file: "slice")],
)"#,
    );
    let mut warnings = Vec::new();
    let plan = acidbase::tools::sweep::spec::load(&file, Default::default(), &mut warnings)
        .unwrap_or_else(|e| panic!("{e}"));
    for (i, s) in plan.scenarios.iter().enumerate() {
        assert_eq!(
            s.scenario.saga.scan_interval_ms, s.scenario.messaging.retry_ms,
            "scenario {i}"
        );
    }
    assert_eq!(plan.scenarios[0].scenario.messaging.retry_ms, 20.0);
    assert_eq!(
        plan.scenarios
            .last()
            .expect("points")
            .scenario
            .messaging
            .retry_ms,
        40.0
    );
    let out = t.path("out");
    assert_exit(&sweep(&file, &out, &[]), 0);
    let svg = std::fs::read_to_string(out.join("slice.svg")).expect("the sliced chart");
    // One curve (messaging at reorder 5): its legend entry, no saga, no other curve.
    assert!(svg.contains("\nmessaging\n</text>"), "{svg}");
    assert!(
        !svg.contains("\nsaga\n</text>") && !svg.contains("reorder"),
        "{svg}"
    );
}

#[test]
fn a_protocol_axis_gives_the_series_and_a_base_file_is_read_relative_to_the_sweep() {
    let t = TempDir::new("sweep-protocol-axis");
    std::fs::create_dir_all(t.path("sweeps")).expect("mkdir");
    let happy = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/2pc-happy.ron"),
    )
    .expect("2pc-happy.ron");
    t.write("happy.ron", &happy);
    let file = t.write(
        "sweeps/p.ron",
        r#"(
    base: "../happy.ron",
    set: {"duration_ms": 100},
    axes: [
        (path: "protocol", values: ["2pc"]),
        (path: "rms", values: [2, 4]),
    ],
    seeds: 2,
    charts: [Bars(metric: "per_commit.messages", x: "rms")],
)"#,
    );
    let out = t.path("out");
    let o = sweep(&file, &out, &[]);
    assert_exit(&o, 0);
    let csv = std::fs::read_to_string(out.join("runs.csv")).expect("runs.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines[0].starts_with("run,point,series,protocol,seed,rms,digest,"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("0,0,2pc,2pc,1,2,"), "{}", lines[1]);
    assert!(lines[4].starts_with("3,1,2pc,2pc,2,4,"), "{}", lines[4]);
    // The happy path's golden number: a distributed commit takes 4 message delays,
    // in every run, so the summary has no spread.
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    let row = |prefix: &str| -> Vec<String> {
        summary
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no row {prefix} in {summary}"))
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let delays = row("1,2pc,2pc,4,per_commit.message_delays,");
    assert_eq!(delays[5..16].join(","), "2,4,0,4,4,4,4,4,4,4,t");
    // Messages per commit vary by seed: the summary agrees with the two runs' values.
    let col = lines[0]
        .split(',')
        .position(|c| c == "per_commit.messages")
        .expect("column");
    let v: Vec<f64> = lines[3..5]
        .iter()
        .map(|l| {
            l.split(',')
                .nth(col)
                .and_then(|x| x.parse().ok())
                .expect("number")
        })
        .collect();
    let m = row("1,2pc,2pc,4,per_commit.messages,");
    let num = |i: usize| m[i].parse::<f64>().expect("number");
    let mean = (v[0] + v[1]) / 2.0;
    let sd = (v[0] - v[1]).abs() / 2f64.sqrt();
    assert!(
        (num(6) - mean).abs() < 1e-12 && (num(7) - sd).abs() < 1e-12,
        "{m:?}"
    );
    // t(0.975, 1) = 12.706: the interval of a mean of two runs is wide.
    let half = 12.706_204_736 * sd / 2f64.sqrt();
    assert!((num(13) - (mean - half)).abs() < 1e-9, "{m:?}");
    assert!(out.join("bars-per_commit.messages.svg").exists());
    // --force starts over and leaves no final file of the old sweep behind.
    let o = sweep(&file, &out, &["--force", "--stop-after", "1"]);
    assert_exit(&o, 0);
    assert!(!out.join("runs.csv").exists() && !out.join("summary.csv").exists());
}

#[test]
fn every_shipped_sweep_is_valid_on_this_build() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps");
    let mut n = 0;
    let mut protocols: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("scenarios/sweeps exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "ron") {
            continue;
        }
        n += 1;
        // Loading expands and validates every (point, series) as a scenario and
        // checks every chart against the sweep's axes, metrics and series; every
        // protocol a shipped sweep names is built in, none is skipped.
        let mut warnings = Vec::new();
        let plan = acidbase::tools::sweep::spec::load(
            &path,
            acidbase::tools::sweep::ReadOptions {
                skip_unknown_protocols: false,
                ..Default::default()
            },
            &mut warnings,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
        assert!(plan.info.runs() > 0 && !plan.info.charts.is_empty());
        assert_eq!(
            plan.scenarios.len(),
            plan.info.points.len() * plan.info.series.len(),
            "{}: a validated scenario for every point of every series",
            path.display()
        );
        for (i, s) in plan.scenarios.iter().enumerate() {
            assert_eq!(
                s.scenario.protocol,
                plan.info.protocols[i],
                "{}",
                path.display()
            );
            let text = acidbase::tools::sweep::spec::to_ron(&s.scenario)
                .expect("a scenario writes as RON");
            acidbase::run::parse(&text, "point").unwrap_or_else(|e| {
                panic!("{}: point {i} is invalid: {}", path.display(), e.message)
            });
        }
        protocols.extend(plan.info.protocols.iter().cloned());
        // Keep `book/figures.sh` quick: every shipped sweep stays small.
        assert!(
            plan.info.runs() <= 3000,
            "{}: {} runs",
            path.display(),
            plan.info.runs()
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("//"),
            "{} opens with what it teaches",
            path.display()
        );
    }
    assert_eq!(
        n, 10,
        "the seven sweeps of issue 5, the cache's, the local caches' and the ids'"
    );
    for p in acidbase::protocols::builtin::NAMES {
        assert!(
            protocols.iter().any(|q| q == p),
            "no shipped sweep runs protocol {p:?}"
        );
    }
}

/// Replaces line `n` (1-based) of a file.
fn edit_line(path: &Path, n: usize, f: impl Fn(&str) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[n - 1] = f(&lines[n - 1]);
    std::fs::write(path, lines.join("\n") + "\n").expect("write");
}

/// A complete journal line of the wrong shape (an extra field, a value that is not
/// a number, one value too many) was accepted by --resume and merge, which then
/// wrote a runs.csv that chart refused. Now each is refused with the file, the line
/// and what is wrong, and nothing is run or written.
#[test]
fn a_journal_line_of_the_wrong_shape_is_refused_by_resume_and_merge() {
    let t = TempDir::new("sweep-journal-shape");
    let file = t.write("t.ron", SWEEP);
    let set = |key: &str, v: serde_json::Value| {
        let key = key.to_string();
        move |l: &str| {
            let mut j: serde_json::Value = serde_json::from_str(l).expect("a journal line");
            match key.as_str() {
                "m0" => j["m"][0] = v.clone(),
                "m+" => j["m"].as_array_mut().expect("m").push(v.clone()),
                k => j[k] = v.clone(),
            }
            j.to_string()
        }
    };
    for (name, edit, want) in [
        ("extra", set("extra", 1.into()), "unknown field `extra`"),
        (
            "nan",
            set("m0", "NaN".into()),
            "\"NaN\" is not a finite number",
        ),
        ("abc", set("m0", "abc".into()), "\"abc\" is not a number"),
        ("comma", set("m0", "1,5".into()), "\"1,5\" is not a number"),
        ("more", set("m+", "1".into()), "metric values, expected"),
        (
            "digest",
            set("digest", "x".into()),
            "digest \"x\" is not 16 hex digits",
        ),
    ] {
        let out = t.path(name);
        assert_exit(
            &sweep(&file, &out, &["--stop-after", "5", "--jobs", "1"]),
            0,
        );
        let j = out.join("journal.jsonl");
        edit_line(&j, 3, edit);
        let o = sweep(&file, &out, &["--resume"]);
        assert_exit(&o, 2);
        let e = stderr(&o);
        assert!(
            e.contains("journal.jsonl: line 3 is damaged") && e.contains(want),
            "{name}: {e}"
        );
        assert!(e.contains("delete that line"), "says how to go on: {e}");
        assert!(!out.join("runs.csv").exists());
    }
    // merge reads every shard's journal the same way.
    let mut dirs = Vec::new();
    for i in 0..2 {
        let d = t.path(&format!("shard{i}"));
        assert_exit(&sweep(&file, &d, &["--shard", &format!("{i}/2")]), 0);
        dirs.push(d);
    }
    edit_line(&dirs[1].join("journal.jsonl"), 4, |l| {
        l.replacen("]}", "],\"note\":\"x\"}", 1)
    });
    let merged = t.path("merged");
    let o = acidbase(&[
        "merge",
        path_str(&dirs[0]),
        path_str(&dirs[1]),
        "--out",
        path_str(&merged),
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("shard1/journal.jsonl: line 4 is damaged")
            && stderr(&o).contains("unknown field `note`"),
        "{}",
        stderr(&o)
    );
    assert!(!merged.join("runs.csv").exists());
}

/// A sweep of absurd size was accepted and kept every row in memory to the end;
/// now more than --max-runs (1,000,000 by default) is refused with the size, before
/// anything runs, and the flag raises the limit.
#[test]
fn an_absurd_sweep_is_refused_with_its_size() {
    let t = TempDir::new("sweep-size");
    let big = SWEEP.replace("seeds: 3,", "seeds: 1000000,");
    let e = bad("size", &big);
    assert!(
        e.contains(
            "8000000 runs (4 points × 2 series × 1000000 seeds) is more than --max-runs 1000000"
        ) && e.contains("--max-runs 8000000"),
        "{e}"
    );
    // Refused before a scenario is built for each of its million points.
    let values = |n: usize| {
        (0..n)
            .map(|i| (10 + i).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wide = format!(
        "(\n  scenario: (),\n  axes: [(path: \"two_pc.vote_timeout_ms\", values: [{}]),\n         (path: \"two_pc.rm_timeout_ms\", values: [{}])],\n  seeds: 2,\n)",
        values(1000),
        values(1000)
    );
    let e = bad("wide", &wide);
    assert!(
        e.contains("2000000 runs (1000000 points × 1 series × 2 seeds)"),
        "{e}"
    );
    let file = t.write("t.ron", SWEEP);
    // A plan.json describing more runs than chart and merge handle is refused.
    let out = reference(&t, &file);
    let pj = out.join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pj).expect("plan")).expect("json");
    plan["seeds"] = (0..200_000u64).collect::<Vec<_>>().into();
    plan["points"] = vec![serde_json::json!([0, 0]); 60_000].into();
    plan["protocols"] = vec![serde_json::json!("2pc"); 120_000].into();
    std::fs::write(&pj, plan.to_string()).expect("write");
    let o = chart(&[path_str(&out)]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("plan.json: the plan has more than 10000000000 runs"),
        "{}",
        stderr(&o)
    );
    let o = sweep(&file, &t.path("small"), &["--max-runs", "23"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("24 runs"), "{}", stderr(&o));
    let o = sweep(
        &file,
        &t.path("small"),
        &["--max-runs", "24", "--jobs", "2"],
    );
    assert_exit(&o, 0);
    // Runs are journalled in run order whatever the jobs (what lets the final files
    // be streamed from the journal in bounded memory).
    let j = std::fs::read_to_string(t.path("small").join("journal.jsonl")).expect("journal");
    let o2 = sweep(
        &file,
        &t.path("again"),
        &["--jobs", "2", "--stop-after", "9"],
    );
    assert_exit(&o2, 0);
    let part = std::fs::read_to_string(t.path("again").join("journal.jsonl")).expect("journal");
    assert!(j.starts_with(&part), "the first 9 runs, in order");
}

fn chart(args: &[&str]) -> Output {
    let mut a = vec!["chart"];
    a.extend_from_slice(args);
    acidbase(&a)
}

/// runs.csv and plan.json that disagree made chart say "the sweep asked for no
/// charts"; now it says what disagrees. Values that are not finite numbers in a
/// metric column were drawn silently; now refused with file:line and the column.
#[test]
fn chart_says_what_is_wrong_with_runs_csv() {
    let t = TempDir::new("sweep-chart-input");
    let file = t.write("t.ron", SWEEP);
    let good = reference(&t, &file);
    let copy = |name: &str| {
        let d = t.path(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        for f in ["runs.csv", "plan.json"] {
            std::fs::copy(good.join(f), d.join(f)).expect("copy");
        }
        d
    };
    // A row missing.
    let d = copy("missing-row");
    let csv = d.join("runs.csv");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&csv, lines[..24].join("\n") + "\n").expect("write");
    let o = chart(&[path_str(&d)]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o)
            .contains("23 rows, but the plan.json beside it describes 24 runs (run 23 is missing)"),
        "{}",
        stderr(&o)
    );
    // A column missing.
    let d = copy("missing-column");
    let csv = d.join("runs.csv");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let cut: String = text
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(9);
            f.join(",") + "\n"
        })
        .collect();
    std::fs::write(&csv, cut).expect("write");
    let o = chart(&[path_str(&d)]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("runs.csv:")
            && stderr(&o)
                .contains("the columns disagree with the plan.json beside it (runs.csv lacks "),
        "{}",
        stderr(&o)
    );
    // Without plan.json the missing column is just a narrower runs.csv; a chart of
    // it still works, and asking for the sweep's charts says why it cannot.
    std::fs::remove_file(d.join("plan.json")).expect("rm");
    let o = chart(&[path_str(&d)]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("there is no plan.json beside runs.csv"),
        "{}",
        stderr(&o)
    );
    // A row of another seed than the plan says.
    let d = copy("seed");
    edit_line(&d.join("runs.csv"), 3, |l| {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        f[4] = "9".into();
        f.join(",")
    });
    let o = chart(&[path_str(&d)]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains(
            "runs.csv: line 3: run 1 has seed = \"9\", but the plan.json beside it says \"2\""
        ),
        "{}",
        stderr(&o)
    );
    // NaN, inf and abc in a metric column.
    let header: Vec<String> = std::fs::read_to_string(good.join("runs.csv"))
        .expect("csv")
        .lines()
        .next()
        .expect("header")
        .split(',')
        .map(str::to_string)
        .collect();
    let col = header
        .iter()
        .position(|h| h == "availability")
        .expect("column");
    for (i, v) in ["NaN", "inf", "abc"].iter().enumerate() {
        let d = copy(&format!("value{i}"));
        edit_line(&d.join("runs.csv"), 5, |l| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            f[col] = v.to_string();
            f.join(",")
        });
        for target in [d.clone(), d.join("runs.csv")] {
            let o = chart(&[
                path_str(&target),
                "--kind",
                "line",
                "--metric",
                "availability",
                "--x",
                "rms",
            ]);
            assert_exit(&o, 2);
            assert!(
                stderr(&o).contains("runs.csv: line 5: column availability: ")
                    && stderr(&o).contains(&format!("{v:?}")),
                "{v}: {}",
                stderr(&o)
            );
        }
    }
}

/// `chart --out y.jpg` wrote an SVG named .jpg; an extension that names no format
/// acidbase writes is refused, and .svg / .png pick the format.
#[test]
fn chart_out_extension_picks_the_format_or_is_refused() {
    let t = TempDir::new("sweep-chart-ext");
    let file = t.write("t.ron", SWEEP);
    let out = reference(&t, &file);
    let args = |o: &str| {
        vec![
            "chart".to_string(),
            path_str(&out).to_string(),
            "--kind".into(),
            "bars".into(),
            "--metric".into(),
            "availability".into(),
            "--out".into(),
            o.to_string(),
        ]
    };
    let run = |o: &str| {
        let a = args(o);
        acidbase(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    for bad in ["y.jpg", "y"] {
        let p = t.path(bad);
        let o = run(path_str(&p));
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(".svg or .png"), "{}", stderr(&o));
        assert!(!p.exists(), "nothing written as {bad}");
    }
    let png = t.path("y.PNG");
    assert_exit(&run(path_str(&png)), 0);
    assert!(std::fs::read(&png).expect("png").starts_with(b"\x89PNG"));
    let svg = t.path("y.svg");
    assert_exit(&run(path_str(&svg)), 0);
    assert!(std::fs::read_to_string(&svg)
        .expect("svg")
        .starts_with("<svg"));
}

/// A number like 1e-308 (an axis value, a metric) was written as some 310 digits
/// in runs.csv, plan.json and on the charts; now in a bounded, readable form.
#[test]
fn tiny_and_huge_numbers_are_written_briefly() {
    let t = TempDir::new("sweep-tiny");
    let file = t.write(
        "t.ron",
        r#"(
    scenario: (rms: 2, duration_ms: 60, drain_ms: 100,
               workload: Transfer(accounts_per_shard: 4, fan_out: 1)),
    axes: [(path: "network.loss_probability", values: [0, 1e-308, 0.25])],
    seeds: 2,
    charts: [Line(metric: "availability", x: "network.loss_probability"),
             Bars(metric: "availability", x: "network.loss_probability")],
)"#,
    );
    let out = t.path("out");
    assert_exit(&sweep(&file, &out, &[]), 0);
    for f in ["runs.csv", "plan.json", "summary.csv", "summary.json"] {
        let text = std::fs::read_to_string(out.join(f)).expect("file");
        assert!(text.contains("1e-308"), "{f}");
        assert!(!text.contains("0.00000000000000000000"), "{f}: long digits");
    }
    for f in chart_files(&out) {
        let text = std::fs::read_to_string(&f).expect("svg");
        assert!(!text.contains("0.00000000000000000000"), "{}", f.display());
    }
}

/// Other bad input found by hand: NaN/inf values were reported as "null", an empty
/// chart file name wrote a hidden ".svg", a file given as --out got "File exists",
/// a runs.csv with a header and no rows drew an empty chart, and runs cut short by
/// max_events were averaged without a word.
#[test]
fn more_bad_input_is_refused_or_warned_about() {
    let e = bad(
        "nan",
        "(\n  scenario: (),\n  axes: [(path: \"two_pc.vote_timeout_ms\", values: [50, NaN])],\n  seeds: 1,\n)",
    );
    assert!(
        e.contains("bad.ron:3:") && e.contains("NaN is not a finite number"),
        "{e}"
    );
    let e = bad(
        "inf",
        "(\n  scenario: (),\n  variants: [(name: \"v\", set: {\"two_pc.vote_timeout_ms\": inf})],\n  seeds: 1,\n)",
    );
    assert!(e.contains("inf is not a finite number"), "{e}");
    let e = bad(
        "file",
        "(\n  scenario: (),\n  axes: [(path: \"rms\", values: [2])],\n  seeds: 1,\n  charts: [Line(metric: \"availability\", x: \"rms\", file: \"\")],\n)",
    );
    assert!(e.contains("file \"\": give a file name"), "{e}");
    let t = TempDir::new("sweep-more-bad");
    let file = t.write("t.ron", SWEEP);
    let not_dir = t.write("plain-file", "x");
    let o = sweep(&file, &not_dir, &[]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("exists and is not a directory"),
        "{}",
        stderr(&o)
    );
    let out = reference(&t, &file);
    let d = t.path("header-only");
    std::fs::create_dir_all(&d).expect("mkdir");
    let csv = std::fs::read_to_string(out.join("runs.csv")).expect("csv");
    std::fs::write(
        d.join("runs.csv"),
        csv.lines().next().expect("header").to_string() + "\n",
    )
    .expect("write");
    let o = chart(&[path_str(&d.join("runs.csv")), "--kind", "cdf"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("no rows after the header"),
        "{}",
        stderr(&o)
    );
    let cut = t.write(
        "cut.ron",
        &SWEEP.replace("rms: 3,", "rms: 3, max_events: 50,"),
    );
    let o = sweep(&cut, &t.path("cut"), &[]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains("of the runs were cut short by max_events")
            && stderr(&o).contains("more than max_events = 50"),
        "{}",
        stderr(&o)
    );
}
