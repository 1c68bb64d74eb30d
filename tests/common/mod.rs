//! Helpers shared by the tests that run the `acidbase` binary as a user would.
#![allow(dead_code)] // each test binary uses its own subset

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

/// Adds the scripted faults a property test drew to `s`, naming nodes by slot (taken
/// modulo `names.len()`): crashes `(slot, at_ms, restart_ms)`, two-sided partitions
/// `(side of each node, from_ms, to_ms)` and one-way cuts `(from slot, to slot,
/// from_ms, to_ms)`. Windows are at least 1 ms long; a partition with an empty side
/// and a cut from a node to itself are left out.
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
