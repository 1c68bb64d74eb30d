//! Sweeps: many runs of a scenario over a grid of parameters, series (protocols or
//! named variants) and seeds, run in parallel, journalled so nothing is lost, sliced
//! into shards for clusters, and summarised for charts.
//!
//! - [`spec`]: the sweep file and its expansion into a [`Plan`];
//! - [`chart_spec`]: the charts a sweep file asks for (drawn by the `chart` module,
//!   which a sweep is handed as a [`DrawCharts`], so this module does not depend on
//!   it);
//! - [`table`]: one row per run (every numeric report key, flattened) and `runs.csv`;
//! - [`stats`]: mean, sd, percentiles, Student-t and Wilson intervals;
//! - [`summary`]: `summary.csv` / `summary.json`;
//! - [`journal`]: the append-only record of finished runs that `--resume` reads;
//! - [`progress`]: the progress line on stderr.
//!
//! Each run is single-threaded and deterministic, and every output file is derived
//! from the rows sorted by run index, so the files are the same byte for byte at any
//! `--jobs`, after any number of interruptions, and when merged from shards.
//!
//! Memory does not grow with the number of runs beyond one bit per run (which runs
//! are done): runs are journalled in order as they finish (at most
//! [`REORDER_WINDOW`] per job wait for a slower one), and the final files are
//! streamed from the journal in canonical order, each (point, series) summarised as
//! its last seed passes ([`summary::Summariser`]). A sweep of more than
//! `--max-runs` ([`DEFAULT_MAX_RUNS`]) runs is refused before it starts.

pub mod chart_spec;
pub mod journal;
pub mod spec;
pub mod stats;
pub mod summary;
pub mod table;

pub use spec::{Plan, PlanInfo, ReadOptions};

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use table::Row;

/// A sweep that cannot go on: bad input (sweep file, flags, directories) or a file
/// that cannot be written. Exit code 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepError {
    pub message: String,
}

impl SweepError {
    pub fn input(message: impl Into<String>) -> SweepError {
        SweepError {
            message: message.into(),
        }
    }

    fn io(what: &Path, e: std::io::Error) -> SweepError {
        SweepError::input(format!("{}: {e}", what.display()))
    }
}

impl fmt::Display for SweepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SweepError {}

/// A slice of the runs: run `r` belongs to shard `r % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn has(self, run: usize) -> bool {
        run % self.count == self.index
    }

    /// Parses `I/N` (0 ≤ I < N).
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let flag = || format!("--shard {text:?}");
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| ShardError::NotIOverN { text: text.into() })?;
        let whole = |part: &str, which| {
            part.trim().parse().map_err(|_| ShardError::NotWhole {
                text: text.into(),
                which,
            })
        };
        let (index, count) = (whole(i, 'I')?, whole(n, 'N')?);
        Shard::new(index, count).map_err(|e| e.read_from(flag()))
    }

    pub fn new(index: usize, count: usize) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange {
                index,
                count,
                read_from: None,
            });
        }
        Ok(Shard { index, count })
    }

    /// The shard this process runs: `--shard`, else a batch system's array index
    /// (Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` with the count from
    /// `--shards` or `ACIDBASE_SHARDS`; Slurm's `SLURM_ARRAY_TASK_ID`, minus
    /// `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`), else all runs.
    pub fn resolve(
        flag: Option<Shard>,
        shards_flag: Option<usize>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Shard, ShardError> {
        if let Some(s) = flag {
            return Ok(s);
        }
        let num = |name: &'static str| -> Result<Option<usize>, ShardError> {
            match env(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(value) => value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ShardError::NotANumber { name, value }),
            }
        };
        if let Some(i) = num("JOB_COMPLETION_INDEX")? {
            let n = match shards_flag {
                Some(n) => n,
                None => num("ACIDBASE_SHARDS")?.ok_or(ShardError::NoJobShards)?,
            };
            return Shard::new(i, n).map_err(|e| e.read_from("JOB_COMPLETION_INDEX".into()));
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let n = match shards_flag {
                Some(n) => n,
                None => num("SLURM_ARRAY_TASK_COUNT")?.ok_or(ShardError::NoSlurmCount)?,
            };
            let i = id
                .checked_sub(min)
                .ok_or(ShardError::BelowSlurmMin { id, min })?;
            return Shard::new(i, n).map_err(|e| e.read_from("SLURM_ARRAY_TASK_ID".into()));
        }
        if shards_flag.is_some() {
            return Err(ShardError::ShardsWithoutIndex);
        }
        Ok(Shard::ALL)
    }
}

/// A shard that cannot be named: from `--shard`, `--shards` or a batch system's
/// environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardError {
    /// Index `index` of `count` shards is not one (0 <= I < N); `read_from` says
    /// where the numbers came from (`--shard "4/4"`, `JOB_COMPLETION_INDEX`).
    OutOfRange {
        index: usize,
        count: usize,
        read_from: Option<String>,
    },
    /// `--shard TEXT` is not of the form `I/N`.
    NotIOverN { text: String },
    /// Part `which` (`I` or `N`) of `--shard TEXT` is not a whole number.
    NotWhole { text: String, which: char },
    /// Environment variable `name` holds `value`, not a whole number.
    NotANumber { name: &'static str, value: String },
    /// `JOB_COMPLETION_INDEX` is set, but neither `--shards` nor `ACIDBASE_SHARDS`.
    NoJobShards,
    /// `SLURM_ARRAY_TASK_ID` is set, but neither `--shards` nor `SLURM_ARRAY_TASK_COUNT`.
    NoSlurmCount,
    /// `SLURM_ARRAY_TASK_ID` is below `SLURM_ARRAY_TASK_MIN`.
    BelowSlurmMin { id: usize, min: usize },
    /// `--shards N` without an array index in the environment.
    ShardsWithoutIndex,
}

impl ShardError {
    /// This error, said as read from `place`.
    fn read_from(self, place: String) -> ShardError {
        match self {
            ShardError::OutOfRange { index, count, .. } => ShardError::OutOfRange {
                index,
                count,
                read_from: Some(place),
            },
            other => other,
        }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::OutOfRange {
                index,
                count,
                read_from,
            } => {
                if let Some(place) = read_from {
                    write!(f, "{place}: ")?;
                }
                write!(f, "shard index {index} of {count}: expected 0 <= I < N")
            }
            ShardError::NotIOverN { text } => {
                write!(f, "--shard {text:?}: expected I/N, e.g. 0/4")
            }
            ShardError::NotWhole { text, which } => {
                write!(f, "--shard {text:?}: {which} must be a whole number")
            }
            ShardError::NotANumber { name, value } => {
                write!(f, "{name}={value:?} is not a whole number")
            }
            ShardError::NoJobShards => f.write_str(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the number of shards is not: pass --shards N (the Job's completions) or set ACIDBASE_SHARDS",
            ),
            ShardError::NoSlurmCount => f.write_str(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shards N",
            ),
            ShardError::BelowSlurmMin { id, min } => write!(
                f,
                "SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"
            ),
            ShardError::ShardsWithoutIndex => f.write_str(
                "--shards N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment (or use --shard I/N)",
            ),
        }
    }
}

impl std::error::Error for ShardError {}

/// A set of runs of one shard, one bit per run: which are done.
#[derive(Clone, Debug)]
pub struct RunSet {
    bits: Vec<u64>,
    shard: Shard,
    runs: usize,
    len: usize,
}

impl RunSet {
    /// The empty set of `shard`'s runs among `runs`.
    pub fn new(runs: usize, shard: Shard) -> RunSet {
        let n = runs.div_ceil(shard.count);
        RunSet {
            bits: vec![0; n.div_ceil(64)],
            shard,
            runs,
            len: 0,
        }
    }

    /// Whether run `r` is one of the shard's.
    pub fn belongs(&self, r: usize) -> bool {
        r < self.runs && self.shard.has(r)
    }

    pub fn contains(&self, r: usize) -> bool {
        if !self.belongs(r) {
            return false;
        }
        let i = r / self.shard.count;
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    /// Adds run `r` (one of the shard's); false if it was there already.
    pub fn insert(&mut self, r: usize) -> bool {
        assert!(self.belongs(r), "run {r} is not in shard {:?}", self.shard);
        let i = r / self.shard.count;
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let new = self.bits[w] & b == 0;
        self.bits[w] |= b;
        self.len += usize::from(new);
        new
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The largest sweep run without `--max-runs`: runs in the shard this process runs.
/// A million small runs take minutes; the journal and runs.csv take about 1 KB of
/// disk per run.
pub const DEFAULT_MAX_RUNS: usize = 1_000_000;

/// Finished runs per job that may wait in memory for an earlier, slower run before
/// they are journalled in order (so a session's journal lines are sorted). A killed
/// sweep loses at most these; `--resume` runs them again.
pub const REORDER_WINDOW: usize = 64;

/// Draws a whole sweep's charts once its summary is written. Charts are drawn from
/// a sweep's results, so the drawing (and the chart file formats) belong to the
/// `chart` module, which implements this; a sweep is handed it by its caller rather
/// than depending on it.
pub trait DrawCharts {
    /// Draws the charts `info` asks for into `out`, from the summary of every
    /// (point, series) in canonical order (at least the metrics the charts draw);
    /// returns the files written.
    fn draw(
        &self,
        out: &Path,
        info: &PlanInfo,
        groups: &[summary::Group],
    ) -> Result<Vec<PathBuf>, SweepError>;
}

/// What `acidbase sweep` was asked to do.
#[derive(Clone, Debug)]
pub struct SweepArgs {
    pub file: PathBuf,
    pub jobs: usize,
    /// Default: `output/<name>/`, or `output/<name>/shard-I-of-N/` for a shard.
    pub out: Option<PathBuf>,
    pub resume: bool,
    /// Start over even if the directory holds a journal.
    pub force: bool,
    pub shard: Shard,
    pub read: ReadOptions,
    /// Show the progress line on stderr.
    pub progress: bool,
    /// Stop after this many new runs (tests of `--resume` use it to stop midway).
    pub stop_after: Option<usize>,
    /// Refuse a sweep (shard) of more runs than this ([`DEFAULT_MAX_RUNS`]).
    pub max_runs: usize,
}

/// What a sweep did.
#[derive(Clone, Debug)]
pub struct SweepDone {
    pub out: PathBuf,
    pub name: String,
    pub total: usize,
    /// Runs in this shard.
    pub in_shard: usize,
    /// Runs found already done in the journal.
    pub resumed: usize,
    pub ran: usize,
    /// Whether every run of the shard is done (and the final files were written).
    pub complete: bool,
    /// Stopped by [`crate::stop`] before the shard was complete; the journal
    /// holds every run finished, so `--resume` continues.
    pub interrupted: bool,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Runs (or resumes) a sweep; once it is complete, `charts` draws its charts.
pub fn run_sweep(args: &SweepArgs, charts: &dyn DrawCharts) -> Result<SweepDone, SweepError> {
    let mut warnings = Vec::new();
    let shard = args.shard;
    let in_shard_of = |total: usize| {
        if shard.index < total {
            (total - shard.index).div_ceil(shard.count)
        } else {
            0
        }
    };
    let size = |(points, series, seeds): (usize, usize, usize)| {
        let total = points.saturating_mul(series).saturating_mul(seeds);
        let in_shard = in_shard_of(total);
        if in_shard <= args.max_runs {
            return Ok(());
        }
        Err(SweepError::input(format!(
            "{}: {in_shard} runs ({points} points × {series} series × {seeds} seeds{}) is more than --max-runs {}: at thousands of runs a second that is hours, and the journal and runs.csv take about 1 KB per run on disk ({} GB here). Use fewer seeds or points, a shard (--shard I/N), or raise the limit with --max-runs {in_shard}",
            args.file.display(),
            if shard == Shard::ALL { String::new() } else { format!(", in shard {}/{} of {total}", shard.index, shard.count) },
            args.max_runs,
            in_shard.div_ceil(1_000_000).max(1),
        )))
    };
    let plan = spec::load_checked(&args.file, args.read.clone(), &size, &mut warnings)?;
    let info = &plan.info;
    let total = info.runs();
    let in_shard = in_shard_of(total);
    let out = args.out.clone().unwrap_or_else(|| {
        let base = PathBuf::from("output").join(&info.name);
        if args.shard == Shard::ALL {
            base
        } else {
            base.join(format!(
                "shard-{}-of-{}",
                args.shard.index, args.shard.count
            ))
        }
    });
    make_dir(&out)?;
    let header = journal::Header {
        acidbase_sweep: info.name.clone(),
        fingerprint: info.fingerprint.clone(),
        runs: total,
        shard: [shard.index, shard.count],
    };
    let jpath = out.join(journal::FILE);
    let mut done = RunSet::new(total, shard);
    // The sorted stretches of the journal as found (a resumed sweep's earlier sessions).
    let mut earlier: Vec<journal::Source> = Vec::new();
    if jpath.exists() && !args.force {
        if !args.resume {
            return Err(SweepError::input(format!(
                "{} already holds a sweep's journal: add --resume to continue it, or --force to start over",
                out.display()
            )));
        }
        let same = |found: &journal::Header| {
            if *found == header {
                return Ok(());
            }
            Err(SweepError::input(format!(
                "{}: the journal was written by another sweep or shard ({} runs, fingerprint {}, shard {}/{}), not this one ({} runs, fingerprint {}, shard {}/{}): the sweep file or the acidbase build changed; use another --out, or --force to start over",
                jpath.display(),
                found.runs, found.fingerprint, found.shard[0], found.shard[1],
                header.runs, header.fingerprint, header.shard[0], header.shard[1],
            )))
        };
        let found = journal::scan(&jpath, &info.metrics, &same, &mut done)?;
        journal::truncate_to(&jpath, found.valid_len)?;
        earlier = found.sources;
    } else if jpath.exists() {
        // --force: start over, leaving no final file of the old sweep behind.
        for f in [
            journal::FILE,
            "runs.csv",
            "summary.csv",
            "summary.json",
            "plan.json",
        ] {
            let p = out.join(f);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| SweepError::io(&p, e))?;
            }
        }
    }
    let journal = journal::Journal::open(&jpath, &header)?;
    let resumed = done.len();
    let ran = (in_shard - resumed).min(args.stop_after.unwrap_or(usize::MAX));
    let mut bar = crate::tools::progress::Progress::new(
        "runs",
        Some(in_shard as u64),
        resumed as u64,
        args.progress,
    );
    let jobs = args.jobs.max(1).min(ran.max(1));
    let window = REORDER_WINDOW * jobs;
    let (journalled, written_bytes, failure) = run_and_journal(
        &plan,
        &done,
        &journal,
        &mut bar,
        Todo {
            first: shard.index,
            step: shard.count,
            total,
            ran,
        },
        jobs,
        window,
    );
    bar.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    let complete = resumed + journalled == in_shard;
    let mut files = Vec::new();
    if complete {
        let expected_len = journal.opened_len() + written_bytes;
        drop(journal);
        let same = |found: &journal::Header| {
            if *found == header {
                Ok(())
            } else {
                Err(SweepError::input(format!(
                    "{}: changed while the sweep ran",
                    jpath.display()
                )))
            }
        };
        // This session's lines are one sorted stretch after the earlier ones: when
        // the file is exactly the header and the lines this process wrote, the
        // merge below reads (and checks) each line once. Anything else (another
        // process appended, the file was cut) is scanned as on --resume, line by
        // line, so a damaged or repeated line is refused as it would be there.
        let len = std::fs::metadata(&jpath)
            .map_err(|e| SweepError::io(&jpath, e))?
            .len();
        let sources =
            if len == expected_len && journal::read_header(&jpath)? == Some(header.clone()) {
                let mut s = earlier;
                if written_bytes > 0 {
                    s.push(journal::Source {
                        path: jpath.clone(),
                        start: expected_len - written_bytes,
                        end: expected_len,
                    });
                }
                s
            } else {
                let mut check = RunSet::new(total, shard);
                journal::scan(&jpath, &info.metrics, &same, &mut check)?.sources
            };
        let (written, more) =
            write_outputs(&out, info, sources, &header, shard == Shard::ALL, charts)?;
        files = written;
        warnings.extend(more);
    }
    Ok(SweepDone {
        out,
        name: info.name.clone(),
        total,
        in_shard,
        resumed,
        ran: journalled,
        complete,
        interrupted: !complete && crate::stop::requested(),
        files,
        warnings,
        seconds: bar.seconds(),
    })
}

/// The runs a session does: runs `first`, `first + step`, ... below `total` that
/// are not done yet, `ran` of them.
struct Todo {
    first: usize,
    step: usize,
    total: usize,
    ran: usize,
}

/// How long the journal may hold written but unsynced lines: the syncing thread
/// syncs at most this often (and once more at the end), so a lost machine (not a
/// killed process, whose written lines are in the kernel's page cache) loses at
/// most the runs journalled in the last interval, and `--resume` does them again.
pub const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// What the workers and the syncing thread share, under one lock.
struct Shared {
    /// The next run to look at for claiming.
    cursor: usize,
    /// Runs claimed (the `seq`-th claimed is the `seq`-th to journal).
    claimed: usize,
    /// Finished runs' lines waiting for an earlier run, by `seq`.
    waiting: BTreeMap<usize, String>,
    /// Runs written to the journal (in claim order: `seq` < `written`).
    written: usize,
    written_bytes: u64,
    /// Workers waiting for the reorder window to move.
    window_waiters: usize,
    workers_left: usize,
    stop: bool,
    failure: Option<SweepError>,
}

/// A worker leaving (its loop done, or unwinding from a panic): counted out, so the
/// syncing thread ends; after a panic the others stop claiming (the panicking run may
/// be the next to journal, which the others would wait for) and the scope passes
/// the panic on.
struct Leaving<'a> {
    shared: &'a std::sync::Mutex<Shared>,
    moved: &'a std::sync::Condvar,
    ended: &'a std::sync::Condvar,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let mut c = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.workers_left -= 1;
        if std::thread::panicking() {
            c.stop = true;
            self.moved.notify_all();
        }
        if c.workers_left == 0 {
            self.ended.notify_one();
        }
    }
}

/// Runs `todo` on `jobs` workers and journals each finished run in claim order.
///
/// Each worker claims the next run (never more than `window` ahead of the last
/// one written), runs it and formats its journal line without the lock, then
/// under the lock either parks the line (an earlier run is still running) or, if
/// its run is the next to journal, writes it and every parked line after it in
/// one `write`. The lock is held for a claim or a `write` into the page cache,
/// never for a run or a sync: the calling thread syncs the journal every
/// [`SYNC_INTERVAL`] (group commit: one `fdatasync` for every line written since
/// the last) and advances the progress line, so the workers never wait for the
/// disk and the syncing thread costs almost no CPU. Returns the runs and bytes
/// written, and the first error (after which nothing more is claimed).
fn run_and_journal(
    plan: &Plan,
    done: &RunSet,
    journal: &journal::Journal,
    bar: &mut crate::tools::progress::Progress,
    todo: Todo,
    jobs: usize,
    window: usize,
) -> (usize, u64, Option<SweepError>) {
    let shared = std::sync::Mutex::new(Shared {
        cursor: todo.first,
        claimed: 0,
        waiting: BTreeMap::new(),
        written: 0,
        written_bytes: 0,
        window_waiters: 0,
        workers_left: jobs,
        stop: false,
        failure: None,
    });
    // Workers wait on `moved` for the window; the syncing thread on `ended`.
    let (moved, ended) = (std::sync::Condvar::new(), std::sync::Condvar::new());
    let lock = || shared.lock().expect("a sweep worker panicked");
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (shared, moved, ended) = (&shared, &moved, &ended);
            scope.spawn(move || {
                let _leaving = Leaving {
                    shared,
                    moved,
                    ended,
                };
                let mut c = shared.lock().expect("a sweep worker panicked");
                loop {
                    while !c.stop && c.claimed < todo.ran && c.claimed >= c.written + window {
                        c.window_waiters += 1;
                        c = moved.wait(c).expect("a sweep worker panicked");
                        c.window_waiters -= 1;
                    }
                    // Ctrl-C: claim nothing more; what is claimed is journalled.
                    if c.stop || c.claimed >= todo.ran || crate::stop::requested() {
                        break;
                    }
                    while done.contains(c.cursor) {
                        c.cursor += todo.step;
                    }
                    let r = c.cursor;
                    assert!(
                        r < todo.total,
                        "a run to do exists: {} claimed of {}",
                        c.claimed,
                        todo.ran
                    );
                    c.cursor += todo.step;
                    c.claimed += 1;
                    let seq = c.claimed - 1;
                    drop(c);
                    let line = journal::line(&table::run_one(plan, r));
                    c = shared.lock().expect("a sweep worker panicked");
                    if seq != c.written {
                        c.waiting.insert(seq, line);
                        continue;
                    }
                    let mut bytes = line.into_bytes();
                    let mut next = seq + 1;
                    // Lines parked by the other workers are freed after the lock is
                    // released: freeing another thread's allocation takes its
                    // allocator arena's lock, which must not be waited for here.
                    let mut parked = Vec::new();
                    while let Some(l) = c.waiting.remove(&next) {
                        bytes.extend_from_slice(l.as_bytes());
                        parked.push(l);
                        next += 1;
                    }
                    if c.failure.is_none() {
                        match journal.write_lines(&bytes) {
                            Ok(()) => {
                                c.written = next;
                                c.written_bytes += bytes.len() as u64;
                            }
                            Err(e) => {
                                c.failure = Some(e);
                                c.stop = true;
                                ended.notify_one();
                            }
                        }
                    }
                    if c.window_waiters > 0 || c.stop {
                        moved.notify_all();
                    }
                    if !parked.is_empty() {
                        drop(c);
                        drop(parked);
                        c = shared.lock().expect("a sweep worker panicked");
                    }
                }
                drop(c);
            });
        }
        // Group commit: sync every SYNC_INTERVAL what was written since the last
        // sync, and once more when the workers are done.
        let mut synced = 0;
        loop {
            let mut c = lock();
            if c.workers_left > 0 {
                // The timeout decides only when lines reach the disk, never what a
                // run computes or the order lines are written in.
                c = ended
                    .wait_timeout(c, SYNC_INTERVAL)
                    .expect("a sweep worker panicked")
                    .0;
            }
            let (written, finished) = (c.written, c.workers_left == 0);
            let failed = c.failure.is_some();
            drop(c);
            if written > synced && !failed {
                if let Err(e) = journal.sync() {
                    let mut c = lock();
                    c.failure.get_or_insert(e);
                    c.stop = true;
                    moved.notify_all();
                }
            }
            bar.advance((written - synced) as u64);
            synced = written;
            if finished {
                break;
            }
        }
    });
    let c = shared.into_inner().expect("a sweep worker panicked");
    (c.written, c.written_bytes, c.failure)
}

/// Creates an output directory (and its parents), saying so when the path is a file.
pub fn make_dir(dir: &Path) -> Result<(), SweepError> {
    if dir.exists() && !dir.is_dir() {
        return Err(SweepError::input(format!(
            "{}: exists and is not a directory; give --out a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| SweepError::io(dir, e))
}

fn plan_json(info: &PlanInfo) -> String {
    let mut s = serde_json::to_string_pretty(info).expect("a plan serialises");
    s.push('\n');
    s
}

/// Writes `text` to `path` atomically (a temporary file, synced, then renamed), so
/// a reader never sees half a file.
pub fn write_file(path: &Path, text: &str) -> Result<PathBuf, SweepError> {
    write_bytes(path, text.as_bytes())
}

pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<PathBuf, SweepError> {
    let mut f = AtomicFile::create(path)?;
    f.write(bytes)?;
    f.commit()
}

/// A file written through a temporary beside it, renamed into place by `commit`
/// (dropped uncommitted, the temporary is removed).
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    w: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<AtomicFile, SweepError> {
        let tmp = path.with_extension(format!(
            "{}.tmp",
            path.extension()
                .map_or(String::new(), |e| e.to_string_lossy().to_string())
        ));
        let f = std::fs::File::create(&tmp).map_err(|e| SweepError::io(&tmp, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            w: Some(std::io::BufWriter::new(f)),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), SweepError> {
        let w = self.w.as_mut().expect("written before commit");
        w.write_all(bytes).map_err(|e| SweepError::io(&self.tmp, e))
    }

    pub fn commit(mut self) -> Result<PathBuf, SweepError> {
        let w = self.w.take().expect("committed once");
        let f = w
            .into_inner()
            .map_err(|e| SweepError::io(&self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| SweepError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| SweepError::io(&self.path, e))?;
        Ok(self.path.clone())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.w.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The metrics the plan's charts draw (the only ones kept in memory per group).
fn chart_metrics(info: &PlanInfo) -> Vec<String> {
    let mut m: Vec<String> = info.charts.iter().flat_map(|c| c.metrics()).collect();
    m.sort();
    m.dedup();
    m
}

/// The final files of a complete sweep or shard, streamed from the journal's sorted
/// stretches in canonical order: the journal rewritten, `plan.json`, `runs.csv`, and
/// for a whole sweep `summary.csv`, `summary.json` and the charts (drawn by
/// `charts`). The journal is replaced last, so an error leaves it as it was.
pub fn write_outputs(
    out: &Path,
    info: &PlanInfo,
    sources: Vec<journal::Source>,
    header: &journal::Header,
    whole: bool,
    charts: &dyn DrawCharts,
) -> Result<(Vec<PathBuf>, Vec<String>), SweepError> {
    let shard = Shard {
        index: header.shard[0],
        count: header.shard[1],
    };
    let mut journal_out = AtomicFile::create(&out.join(journal::FILE))?;
    journal_out.write(journal::line(header).as_bytes())?;
    let mut runs_csv = AtomicFile::create(&out.join("runs.csv"))?;
    runs_csv.write(table::runs_csv_header(info).as_bytes())?;
    let mut summary = if whole {
        let mut csv = AtomicFile::create(&out.join("summary.csv"))?;
        csv.write(summary::summary_csv_header(info).as_bytes())?;
        let mut json = AtomicFile::create(&out.join("summary.json"))?;
        let (before, after) = summary::summary_json_frame(info);
        json.write(before.as_bytes())?;
        Some((summary::Summariser::new(info, None), csv, json, after))
    } else {
        None
    };
    let keep = chart_metrics(info);
    let mut kept: Vec<summary::Group> = Vec::new();
    let mut next = shard.index;
    let truncated_col = info.metrics.iter().position(|m| m == "truncated");
    let mut truncated = 0usize;
    let mut put = |row: Row, from: &Path| -> Result<(), SweepError> {
        if truncated_col.is_some_and(|c| row.value(c) > 0.0) {
            truncated += 1;
        }
        if row.run != next {
            return Err(SweepError::input(format!(
                "{}: run {next} is missing (found run {} instead)",
                from.display(),
                row.run
            )));
        }
        next += shard.count;
        journal_out.write(journal::line(&row).as_bytes())?;
        runs_csv.write(table::runs_csv_line(info, &row).as_bytes())?;
        if let Some((s, csv, json, _)) = &mut summary {
            if let Some(mut g) = s.push(&row) {
                csv.write(summary::summary_csv_lines(info, &g).as_bytes())?;
                json.write(summary::summary_json_group(&g, kept.is_empty()).as_bytes())?;
                g.metrics.retain(|m, _| keep.contains(m));
                kept.push(g);
            }
        }
        Ok(())
    };
    journal::merge_sources(sources, &info.metrics, info.runs(), out, &mut put)?;
    if next < info.runs() {
        return Err(SweepError::input(format!(
            "{}: run {next} is missing",
            out.join(journal::FILE).display()
        )));
    }
    let mut files = vec![
        write_file(&out.join("plan.json"), &plan_json(info))?,
        runs_csv.commit()?,
    ];
    if let Some((s, csv, mut json, after)) = summary {
        let rest = s.finish();
        assert!(rest.is_empty(), "every group of a complete sweep closes");
        json.write(summary::summary_json_groups_end(!kept.is_empty()).as_bytes())?;
        json.write(after.as_bytes())?;
        files.push(csv.commit()?);
        files.push(json.commit()?);
        files.extend(charts.draw(out, info, &kept)?);
    }
    journal_out.commit()?;
    let mut warnings = Vec::new();
    if truncated > 0 {
        warnings.push(format!(
            "{truncated} of the runs were cut short by max_events (the truncated column is 1): their numbers are of a run that did not reach its end; raise max_events or shorten those runs"
        ));
    }
    Ok((files, warnings))
}

/// What a merge did.
#[derive(Clone, Debug)]
pub struct MergeDone {
    pub out: PathBuf,
    pub runs: usize,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Combines the outputs of shards (directories with `plan.json` and a journal) into
/// what one machine would have written; `charts` draws the charts.
pub fn merge(
    dirs: &[PathBuf],
    out: Option<PathBuf>,
    charts: &dyn DrawCharts,
) -> Result<MergeDone, SweepError> {
    let mut info: Option<PlanInfo> = None;
    let mut sources = Vec::new();
    let mut have: Option<RunSet> = None;
    for dir in dirs {
        let pj = dir.join("plan.json");
        let text = std::fs::read_to_string(&pj).map_err(|e| {
            SweepError::input(format!(
                "{}: {e}: expected a sweep output directory (a shard written by acidbase sweep --shard I/N)",
                pj.display()
            ))
        })?;
        let this: PlanInfo = serde_json::from_str(&text)
            .map_err(|e| SweepError::input(format!("{}: {e}", pj.display())))?;
        this.check()
            .map_err(|m| SweepError::input(format!("{}: {m}", pj.display())))?;
        match &info {
            Some(i) if i.fingerprint != this.fingerprint => {
                return Err(SweepError::input(format!(
                    "{}: belongs to another sweep (fingerprint {}, expected {} as in {})",
                    dir.display(),
                    this.fingerprint,
                    i.fingerprint,
                    dirs[0].display()
                )))
            }
            Some(_) => {}
            None => info = Some(this),
        }
        let i = info.as_ref().expect("set above");
        let jp = dir.join(journal::FILE);
        let same = |h: &journal::Header| {
            if h.fingerprint == i.fingerprint && h.runs == i.runs() {
                Ok(())
            } else {
                Err(SweepError::input(format!(
                    "{}: the journal belongs to another sweep than plan.json beside it (fingerprint {}, {} runs; plan.json: {}, {} runs)",
                    jp.display(), h.fingerprint, h.runs, i.fingerprint, i.runs()
                )))
            }
        };
        let mut mine = RunSet::new(i.runs(), Shard::ALL);
        let found = journal::scan(&jp, &i.metrics, &same, &mut mine)?;
        let all = have.get_or_insert_with(|| RunSet::new(i.runs(), Shard::ALL));
        for r in 0..i.runs() {
            if mine.contains(r) {
                all.insert(r);
            }
        }
        sources.extend(found.sources);
    }
    let info = info.ok_or_else(|| SweepError::input("merge: give at least one directory"))?;
    let have = have.expect("set with info");
    let missing = info.runs() - have.len();
    if missing > 0 {
        let first: Vec<String> = (0..info.runs())
            .filter(|r| !have.contains(*r))
            .take(5)
            .map(|r| r.to_string())
            .collect();
        return Err(SweepError::input(format!(
            "merge: {} of {} runs are missing (runs {}{}): a shard is incomplete or not given; finish it with acidbase sweep --shard I/N --resume",
            missing,
            info.runs(),
            first.join(", "),
            if missing > 5 { ", ..." } else { "" }
        )));
    }
    let out = out.unwrap_or_else(|| PathBuf::from("output").join(&info.name));
    make_dir(&out)?;
    let header = journal::Header {
        acidbase_sweep: info.name.clone(),
        fingerprint: info.fingerprint.clone(),
        runs: info.runs(),
        shard: [0, 1],
    };
    let (files, warnings) = write_outputs(&out, &info, sources, &header, true, charts)?;
    Ok(MergeDone {
        out,
        runs: info.runs(),
        files,
        warnings,
    })
}

/// A sweep's results read back for charts, in bounded memory: from a directory
/// (`plan.json` and `runs.csv`) or from a `runs.csv` (with the `plan.json` beside it
/// if there is one). Returns the plan, whether it came from a `plan.json`, and the
/// summary of every (point, series) for the metrics `keep` names.
pub fn load_summary(
    path: &Path,
    keep: &dyn Fn(&PlanInfo) -> Vec<String>,
) -> Result<(PlanInfo, bool, Vec<summary::Group>), SweepError> {
    let (dir, csv) = if path.is_dir() {
        (path.to_path_buf(), path.join("runs.csv"))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    let pj = dir.join("plan.json");
    let plan: Option<PlanInfo> = match std::fs::read_to_string(&pj) {
        Ok(t) => {
            let info: PlanInfo = serde_json::from_str(&t)
                .map_err(|e| SweepError::input(format!("{}: {e}", pj.display())))?;
            info.check()
                .map_err(|m| SweepError::input(format!("{}: {m}", pj.display())))?;
            Some(info)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(SweepError::input(format!("{}: {e}", pj.display()))),
    };
    let info = match &plan {
        Some(i) => i.clone(),
        // The plan rebuilt from the columns: a first pass over the file.
        None => table::plan_of_csv(&csv)?,
    };
    let keep = keep(&info);
    let mut s = summary::Summariser::new(&info, Some(&keep));
    let mut groups: BTreeMap<(usize, String), summary::Group> = BTreeMap::new();
    table::read_runs_csv(&csv, &info, plan.is_some(), &mut |row| {
        if let Some(g) = s.push(&row) {
            groups.insert((g.point, g.series.clone()), g);
        }
    })?;
    for g in s.finish() {
        groups.insert((g.point, g.series.clone()), g);
    }
    let order: BTreeMap<&str, usize> = info
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut groups: Vec<summary::Group> = groups.into_values().collect();
    groups.sort_by_key(|g| (g.point, order.get(g.series.as_str()).copied()));
    Ok((info, plan.is_some(), groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shard_flags_parse_and_check() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(
            Shard::parse("4/4").map_err(|e| e.to_string()),
            Err("--shard \"4/4\": shard index 4 of 4: expected 0 <= I < N".into())
        );
        assert!(Shard::parse("1")
            .unwrap_err()
            .to_string()
            .contains("expected I/N"));
        assert_eq!(
            Shard::parse("1/b").map_err(|e| e.to_string()),
            Err("--shard \"1/b\": N must be a whole number".into())
        );
        assert!(Shard::parse("a/2")
            .unwrap_err()
            .to_string()
            .contains("whole number"));
        let s = Shard { index: 1, count: 3 };
        assert_eq!((0..9).filter(|r| s.has(*r)).collect::<Vec<_>>(), [1, 4, 7]);
    }

    #[test]
    fn the_shard_comes_from_flags_or_a_batch_system() {
        let flag = Shard { index: 2, count: 5 };
        assert_eq!(
            Shard::resolve(Some(flag), None, env(&[("JOB_COMPLETION_INDEX", "1")])),
            Ok(flag)
        );
        assert_eq!(Shard::resolve(None, None, env(&[])), Ok(Shard::ALL));
        let k8s = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(
            Shard::resolve(None, Some(8), env(&k8s)),
            Ok(Shard { index: 3, count: 8 })
        );
        assert!(Shard::resolve(None, None, env(&k8s))
            .unwrap_err()
            .to_string()
            .contains("--shards N"));
        let k8s_env = [("JOB_COMPLETION_INDEX", "3"), ("ACIDBASE_SHARDS", "4")];
        assert_eq!(
            Shard::resolve(None, None, env(&k8s_env)),
            Ok(Shard { index: 3, count: 4 })
        );
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "6"),
        ];
        assert_eq!(
            Shard::resolve(None, None, env(&slurm)),
            Ok(Shard { index: 4, count: 6 })
        );
        let bad = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "6"),
        ];
        assert_eq!(
            Shard::resolve(None, None, env(&bad)).map_err(|e| e.to_string()),
            Err("SLURM_ARRAY_TASK_ID: shard index 7 of 6: expected 0 <= I < N".into())
        );
        assert!(Shard::resolve(None, Some(2), env(&[]))
            .unwrap_err()
            .to_string()
            .contains("needs JOB_COMPLETION_INDEX"));
    }
}
