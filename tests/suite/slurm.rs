//! The book's Slurm array scripts: the files `benches/slurm/run.sh` submits are the
//! ones the book shows, and (ignored: it installs and starts a single-node Slurm,
//! about a minute) the script itself, which runs them for real and checks that the
//! merged shards are byte-identical to one machine's run.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_book_shows_the_slurm_scripts_that_run_sh_submits() {
    let book = std::fs::read_to_string(root().join("book/src/sweeps.md")).expect("the book");
    for name in ["sweep.sbatch", "explore.sbatch"] {
        let file =
            std::fs::read_to_string(root().join("benches/slurm").join(name)).expect("the script");
        let block = format!("```bash\n{file}```\n");
        assert!(
            book.contains(&block),
            "book/src/sweeps.md should show benches/slurm/{name} exactly, as a bash block"
        );
    }
}

/// `cargo test --release -- --ignored slurm`: root (or Slurm already set up) only.
#[test]
#[ignore = "installs and starts a single-node Slurm (apt-get, root); about a minute"]
fn slurm_arrays_of_the_book_merge_into_the_one_machine_result() {
    let out = std::process::Command::new("bash")
        .arg(root().join("benches/slurm/run.sh"))
        .arg(env!("CARGO_BIN_EXE_acidbase"))
        .current_dir(root())
        .output()
        .expect("bash runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "benches/slurm/run.sh failed:\n{err}");
    assert!(
        err.contains("OK: every merged result is byte-identical to the one-machine run"),
        "{err}"
    );
}
