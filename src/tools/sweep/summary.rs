//! `summary.csv` and `summary.json`: per (point, series) and metric, the statistics of
//! [`super::stats`] over the seeds.

use super::spec::PlanInfo;
use super::stats::{Acc, Describe};
use super::table::{csv_field, fmt_f64, Row};
use serde::Serialize;
use std::collections::BTreeMap;

/// Rate metrics and the count they are a share of: their interval is a Wilson
/// interval over the pooled count (e.g. all requests of all seeds).
pub const RATES: &[(&str, &str)] = &[("availability", "txns.requests")];

/// Statistics of one (point, series).
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub point: usize,
    pub series: String,
    pub protocol: String,
    /// Axis path → value.
    pub axes: BTreeMap<String, String>,
    /// Metric → statistics.
    pub metrics: BTreeMap<String, Describe>,
}

/// All groups, in canonical order (point, then series).
pub fn summarise(info: &PlanInfo, rows: &[Row]) -> Vec<Group> {
    let mut s = Summariser::new(info, None);
    for r in rows {
        s.push(r);
    }
    s.finish()
}

/// Summarises rows fed one at a time, in bounded memory: a group (point, series) is
/// open while its rows arrive and is handed back complete when the last of its seeds
/// has come. Rows in canonical order (as every acidbase file has them) keep one
/// group open at a time: its values, up to [`super::stats::EXACT_MAX_RUNS`] per
/// metric, and past that a bounded histogram per metric.
pub struct Summariser<'a> {
    info: &'a PlanInfo,
    /// The metric columns described (all, or those the charts need), with each
    /// one's pooling denominator (name and column) for rates.
    columns: Vec<(usize, Option<(&'static str, usize)>)>,
    open: BTreeMap<usize, (u64, Vec<Acc>)>,
    done: Vec<bool>,
}

impl<'a> Summariser<'a> {
    /// `keep`: only these metrics (unknown names are left out); all when `None`.
    pub fn new(info: &'a PlanInfo, keep: Option<&[String]>) -> Summariser<'a> {
        let column = |name: &str| info.metrics.iter().position(|m| m == name);
        let columns = info
            .metrics
            .iter()
            .enumerate()
            .filter(|(_, m)| keep.is_none_or(|k| k.contains(m)))
            .map(|(c, name)| {
                let pooled = RATES
                    .iter()
                    .find(|(rate, _)| rate == name)
                    .and_then(|(_, denom)| Some((*denom, column(denom)?)));
                (c, pooled)
            })
            .collect();
        Summariser {
            info,
            columns,
            open: BTreeMap::new(),
            done: vec![false; info.points.len() * info.series.len()],
        }
    }

    /// Adds a row; returns its group once the group has every seed.
    pub fn push(&mut self, row: &Row) -> Option<Group> {
        let k = self.info.seeds.len();
        let g = row.run / k;
        let (n, accs) = self
            .open
            .entry(g)
            .or_insert_with(|| (0, vec![Acc::default(); self.columns.len()]));
        for ((c, pooled), acc) in self.columns.iter().zip(accs.iter_mut()) {
            acc.add(row.value(*c), pooled.map(|(_, dc)| row.value(dc)));
        }
        *n += 1;
        if *n as usize >= k {
            let (_, accs) = self.open.remove(&g).expect("the group was just updated");
            Some(self.close(g, &accs))
        } else {
            None
        }
    }

    fn close(&mut self, g: usize, accs: &[Acc]) -> Group {
        self.done[g] = true;
        let info = self.info;
        let n_series = info.series.len();
        let (p, s) = (g / n_series, g % n_series);
        let empty = Acc::default();
        let metrics = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (c, pooled))| {
                let acc = accs.get(i).unwrap_or(&empty);
                (
                    info.metrics[*c].clone(),
                    acc.describe(pooled.map(|(d, _)| d)),
                )
            })
            .collect();
        Group {
            point: p,
            series: info.series[s].clone(),
            protocol: info.protocols[g].clone(),
            axes: info
                .axes
                .iter()
                .zip(info.point_values(p))
                .map(|(a, v)| (a.path.clone(), v.to_string()))
                .collect(),
            metrics,
        }
    }

    /// The groups not handed back yet (fewer rows than seeds, or none), in order.
    pub fn finish(mut self) -> Vec<Group> {
        let open = std::mem::take(&mut self.open);
        let mut out: BTreeMap<usize, Group> = BTreeMap::new();
        for (g, (_, accs)) in open {
            out.insert(g, self.close(g, &accs));
        }
        for g in 0..self.done.len() {
            if !self.done[g] {
                out.insert(g, self.close(g, &[]));
            }
        }
        out.into_values().collect()
    }
}

/// The header line of `summary.csv`.
pub fn summary_csv_header(info: &PlanInfo) -> String {
    let mut header: Vec<String> = vec!["point".into(), "series".into(), "protocol".into()];
    header.extend(info.axes.iter().map(|a| a.path.clone()));
    header.extend(
        [
            "metric",
            "n",
            "mean",
            "sd",
            "min",
            "p05",
            "p50",
            "p95",
            "max",
            "ci95_lo",
            "ci95_hi",
            "ci_method",
            "rate",
            "share_nonzero",
            "share_nonzero_lo",
            "share_nonzero_hi",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut out = header
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    out
}

/// The lines of `summary.csv` for one group, metrics in column order.
pub fn summary_csv_lines(info: &PlanInfo, g: &Group) -> String {
    let mut out = String::new();
    for name in &info.metrics {
        let Some(d) = g.metrics.get(name) else {
            continue;
        };
        let mut f = vec![
            g.point.to_string(),
            csv_field(&g.series),
            csv_field(&g.protocol),
        ];
        f.extend(info.axes.iter().map(|a| csv_field(&g.axes[&a.path])));
        f.push(csv_field(name));
        f.push(d.n.to_string());
        f.extend(
            [
                d.mean, d.sd, d.min, d.p05, d.p50, d.p95, d.max, d.ci95_lo, d.ci95_hi,
            ]
            .iter()
            .map(|v| fmt_f64(*v)),
        );
        f.push(d.ci_method.clone());
        f.extend(
            [
                d.rate,
                d.share_nonzero,
                d.share_nonzero_lo,
                d.share_nonzero_hi,
            ]
            .iter()
            .map(|v| fmt_f64(*v)),
        );
        out.push_str(&f.join(","));
        out.push('\n');
    }
    out
}

/// `summary.csv`: one line per (point, series, metric), metrics in column order.
pub fn summary_csv(info: &PlanInfo, groups: &[Group]) -> String {
    let mut out = summary_csv_header(info);
    for g in groups {
        out.push_str(&summary_csv_lines(info, g));
    }
    out
}

const GROUPS_MARK: &str = "\u{1}groups\u{1}";

/// `summary.json` around its groups: the text before the first group and after the
/// last (the groups are written one by one in between by [`summary_json_group`]).
pub fn summary_json_frame(info: &PlanInfo) -> (String, String) {
    let doc = serde_json::json!({
        "sweep": info.name,
        "fingerprint": info.fingerprint,
        "seeds_per_point": info.seeds.len(),
        "methods": {
            "sd": "sample standard deviation (n - 1)",
            "percentiles": format!("linear interpolation between order statistics (type 7); past {} runs per (point, series), from a histogram of 0.78 % wide buckets (exact where a bucket holds one value, e.g. any whole number up to 256)", super::stats::EXACT_MAX_RUNS),
            "ci95 with ci_method t": "mean ± t(0.975, n-1) · sd / √n (Student-t)",
            "ci95 with ci_method wilson(COUNT)": "Wilson score interval (z = 1.96) of the rate pooled over COUNT; `rate` is the pooled rate",
            "share_nonzero": "share of runs with the metric above 0, Wilson 95 % interval over runs",
        },
        "groups": GROUPS_MARK,
    });
    let text = serde_json::to_string_pretty(&doc).expect("a summary serialises");
    let mark = serde_json::to_string(GROUPS_MARK).expect("a string serialises");
    let (before, after) = text.split_once(&mark).expect("the mark is in the document");
    (format!("{before}["), format!("]{after}\n"))
}

/// One group of `summary.json`, as it sits in the document (`first`: the first
/// group, with no comma before it).
pub fn summary_json_group(g: &Group, first: bool) -> String {
    let v = serde_json::to_value(g).expect("a group serialises");
    let text = serde_json::to_string_pretty(&v).expect("a group serialises");
    let mut out = String::from(if first { "\n" } else { ",\n" });
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("    ");
        out.push_str(line);
    }
    out
}

/// The end of the groups list: a newline and the indentation of `]`, unless empty.
pub fn summary_json_groups_end(any: bool) -> &'static str {
    if any {
        "\n  "
    } else {
        ""
    }
}

/// `summary.json`: the same numbers, grouped, with the methods named.
pub fn summary_json(info: &PlanInfo, groups: &[Group]) -> String {
    let (before, after) = summary_json_frame(info);
    let mut s = before;
    for (i, g) in groups.iter().enumerate() {
        s.push_str(&summary_json_group(g, i == 0));
    }
    s.push_str(summary_json_groups_end(!groups.is_empty()));
    s.push_str(&after);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed document is what serde_json writes for the whole document.
    #[test]
    fn summary_json_streams_to_the_same_text() {
        let info = PlanInfo {
            name: "t".into(),
            description: String::new(),
            axes: vec![super::super::spec::Axis {
                path: "rms".into(),
                label: "rms".into(),
                values: vec!["2".into(), "3".into()],
                numeric: true,
            }],
            series: vec!["2pc".into()],
            protocols: vec!["2pc".into(), "2pc".into()],
            points: vec![vec![0], vec![1]],
            seeds: vec![1, 2],
            metrics: vec!["availability".into(), "txns.requests".into()],
            charts: Vec::new(),
            fingerprint: "f".into(),
        };
        let row = |run, a: &str| Row {
            run,
            digest: "0123456789abcdef".into(),
            m: vec![a.into(), "4".into()],
        };
        for groups in [
            summarise(
                &info,
                &[row(0, "1"), row(1, "0.5"), row(2, ""), row(3, "0.25")],
            ),
            Vec::new(),
        ] {
            let doc = serde_json::json!({
                "sweep": info.name,
                "fingerprint": info.fingerprint,
                "seeds_per_point": info.seeds.len(),
                "methods": serde_json::from_str::<serde_json::Value>(&summary_json(&info, &groups))
                    .expect("parses")["methods"].clone(),
                "groups": groups,
            });
            let mut whole = serde_json::to_string_pretty(&doc).expect("serialises");
            whole.push('\n');
            assert_eq!(summary_json(&info, &groups), whole);
        }
    }
}
