//! `summary.csv` and `summary.json`: per (point, series) and metric, the statistics of
//! [`super::stats`] over the seeds.

use super::spec::PlanInfo;
use super::stats::{describe, Describe};
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
    let k = info.seeds.len();
    let n_series = info.series.len();
    let column = |name: &str| info.metrics.iter().position(|m| m == name);
    let mut groups = Vec::new();
    for p in 0..info.points.len() {
        for (s, label) in info.series.iter().enumerate() {
            let first = (p * n_series + s) * k;
            let mine: Vec<&Row> = rows
                .iter()
                .filter(|r| (first..first + k).contains(&r.run))
                .collect();
            let mut metrics = BTreeMap::new();
            for (c, name) in info.metrics.iter().enumerate() {
                let values: Vec<f64> = mine.iter().map(|r| r.value(c)).collect();
                let pooled = RATES
                    .iter()
                    .find(|(rate, _)| rate == name)
                    .and_then(|(_, denom)| Some((*denom, column(denom)?)))
                    .map(|(denom, dc)| {
                        (denom, mine.iter().map(|r| r.value(dc)).collect::<Vec<_>>())
                    });
                let d = match &pooled {
                    Some((denom, w)) => describe(&values, Some((denom, w))),
                    None => describe(&values, None),
                };
                metrics.insert(name.clone(), d);
            }
            groups.push(Group {
                point: p,
                series: label.clone(),
                protocol: info.protocols[p * n_series + s].clone(),
                axes: info
                    .axes
                    .iter()
                    .zip(info.point_values(p))
                    .map(|(a, v)| (a.path.clone(), v.to_string()))
                    .collect(),
                metrics,
            });
        }
    }
    groups
}

/// `summary.csv`: one line per (point, series, metric), metrics in column order.
pub fn summary_csv(info: &PlanInfo, groups: &[Group]) -> String {
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
    for g in groups {
        for name in &info.metrics {
            let d = &g.metrics[name];
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
    }
    out
}

/// `summary.json`: the same numbers, grouped, with the methods named.
pub fn summary_json(info: &PlanInfo, groups: &[Group]) -> String {
    let doc = serde_json::json!({
        "sweep": info.name,
        "fingerprint": info.fingerprint,
        "seeds_per_point": info.seeds.len(),
        "methods": {
            "sd": "sample standard deviation (n - 1)",
            "percentiles": "linear interpolation between order statistics (type 7)",
            "ci95 with ci_method t": "mean ± t(0.975, n-1) · sd / √n (Student-t)",
            "ci95 with ci_method wilson(COUNT)": "Wilson score interval (z = 1.96) of the rate pooled over COUNT; `rate` is the pooled rate",
            "share_nonzero": "share of runs with the metric above 0, Wilson 95 % interval over runs",
        },
        "groups": groups,
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("a summary serialises");
    s.push('\n');
    s
}
