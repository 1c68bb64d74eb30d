//! The flags, as clap reads them: every subcommand's arguments, help and defaults.
//! Kept apart from what the commands do so the help text is reviewed in one place.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    after_help = "Examples:\n  acidbase run                                  # the built-in default scenario\n  acidbase run scenarios/2pc-unsafe-timeout.ron --seed 7\n  acidbase run scenarios/2pc-happy.ron --format json\n  acidbase compare scenarios/2pc-coordinator-crash.ron --seeds 10\n  acidbase explore scenarios/2pc-unsafe-random-faults.ron --seeds 1..200 \\\n      --ignore-expect\n  acidbase shrink scenarios/2pc-unsafe-timeout.ron --seed 1 --diagram cx.svg\n  acidbase bench --rms 4 --txns 1000000 --concurrency 64\n  acidbase sweep scenarios/sweeps/partition-rate.ron --jobs 2\n  acidbase chart output/partition-rate          # the sweep's charts, again\n  acidbase serve                                # the lab, in a browser"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum TableFormat {
    Text,
    Json,
    Csv,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run one scenario and report what happened (alias: `replay`, for an exported
    /// schedule or a counterexample.ron).
    #[command(
        visible_alias = "replay",
        after_help = "Examples:\n  acidbase run\n      Runs the built-in default (scenarios/2pc-coordinator-crash.ron): the TM\n      crashes after the votes, the RMs are left in doubt holding their locks\n      until it recovers.\n  acidbase run scenarios/2pc-partition.ron --seed 3\n  acidbase run scenarios/2pc-happy.ron --format json --trace happy.jsonl\n  acidbase run scenarios/saga-transfer-crash.ron\n      A saga (BASE) instead of 2PC: no locks, money visibly in flight, a\n      recovery job that drives every transfer a crash left half-done to a\n      consistent end.\n  acidbase run scenarios/publish-then-commit.ron\n      Reliable messaging: the producer publishes before its debit commits and\n      crashes in between: phantom messages create money\n      (messaging.phantom_messages).\n  acidbase run scenarios/2pc-partition.ron --diagram run.svg --txn 0 \\\n      --from 0 --to 300\n      Draws transaction 0's messages, the partition and the locks as a sequence\n      diagram.\n  acidbase run scenarios/2pc-unsafe-random-faults.ron --seed 7 \\\n      --export-schedule s.ron\n      Writes seed 7's faults, scripted; `acidbase run s.ron` replays it to the\n      same digest.\n  acidbase run scenarios/tcc-hanging.ron\n      TCC without its anti-hanging guard: a Try that arrives after its Cancel\n      reserves for good.\n  acidbase run scenarios/order-inventory.ron\n      Orders and stock on two services; `acidbase compare` runs it under every\n      protocol.\n\nScenarios: scenarios/*.ron (each opens with a comment on what it teaches);\nevery field, its default and unit: book/src/scenario.md.\n\nExit codes: 0 every expectation held; 1 one failed, or an invariant was\nviolated in a scenario with no expectation on violations.*; 2 bad input (or a\ntrace that could not be written); 3 truncated: max_events stopped the run\nbefore its end, so nothing was judged at quiescence."
    )]
    Run {
        /// The scenario file (RON). Without it, the built-in default runs.
        scenario: Option<PathBuf>,
        /// Root seed (overrides the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Run the scenario with this protocol instead of its own (validated again:
        /// the repro line of `explore --protocol P` uses it).
        #[arg(long)]
        protocol: Option<String>,
        /// `text` for people, `json` for machines (keys documented in the book).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write every event as a JSON line to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Write the run's concrete fault schedule to FILE (RON): every crash, restart,
        /// partition window and every message lost, duplicated or held back, scripted,
        /// so `acidbase run FILE` replays this run (same digest) with no random faults.
        #[arg(long, value_name = "FILE")]
        export_schedule: Option<PathBuf>,
        /// Draw the run as a sequence diagram (SVG) in FILE. A run of more than 80
        /// instants, without --txn, --from or --to, is drawn for one transaction
        /// (the one that lost most messages, else the longest); stderr says which.
        #[arg(long, value_name = "FILE")]
        diagram: Option<PathBuf>,
        /// With --diagram: only the messages and notes of this transaction.
        #[arg(long, value_name = "ID", requires = "diagram")]
        txn: Option<u64>,
        /// With --diagram: start the window at this time (ms).
        #[arg(long, value_name = "MS", requires = "diagram")]
        from: Option<f64>,
        /// With --diagram: end the window at this time (ms).
        #[arg(long, value_name = "MS", requires = "diagram")]
        to: Option<f64>,
        /// Write the run's spans (every message and timer, with its parent) to FILE
        /// as OpenTelemetry JSON (OTLP/JSON), for trace viewers that import it.
        #[arg(long, value_name = "FILE")]
        otlp: Option<PathBuf>,
    },
    /// Read a --trace file back: its traces, one request's call tree, or OTLP/JSON.
    #[command(
        after_help = "Every client request is a trace (its id is the transaction's); every message\nand timer firing is a span with its parent. Without --txn, one line per trace.\nThe format: book/src/trace-format.md.\n\nExamples:\n  acidbase run scenarios/2pc-coordinator-crash.ron --trace out.jsonl\n  acidbase trace out.jsonl --txn 0\n      transaction 0's tree: who sent what to whom, and what became of it.\n  acidbase trace out.jsonl --otlp out.otlp.json\n      every span as OpenTelemetry JSON (also: acidbase run X.ron --otlp FILE)."
    )]
    Trace {
        /// A file written by `acidbase run --trace`.
        file: PathBuf,
        /// Print this transaction's call tree.
        #[arg(long, value_name = "ID")]
        txn: Option<u64>,
        /// Write every span to FILE as OpenTelemetry JSON (OTLP/JSON).
        #[arg(long, value_name = "FILE")]
        otlp: Option<PathBuf>,
    },
    /// Run one scenario under many seeds in parallel; group the failures by kind.
    #[command(
        after_help = "Every seed's run is deterministic; threads only share out the seeds, so the\nsummary is the same at any --jobs. A seed fails when it breaks atomicity, an\ninvariant, leaves a transaction unresolved or a participant in doubt (blocked),\nhas counts that do not add up (counts), hits max_events (event-guard: then\nnothing else is judged), or fails one of the scenario's expectations.\n\nExamples:\n  acidbase explore scenarios/2pc-unsafe-timeout.ron --seeds 1..200\n      How many seeds break atomicity, the first one, and the command that\n      reproduces it.\n  acidbase explore scenarios/2pc-partition.ron --seeds 0..=999 --jobs 2 \\\n      --format json\n  acidbase explore scenarios/2pc-unsafe-random-faults.ron --seeds 1..500 \\\n      --ignore-expect\n      Judge seeds by the invariants alone, not by the expectations pinned for\n      seed 1.\n\nThen: acidbase shrink SCENARIO --seed N   (minimise the first failing seed)\n\nSwarm testing (--swarm): each seed draws the whole world, not only the faults:\n  acidbase explore --swarm --seeds 1..200\n      Every built-in configuration: each safe one must never fail, each unsafe\n      variant must show its anomaly. A table, one row per configuration and\n      workload.\n  acidbase explore --swarm --config 2pc,3pc --seeds 1..5000 --jobs 2\n  acidbase explore mine.ron --swarm --seeds 1..10000 --shrink\n      Your protocol options and workload, every fault at once; the first\n      failure is written to swarm-failures/ and shrunk.\n\nExit codes: 0 no seed failed (swarm: every configuration as expected); 1 some\nseed failed; 2 bad input; 130 interrupted (Ctrl-C): the seeds run so far are\nsummarised and the command for the rest is printed."
    )]
    Explore {
        /// The scenario file (RON). With --swarm it may be left out: then every
        /// built-in configuration runs.
        scenario: Option<PathBuf>,
        /// Seeds to run: A..B (B excluded), A..=B, or one seed.
        #[arg(long, default_value = "1..101")]
        seeds: String,
        /// Swarm testing: each seed draws the whole world around the scenario's
        /// protocol, options and workload — shards, sizes, load, timers, latency and
        /// every fault kind at once — then the faults heal and the run must end safe,
        /// live and with counts that add up.
        #[arg(long)]
        swarm: bool,
        /// With --swarm: which faults to draw, `all` or `crash-only` (no loss, no
        /// partition, bounded delays: what 3PC assumes). Default: `all` for a
        /// scenario file; each built-in configuration's own mix otherwise.
        #[arg(long, value_name = "MIX", requires = "swarm")]
        faults: Option<String>,
        /// With --swarm and no scenario: run only these built-in configurations
        /// (comma-separated names; `--config list` lists them).
        #[arg(long, value_name = "NAMES", requires = "swarm", value_delimiter = ',')]
        config: Vec<String>,
        /// With --swarm: where to write the drawn scenario of each failing kind's first
        /// seed (replay it with `acidbase run`, minimise it with `acidbase shrink`).
        #[arg(
            long,
            value_name = "DIR",
            requires = "swarm",
            default_value = "swarm-failures"
        )]
        out: PathBuf,
        /// With --swarm: shrink the first failure found (writes DIR/…-shrunk.ron).
        #[arg(long, requires = "swarm")]
        shrink: bool,
        /// With --swarm: write every seed's drawn world to DIR, failing or not (to see
        /// what a few seeds draw).
        #[arg(long, requires = "swarm")]
        write_all: bool,
        /// Worker threads (default: the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Run the scenario with this protocol instead of its own.
        #[arg(long)]
        protocol: Option<String>,
        /// Judge seeds by the invariants only, not by the scenario's `expect` (a lesson
        /// scenario's expectations usually pin its own seed's outcome).
        #[arg(long)]
        ignore_expect: bool,
        /// `text` for people, `json` for machines.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Minimise a failing run's fault schedule; write it as a replayable counterexample.
    #[command(
        after_help = "The run's schedule is exported (every fault scripted, nothing random), then\nshrunk greedily while the same kind of failure still occurs: faults dropped,\nwindows shortened and moved earlier, fewer requests, sessions and participants,\na shorter run. Every accepted step is no larger on any measure. Prints the\nsizes before and after and the shrunk run as a story.\n\nExamples:\n  acidbase shrink scenarios/2pc-unsafe-timeout.ron --seed 1\n      Writes counterexample.ron; `acidbase run counterexample.ron` shows the\n      violation again.\n  acidbase shrink scenarios/2pc-unsafe-timeout.ron --seed 1 --diagram cx.svg\n  acidbase shrink my.ron --seed 17 --kind blocked --out blocked.ron\n\nKinds: atomicity, invariant, blocked, counts, event-guard, \"expect: METRIC\nCOND\" (as explore prints).\nExit codes: 0 shrunk and written; 2 bad input (or the seed does not fail); 130\ninterrupted (Ctrl-C): the smallest failing run found so far is written."
    )]
    Shrink {
        /// The scenario file (RON).
        scenario: PathBuf,
        /// The failing seed (default: the scenario's seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the counterexample.
        #[arg(long, value_name = "FILE", default_value = "counterexample.ron")]
        out: PathBuf,
        /// The failure kind to keep (default: the run's first, strongest).
        #[arg(long)]
        kind: Option<String>,
        /// Give up after this many candidate runs.
        #[arg(long, default_value_t = 600)]
        max_runs: u32,
        /// Run the scenario with this protocol instead of its own.
        #[arg(long)]
        protocol: Option<String>,
        /// Also draw the shrunk run as a sequence diagram (SVG) in FILE.
        #[arg(long, value_name = "FILE")]
        diagram: Option<PathBuf>,
        /// `text` for people, `json` for machines (kind, sizes before and after, story).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run one scenario under several protocols with the same faults, side by side.
    #[command(
        after_help = "Every protocol gets the same workload and, seed for seed, the same fault\nschedule (faults are drawn by node name, not by protocol), so the columns\ndiffer only by what the protocols do with them. Counts are summed over seeds;\navailability and p99 latency are means over runs; messages per commit is over\nall commits.\n\nExamples:\n  acidbase compare scenarios/order-inventory.ron --protocols 2pc,3pc,tcc\n  acidbase compare scenarios/2pc-coordinator-crash.ron --seeds 20\n  acidbase compare scenarios/2pc-partition.ron --seeds 50 \\\n      --format csv > table.csv\n\nWithout --protocols, every protocol that fits the scenario runs (the others are\nlisted as skipped, with the reason). The scenario's own `expect` lines are\nwritten for its protocol and are not applied here.\n\nExit codes: 0 the table was produced; 2 bad input; 130 interrupted (Ctrl-C):\nthe table covers the seeds every protocol finished."
    )]
    Compare {
        /// The scenario file (RON). Without it, the built-in default.
        scenario: Option<PathBuf>,
        /// Comma-separated protocols, e.g. `2pc,3pc,tcc` (default: all that fit).
        #[arg(long, value_delimiter = ',', value_name = "P,P,...")]
        protocols: Vec<String>,
        /// First seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// How many seeds per protocol: SEED, SEED+1, ...
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        seeds: u64,
        /// Runs in parallel (default: the number of cores). The table does not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// `text` (a table and what it shows), `json` or `csv`.
        #[arg(long, value_enum, default_value = "text")]
        format: TableFormat,
    },
    /// Run the canonical bench-2pc workload and print the peers' output lines.
    #[command(
        after_help = "The workload (book/src/performance.md, \"The workload\"): one TM, N RMs, T\ntransactions from C closed-loop sessions, delays uniform in [1, 10] ms, no\nfaults. Exits 1 unless every transaction completed with exactly 4·N·T\ndeliveries.\n\nExample:\n  acidbase bench --rms 4 --txns 1000000 --concurrency 64 --seed 42"
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
    /// Run a sweep: a scenario over a grid of parameters, series and seeds, in parallel.
    #[command(
        after_help = "Examples:\n  acidbase sweep scenarios/sweeps/partition-rate.ron\n      Runs every (point, series, seed) on all cores; writes\n      output/partition-rate/: runs.csv (one row per run), summary.csv and\n      summary.json (mean, sd, percentiles, 95% intervals), plan.json,\n      journal.jsonl and the charts the sweep file asks for.\n  acidbase sweep scenarios/sweeps/partition-rate.ron --jobs 2 --resume\n      Continues an interrupted sweep: runs already in the journal are not run\n      again.\n  acidbase sweep scenarios/sweeps/partition-rate.ron --shard 0/4\n      Runs one quarter of the runs (run r where r mod 4 = 0) into\n      output/NAME/shard-0-of-4/; `acidbase merge output/NAME/shard-*` combines\n      the shards.\n  JOB_COMPLETION_INDEX=2 acidbase sweep X.ron --shards 8   # Kubernetes\n  SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=8 acidbase sweep X.ron  # Slurm\n\nThe sweep file is described in book/src/sweeps.md. Results are identical at any\n--jobs.\nExit codes: 0 done (or stopped by --stop-after); 2 bad sweep file, flags or\ndirectory (nothing is run); 130 interrupted (Ctrl-C): every finished run is in\nthe journal and the --resume command is printed."
    )]
    Sweep {
        /// The sweep file (RON).
        file: PathBuf,
        /// Parallel runs (default: the number of cores).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Output directory (default: output/<sweep name>/, or .../shard-I-of-N/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Continue the sweep whose journal is in the output directory.
        #[arg(long, conflicts_with = "force")]
        resume: bool,
        /// Discard the journal in the output directory and start over.
        #[arg(long)]
        force: bool,
        /// Run only shard I of N (runs r with r mod N = I), e.g. 0/4.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<crate::tools::sweep::Shard>,
        /// The number of shards when the index comes from JOB_COMPLETION_INDEX (or
        /// set ACIDBASE_SHARDS).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        shards: Option<u32>,
        /// Leave out protocols this build does not have (with a warning) instead of failing.
        #[arg(long)]
        skip_unknown_protocols: bool,
        /// Chart file format.
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormatArg,
        /// No progress line on stderr.
        #[arg(long)]
        quiet: bool,
        /// Stop after this many new runs (to test --resume).
        #[arg(long, hide = true)]
        stop_after: Option<usize>,
        /// Refuse a sweep (or shard) of more runs than this; raise it to run a bigger one.
        #[arg(long, value_name = "N", default_value_t = crate::tools::sweep::DEFAULT_MAX_RUNS)]
        max_runs: usize,
    },
    /// Combine the output directories of a sharded sweep into one.
    #[command(
        after_help = "Example:\n  acidbase merge output/partition-rate/shard-*-of-4 --out output/partition-rate\n\nWrites exactly what one machine running the whole sweep writes (runs.csv,\nsummary.csv, summary.json, plan.json, journal.jsonl, charts). Fails, writing\nnothing, if a run is missing or the shards belong to different sweeps. Exit\ncode 2 then."
    )]
    Merge {
        /// Shard output directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory (default: output/<sweep name>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Chart file format.
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormatArg,
    },
    /// Redraw charts from a sweep's saved results.
    #[command(
        after_help = "Examples:\n  acidbase chart output/partition-rate\n      Redraws every chart the sweep file asked for, into the directory.\n  acidbase chart output/partition-rate --format png\n  acidbase chart output/partition-rate/runs.csv --kind line \\\n      --metric violations.atomicity \\\n      --x faults.random_partitions.rate_per_s --stat share --out atomicity.svg\n  acidbase chart output/latency-cdf --kind cdf \\\n      --out cdf.png      # the extension picks PNG\n  acidbase chart output/cap --kind scatter --metric violations.atomicity \\\n      --x faults.random_partitions.rate_per_s\n  acidbase chart output/grid --kind heatmap --metric locks.lock_ms_total \\\n      --x rms --y two_pc.vote_timeout_ms\n\nKinds: line (metric vs --x, one line per series, 95% bands), cdf (latency CDF\nper series), bars (metric per series, grouped by --x), scatter (availability vs\n--metric, a point per value of --x), heatmap (metric over --x and --y). Metric\nnames: the columns of runs.csv."
    )]
    Chart {
        /// A sweep output directory or its runs.csv.
        results: PathBuf,
        /// Draw one chart of this kind (default: every chart of the sweep file).
        #[arg(long, value_enum)]
        kind: Option<ChartKind>,
        /// The metric (a runs.csv column), for line, bars, scatter (y) and heatmap.
        #[arg(long)]
        metric: Option<String>,
        /// The axis along x (line, bars, heatmap) or joining the points (scatter).
        #[arg(long)]
        x: Option<String>,
        /// The second axis of a heatmap.
        #[arg(long)]
        y: Option<String>,
        /// mean (with a t or Wilson interval) or share (of runs with the metric > 0).
        #[arg(long, value_enum, default_value = "mean")]
        stat: StatArg,
        /// Chart title.
        #[arg(long)]
        title: Option<String>,
        #[arg(long, value_enum, default_value = "svg")]
        format: ChartFormatArg,
        /// Output file (with --kind; a .png or .svg extension picks the format) or
        /// directory (default: beside the results).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve the protocol lab: a page to run scenarios, add faults and read the
    /// report, story and sequence diagram, in a browser (and its JSON API).
    #[command(
        after_help = "Serves one self-contained page (no internet needed) and a JSON API on\nloopback (127.0.0.1) by default, printing the URL; Ctrl-C stops it. Every\nshipped scenario is built in. A run's answer holds the same report as `run`,\nits events, and the edited scenario as RON, which `acidbase run` replays to the\nsame digest. Runs are bounded (--max-events); the API and its limits:\nbook/src/serve.md.\n\nExamples:\n  acidbase serve\n      then open http://127.0.0.1:8080/ and pick a scenario.\n  acidbase serve scenarios/2pc-partition.ron --port 0\n      opens on that scenario, on a free port (the URL line says which).\n  acidbase serve --bind 0.0.0.0 --port 9000\n      for a classroom: every address of this machine (no authentication!).\n\nExit codes: 2 bad input (a scenario that does not validate, a port in use);\n130 stopped by Ctrl-C, its normal end."
    )]
    Serve {
        /// A scenario file (RON) to open with; the shipped ones are always offered.
        scenario: Option<PathBuf>,
        /// The TCP port (0: any free port; the URL line says which).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on (default: loopback only).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
        bind: String,
        /// The most events one run may process (a scenario's larger max_events is
        /// lowered to it, and a run estimated larger is refused).
        #[arg(long, value_name = "N", default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        max_events: u64,
    },
    /// List the protocols this program knows, with their options' defaults.
    #[command(
        after_help = "The built-ins keep their options in sections of their own (two_pc: (...), tcc:\n(...)); a protocol a user crate registers reads the scenario's options: (...)\nfield. Book: book/src/testing-your-protocol.md.\n\nExamples:\n  acidbase protocols\n  acidbase protocols --options\n      every protocol's options, with their defaults, as RON."
    )]
    Protocols {
        /// Also print each protocol's options with their defaults.
        #[arg(long)]
        options: bool,
    },
    /// Explore every order of events and every placement of faults in a small world.
    #[command(
        after_help = "The scenario's protocol and options are kept; its faults are replaced by the\nexplorer's budget, and the client issues --txns transactions (default 1). The\nsearch is breadth-first, so a violation comes with a shortest path: numbered\nsteps in plain words, and the same path as a RON list of steps (written with\n--out FILE, re-run with --replay). Book: book/src/exhaustive-checking.md.\n\nExamples:\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 \\\n      --max-drops 0\n      finds 2PC's blocking state: the TM crashes after the votes, the RMs stay\n      in doubt.\n  acidbase check scenarios/2pc-no-decision-retry.ron --exhaustive \\\n      --max-crashes 0 --max-drops 1\n      finds the partial commit: one Commit dropped, presumed abort answers the\n      inquiry.\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 0 \\\n      --max-drops 2\n      no violation: every state is visited and its count reported.\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 \\\n      --max-drops 0 --out path.ron\n  acidbase check scenarios/check-2pc.ron --exhaustive --max-crashes 1 \\\n      --max-drops 0 --replay path.ron\n      writes the shortest path, then re-executes it (give the same budget\n      flags).\n\nExit codes: 0 every reachable state visited, no violation; 1 a violation was\nfound (or replayed); 2 bad input; 3 incomplete: no violation among the states\nvisited, but --max-states or --max-depth stopped the search first (not a\nverification); 130 interrupted (Ctrl-C), also not a verification."
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

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ChartFormatArg {
    Svg,
    Png,
}

impl From<ChartFormatArg> for crate::tools::chart::ChartFormat {
    fn from(f: ChartFormatArg) -> Self {
        match f {
            ChartFormatArg::Svg => crate::tools::chart::ChartFormat::Svg,
            ChartFormatArg::Png => crate::tools::chart::ChartFormat::Png,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ChartKind {
    Line,
    Cdf,
    Bars,
    Scatter,
    Heatmap,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum StatArg {
    Mean,
    Share,
}

fn parse_shard(s: &str) -> Result<crate::tools::sweep::Shard, crate::tools::sweep::ShardError> {
    crate::tools::sweep::Shard::parse(s)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory, Parser};

    /// Every help text, top level and subcommands.
    fn helps() -> Vec<(String, String)> {
        let top = Cli::command();
        let mut out = Vec::new();
        let mut push = |name: &str, c: &clap::Command| {
            for h in [c.get_after_help(), c.get_after_long_help()]
                .into_iter()
                .flatten()
            {
                out.push((name.to_string(), h.to_string()));
            }
        };
        push("acidbase", &top);
        for sub in top.get_subcommands() {
            push(sub.get_name(), sub);
        }
        out
    }

    /// The examples of a help text: lines that start with `  acidbase` (or an
    /// environment assignment before it), joined over `\` continuations, without a
    /// trailing `# comment`.
    fn examples(help: &str) -> Vec<String> {
        let is_example = |line: &str| {
            line.starts_with("  ")
                && !line.starts_with("   ")
                && line
                    .split_whitespace()
                    .find(|w| !is_assignment(w))
                    .is_some_and(|w| w == "acidbase")
        };
        let mut out: Vec<String> = Vec::new();
        let mut open = false;
        for line in help.lines() {
            let t = line.trim().trim_end_matches('\\').trim();
            if open {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                    last.push_str(t);
                }
            } else if is_example(line) {
                out.push(t.to_string());
            } else {
                continue;
            }
            open = line.trim_end().ends_with('\\');
        }
        out.into_iter()
            .map(|e| e.split(" #").next().unwrap_or_default().trim().to_string())
            .collect()
    }

    /// `NAME=value`, as a shell reads before a command.
    fn is_assignment(word: &str) -> bool {
        word.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
    }

    #[test]
    fn help_examples_fit_an_80_column_terminal_so_they_paste_whole() {
        for (name, help) in helps() {
            for line in help.lines() {
                assert!(
                    line.chars().count() <= 79,
                    "`{name} --help` has a line of {} columns, which wraps: {line}",
                    line.chars().count()
                );
            }
        }
    }

    #[test]
    fn every_help_example_is_a_command_acidbase_accepts() {
        let mut n = 0;
        for (name, help) in helps() {
            for example in examples(&help) {
                let words: Vec<&str> = example
                    .split_whitespace()
                    .skip_while(|w| is_assignment(w))
                    .take_while(|w| *w != ">")
                    .collect();
                let parsed = Cli::try_parse_from(&words);
                assert!(
                    parsed.is_ok(),
                    "`{name} --help` example does not parse: {example}\n{}",
                    parsed.err().map(|e| e.to_string()).unwrap_or_default()
                );
                n += 1;
            }
        }
        assert!(n >= 30, "only {n} examples found");
    }
}
