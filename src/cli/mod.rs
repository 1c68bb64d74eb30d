//! The `acidbase` command line, as a library so that a user's own binary has every
//! subcommand for their protocol: `fn main() -> ExitCode {
//! acidbase::cli::main_with(Registry::builtin().with(MyProtocol)) }`.
//!
//! Two layers, as ripgrep does: clap parses and checks the flags (`args`); one
//! conversion per subcommand, in a module of its own, yields what the library runs.
//! No simulation logic lives here.

use crate::run::Registry;
use crate::tools::bench::BenchArgs;
use args::{Cli, Command, Format};
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

#[macro_use]
mod console;
mod args;
mod bench;
mod chart;
mod check;
mod common;
mod compare;
mod explore;
mod interrupt;
mod protocols;
mod run;
mod serve;
mod shrink;
mod sweep;
mod trace;

/// The `acidbase` binary: every subcommand, on the built-in protocols.
pub fn main() -> ExitCode {
    main_with(Registry::builtin())
}

/// Every subcommand, on the protocols `registry` knows (a user's binary passes
/// `Registry::builtin().with(TheirProtocol)`), reading the process's arguments.
/// The commands it prints to reproduce a failure name the program as started (`argv[0]`).
pub fn main_with(registry: Registry) -> ExitCode {
    let program = common::program_name(std::env::args_os().next().as_deref());
    console::finish(dispatch(Cli::parse(), &registry, &program))
}

/// [`main_with`] on the given arguments (the first is the program name).
pub fn main_with_args<I, T>(registry: Registry, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let program = common::program_name(args.first().map(OsString::as_os_str));
    match Cli::try_parse_from(args) {
        Ok(cli) => console::finish(dispatch(cli, &registry, &program)),
        Err(e) => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { 2 } else { 0 })
        }
    }
}

/// Hands each subcommand's flags to its module; `program` is the name the commands
/// print in the lines they suggest.
fn dispatch(cli: Cli, registry: &Registry, program: &str) -> ExitCode {
    match cli.command {
        Command::Run {
            scenario,
            seed,
            protocol,
            format,
            trace,
            export_schedule,
            diagram,
            txn,
            from,
            to,
            otlp,
        } => run::run_command(
            registry,
            program,
            run::RunArgs {
                path: scenario,
                seed,
                protocol,
                json: matches!(format, Format::Json),
                trace,
                export_schedule,
                diagram,
                txn,
                from,
                to,
                otlp,
            },
        ),
        Command::Trace { file, txn, otlp } => trace::trace_command(&file, txn, otlp.as_deref()),
        Command::Compare {
            scenario,
            protocols,
            seed,
            seeds,
            jobs,
            format,
        } => compare::compare_command(registry, scenario, protocols, seed, seeds, jobs, format),
        Command::Explore {
            scenario,
            seeds,
            swarm: true,
            faults,
            config,
            out,
            shrink,
            write_all,
            jobs,
            protocol,
            ignore_expect: _,
            format,
        } => explore::swarm_command(
            registry,
            program,
            explore::SwarmArgs {
                path: scenario,
                seeds,
                faults,
                config,
                out,
                shrink,
                write_all,
                jobs,
                protocol,
                json: matches!(format, Format::Json),
            },
        ),
        Command::Explore {
            scenario,
            seeds,
            jobs,
            protocol,
            ignore_expect,
            format,
            ..
        } => match scenario {
            Some(path) => explore::explore_command(
                registry,
                program,
                explore::ExploreArgs {
                    path,
                    seeds,
                    jobs,
                    protocol,
                    ignore_expect,
                    json: matches!(format, Format::Json),
                },
            ),
            None => {
                warnln!("error: explore needs a scenario file (or --swarm, to run the built-in configurations)");
                ExitCode::from(2)
            }
        },
        Command::Shrink {
            scenario,
            seed,
            out,
            kind,
            max_runs,
            protocol,
            diagram,
            format,
        } => shrink::shrink_command(
            registry,
            program,
            shrink::ShrinkArgs {
                path: scenario,
                seed,
                out,
                kind,
                max_runs,
                protocol,
                diagram,
                json: matches!(format, Format::Json),
            },
        ),
        Command::Bench {
            rms,
            txns,
            concurrency,
            seed,
        } => bench::bench_command(&BenchArgs {
            rms,
            txns,
            concurrency,
            seed,
        }),
        Command::Sweep {
            file,
            jobs,
            out,
            resume,
            force,
            shard,
            shards,
            skip_unknown_protocols,
            format,
            quiet,
            stop_after,
            max_runs,
        } => sweep::sweep_command(
            registry,
            program,
            sweep::SweepFlags {
                file,
                jobs,
                out,
                resume,
                force,
                shard,
                shards,
                skip_unknown_protocols,
                format,
                quiet,
                stop_after,
                max_runs,
            },
        ),
        Command::Merge { dirs, out, format } => sweep::merge_command(&dirs, out, format),
        Command::Chart {
            results,
            kind,
            metric,
            x,
            y,
            stat,
            title,
            format,
            out,
        } => chart::chart_command(chart::ChartArgs {
            results,
            kind,
            metric,
            x,
            y,
            stat,
            title,
            format,
            out,
        }),
        Command::Serve {
            scenario,
            port,
            bind,
            max_events,
        } => serve::serve_command(
            registry,
            serve::ServeArgs {
                scenario,
                port,
                bind,
                max_events: Some(max_events),
            },
        ),
        Command::Protocols { options } => protocols::protocols_command(registry, options),
        Command::Check {
            scenario,
            exhaustive,
            max_depth,
            max_crashes,
            max_drops,
            max_states,
            crash,
            horizon_ms,
            max_latency_ms,
            txns,
            out,
            replay,
            format,
        } => check::check_command(
            registry,
            program,
            check::CheckArgs {
                scenario,
                exhaustive,
                max_depth,
                max_crashes,
                max_drops,
                max_states,
                crash,
                horizon_ms,
                max_latency_ms,
                txns,
                out,
                replay,
                format,
            },
        ),
    }
}
