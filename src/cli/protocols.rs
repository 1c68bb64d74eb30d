//! `acidbase protocols`: the protocols this binary knows, with their options' defaults.

use crate::run::Registry;
use std::process::ExitCode;

/// `acidbase protocols`: one line per protocol; with `options`, its default options
/// (RON) indented below it.
pub(super) fn protocols_command(registry: &Registry, options: bool) -> ExitCode {
    for p in registry.iter() {
        sayln!("{:<10} {}", p.name(), p.about());
        if options {
            for line in p.default_options().lines() {
                sayln!("{:<10}   {line}", "");
            }
        }
    }
    ExitCode::SUCCESS
}
