//! Rows of a sweep: one per run, the numbers of its report flattened to dotted keys
//! (the keys `expect` uses), plus a latency CDF. Written once as text and never
//! re-formatted, so every file derived from them is the same byte for byte however
//! the runs were scheduled, resumed or sharded.

use super::spec::{Plan, PlanInfo};
use super::SweepError;
use serde::{Deserialize, Serialize};

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

/// Numbers in Rust's shortest round-trip form (`3`, `0.25`, `1e-7`).
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// Runs run `r` of the plan (single-threaded and deterministic).
pub fn run_one(plan: &Plan, r: usize) -> Row {
    let info = &plan.info;
    let (p, s, k) = info.split(r);
    let scenario = &plan.scenarios[p * info.series.len() + s];
    let out = crate::run::run(scenario, info.seeds[k], None);
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
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
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
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// `runs.csv`: a header, then one line per run in canonical order.
pub fn runs_csv(info: &PlanInfo, rows: &[Row]) -> String {
    let mut header: Vec<String> = ["run", "point", "series", "protocol", "seed"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.push("digest".into());
    header.extend(info.metrics.iter().cloned());
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    let n_series = info.series.len();
    for row in rows {
        let (p, s, k) = info.split(row.run);
        let mut f = vec![
            row.run.to_string(),
            p.to_string(),
            csv_field(&info.series[s]),
            csv_field(&info.protocols[p * n_series + s]),
            info.seeds[k].to_string(),
        ];
        f.extend(info.point_values(p).iter().map(|v| csv_field(v)));
        f.push(row.digest.clone());
        f.extend(row.m.iter().cloned());
        out.push_str(&f.join(","));
        out.push('\n');
    }
    out
}

/// Reads `runs.csv` back: a plan rebuilt from its columns, and the rows. Used when a
/// directory has no `plan.json` (a CSV passed around on its own).
pub fn read_runs_csv(text: &str, file: &str) -> Result<(PlanInfo, Vec<Row>), SweepError> {
    let records = parse_csv(text);
    let bad = |m: String| SweepError::input(format!("{file}: {m}"));
    let header = records
        .first()
        .ok_or_else(|| bad("empty file: expected a runs.csv written by acidbase sweep".into()))?;
    let fixed = ["run", "point", "series", "protocol", "seed"];
    if header.len() < fixed.len() + 1 || header[..fixed.len()] != fixed {
        return Err(bad(format!(
            "the header does not start with {}: not a runs.csv written by acidbase sweep",
            fixed.join(",")
        )));
    }
    let digest = header
        .iter()
        .position(|h| h == "digest")
        .ok_or_else(|| bad("no digest column".into()))?;
    let axis_paths: Vec<String> = header[fixed.len()..digest].to_vec();
    let metrics: Vec<String> = header[digest + 1..].to_vec();
    let mut axes: Vec<super::spec::Axis> = axis_paths
        .iter()
        .map(|p| super::spec::Axis {
            path: p.clone(),
            label: super::spec::default_label(p),
            values: Vec::new(),
            numeric: true,
        })
        .collect();
    let mut series: Vec<String> = Vec::new();
    let mut points: Vec<Vec<String>> = Vec::new();
    let mut seeds: Vec<u64> = Vec::new();
    let mut parsed = Vec::new();
    for (line, rec) in records.iter().enumerate().skip(1) {
        if rec.len() != header.len() {
            return Err(bad(format!(
                "line {}: {} fields, expected {}",
                line + 1,
                rec.len(),
                header.len()
            )));
        }
        let num = |i: usize| {
            rec[i].parse::<u64>().map_err(|_| {
                bad(format!(
                    "line {}: {} = {:?} is not a whole number",
                    line + 1,
                    header[i],
                    rec[i]
                ))
            })
        };
        let seed = num(4)?;
        let vals: Vec<String> = rec[fixed.len()..digest].to_vec();
        if !series.contains(&rec[2]) {
            series.push(rec[2].clone());
        }
        if !points.contains(&vals) {
            points.push(vals.clone());
        }
        if !seeds.contains(&seed) {
            seeds.push(seed);
        }
        for (a, v) in axes.iter_mut().zip(&vals) {
            if !a.values.contains(v) {
                a.values.push(v.clone());
                a.numeric &= v.parse::<f64>().is_ok();
            }
        }
        parsed.push((rec[2].clone(), rec[3].clone(), vals, seed, rec.clone()));
    }
    let point_index: Vec<Vec<usize>> = points
        .iter()
        .map(|p| {
            p.iter()
                .zip(&axes)
                .map(|(v, a)| a.values.iter().position(|x| x == v).unwrap_or(0))
                .collect()
        })
        .collect();
    let mut protocols = vec![String::new(); points.len() * series.len()];
    let mut rows = Vec::new();
    for (s, proto, vals, seed, rec) in parsed {
        let p = points.iter().position(|x| *x == vals).unwrap_or(0);
        let si = series.iter().position(|x| *x == s).unwrap_or(0);
        let k = seeds.iter().position(|x| *x == seed).unwrap_or(0);
        protocols[p * series.len() + si] = proto;
        rows.push(Row {
            run: (p * series.len() + si) * seeds.len() + k,
            digest: rec[digest].clone(),
            m: rec[digest + 1..].to_vec(),
        });
    }
    rows.sort_by_key(|r| r.run);
    let info = PlanInfo {
        name: std::path::Path::new(file)
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| "runs".into(), |n| n.to_string_lossy().to_string()),
        description: String::new(),
        axes,
        series,
        protocols,
        points: point_index,
        seeds,
        metrics,
        charts: Vec::new(),
        fingerprint: String::new(),
    };
    Ok((info, rows))
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
