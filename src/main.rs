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
        after_help = "Examples:\n  acidbase run\n      Runs the built-in default (scenarios/2pc-coordinator-crash.ron): the TM crashes after\n      the votes, the RMs are left in doubt holding their locks until it recovers.\n  acidbase run scenarios/2pc-partition.ron --seed 3\n  acidbase run scenarios/2pc-happy.ron --format json --trace happy.jsonl\n\nScenarios: scenarios/*.ron (each opens with a comment on what it teaches); every field,\nits default and unit: book/src/scenario.md.\n\nExit codes: 0 every expectation held; 1 one failed, or an invariant was violated in a\nscenario with no expectation on violations.*; 2 bad input (or a trace that could not be written)."
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
    /// Explore every order of events and every placement of faults in a small world.
    #[command(
        after_help = "The scenario's protocol and options are kept; its faults are replaced by the\nexplorer's budget, and the client issues --txns transactions (default 1). The search is\nbreadth-first, so a violation comes with a shortest path: numbered steps in plain words,\nand the same path as a RON list of steps (written with --out FILE, re-run with --replay).\nBook: book/src/exhaustive-checking.md.\n\nExamples:\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 --max-drops 0\n      finds 2PC's blocking state: the TM crashes after the votes, the RMs stay in doubt.\n  acidbase check scenarios/2pc-no-decision-retry.ron --exhaustive --max-crashes 0 --max-drops 1\n      finds the partial commit: one Commit dropped, presumed abort answers the inquiry.\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 0 --max-drops 2\n      no violation: every state is visited and its count reported.\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 --max-drops 0 --out path.ron\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 --max-drops 0 --replay path.ron\n      writes the shortest path, then re-executes it (give the same budget flags).\n\nExit codes: 0 no violation; 1 a violation was found (or replayed); 2 bad input."
    )]
    Check {
        /// The scenario file (RON).
        scenario: PathBuf,
        /// Explore exhaustively (breadth-first, with visited-state hashing).
        #[arg(long)]
        exhaustive: bool,
        /// Do not expand states this many steps from the start.
        #[arg(long, value_name = "D")]
        max_depth: Option<u32>,
        /// Crashes the explorer may place (restarts are free).
        #[arg(long, value_name = "K", default_value_t = 1)]
        max_crashes: u32,
        /// Messages the explorer may drop (a partition is drops between two sides).
        #[arg(long, value_name = "K", default_value_t = 1)]
        max_drops: u32,
        /// Stop after this many distinct states (each takes about 2 KB for a 3-RM 2PC world).
        #[arg(long, value_name = "S", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        max_states: u64,
        /// Nodes that may crash, comma-separated (default: all but the client).
        #[arg(long, value_name = "NODES", value_delimiter = ',')]
        crash: Option<Vec<String>>,
        /// The model's end of time in ms (default: the scenario's duration + drain).
        #[arg(long, value_name = "MS")]
        horizon_ms: Option<f64>,
        /// Longest message delay in ms (default: the scenario's latency bound).
        #[arg(long, value_name = "MS")]
        max_latency_ms: Option<f64>,
        /// Transactions the client issues.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
        txns: u64,
        /// Write the counterexample's steps (RON) to FILE.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Re-execute the steps in FILE (RON, as written by --out) instead of exploring.
        #[arg(long, value_name = "FILE")]
        replay: Option<PathBuf>,
        /// `text` for people, `json` for machines.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
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
        } => {
            if !exhaustive {
                eprintln!("error: check needs --exhaustive (the only mode so far); see acidbase check --help");
                return ExitCode::from(2);
            }
            for (flag, v) in [
                ("--horizon-ms", horizon_ms),
                ("--max-latency-ms", max_latency_ms),
            ] {
                if v.is_some_and(|v| !(v.is_finite() && (0.0..=scenario::MAX_MS).contains(&v))) {
                    eprintln!(
                        "error: {flag}: expected a number of ms in [0, {}]",
                        scenario::MAX_MS
                    );
                    return ExitCode::from(2);
                }
            }
            let opts = acidbase::check::scenario::CheckOptions {
                max_depth,
                max_states: usize::try_from(max_states).unwrap_or(usize::MAX),
                max_crashes,
                max_drops,
                crash_nodes: crash,
                horizon_ms,
                max_latency_ms,
                txns,
            };
            check_command(&scenario, &opts, out, replay, format)
        }
    }
}

fn check_command(
    path: &std::path::Path,
    opts: &acidbase::check::scenario::CheckOptions,
    out: Option<PathBuf>,
    replay: Option<PathBuf>,
    format: Format,
) -> ExitCode {
    use acidbase::check::{parse_steps, scenario as cs};
    let loaded = match scenario::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let s = &loaded.scenario;
    if let Some(file) = replay {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let steps = match parse_steps(&text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "error: {}: expected a RON list of steps: {e}",
                    file.display()
                );
                return ExitCode::from(2);
            }
        };
        let r = match cs::replay_steps(s, opts, &steps) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        for (i, line) in r.story.iter().enumerate() {
            println!("  {:>3}. {line}", i + 1);
        }
        return match r.findings.first() {
            Some(f) => {
                println!("VIOLATION {}: {}", f.kind, f.detail);
                ExitCode::from(1)
            }
            None => {
                println!("no violation on this path");
                ExitCode::SUCCESS
            }
        };
    }
    let report = match cs::check(s, opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: cannot write the report as JSON: {e}");
                return ExitCode::from(2);
            }
        },
        Format::Text => print!("{}", report.to_text()),
    }
    let Some(c) = &report.violation else {
        return ExitCode::SUCCESS;
    };
    match &out {
        Some(file) => {
            if let Err(e) = std::fs::write(file, c.steps_ron()) {
                eprintln!("error: cannot write {}: {e}", file.display());
                return ExitCode::from(2);
            }
            eprintln!(
                "acidbase: the path is in {f}; replay it with: acidbase check {p} --exhaustive --replay {f}",
                f = file.display(),
                p = path.display()
            );
        }
        None => {
            if matches!(format, Format::Text) {
                println!(
                    "replayable path (RON; save it and pass --replay FILE):\n{}",
                    c.steps_ron()
                );
            }
        }
    }
    ExitCode::from(1)
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
