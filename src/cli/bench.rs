//! `acidbase bench`: the canonical bench-2pc workload, printed as the peers' output
//! lines.

use crate::tools::bench::{run_bench, BenchArgs};
use std::process::ExitCode;

/// `acidbase bench`: exit status 1 unless every transaction completed with exactly the
/// expected deliveries.
pub(super) fn bench_command(args: &BenchArgs) -> ExitCode {
    let r = match run_bench(args) {
        Ok(r) => r,
        Err(e) => {
            warnln!(
                "error: these flags make no valid bench scenario: {}",
                e.message
            );
            return ExitCode::from(2);
        }
    };
    say!("{}", r.lines(args));
    if r.ok(args) {
        ExitCode::SUCCESS
    } else {
        warnln!(
            "bench-2pc: check failed (completed {} of {}, deliveries {} of {})",
            r.completed,
            args.txns,
            r.deliveries,
            r.expected_deliveries
        );
        ExitCode::from(1)
    }
}
