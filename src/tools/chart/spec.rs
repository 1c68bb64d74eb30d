//! The chart kinds a sweep file may ask for, as the chart module names them (they
//! are the sweep's: [`crate::tools::sweep::chart_spec`]), and the labels charts give
//! metrics.

pub use crate::tools::sweep::chart_spec::{
    BarsChart, CdfChart, ChartProblem, ChartSpec, ChartSpecError, HeatmapChart, LineChart,
    ScatterChart, Stat,
};

/// A label for a metric, with its unit.
pub fn metric_label(metric: &str, stat: Stat) -> String {
    let known = [
        ("violations.atomicity", "atomicity violations per run"),
        ("violations.invariant", "invariant violations per run"),
        ("locks.blocked", "blocked locks per run"),
        ("locks.lock_ms_total", "blocked lock time per run (lock·ms)"),
        ("locks.max_hold_ms", "longest lock hold (ms)"),
        ("locks.held_at_end", "locks held at the end"),
        (
            "availability",
            "availability (share of requests answered in time)",
        ),
        ("per_commit.messages", "messages per commit"),
        ("per_commit.message_delays", "message delays per commit"),
        ("per_commit.durable_writes", "durable writes per commit"),
        ("txns.unresolved", "unresolved transactions per run"),
        ("txns.in_doubt", "in-doubt transactions per run"),
        ("txns.committed", "committed transactions per run"),
        ("repair.silent", "silent inconsistencies per run"),
    ];
    let base = known
        .iter()
        .find(|(k, _)| *k == metric)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| {
            let unit = if metric.ends_with("_ms") || metric.starts_with("latency_ms.") {
                " (ms)"
            } else {
                ""
            };
            format!("{metric}{unit}")
        });
    match stat {
        Stat::Mean => base,
        Stat::Share => {
            let what = metric
                .rsplit('.')
                .next()
                .unwrap_or(metric)
                .replace('_', " ");
            let what = match metric {
                "violations.atomicity" => "an atomicity violation".to_string(),
                "violations.invariant" => "an invariant violation".to_string(),
                _ => format!("{what} > 0"),
            };
            format!("share of runs with {what}")
        }
    }
}
