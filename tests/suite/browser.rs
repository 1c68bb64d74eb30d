//! The page of `acidbase serve`, driven in a real headless Chromium as a person would
//! use it: `tests/browser/serve.test.mjs` (Node.js, playwright-core, Debian's
//! `/usr/bin/chromium`) starts `acidbase serve --port 0`, runs scenarios from the
//! page, adds faults by clicking, and checks what the page shows against
//! `acidbase run`. It runs `npm ci --prefix tests/browser` itself if playwright-core
//! is missing; `.ci/run` also installs Chromium. Without them this test fails and
//! says what is missing and how to install it (it never skips: CI has them).
//! The screenshots of each step land in `target/browser-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs playwright-core from `tests/browser/package-lock.json` when it is not
/// there yet and npm is (its version pinned; it downloads no browser), so a fresh
/// clone's `cargo test --release` needs only Chromium from the system.
fn install_playwright(root: &Path) {
    if root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return;
    }
    let _ = Command::new("npm")
        .args(["ci", "--prefix", "tests/browser", "--no-audit", "--no-fund"])
        .current_dir(root)
        .output();
}

/// What the browser test needs and this machine lacks, each with how to install it.
fn missing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let node = Command::new("node").arg("--version").output();
    if !node.map(|o| o.status.success()).unwrap_or(false) {
        out.push("node (Node.js 20 or later) is not on PATH: `apt-get install nodejs npm`".into());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        out.push(
            "/usr/bin/chromium (Debian's Chromium) is missing: `apt-get install chromium`".into(),
        );
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        out.push(
            "tests/browser/node_modules (playwright-core) is missing: run `npm ci --prefix tests/browser`"
                .into(),
        );
    }
    out
}

/// Where the screenshots go: `browser-screenshots/` in the target directory.
fn screenshots() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_acidbase"));
    bin.parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"))
        .join("browser-screenshots")
}

#[test]
fn the_serve_page_works_in_a_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    install_playwright(root);
    let missing = missing(root);
    assert!(
        missing.is_empty(),
        "the browser test (tests/browser/serve.test.mjs) cannot run; `.ci/run` installs what it needs:\n  {}",
        missing.join("\n  ")
    );
    let shots = screenshots();
    let out = Command::new("node")
        .args(["--test-reporter=tap", "tests/browser/serve.test.mjs"])
        .env("ACIDBASE_BIN", env!("CARGO_BIN_EXE_acidbase"))
        .env("ACIDBASE_SCREENSHOTS", &shots)
        .env_remove("ACIDBASE_URL")
        .current_dir(root)
        .output()
        .expect("node should start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/browser/serve.test.mjs failed ({}); screenshots so far in {}:\n{stdout}\n{stderr}",
        out.status,
        shots.display()
    );
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "the browser test ran no step, or one failed:\n{stdout}"
    );
    for step in [
        "01-run-2pc-coordinator-crash",
        "02-crash-added",
        "04-side-by-side-2pc-3pc",
    ] {
        assert!(
            shots.join(format!("{step}.png")).is_file(),
            "no screenshot {step}.png in {}",
            shots.display()
        );
    }
}
