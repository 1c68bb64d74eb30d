//! What several commands share: the program's name, loading a scenario (or the
//! built-in default), writing a file, the default thread count and the bad-input exit.

use crate::run::{Registry, Validated};
use crate::scenario;
use std::ffi::OsStr;
use std::path::Path;
use std::process::ExitCode;

/// The name the program was started as, for the commands it tells the user to run: a
/// user's binary built on [`crate::cli::main_with`] (say `my-acidbase`) must print
/// `my-acidbase run …`, not a program they do not have. The file stem of argv[0]
/// (so `acidbase.exe` is `acidbase`); "acidbase" when argv[0] is missing or empty.
pub(super) fn program_name(argv0: Option<&OsStr>) -> String {
    argv0
        .and_then(|a| Path::new(a).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "acidbase".to_string())
}

/// Prints `error: {msg}` and gives exit status 2 (bad input).
pub(super) fn bad(msg: impl std::fmt::Display) -> ExitCode {
    warnln!("error: {msg}");
    ExitCode::from(2)
}

/// `--jobs`, or the machine's cores.
pub(super) fn jobs_or_cores(jobs: Option<u32>) -> usize {
    jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    )
}

/// The scenario at `path`, or the built-in default (said on stderr).
pub(super) fn load_or_default(
    registry: &Registry,
    path: Option<&Path>,
) -> Result<Validated, ExitCode> {
    match path {
        Some(p) => registry.load(p).map_err(bad),
        None => {
            warnln!(
                "acidbase: no scenario given; running the built-in default, {}",
                scenario::DEFAULT_SCENARIO_NAME
            );
            Ok(crate::run::default_scenario())
        }
    }
}

/// The scenario at `path` (or the built-in default), with `protocol` swapped in.
pub(super) fn load(
    registry: &Registry,
    path: Option<&Path>,
    protocol: Option<&str>,
) -> Result<Validated, ExitCode> {
    let loaded = load_or_default(registry, path)?;
    let Some(p) = protocol else {
        return Ok(loaded);
    };
    if registry.get(p).is_none() {
        return Err(bad(format!(
            "--protocol {p:?}: unknown protocol; expected one of: {}",
            registry.names().join(", ")
        )));
    }
    // Validated again under the other protocol, errors located in the user's file.
    registry
        .with_protocol(&loaded, p)
        .map_err(|e| bad(format!("--protocol {p}: {e}")))
}

/// Writes `text` to `path`; the error names the file and what it was to hold.
pub(super) fn write_file(path: &Path, text: &str, what: &str) -> Result<(), ExitCode> {
    std::fs::write(path, text)
        .map_err(|e| bad(format!("cannot write the {what} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::program_name;
    use std::ffi::OsStr;

    #[test]
    fn the_program_name_is_argv0s_file_stem() {
        let name = |a: &str| program_name(Some(OsStr::new(a)));
        assert_eq!(name("acidbase"), "acidbase");
        assert_eq!(name("/work/target/release/acidbase"), "acidbase");
        assert_eq!(name("./my-acidbase"), "my-acidbase");
        assert_eq!(name("bin/my-acidbase.exe"), "my-acidbase");
        assert_eq!(name("target/debug/deps/.hidden"), ".hidden");
    }

    #[test]
    fn without_argv0_the_program_is_acidbase() {
        assert_eq!(program_name(None), "acidbase");
        assert_eq!(program_name(Some(OsStr::new(""))), "acidbase");
        assert_eq!(program_name(Some(OsStr::new("/"))), "acidbase");
    }
}
