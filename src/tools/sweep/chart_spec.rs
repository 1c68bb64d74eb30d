//! The chart kinds a sweep file may ask for (`charts: [...]`) and `acidbase chart
//! --kind` draws.
//!
//! They are part of what a sweep is (its file, its plan and `plan.json`), checked
//! against its axes, metrics and series, so they live with the sweep; the `chart`
//! module draws them from a sweep's results and re-exports them.

use super::spec::Axis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What to plot of a metric at each (point, series).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum Stat {
    /// The mean over seeds with a Student-t 95 % band, or for rates (availability)
    /// the rate pooled over requests with a Wilson band.
    #[default]
    Mean,
    /// The share of runs in which the metric was above 0 ("runs with a violation"),
    /// with a Wilson band.
    Share,
}

/// A metric against a parameter: one line per series, with 95 % confidence bands.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineChart {
    pub metric: String,
    /// The axis (path) along x.
    pub x: String,
    #[serde(default)]
    pub stat: Stat,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub x_label: Option<String>,
    #[serde(default)]
    pub y_label: Option<String>,
    /// Only these series (variants or protocols); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<String>,
    /// Other axes held at one value each (path → value), e.g. `{"workload.fan_out": 1}`:
    /// a slice of a larger grid.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_map::deserialize"
    )]
    pub at: BTreeMap<String, Value>,
    /// Output file name without extension.
    #[serde(default)]
    pub file: Option<String>,
}

/// The latency CDF of definite answers, one curve per series (and point).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CdfChart {
    #[serde(default)]
    pub title: Option<String>,
    /// A logarithmic latency axis.
    #[serde(default)]
    pub log_x: bool,
    /// Only these series (variants or protocols); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<String>,
    /// Other axes held at one value each (path → value), e.g. `{"workload.fan_out": 1}`:
    /// a slice of a larger grid.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_map::deserialize"
    )]
    pub at: BTreeMap<String, Value>,
    #[serde(default)]
    pub file: Option<String>,
}

/// Grouped bars: one group per value of `x` (or one group), one bar per series,
/// with 95 % error bars.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BarsChart {
    pub metric: String,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub stat: Stat,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub x_label: Option<String>,
    #[serde(default)]
    pub y_label: Option<String>,
    /// Only these series (variants or protocols); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<String>,
    /// Other axes held at one value each (path → value), e.g. `{"workload.fan_out": 1}`:
    /// a slice of a larger grid.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_map::deserialize"
    )]
    pub at: BTreeMap<String, Value>,
    #[serde(default)]
    pub file: Option<String>,
}

/// The CAP picture: availability (x) against inconsistency (y), each series a
/// point per value of the `along` axis (e.g. the partition rate), joined in order.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScatterChart {
    #[serde(default = "availability")]
    pub x_metric: String,
    #[serde(default)]
    pub x_stat: Stat,
    pub y_metric: String,
    #[serde(default = "share")]
    pub y_stat: Stat,
    pub along: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub x_label: Option<String>,
    #[serde(default)]
    pub y_label: Option<String>,
    /// Only these series (variants or protocols); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<String>,
    /// Other axes held at one value each (path → value), e.g. `{"workload.fan_out": 1}`:
    /// a slice of a larger grid.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_map::deserialize"
    )]
    pub at: BTreeMap<String, Value>,
    #[serde(default)]
    pub file: Option<String>,
}

fn availability() -> String {
    "availability".into()
}

fn share() -> Stat {
    Stat::Share
}

/// A metric over two axes, one panel per series.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeatmapChart {
    pub metric: String,
    pub x: String,
    pub y: String,
    #[serde(default)]
    pub stat: Stat,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub x_label: Option<String>,
    #[serde(default)]
    pub y_label: Option<String>,
    /// Only these series (variants or protocols); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<String>,
    /// Other axes held at one value each (path → value), e.g. `{"workload.fan_out": 1}`:
    /// a slice of a larger grid.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::unique_map::deserialize"
    )]
    pub at: BTreeMap<String, Value>,
    #[serde(default)]
    pub file: Option<String>,
}

/// A chart to draw.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub enum ChartSpec {
    Line(LineChart),
    Cdf(CdfChart),
    Bars(BarsChart),
    Scatter(ScatterChart),
    Heatmap(HeatmapChart),
}

impl ChartSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ChartSpec::Line(_) => "Line",
            ChartSpec::Cdf(_) => "Cdf",
            ChartSpec::Bars(_) => "Bars",
            ChartSpec::Scatter(_) => "Scatter",
            ChartSpec::Heatmap(_) => "Heatmap",
        }
    }

    /// The output file name without extension.
    pub fn file_stem(&self) -> String {
        let short = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
        let (given, default) = match self {
            ChartSpec::Line(c) => (&c.file, format!("line-{}-vs-{}", c.metric, short(&c.x))),
            ChartSpec::Cdf(c) => (&c.file, "cdf-latency".to_string()),
            ChartSpec::Bars(c) => (&c.file, format!("bars-{}", c.metric)),
            ChartSpec::Scatter(c) => (&c.file, format!("scatter-{}-vs-{}", c.y_metric, c.x_metric)),
            ChartSpec::Heatmap(c) => (
                &c.file,
                format!("heatmap-{}-{}-{}", c.metric, short(&c.x), short(&c.y)),
            ),
        };
        given.clone().unwrap_or(default).replace(['/', '\\'], "_")
    }

    /// The metric columns the chart draws.
    pub fn metrics(&self) -> Vec<String> {
        match self {
            ChartSpec::Line(c) => vec![c.metric.clone()],
            ChartSpec::Cdf(_) => super::table::LATENCY_QUANTILES
                .iter()
                .map(|(n, _)| format!("{}{n}", super::table::CDF_PREFIX))
                .collect(),
            ChartSpec::Bars(c) => vec![c.metric.clone()],
            ChartSpec::Scatter(c) => vec![c.x_metric.clone(), c.y_metric.clone()],
            ChartSpec::Heatmap(c) => vec![c.metric.clone()],
        }
    }

    /// The slice of the sweep the chart shows: its series (all when empty) and the
    /// axes it holds at one value.
    pub fn only(&self) -> (&[String], &BTreeMap<String, Value>) {
        match self {
            ChartSpec::Line(c) => (&c.series, &c.at),
            ChartSpec::Cdf(c) => (&c.series, &c.at),
            ChartSpec::Bars(c) => (&c.series, &c.at),
            ChartSpec::Scatter(c) => (&c.series, &c.at),
            ChartSpec::Heatmap(c) => (&c.series, &c.at),
        }
    }

    /// The axes the chart spreads over its own dimensions.
    fn used_axes(&self) -> Vec<&str> {
        match self {
            ChartSpec::Line(c) => vec![c.x.as_str()],
            ChartSpec::Cdf(_) => vec![],
            ChartSpec::Bars(c) => c.x.iter().map(String::as_str).collect(),
            ChartSpec::Scatter(c) => vec![c.along.as_str()],
            ChartSpec::Heatmap(c) => vec![c.x.as_str(), c.y.as_str()],
        }
    }

    /// Checks `series` and `at` against the sweep's series and axes.
    fn check_only(&self, axes: &[Axis], series: &[String]) -> Result<(), String> {
        let (only, at) = self.only();
        for s in only {
            if !series.contains(s) {
                return Err(format!(
                    "{} chart: series {s:?} is not a series of this sweep; its series are: {}",
                    self.kind(),
                    series.join(", ")
                ));
            }
        }
        let used = self.used_axes();
        for (path, v) in at {
            let Some(a) = axes.iter().find(|a| a.path == *path) else {
                return Err(format!(
                    "{} chart: at {path:?}: not an axis of this sweep; its axes are: {}",
                    self.kind(),
                    axes.iter()
                        .map(|x| x.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            if used.contains(&path.as_str()) {
                return Err(format!(
                    "{} chart: at {path:?}: the chart already spreads this axis; hold only other axes at one value",
                    self.kind()
                ));
            }
            let shown = super::spec::show(v);
            if !a.values.contains(&shown) {
                return Err(format!(
                    "{} chart: at {path:?} = {shown}: not a value of that axis; its values are: {}",
                    self.kind(),
                    a.values.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Checks the metrics, axes and series the chart names against the sweep.
    pub fn check_in(
        &self,
        axes: &[Axis],
        metrics: &[String],
        series: &[String],
    ) -> Result<(), String> {
        let file = match self {
            ChartSpec::Line(c) => &c.file,
            ChartSpec::Cdf(c) => &c.file,
            ChartSpec::Bars(c) => &c.file,
            ChartSpec::Scatter(c) => &c.file,
            ChartSpec::Heatmap(c) => &c.file,
        };
        if let Some(f) = file {
            if f.trim().is_empty() || f.starts_with('.') || f.contains('\0') || f.len() > 200 {
                return Err(format!(
                    "{} chart: file {f:?}: give a file name (without extension) of up to 200 characters that does not start with '.'",
                    self.kind()
                ));
            }
        }
        self.check(axes, metrics)?;
        self.check_only(axes, series)
    }

    /// Checks the metrics and axes the chart names against the sweep.
    pub fn check(&self, axes: &[Axis], metrics: &[String]) -> Result<(), String> {
        let metric = |m: &str| {
            if metrics.iter().any(|x| x == m) {
                Ok(())
            } else {
                Err(format!(
                    "{} chart: unknown metric {m:?}; known metrics: {}",
                    self.kind(),
                    metrics.join(", ")
                ))
            }
        };
        let axis = |a: &str| {
            if axes.iter().any(|x| x.path == a) {
                Ok(())
            } else {
                Err(format!(
                    "{} chart: {a:?} is not an axis of this sweep; its axes are: {}",
                    self.kind(),
                    axes.iter()
                        .map(|x| x.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        };
        match self {
            ChartSpec::Line(c) => {
                metric(&c.metric)?;
                axis(&c.x)
            }
            ChartSpec::Cdf(_) => Ok(()),
            ChartSpec::Bars(c) => {
                metric(&c.metric)?;
                c.x.as_deref().map_or(Ok(()), axis)
            }
            ChartSpec::Scatter(c) => {
                metric(&c.x_metric)?;
                metric(&c.y_metric)?;
                axis(&c.along)
            }
            ChartSpec::Heatmap(c) => {
                metric(&c.metric)?;
                axis(&c.x)?;
                axis(&c.y)?;
                if c.x == c.y {
                    return Err("Heatmap chart: x and y must be two different axes".into());
                }
                Ok(())
            }
        }
    }
}
