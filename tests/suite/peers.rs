//! The peers of benches/ (benches/README.md) run the workload `acidbase bench` runs:
//! the same transactions and deliveries for the same flags, and simulated end times
//! that agree with the analysis. The heap loop is built here (a small crate, into the
//! target directory's `peers/`); the stateright crate never is (too slow to build for
//! a test), and the whole of benches/performance.sh --quick is an ignored test.

use crate::common::{acidbase, stdout, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory this test was built in.
fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/suite-<hash>
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// benches/heap-loop, built once (release) into `<target>/peers`, as
/// benches/performance.sh builds it.
fn heap_loop() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let peers = target_dir().join("peers");
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--offline",
                "--quiet",
                "--manifest-path",
            ])
            .arg(repo().join("benches/heap-loop/Cargo.toml"))
            .arg("--target-dir")
            .arg(&peers)
            .output()
            .expect("cargo should start");
        assert!(
            out.status.success(),
            "benches/heap-loop should build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        peers.join("release/heap-loop")
    })
}

/// The value of the line `name: value ...` in a bench's output.
fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} line in\n{out}"))
        .to_string()
}

fn flags(n: u32, t: u64, c: u32) -> Vec<String> {
    [
        "--rms",
        &n.to_string(),
        "--txns",
        &t.to_string(),
        "--concurrency",
        &c.to_string(),
        "--seed",
        "7",
    ]
    .map(String::from)
    .to_vec()
}

fn run_heap(n: u32, t: u64, c: u32) -> String {
    let out = Command::new(heap_loop())
        .args(flags(n, t, c))
        .output()
        .expect("heap-loop should start");
    assert!(out.status.success(), "heap-loop {n} {t} {c} failed");
    stdout(&out)
}

fn run_acidbase(n: u32, t: u64, c: u32) -> String {
    let mut args = vec!["bench".to_string()];
    args.extend(flags(n, t, c));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = acidbase(&args);
    assert!(out.status.success(), "acidbase bench {n} {t} {c} failed");
    stdout(&out)
}

#[test]
fn heap_loop_and_acidbase_bench_count_the_same_transactions_and_deliveries() {
    for (n, t, c) in [
        (2, 1, 1),
        (4, 500, 1),
        (3, 200, 7),
        (5, 300, 64),
        (4, 10, 100),
    ] {
        let (h, a) = (run_heap(n, t, c), run_acidbase(n, t, c));
        for name in ["transactions_completed", "deliveries"] {
            assert_eq!(
                field(&h, name),
                field(&a, name),
                "{name} at N={n} T={t} C={c}"
            );
        }
        assert_eq!(field(&h, "transactions_completed"), t.to_string());
        assert_eq!(
            field(&h, "deliveries"),
            format!(
                "{} (expected {})",
                4 * u64::from(n) * t,
                4 * u64::from(n) * t
            )
        );
        assert!(h.starts_with(&format!(
            "bench-2pc impl=heap-loop rms={n} txns={t} concurrency={c} seed=7\n"
        )));
        // The same lines, in the same order, as `acidbase bench`.
        let names = |s: &str| -> Vec<String> {
            s.lines()
                .skip(1)
                .map(|l| l.split(':').next().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(names(&h), names(&a));
    }
}

#[test]
fn heap_loop_and_acidbase_end_where_the_analysis_says() {
    // At N = 4 a transaction takes 29.6366 ms on average (σ ≈ 3.4 ms), so 2,000 in a
    // row end at 59,273 ms with σ ≈ 152 ms: 1.5 % is about six σ.
    let expected = 2_000.0 * 29.6366;
    for out in [run_heap(4, 2_000, 1), run_acidbase(4, 2_000, 1)] {
        let end: f64 = field(&out, "sim_end_ms").parse().expect("a number");
        assert!(
            (end - expected).abs() / expected < 0.015,
            "sim_end_ms {end} vs {expected}"
        );
    }
    // Deterministic: the same flags give the same end time.
    assert_eq!(
        field(&run_heap(4, 300, 8), "sim_end_ms"),
        field(&run_heap(4, 300, 8), "sim_end_ms")
    );
}

#[test]
fn heap_loop_rejects_bad_flags() {
    for args in [
        &["--rms", "0"][..],
        &["--txns", "x"],
        &["--concurrency"],
        &["--bogus", "1"],
    ] {
        let out = Command::new(heap_loop())
            .args(args)
            .output()
            .expect("heap-loop should start");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("heap-loop: "));
    }
}

/// The one command of the performance page, in its quick form (needs python3 with
/// simpy and valgrind for every section; builds stateright-2pc only without
/// `--no-stateright`, so not here).
#[test]
#[ignore = "long: runs benches/performance.sh --quick (builds, valgrind, SimPy)"]
fn performance_sh_quick_writes_every_table() {
    let dir = TempDir::new("performance-quick");
    let out = Command::new(repo().join("benches/performance.sh"))
        .args(["--quick", "--no-stateright", "--out"])
        .arg(&dir.0)
        .current_dir(repo())
        .output()
        .expect("bash should start");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures =
        std::fs::read_to_string(dir.0.join("figures.md")).expect("figures.md should be written");
    for heading in [
        "## acidbase bench and the heap loop",
        "## Simulated time against the analysis",
        "### ns per delivery, acidbase",
        "## Sweeps: runs per second",
        "## Exhaustive checking: Lamport's TwoPhase",
    ] {
        assert!(figures.contains(heading), "no {heading:?} in\n{figures}");
    }
    assert!(
        figures.contains("| acidbase port | 1 | bfs | 8,832 |"),
        "{figures}"
    );
    assert_eq!(stdout(&out), figures, "the script prints what it writes");
}
