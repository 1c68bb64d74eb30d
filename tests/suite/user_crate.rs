//! A user's crate outside this repository: it registers a protocol of its own
//! (`tests/user_crate/src/main.rs`, one-phase commit) and gets every subcommand for
//! it, beside the built-ins. The test builds that crate in a temporary directory,
//! as a user would, and runs it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory this test was built in (shared, so the user's crate reuses
/// the dependencies already compiled).
fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/user_crate-<hash>
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// The user's crate's binary as `cargo test` built it (an example of this package,
/// from the same source), and a working directory holding its scenarios.
fn user_crate() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = copy_crate("run");
        let exe = std::env::current_exe().expect("the test binary has a path");
        // target/<profile>/deps/user_crate-<hash> → target/<profile>/examples/
        let bin = exe
            .ancestors()
            .nth(2)
            .expect("the profile dir")
            .join("examples")
            .join(format!("my-acidbase{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.exists(),
            "cargo test builds the example {}",
            bin.display()
        );
        (dir, bin)
    })
}

/// A fresh temporary copy of the user's crate (sources and scenarios).
fn copy_crate(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("acidbase-user-crate-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("temp dir");
    let src = repo().join("tests/user_crate");
    for f in [
        "src/main.rs",
        "one-pc.ron",
        "one-pc-check.ron",
        "one-pc-sweep.ron",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).expect("copy the user's crate");
    }
    dir
}

/// The crate builds on its own, outside this repository, with acidbase as a path
/// dependency, as a user's would: a second build of the library (minutes with the
/// release profile), hence `--ignored`; the other tests run the same source built
/// as an example.
#[test]
#[ignore = "long: builds the library again as the user crate's dependency"]
fn the_user_crate_builds_outside_the_repository() {
    let dir = copy_crate("build");
    let manifest = format!(
        "[package]\nname = \"my-acidbase\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nacidbase = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n",
        repo().display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).expect("the lock file");
    let target = target_dir();
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the user's crate does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target
        .join("release")
        .join(format!("my-acidbase{}", std::env::consts::EXE_SUFFIX));
    let run = Command::new(&bin)
        .args(["run", "one-pc.ron", "--format", "json"])
        .current_dir(&dir)
        .output()
        .expect("the binary runs");
    let r = json(&run);
    assert_eq!(r["protocol"], "1pc");
    assert!(
        r["violations"]["atomicity"].as_u64().unwrap_or(0) > 0,
        "{r}"
    );
}

fn my_acidbase(args: &[&str]) -> Output {
    let (dir, bin) = user_crate();
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_user_protocol_runs_and_its_properties_are_judged() {
    let out = my_acidbase(&["run", "one-pc.ron", "--format", "json"]);
    let r = json(&out);
    assert_eq!(r["protocol"], "1pc");
    let t = &r["txns"];
    let n = |v: &Value| v.as_u64().expect("a count");
    assert!(n(&t["begun"]) > 20, "{t}");
    assert_eq!(
        n(&t["committed"]) + n(&t["aborted"]) + n(&t["unresolved"]),
        n(&t["begun"]),
        "each transaction counted once: {t}"
    );
    // A refused debit does not stop its credit: atomicity breaks, and so does the
    // user's own property over node state.
    assert!(n(&r["violations"]["atomicity"]) > 0, "{}", r["violations"]);
    let props = r["properties"].as_array().expect("the properties");
    let agree = props
        .iter()
        .find(|p| p["name"] == "participants agree")
        .expect("listed");
    assert!(agree["first_us"].is_u64(), "broken at some time: {agree}");
    assert!(
        n(&r["facts"]["refused"]["count"]) > 0,
        "the protocol's own fact: {}",
        r["facts"]
    );
    assert_eq!(out.status.code(), Some(1), "a violating run exits 1");
    let story = text(&my_acidbase(&["run", "one-pc.ron"]));
    assert!(
        story.contains("PROPERTY BROKEN: always \"participants agree\""),
        "{story}"
    );
    // The user's protocol is listed beside the built-ins, with its options.
    let list = text(&my_acidbase(&["protocols", "--options"]));
    assert!(
        list.contains("1pc") && list.contains("retry_ms: 50.0") && list.contains("2pc"),
        "{list}"
    );
    let bad = my_acidbase(&["explore", "one-pc.ron", "--seeds", "1", "--protocol", "4pc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("1pc"),
        "the error lists the user's protocol"
    );
}

#[test]
fn a_user_protocol_compares_beside_two_phase_commit() {
    let out = my_acidbase(&[
        "compare",
        "one-pc.ron",
        "--protocols",
        "1pc,2pc",
        "--seeds",
        "3",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let c = json(&out);
    let cols = c["columns"].as_array().expect("columns");
    let col = |p: &str| {
        cols.iter()
            .find(|x| x["protocol"] == p)
            .unwrap_or_else(|| panic!("{p}: {c}"))
    };
    assert!(
        col("1pc")["atomicity_violations"].as_u64().unwrap_or(0) > 0,
        "{c}"
    );
    assert_eq!(col("2pc")["atomicity_violations"], 0, "{c}");
}

#[test]
fn a_user_protocol_sweeps_and_charts() {
    let (dir, _) = user_crate();
    let out_dir = dir.join("sweep-out");
    let out = my_acidbase(&[
        "sweep",
        "one-pc-sweep.ron",
        "--out",
        out_dir.to_str().expect("utf-8"),
        "--jobs",
        "2",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let svg = std::fs::read_to_string(out_dir.join("one-pc-atomicity.svg")).expect("the chart");
    assert!(
        svg.contains("1pc") && svg.contains("2pc"),
        "both series are drawn"
    );
    let redraw = my_acidbase(&["chart", out_dir.to_str().expect("utf-8")]);
    assert!(redraw.status.success(), "{}", text(&redraw));
}

#[test]
fn a_user_protocol_is_swarmed_and_shrunk() {
    let (dir, _) = user_crate();
    let fails = dir.join("swarm-failures");
    let out = my_acidbase(&[
        "explore",
        "one-pc.ron",
        "--swarm",
        "--seeds",
        "1..=20",
        "--out",
        fails.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the swarm finds the flaw: {}",
        text(&out)
    );
    let e = json(&out);
    let kinds: Vec<&str> = e["configurations"][0]["exploration"]["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .filter_map(|k| k["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"atomicity"), "{kinds:?}");
    assert!(kinds.contains(&"property: participants agree"), "{kinds:?}");
    let shrunk = dir.join("shrunk.ron");
    let out = my_acidbase(&[
        "shrink",
        "one-pc.ron",
        "--seed",
        "1",
        "--out",
        shrunk.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let replay = my_acidbase(&["run", shrunk.to_str().expect("utf-8"), "--format", "json"]);
    assert!(
        json(&replay)["violations"]["atomicity"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}

#[test]
fn a_user_property_is_checked_exhaustively() {
    let out = my_acidbase(&[
        "check",
        "one-pc-check.ron",
        "--exhaustive",
        "--format",
        "json",
    ]);
    let r = json(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = &r["violation"];
    assert_eq!(v["finding"]["kind"], "property: participants agree", "{r}");
    let sometimes: Vec<&str> = r["sometimes"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        sometimes.contains(&"a transfer is applied"),
        "{sometimes:?}"
    );
}

#[test]
fn the_users_crate_is_the_books_tutorial() {
    let page = std::fs::read_to_string(repo().join("book/src/testing-your-protocol.md"))
        .expect("the page");
    assert!(
        page.contains("{{#include ../../tests/user_crate/src/main.rs}}"),
        "the tutorial shows the crate the test builds"
    );
    assert!(page.contains("{{#include ../../tests/user_crate/one-pc.ron}}"));
}
