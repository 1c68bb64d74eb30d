//! Sweeps: many runs of a scenario over a grid of parameters, series (protocols or
//! named variants) and seeds, run in parallel, journalled so nothing is lost, sliced
//! into shards for clusters, and summarised for charts.
//!
//! - [`spec`]: the sweep file and its expansion into a [`Plan`];
//! - [`table`]: one row per run (every numeric report key, flattened) and `runs.csv`;
//! - [`stats`]: mean, sd, percentiles, Student-t and Wilson intervals;
//! - [`summary`]: `summary.csv` / `summary.json`;
//! - [`journal`]: the append-only record of finished runs that `--resume` reads;
//! - [`progress`]: the progress line on stderr.
//!
//! Each run is single-threaded and deterministic, and every output file is derived
//! from the rows sorted by run index, so the files are the same byte for byte at any
//! `--jobs`, after any number of interruptions, and when merged from shards.

pub mod journal;
pub mod progress;
pub mod spec;
pub mod stats;
pub mod summary;
pub mod table;

pub use spec::{Plan, PlanInfo, ReadOptions};

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
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
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard {text:?}: expected I/N, e.g. 0/4"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: I must be a whole number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {text:?}: N must be a whole number"))?;
        Shard::new(index, count).map_err(|m| format!("--shard {text:?}: {m}"))
    }

    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard index {index} of {count}: expected 0 <= I < N"
            ));
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
    ) -> Result<Shard, String> {
        if let Some(s) = flag {
            return Ok(s);
        }
        let num = |name: &str| -> Result<Option<usize>, String> {
            match env(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v:?} is not a whole number")),
            }
        };
        if let Some(i) = num("JOB_COMPLETION_INDEX")? {
            let n = match shards_flag {
                Some(n) => n,
                None => num("ACIDBASE_SHARDS")?.ok_or_else(|| {
                    "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the number of shards is not: pass --shards N (the Job's completions) or set ACIDBASE_SHARDS".to_string()
                })?,
            };
            return Shard::new(i, n).map_err(|m| format!("JOB_COMPLETION_INDEX: {m}"));
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let n = match shards_flag {
                Some(n) => n,
                None => num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                    "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shards N".to_string()
                })?,
            };
            let i = id.checked_sub(min).ok_or_else(|| {
                format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
            })?;
            return Shard::new(i, n).map_err(|m| format!("SLURM_ARRAY_TASK_ID: {m}"));
        }
        if shards_flag.is_some() {
            return Err("--shards N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment (or use --shard I/N)".into());
        }
        Ok(Shard::ALL)
    }
}

/// Chart file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartFormat {
    Svg,
    Png,
}

impl ChartFormat {
    pub fn ext(self) -> &'static str {
        match self {
            ChartFormat::Svg => "svg",
            ChartFormat::Png => "png",
        }
    }
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
    pub format: ChartFormat,
    /// Show the progress line on stderr.
    pub progress: bool,
    /// Stop after this many new runs (tests of `--resume` use it to stop midway).
    pub stop_after: Option<usize>,
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
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

/// Runs (or resumes) a sweep.
pub fn run_sweep(args: &SweepArgs) -> Result<SweepDone, SweepError> {
    let mut warnings = Vec::new();
    let plan = spec::load(&args.file, args.read, &mut warnings)?;
    let info = &plan.info;
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
    std::fs::create_dir_all(&out).map_err(|e| SweepError::io(&out, e))?;
    let header = journal::Header {
        acidbase_sweep: info.name.clone(),
        fingerprint: info.fingerprint.clone(),
        runs: info.runs(),
        shard: [args.shard.index, args.shard.count],
    };
    let jpath = out.join(journal::FILE);
    let mut done: BTreeMap<usize, Row> = BTreeMap::new();
    if jpath.exists() && !args.force {
        if !args.resume {
            return Err(SweepError::input(format!(
                "{} already holds a sweep's journal: add --resume to continue it, or --force to start over",
                out.display()
            )));
        }
        let found = journal::read(&jpath)?;
        if found.header != header {
            return Err(SweepError::input(format!(
                "{}: the journal was written by another sweep or shard ({} runs, fingerprint {}, shard {}/{}), not this one ({} runs, fingerprint {}, shard {}/{}): the sweep file or the acidbase build changed; use another --out, or --force to start over",
                jpath.display(),
                found.header.runs, found.header.fingerprint, found.header.shard[0], found.header.shard[1],
                header.runs, header.fingerprint, header.shard[0], header.shard[1],
            )));
        }
        journal::truncate_to(&jpath, found.valid_len)?;
        for row in found.rows {
            done.insert(row.run, row);
        }
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
    let mut journal = journal::Journal::open(&jpath, &header)?;
    let shard = args.shard;
    let in_shard: Vec<usize> = (0..info.runs()).filter(|r| shard.has(*r)).collect();
    let mut todo: Vec<usize> = in_shard
        .iter()
        .copied()
        .filter(|r| !done.contains_key(r))
        .collect();
    if let Some(n) = args.stop_after {
        todo.truncate(n);
    }
    let resumed = done.len();
    let ran = todo.len();
    let mut bar = progress::Progress::new(in_shard.len(), resumed, args.progress);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Row>();
    let jobs = args.jobs.max(1).min(todo.len().max(1));
    let mut failure: Option<SweepError> = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (plan, todo, next, stop) = (&plan, &todo, &next, &stop);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&r) = todo.get(i) else { break };
                if tx.send(table::run_one(plan, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // One writer: append each row as one line; sync once per batch of rows.
        while let Ok(row) = rx.recv() {
            let mut batch = vec![row];
            batch.extend(rx.try_iter());
            if failure.is_none() {
                if let Err(e) = journal.append(&batch) {
                    failure = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            }
            bar.advance(batch.len());
            for row in batch {
                done.insert(row.run, row);
            }
        }
    });
    bar.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    let complete = in_shard.iter().all(|r| done.contains_key(r));
    let mut files = Vec::new();
    if complete {
        let rows: Vec<Row> = done.into_values().collect();
        journal::rewrite(&jpath, &header, &rows)?;
        files = if shard == Shard::ALL {
            write_outputs(&out, info, &rows, args.format)?
        } else {
            vec![
                write_file(&out.join("plan.json"), &plan_json(info))?,
                write_file(&out.join("runs.csv"), &table::runs_csv(info, &rows))?,
            ]
        };
    }
    Ok(SweepDone {
        out,
        name: info.name.clone(),
        total: info.runs(),
        in_shard: in_shard.len(),
        resumed,
        ran,
        complete,
        files,
        warnings,
        seconds: bar.seconds(),
    })
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
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map_or(String::new(), |e| e.to_string_lossy().to_string())
    ));
    let mut f = std::fs::File::create(&tmp).map_err(|e| SweepError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| SweepError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SweepError::io(path, e))?;
    Ok(path.to_path_buf())
}

/// The final files of a complete sweep: `plan.json`, `runs.csv`, `summary.csv`,
/// `summary.json` and the charts.
pub fn write_outputs(
    out: &Path,
    info: &PlanInfo,
    rows: &[Row],
    format: ChartFormat,
) -> Result<Vec<PathBuf>, SweepError> {
    let groups = summary::summarise(info, rows);
    let mut files = vec![
        write_file(&out.join("plan.json"), &plan_json(info))?,
        write_file(&out.join("runs.csv"), &table::runs_csv(info, rows))?,
        write_file(
            &out.join("summary.csv"),
            &summary::summary_csv(info, &groups),
        )?,
        write_file(
            &out.join("summary.json"),
            &summary::summary_json(info, &groups),
        )?,
    ];
    for chart in &info.charts {
        let path = out.join(format!("{}.{}", chart.file_stem(), format.ext()));
        let bytes = crate::chart::render(chart, info, rows, format)
            .map_err(|m| SweepError::input(format!("chart {}: {m}", path.display())))?;
        files.push(write_bytes(&path, &bytes)?);
    }
    Ok(files)
}

/// What a merge did.
#[derive(Clone, Debug)]
pub struct MergeDone {
    pub out: PathBuf,
    pub runs: usize,
    pub files: Vec<PathBuf>,
}

/// Combines the outputs of shards (directories with `plan.json` and a journal) into
/// what one machine would have written.
pub fn merge(
    dirs: &[PathBuf],
    out: Option<PathBuf>,
    format: ChartFormat,
) -> Result<MergeDone, SweepError> {
    let mut info: Option<PlanInfo> = None;
    let mut rows: BTreeMap<usize, (Row, PathBuf)> = BTreeMap::new();
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
        let found = journal::read(&dir.join(journal::FILE))?;
        for row in found.rows {
            match rows.get(&row.run) {
                Some((prev, from)) if *prev != row => {
                    return Err(SweepError::input(format!(
                        "run {} differs between {} and {}: the shards were run by different acidbase builds",
                        row.run,
                        from.display(),
                        dir.display()
                    )))
                }
                Some(_) => {}
                None => {
                    rows.insert(row.run, (row, dir.clone()));
                }
            }
        }
    }
    let info = info.ok_or_else(|| SweepError::input("merge: give at least one directory"))?;
    let missing: Vec<usize> = (0..info.runs()).filter(|r| !rows.contains_key(r)).collect();
    if !missing.is_empty() {
        let first: Vec<String> = missing.iter().take(5).map(|r| r.to_string()).collect();
        return Err(SweepError::input(format!(
            "merge: {} of {} runs are missing (runs {}{}): a shard is incomplete or not given; finish it with acidbase sweep --shard I/N --resume",
            missing.len(),
            info.runs(),
            first.join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        )));
    }
    let out = out.unwrap_or_else(|| PathBuf::from("output").join(&info.name));
    std::fs::create_dir_all(&out).map_err(|e| SweepError::io(&out, e))?;
    let rows: Vec<Row> = rows.into_values().map(|(r, _)| r).collect();
    let header = journal::Header {
        acidbase_sweep: info.name.clone(),
        fingerprint: info.fingerprint.clone(),
        runs: info.runs(),
        shard: [0, 1],
    };
    journal::rewrite(&out.join(journal::FILE), &header, &rows)?;
    let files = write_outputs(&out, &info, &rows, format)?;
    Ok(MergeDone {
        out,
        runs: rows.len(),
        files,
    })
}

/// A sweep's results read back for charts: from a directory (`plan.json` and the
/// journal or `runs.csv`) or from a `runs.csv` alone.
pub fn load_results(path: &Path) -> Result<(PlanInfo, Vec<Row>), SweepError> {
    let (dir, csv) = if path.is_dir() {
        (path.to_path_buf(), path.join("runs.csv"))
    } else {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    };
    let text = std::fs::read_to_string(&csv).map_err(|e| {
        SweepError::input(format!(
            "{}: {e}: expected a sweep's output directory or its runs.csv",
            csv.display()
        ))
    })?;
    let (from_csv, rows) = table::read_runs_csv(&text, &csv.display().to_string())?;
    let pj = dir.join("plan.json");
    if let Ok(t) = std::fs::read_to_string(&pj) {
        let info: PlanInfo = serde_json::from_str(&t)
            .map_err(|e| SweepError::input(format!("{}: {e}", pj.display())))?;
        if info.runs() == rows.len() && info.metrics == from_csv.metrics {
            // The CSV's run column indexes the plan directly.
            let records = table::parse_csv(&text);
            let digest = records[0].iter().position(|h| h == "digest").unwrap_or(0);
            let mut rows: Vec<Row> = records[1..]
                .iter()
                .map(|rec| Row {
                    run: rec[0].parse().unwrap_or(usize::MAX),
                    digest: rec[digest].clone(),
                    m: rec[digest + 1..].to_vec(),
                })
                .collect();
            rows.sort_by_key(|r| r.run);
            if rows.iter().enumerate().all(|(i, r)| r.run == i) {
                return Ok((info, rows));
            }
        }
    }
    Ok((from_csv, rows))
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
        assert!(Shard::parse("4/4").unwrap_err().contains("0 <= I < N"));
        assert!(Shard::parse("1").unwrap_err().contains("expected I/N"));
        assert!(Shard::parse("a/2").unwrap_err().contains("whole number"));
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
        assert!(Shard::resolve(None, None, env(&bad)).is_err());
        assert!(Shard::resolve(None, Some(2), env(&[]))
            .unwrap_err()
            .contains("needs JOB_COMPLETION_INDEX"));
    }
}
