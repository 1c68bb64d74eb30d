//! The `acidbase` command line. Two layers, as ripgrep does: clap parses and checks the
//! flags; one conversion yields what the library runs. No simulation logic lives here.

use acidbase::bench::{run_bench, BenchArgs};
use acidbase::run::{run, TraceOut};
use acidbase::scenario::{self, Loaded};
use clap::{Parser, Subcommand, ValueEnum};
use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

/// The trace file, remembering its first write error: a trace cut short (a full
/// disk, say) must be reported, not silently truncated.
struct CheckedFile {
    file: std::fs::File,
    error: Rc<RefCell<Option<std::io::Error>>>,
}

impl Write for CheckedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf).inspect_err(|e| {
            self.error
                .borrow_mut()
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().inspect_err(|e| {
            self.error
                .borrow_mut()
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}

#[derive(Parser)]
#[command(
    name = "acidbase",
    version,
    about = "A deterministic simulator of distributed transaction protocols.",
    long_about = "acidbase replays scenarios (RON files) of distributed transactions over a faulty network — \
message loss, duplication, reordering, partitions, crashes and restarts — and counts what goes wrong: \
atomicity violations, broken invariants, blocked locks, in-doubt transactions.\n\n\
Every run is driven by one seed and is exactly reproducible: the same scenario and seed give the same \
trace digest.",
    after_help = "Examples:\n  acidbase run                                   # the built-in default scenario\n  acidbase run scenarios/2pc-unsafe-timeout.ron --seed 7\n  acidbase run scenarios/2pc-happy.ron --format json\n  acidbase bench --rms 4 --txns 1000000 --concurrency 64"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and report what happened.
    #[command(
        after_help = "Examples:\n  acidbase run\n      Runs the built-in default (scenarios/2pc-coordinator-crash.ron): the TM crashes after\n      the votes, the RMs are left in doubt holding their locks until it recovers.\n  acidbase run scenarios/2pc-partition.ron --seed 3\n  acidbase run scenarios/2pc-happy.ron --format json --trace happy.jsonl\n  acidbase run scenarios/tcc-hanging.ron\n      TCC without its anti-hanging guard: a Try that arrives after its Cancel reserves for good.\n  acidbase run scenarios/order-inventory.ron\n      Orders and stock on two services; set protocol: \"tcc\" in a copy to compare with 2PC.\n\nScenarios: scenarios/*.ron (each opens with a comment on what it teaches); every field,\nits default and unit: book/src/scenario.md.\n\nExit codes: 0 every expectation held; 1 one failed, or an invariant was violated in a\nscenario with no expectation on violations.*; 2 bad input (or a trace that could not be written)."
    )]
    Run {
        /// The scenario file (RON). Without it, the built-in default runs.
        scenario: Option<PathBuf>,
        /// Root seed (overrides the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// `text` for people, `json` for machines (keys documented in the book).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write every event as a JSON line to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Run the canonical bench-2pc workload and print the peers' output lines.
    #[command(
        after_help = "The workload is described in ../shared/bench-peers/README.md: one TM, N RMs,\nT transactions from C closed-loop sessions, delays uniform in [1, 10] ms, no faults.\nExits 1 unless every transaction completed with exactly 4·N·T deliveries.\n\nExample:\n  acidbase bench --rms 4 --txns 1000000 --concurrency 64 --seed 42"
    )]
    Bench {
        /// Number of resource managers N.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=100))]
        rms: u32,
        /// Number of transactions T.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
        txns: u64,
        /// Concurrency slots C (closed-loop sessions).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        concurrency: u32,
        /// Root seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            scenario,
            seed,
            format,
            trace,
        } => run_command(scenario, seed, format, trace),
        Command::Bench {
            rms,
            txns,
            concurrency,
            seed,
        } => {
            let args = BenchArgs {
                rms,
                txns,
                concurrency,
                seed,
            };
            let r = run_bench(&args);
            print!("{}", r.lines(&args));
            if r.ok(&args) {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "bench-2pc: check failed (completed {} of {}, deliveries {} of {})",
                    r.completed, args.txns, r.deliveries, r.expected_deliveries
                );
                ExitCode::from(1)
            }
        }
    }
}

fn run_command(
    path: Option<PathBuf>,
    seed: Option<u64>,
    format: Format,
    trace: Option<PathBuf>,
) -> ExitCode {
    let loaded: Loaded = match &path {
        Some(p) => match scenario::load(p) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            eprintln!(
                "acidbase: no scenario given; running the built-in default, {}",
                scenario::DEFAULT_SCENARIO_NAME
            );
            scenario::default_scenario()
        }
    };
    let trace_error = Rc::new(RefCell::new(None));
    let trace_out: Option<TraceOut> = match &trace {
        Some(p) => match std::fs::File::create(p) {
            Ok(file) => Some(Box::new(CheckedFile {
                file,
                error: Rc::clone(&trace_error),
            })),
            Err(e) => {
                eprintln!("error: cannot create trace file {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let s = &loaded.scenario;
    let seed = seed.unwrap_or(s.seed);
    let report = run(s, seed, trace_out).report;
    if let (Some(p), Some(e)) = (&trace, trace_error.borrow().as_ref()) {
        eprintln!(
            "error: the trace {} could not be written in full: {e}",
            p.display()
        );
        return ExitCode::from(2);
    }
    let report = &report;
    match format {
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: cannot write the report as JSON: {e}");
                return ExitCode::from(2);
            }
        },
        Format::Text => print!("{}", report.to_text()),
    }
    if report.failed() {
        let file = path
            .as_ref()
            .map_or_else(String::new, |p| format!(" {}", p.display()));
        let what = if report.expectations.failed > 0 {
            format!("{} expectation(s) failed", report.expectations.failed)
        } else {
            "an invariant was violated".to_string()
        };
        eprintln!("acidbase: {what}; reproduce with: acidbase run{file} --seed {seed}");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
