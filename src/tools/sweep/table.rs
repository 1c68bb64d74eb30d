//! Rows of a sweep: one per run, the numbers of its report flattened to dotted keys
//! (the keys `expect` uses), plus a latency CDF. Written once as text and never
//! re-formatted, so every file derived from them is the same byte for byte however
//! the runs were scheduled, resumed or sharded.

use super::spec::{Plan, PlanInfo};
use super::SweepError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Quantiles of the latency of definite answers stored per run, for CDF charts:
/// (column suffix, quantile).
pub const LATENCY_QUANTILES: [(&str, f64); 15] = [
    ("p1", 0.01),
    ("p5", 0.05),
    ("p10", 0.10),
    ("p20", 0.20),
    ("p30", 0.30),
    ("p40", 0.40),
    ("p50", 0.50),
    ("p60", 0.60),
    ("p70", 0.70),
    ("p80", 0.80),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("p100", 1.0),
];

/// Prefix of the latency CDF columns.
pub const CDF_PREFIX: &str = "latency_cdf_ms.";

/// The metric columns: every numeric report key but `seed` (a column of its own),
/// then the latency CDF.
pub fn metric_columns() -> Vec<String> {
    let mut m: Vec<String> = crate::report::metric_names()
        .into_iter()
        .filter(|k| k != "seed")
        .collect();
    m.extend(
        LATENCY_QUANTILES
            .iter()
            .map(|(name, _)| format!("{CDF_PREFIX}{name}")),
    );
    m
}

/// One finished run, as the journal stores it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Index in canonical order.
    pub run: usize,
    pub digest: String,
    /// One formatted number per metric column.
    pub m: Vec<String>,
}

impl Row {
    pub fn value(&self, column: usize) -> f64 {
        self.m
            .get(column)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Numbers in their shortest round-trip form (`3`, `0.25`, `1e-7`): plain decimals
/// for 1e-6 ≤ |v| < 1e21 (as JavaScript prints numbers), scientific notation
/// outside, so no number takes more than about 25 characters (`1e-308`, not 310
/// digits). NaN (undefined) is the empty string.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v == 0.0 || v.is_infinite() || (1e-6..1e21).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Checks one metric field of a run as written (journal or runs.csv): empty
/// (undefined) or a finite number. Returns the reason it is not.
fn check_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(()),
        Ok(_) => Err(format!(
            "{v:?} is not a finite number (an undefined value is written as an empty field)"
        )),
        Err(_) => Err(format!("{v:?} is not a number")),
    }
}

/// Checks a run's digest as written: 16 lowercase hex digits.
fn check_digest(d: &str) -> Result<(), String> {
    if d.len() == 16
        && d.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("digest {d:?} is not 16 hex digits"))
    }
}

/// Checks the shape of a row against a plan with `metrics` columns and `runs` runs:
/// the run index, the digest and every value.
pub(super) fn check_row(row: &Row, metrics: &[String], runs: usize) -> Result<(), String> {
    if row.run >= runs {
        return Err(format!(
            "run {} is out of range (the sweep has {runs} runs)",
            row.run
        ));
    }
    check_digest(&row.digest)?;
    if row.m.len() != metrics.len() {
        return Err(format!(
            "{} metric values, expected {} (one per metric column)",
            row.m.len(),
            metrics.len()
        ));
    }
    for (v, name) in row.m.iter().zip(metrics) {
        check_value(v).map_err(|m| format!("{name}: {m}"))?;
    }
    Ok(())
}

/// Runs run `r` of the plan (single-threaded and deterministic).
pub fn run_one(plan: &Plan, r: usize) -> Row {
    let info = &plan.info;
    let (p, s, k) = info.split(r);
    let scenario = &plan.scenarios[p * info.series.len() + s];
    let out = scenario.run(info.seeds[k], None);
    let json = serde_json::to_value(&out.report).expect("a report serialises");
    let m = info
        .metrics
        .iter()
        .map(|name| match name.strip_prefix(CDF_PREFIX) {
            Some(q) => {
                let q = LATENCY_QUANTILES
                    .iter()
                    .find(|(n, _)| *n == q)
                    .map_or(f64::NAN, |(_, q)| *q);
                fmt_f64(out.results.latency.quantile(q) as f64 / 1000.0)
            }
            None => fmt_f64(crate::report::lookup(&json, name).unwrap_or(f64::NAN)),
        })
        .collect();
    Row {
        run: r,
        digest: out.report.digest,
        m,
    }
}

/// A CSV field, quoted when it must be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits CSV text into records of fields (RFC 4180 quoting).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut r = CsvReader::new(text.as_bytes());
    let mut records = Vec::new();
    while let Ok(Some((_, rec))) = r.next_record() {
        records.push(rec);
    }
    records
}

/// Longest record (line) read from a runs.csv or a journal: far more than any row
/// acidbase writes; a longer one is not such a file.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads CSV records one at a time (RFC 4180 quoting, a quoted field may span
/// lines), with the line each starts on, so a file of any length is read in
/// bounded memory.
pub struct CsvReader<R> {
    r: R,
    line: usize,
}

impl<R: std::io::BufRead> CsvReader<R> {
    pub fn new(r: R) -> CsvReader<R> {
        CsvReader { r, line: 0 }
    }

    /// The next record and its 1-based line, `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, String> {
        let mut record = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut started = false;
        let first = self.line + 1;
        let mut size = 0;
        loop {
            let mut buf = Vec::new();
            let n = std::io::BufRead::read_until(
                &mut std::io::Read::take(&mut self.r, (MAX_LINE_BYTES + 1) as u64),
                b'\n',
                &mut buf,
            )
            .map_err(|e| e.to_string())?;
            if n == 0 {
                if quoted {
                    return Err(format!("line {first}: a quoted field is not closed"));
                }
                if started {
                    record.push(field);
                    return Ok(Some((first, record)));
                }
                return Ok(None);
            }
            self.line += 1;
            size += n;
            if size > MAX_LINE_BYTES {
                return Err(format!(
                    "line {first} is longer than {MAX_LINE_BYTES} bytes: not a runs.csv written by acidbase sweep"
                ));
            }
            let text = String::from_utf8(buf)
                .map_err(|_| format!("line {}: not UTF-8 text", self.line))?;
            started = true;
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match (quoted, c) {
                    (true, '"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    (true, '"') => quoted = false,
                    (true, c) => field.push(c),
                    (false, '"') => quoted = true,
                    (false, ',') => record.push(std::mem::take(&mut field)),
                    (false, '\n') => {
                        record.push(field);
                        return Ok(Some((first, record)));
                    }
                    (false, '\r') => {}
                    (false, c) => field.push(c),
                }
            }
        }
    }
}

/// The fixed columns that open `runs.csv`.
pub const FIXED_COLUMNS: [&str; 5] = ["run", "point", "series", "protocol", "seed"];

/// The columns of `runs.csv` for a plan.
pub fn runs_csv_columns(info: &PlanInfo) -> Vec<String> {
    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.push("digest".into());
    header.extend(info.metrics.iter().cloned());
    header
}

/// The header line of `runs.csv`.
pub fn runs_csv_header(info: &PlanInfo) -> String {
    let mut out = runs_csv_columns(info)
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    out
}

/// The fields that `runs.csv` gives run `r` before its digest (what the plan says
/// of it).
fn plan_fields(info: &PlanInfo, r: usize) -> Vec<String> {
    let (p, s, k) = info.split(r);
    let mut f = vec![
        r.to_string(),
        p.to_string(),
        info.series[s].clone(),
        info.protocols[p * info.series.len() + s].clone(),
        info.seeds[k].to_string(),
    ];
    f.extend(info.point_values(p).iter().map(|v| v.to_string()));
    f
}

/// One line of `runs.csv`, written into one string (a sweep's final files write
/// one per run; no field is copied twice).
pub fn runs_csv_line(info: &PlanInfo, row: &Row) -> String {
    let plan = plan_fields(info, row.run);
    let mut out = String::with_capacity(
        plan.iter()
            .chain(&row.m)
            .map(|f| f.len() + 1)
            .sum::<usize>()
            + row.digest.len()
            + 1,
    );
    let fields = plan
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(row.digest.as_str()))
        .chain(row.m.iter().map(String::as_str));
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push_str(&csv_field(f));
        } else {
            out.push_str(f);
        }
    }
    out.push('\n');
    out
}

/// `runs.csv`: a header, then one line per run in canonical order.
pub fn runs_csv(info: &PlanInfo, rows: &[Row]) -> String {
    let mut out = runs_csv_header(info);
    for row in rows {
        out.push_str(&runs_csv_line(info, row));
    }
    out
}

fn open_csv(
    path: &std::path::Path,
) -> Result<CsvReader<std::io::BufReader<std::fs::File>>, SweepError> {
    let f = std::fs::File::open(path).map_err(|e| {
        SweepError::input(format!(
            "{}: {e}: expected a sweep's output directory or its runs.csv",
            path.display()
        ))
    })?;
    Ok(CsvReader::new(std::io::BufReader::new(f)))
}

/// The header of a runs.csv: (axis paths, digest column, metric names).
fn csv_layout(header: &[String]) -> Result<(Vec<String>, usize, Vec<String>), String> {
    if header.len() < FIXED_COLUMNS.len() + 1 || header[..FIXED_COLUMNS.len()] != FIXED_COLUMNS {
        return Err(format!(
            "line 1: the header does not start with {}: not a runs.csv written by acidbase sweep",
            FIXED_COLUMNS.join(",")
        ));
    }
    let digest = header.iter().position(|h| h == "digest").ok_or_else(|| {
        "line 1: no digest column: not a runs.csv written by acidbase sweep".to_string()
    })?;
    let metrics: Vec<String> = header[digest + 1..].to_vec();
    for (i, m) in metrics.iter().enumerate() {
        if metrics[..i].contains(m) {
            return Err(format!("line 1: column {m:?} appears twice"));
        }
    }
    Ok((
        header[FIXED_COLUMNS.len()..digest].to_vec(),
        digest,
        metrics,
    ))
}

/// Checks one data record's shape: its field count, whole numbers where they must
/// be, the digest and every metric value (empty, or a finite number).
fn check_record(
    header: &[String],
    digest: usize,
    line: usize,
    rec: &[String],
) -> Result<(), String> {
    if rec.len() != header.len() {
        return Err(format!(
            "line {line}: {} fields, expected {} (one per column of the header)",
            rec.len(),
            header.len()
        ));
    }
    for i in [0, 1, 4] {
        if rec[i].parse::<u64>().is_err() {
            return Err(format!(
                "line {line}: column {} = {:?} is not a whole number",
                header[i], rec[i]
            ));
        }
    }
    check_digest(&rec[digest]).map_err(|m| format!("line {line}: {m}"))?;
    for (v, name) in rec[digest + 1..].iter().zip(&header[digest + 1..]) {
        check_value(v).map_err(|m| format!("line {line}: column {name}: {m}"))?;
    }
    Ok(())
}

/// The plan of a runs.csv that has no plan.json beside it, rebuilt from its
/// columns (a first pass over the file, checking every record's shape).
pub fn plan_of_csv(path: &std::path::Path) -> Result<PlanInfo, SweepError> {
    let file = path.display().to_string();
    let bad = |m: String| SweepError::input(format!("{file}: {m}"));
    let mut csv = open_csv(path)?;
    let (_, header) = csv
        .next_record()
        .map_err(&bad)?
        .ok_or_else(|| bad("empty file: expected a runs.csv written by acidbase sweep".into()))?;
    let (axis_paths, digest, metrics) = csv_layout(&header).map_err(&bad)?;
    plan_from_csv(path, &header, &axis_paths, digest, metrics)
}

/// Reads `runs.csv` (in bounded memory) and hands each row to `f`.
///
/// `from_plan_json`: `info` is the sweep's `plan.json` beside the file; then every
/// row must be the run the plan says (its point, series, protocol, seed and axis
/// values), every run must be there once, and the columns must be the plan's: any
/// disagreement is an error that says what disagrees. Otherwise `info` was rebuilt
/// from the file's columns ([`plan_of_csv`]) and rows are placed by their series,
/// axis values and seed, each at most once.
pub fn read_runs_csv(
    path: &std::path::Path,
    info: &PlanInfo,
    from_plan_json: bool,
    f: &mut dyn FnMut(Row),
) -> Result<(), SweepError> {
    let file = path.display().to_string();
    let bad = |m: String| SweepError::input(format!("{file}: {m}"));
    let mut csv = open_csv(path)?;
    let (_, header) = csv
        .next_record()
        .map_err(&bad)?
        .ok_or_else(|| bad("empty file: expected a runs.csv written by acidbase sweep".into()))?;
    let (axis_paths, digest, _) = csv_layout(&header).map_err(&bad)?;
    let want = runs_csv_columns(info);
    if header != want {
        let missing: Vec<&String> = want.iter().filter(|c| !header.contains(c)).collect();
        let extra: Vec<&String> = header.iter().filter(|c| !want.contains(c)).collect();
        let list = |v: &[&String]| v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("runs.csv lacks {}", list(&missing)));
        }
        if !extra.is_empty() {
            parts.push(format!(
                "runs.csv has {} that plan.json does not",
                list(&extra)
            ));
        }
        if parts.is_empty() {
            parts.push("the same columns in another order".to_string());
        }
        return Err(bad(format!(
            "line 1: the columns disagree with the plan.json beside it ({}): the two files come from different sweeps or builds",
            parts.join("; ")
        )));
    }
    let runs = info.runs();
    let mut seen = super::RunSet::new(runs, super::Shard::ALL);
    let mut count = 0usize;
    let index = (!from_plan_json).then(|| csv_index(info));
    while let Some((line, rec)) = csv.next_record().map_err(&bad)? {
        check_record(&header, digest, line, &rec).map_err(&bad)?;
        let r = match &index {
            None => {
                let r: usize = rec[0].parse().unwrap_or(usize::MAX);
                if r >= runs {
                    return Err(bad(format!(
                        "line {line}: run {} is out of range: the plan.json beside it describes {runs} runs",
                        rec[0]
                    )));
                }
                let want = plan_fields(info, r);
                if let Some(i) = (0..want.len()).find(|&i| rec[i] != want[i]) {
                    return Err(bad(format!(
                        "line {line}: run {r} has {} = {:?}, but the plan.json beside it says {:?}: the two files come from different sweeps",
                        header[i], rec[i], want[i]
                    )));
                }
                r
            }
            Some(index) => index
                .run_of(&rec, &axis_paths)
                .ok_or_else(|| bad(format!("line {line}: changed while it was read")))?,
        };
        if !seen.insert(r) {
            return Err(bad(if index.is_none() {
                format!("line {line}: run {r} appears a second time")
            } else {
                format!(
                    "line {line}: series {:?} at seed {} and these axis values appears a second time",
                    rec[2], rec[4]
                )
            }));
        }
        count += 1;
        f(Row {
            run: r,
            digest: rec[digest].clone(),
            m: rec[digest + 1..].to_vec(),
        });
    }
    if index.is_none() && count != runs {
        let first = (0..runs).find(|r| !seen.contains(*r)).unwrap_or(0);
        return Err(bad(format!(
            "{count} rows, but the plan.json beside it describes {runs} runs (run {first} is missing): the two files disagree; re-run acidbase merge, or the sweep with --resume"
        )));
    }
    Ok(())
}

/// Indices of a rebuilt plan's series, points and seeds, for placing CSV rows.
struct CsvIndex {
    series: BTreeMap<String, usize>,
    points: BTreeMap<Vec<String>, usize>,
    seeds: BTreeMap<u64, usize>,
    n_series: usize,
    n_seeds: usize,
}

fn csv_index(info: &PlanInfo) -> CsvIndex {
    CsvIndex {
        series: info
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect(),
        points: (0..info.points.len())
            .map(|p| {
                (
                    info.point_values(p).iter().map(|v| v.to_string()).collect(),
                    p,
                )
            })
            .collect(),
        seeds: info
            .seeds
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i))
            .collect(),
        n_series: info.series.len(),
        n_seeds: info.seeds.len(),
    }
}

impl CsvIndex {
    fn run_of(&self, rec: &[String], axis_paths: &[String]) -> Option<usize> {
        let vals: Vec<String> =
            rec[FIXED_COLUMNS.len()..FIXED_COLUMNS.len() + axis_paths.len()].to_vec();
        let p = *self.points.get(&vals)?;
        let s = *self.series.get(&rec[2])?;
        let k = *self.seeds.get(&rec[4].parse::<u64>().ok()?)?;
        Some((p * self.n_series + s) * self.n_seeds + k)
    }
}

/// Rebuilds a plan from the columns of a runs.csv that has no plan.json beside it
/// (a first pass over the file).
fn plan_from_csv(
    path: &std::path::Path,
    header: &[String],
    axis_paths: &[String],
    digest: usize,
    metrics: Vec<String>,
) -> Result<PlanInfo, SweepError> {
    let file = path.display().to_string();
    let bad = |m: String| SweepError::input(format!("{file}: {m}"));
    let mut csv = open_csv(path)?;
    csv.next_record().map_err(&bad)?;
    let mut axes: Vec<super::spec::Axis> = axis_paths
        .iter()
        .map(|p| super::spec::Axis {
            path: p.clone(),
            label: super::spec::default_label(p),
            values: Vec::new(),
            numeric: true,
        })
        .collect();
    let mut axis_seen: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); axes.len()];
    let mut series: Vec<String> = Vec::new();
    let mut series_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut points: Vec<Vec<usize>> = Vec::new();
    let mut points_seen: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    let mut seeds: Vec<u64> = Vec::new();
    let mut seeds_seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut protocol_of: BTreeMap<(usize, usize), (String, usize)> = BTreeMap::new();
    while let Some((line, rec)) = csv.next_record().map_err(&bad)? {
        check_record(header, digest, line, &rec).map_err(&bad)?;
        let seed: u64 = rec[4].parse().unwrap_or(0);
        let s = *series_seen.entry(rec[2].clone()).or_insert_with(|| {
            series.push(rec[2].clone());
            series.len() - 1
        });
        if let std::collections::btree_map::Entry::Vacant(e) = seeds_seen.entry(seed) {
            e.insert(seeds.len());
            seeds.push(seed);
        }
        let mut idx = Vec::with_capacity(axes.len());
        for (i, a) in axes.iter_mut().enumerate() {
            let v = &rec[FIXED_COLUMNS.len() + i];
            let at = *axis_seen[i].entry(v.clone()).or_insert_with(|| {
                a.values.push(v.clone());
                a.numeric &= v.parse::<f64>().is_ok_and(f64::is_finite);
                a.values.len() - 1
            });
            idx.push(at);
        }
        let p = *points_seen.entry(idx.clone()).or_insert_with(|| {
            points.push(idx);
            points.len() - 1
        });
        match protocol_of.get(&(p, s)) {
            Some((proto, first)) if *proto != rec[3] => {
                return Err(bad(format!(
                    "line {line}: series {:?} runs protocol {:?} here but {proto:?} at line {first}, at the same axis values",
                    rec[2], rec[3]
                )))
            }
            Some(_) => {}
            None => {
                protocol_of.insert((p, s), (rec[3].clone(), line));
            }
        }
    }
    if seeds.is_empty() {
        return Err(bad(
            "no rows after the header: there is nothing to draw".into()
        ));
    }
    let protocols = (0..points.len())
        .flat_map(|p| (0..series.len()).map(move |s| (p, s)))
        .map(|k| {
            protocol_of
                .get(&k)
                .map_or_else(String::new, |(v, _)| v.clone())
        })
        .collect();
    Ok(PlanInfo {
        name: path
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "runs".into(), |n| n.to_string_lossy().to_string()),
        description: String::new(),
        axes,
        series,
        protocols,
        points,
        seeds,
        metrics,
        charts: Vec::new(),
        fingerprint: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_with_quotes() {
        let line = ["a", "b,c", "say \"hi\""]
            .iter()
            .map(|s| csv_field(s))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(line, "a,\"b,c\",\"say \"\"hi\"\"\"");
        assert_eq!(
            parse_csv(&format!("{line}\nx,,z\n")),
            vec![vec!["a", "b,c", "say \"hi\""], vec!["x", "", "z"]]
        );
    }

    #[test]
    fn numbers_are_written_once_in_shortest_form() {
        assert_eq!(fmt_f64(3.0), "3");
        assert_eq!(fmt_f64(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(fmt_f64(f64::NAN), "");
    }

    #[test]
    fn columns_hold_every_report_number_and_the_cdf() {
        let c = metric_columns();
        for k in [
            "violations.atomicity",
            "availability",
            "latency_ms.p99",
            "locks.lock_ms_total",
        ] {
            assert!(c.iter().any(|x| x == k), "{k} missing from {c:?}");
        }
        assert!(!c.iter().any(|x| x == "seed"));
        assert_eq!(c.last().map(String::as_str), Some("latency_cdf_ms.p100"));
    }
}
