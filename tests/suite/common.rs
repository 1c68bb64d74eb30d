//! Helpers shared by the tests that run the `acidbase` binary as a user would.

use acidbase::run::{Outcome, Registry, TraceOut};
use acidbase::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, run from the crate root so `scenarios/...` paths resolve.
pub fn acidbase(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acidbase"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the acidbase binary should start")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout should be UTF-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr should be UTF-8")
}

/// A scratch directory unique to this process and test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("acidbase-test-{}-{}", std::process::id(), test));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir should be creatable");
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("the temp file should be writable");
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths should be UTF-8")
}

/// Scripted faults a property test draws, naming nodes by slot (taken modulo the
/// number of nodes): crashes `(slot, at_ms, restart_ms)`, two-sided partitions `(side
/// of each slot, from_ms, to_ms)`, one-way cuts `(from slot, to slot, from_ms, to_ms)`.
#[derive(Clone, Debug, Default)]
pub struct DrawnFaults {
    pub crashes: Vec<(usize, f64, f64)>,
    pub partitions: Vec<(Vec<bool>, f64, f64)>,
    pub one_way: Vec<(usize, usize, f64, f64)>,
}

/// The shape of [`drawn_faults`]: how many slots, where windows may start, how long
/// they may last, when they must have healed, and at most how many of each fault.
pub struct FaultDraw {
    pub slots: usize,
    pub start_before_ms: f64,
    pub max_len_ms: f64,
    pub healed_by_ms: f64,
    pub max_crashes: usize,
    pub max_partitions: usize,
    pub max_one_way: usize,
}

/// Fault windows that start in `[0, start_before_ms)`, last 1 to `max_len_ms` and
/// heal by `healed_by_ms`.
fn window(d: &FaultDraw) -> impl proptest::strategy::Strategy<Value = (f64, f64)> {
    use proptest::strategy::Strategy;
    let end = d.healed_by_ms;
    (0.0..d.start_before_ms, 1.0..d.max_len_ms)
        .prop_map(move |(from, len)| (from, (from + len).min(end)))
}

/// Crashes, partitions and one-way cuts drawn by slot, every window healing in time.
pub fn drawn_faults(d: FaultDraw) -> impl proptest::strategy::Strategy<Value = DrawnFaults> {
    use proptest::prelude::*;
    (
        prop::collection::vec((0..d.slots, window(&d)), 0..d.max_crashes + 1),
        prop::collection::vec(
            (prop::collection::vec(any::<bool>(), d.slots), window(&d)),
            0..d.max_partitions + 1,
        ),
        prop::collection::vec((0..d.slots, 0..d.slots, window(&d)), 0..d.max_one_way + 1),
    )
        .prop_map(|(crashes, partitions, one_way)| DrawnFaults {
            crashes: crashes.into_iter().map(|(n, (a, b))| (n, a, b)).collect(),
            partitions: partitions
                .into_iter()
                .map(|(sides, (a, b))| (sides, a, b))
                .collect(),
            one_way: one_way
                .into_iter()
                .map(|(f, t, (a, b))| (f, t, a, b))
                .collect(),
        })
}

impl DrawnFaults {
    /// Adds these faults to `s` as scripted ones (see [`add_scripted_faults`]).
    pub fn apply(&self, s: &mut acidbase::scenario::Scenario, names: &[String]) {
        add_scripted_faults(s, names, &self.crashes, &self.partitions, &self.one_way);
    }
}

/// Adds scripted faults to `s`, naming nodes by slot (taken modulo `names.len()`).
/// Windows are at least 1 ms long; a partition with an empty side and a cut from a
/// node to itself are left out.
pub fn add_scripted_faults<Sides: AsRef<[bool]>>(
    s: &mut acidbase::scenario::Scenario,
    names: &[String],
    crashes: &[(usize, f64, f64)],
    partitions: &[(Sides, f64, f64)],
    one_way: &[(usize, usize, f64, f64)],
) {
    use acidbase::scenario::{CrashSpec, OneWaySpec, PartitionSpec};
    let node = |slot: usize| names[slot % names.len()].clone();
    for &(n, at, restart) in crashes {
        s.faults.crashes.push(CrashSpec {
            node: node(n),
            at_ms: at,
            restart_ms: Some(restart.max(at + 1.0)),
        });
    }
    for (sides, from, to) in partitions {
        let side = |want: bool| -> Vec<String> {
            names
                .iter()
                .zip(sides.as_ref())
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
    for &(f, t, from, to) in one_way {
        if f % names.len() != t % names.len() {
            s.faults.one_way.push(OneWaySpec {
                from: vec![node(f)],
                to: vec![node(t)],
                from_ms: from,
                to_ms: to.max(from + 1.0),
            });
        }
    }
}

/// The swarm's worlds for the configurations `names`, on every workload each fits,
/// with `set_lag` applied for each lag in `lags` (a coordinator front right behind
/// the newest id purges records all the time), for `seeds` seeds
/// (`ACIDBASE_WATERMARK_SEEDS` overrides it): a safe configuration has no violating
/// seed, an unsafe one still shows its anomaly.
pub fn swarm_at_lags(
    names: &[&str],
    lags: &[u64],
    seeds: u64,
    set_lag: fn(&mut acidbase::scenario::Scenario, u64),
) {
    use acidbase::tools::swarm::{base_scenario, configurations, swarm, Expect};
    let seeds = std::env::var("ACIDBASE_WATERMARK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(seeds);
    let all = configurations();
    for name in names {
        let c = all
            .iter()
            .find(|c| c.name == *name)
            .expect("a swarm configuration");
        for (&w, &lag) in c
            .workloads
            .iter()
            .flat_map(|w| lags.iter().map(move |l| (w, l)))
        {
            let mut base = base_scenario(c, w).expect("valid");
            set_lag(&mut base, lag);
            let e = swarm(
                &acidbase::run::Registry::builtin(),
                &base,
                c.faults,
                1..=seeds,
                1,
                &|_, _| {},
            );
            let kinds: Vec<&str> = e.kinds.iter().map(|k| k.kind.as_str()).collect();
            eprintln!(
                "{name} {} lag {lag}: {} of {} seeds violate {kinds:?}",
                w.name(),
                e.violating_seeds,
                e.seeds_run
            );
            match c.expect {
                Expect::Safe => assert_eq!(
                    e.violating_seeds,
                    0,
                    "{name} {}, lag {lag}: {kinds:?} (first seed {:?})",
                    w.name(),
                    e.first_violating_seed
                ),
                Expect::Shows(_) => assert!(
                    e.violating_seeds > 0,
                    "{name} {}, lag {lag}: the anomaly is still found",
                    w.name()
                ),
            }
        }
    }
}

/// Runs a scenario built or edited in code, validated first as a file would be
/// (a test's own scenario that does not validate is the test's mistake).
pub fn run(s: &Scenario, seed: u64, trace: Option<TraceOut>) -> Outcome {
    Registry::builtin()
        .validate_scenario(s, "test.ron")
        .unwrap_or_else(|e| panic!("the test's scenario is invalid: {e}"))
        .run(seed, trace)
}
