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
use std::fmt;

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
    fn check_only(&self, axes: &[Axis], series: &[String]) -> Result<(), ChartSpecError> {
        let err = |problem| ChartSpecError {
            kind: self.kind(),
            problem,
        };
        let (only, at) = self.only();
        for s in only {
            if !series.contains(s) {
                return Err(err(ChartProblem::UnknownSeries {
                    series: s.clone(),
                    known: series.to_vec(),
                }));
            }
        }
        let used = self.used_axes();
        for (path, v) in at {
            let Some(a) = axes.iter().find(|a| a.path == *path) else {
                return Err(err(ChartProblem::AtUnknownAxis {
                    path: path.clone(),
                    axes: axis_paths(axes),
                }));
            };
            if used.contains(&path.as_str()) {
                return Err(err(ChartProblem::AtSpreadAxis { path: path.clone() }));
            }
            let shown = super::spec::show(v);
            if !a.values.contains(&shown) {
                return Err(err(ChartProblem::AtUnknownValue {
                    path: path.clone(),
                    value: shown,
                    values: a.values.clone(),
                }));
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
    ) -> Result<(), ChartSpecError> {
        let file = match self {
            ChartSpec::Line(c) => &c.file,
            ChartSpec::Cdf(c) => &c.file,
            ChartSpec::Bars(c) => &c.file,
            ChartSpec::Scatter(c) => &c.file,
            ChartSpec::Heatmap(c) => &c.file,
        };
        if let Some(f) = file {
            if f.trim().is_empty() || f.starts_with('.') || f.contains('\0') || f.len() > 200 {
                return Err(ChartSpecError {
                    kind: self.kind(),
                    problem: ChartProblem::BadFile { file: f.clone() },
                });
            }
        }
        self.check(axes, metrics)?;
        self.check_only(axes, series)
    }

    /// Checks the metrics and axes the chart names against the sweep.
    fn check(&self, axes: &[Axis], metrics: &[String]) -> Result<(), ChartSpecError> {
        let err = |problem| ChartSpecError {
            kind: self.kind(),
            problem,
        };
        let metric = |m: &str| {
            if metrics.iter().any(|x| x == m) {
                Ok(())
            } else {
                Err(err(ChartProblem::UnknownMetric {
                    metric: m.to_string(),
                    known: metrics.to_vec(),
                }))
            }
        };
        let axis = |a: &str| {
            if axes.iter().any(|x| x.path == a) {
                Ok(())
            } else {
                Err(err(ChartProblem::UnknownAxis {
                    axis: a.to_string(),
                    axes: axis_paths(axes),
                }))
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
                    return Err(err(ChartProblem::SameAxes));
                }
                Ok(())
            }
        }
    }
}

fn axis_paths(axes: &[Axis]) -> Vec<String> {
    axes.iter().map(|x| x.path.clone()).collect()
}

/// A chart that asks for what its sweep does not have, or names a bad file: said as
/// `KIND chart: PROBLEM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartSpecError {
    /// The chart's kind ([`ChartSpec::kind`]).
    pub kind: &'static str,
    pub problem: ChartProblem,
}

/// What is wrong with a chart of a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartProblem {
    /// `file` is not a usable file name.
    BadFile { file: String },
    /// `metric` is not among the sweep's metrics (`known`).
    UnknownMetric { metric: String, known: Vec<String> },
    /// `axis` is not among the sweep's axes.
    UnknownAxis { axis: String, axes: Vec<String> },
    /// A heatmap's x and y name the same axis.
    SameAxes,
    /// `series` is not among the sweep's series (`known`).
    UnknownSeries { series: String, known: Vec<String> },
    /// `at` holds `path`, which is not among the sweep's axes.
    AtUnknownAxis { path: String, axes: Vec<String> },
    /// `at` holds `path`, an axis the chart spreads.
    AtSpreadAxis { path: String },
    /// `at` holds `path` at `value`, not among that axis's `values`.
    AtUnknownValue {
        path: String,
        value: String,
        values: Vec<String>,
    },
}

impl fmt::Display for ChartSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} chart: ", self.kind)?;
        match &self.problem {
            ChartProblem::BadFile { file } => write!(
                f,
                "file {file:?}: give a file name (without extension) of up to 200 characters that does not start with '.'"
            ),
            ChartProblem::UnknownMetric { metric, known } => write!(
                f,
                "unknown metric {metric:?}{}; known metrics: {}",
                crate::suggest::hint(metric, known),
                known.join(", ")
            ),
            ChartProblem::UnknownAxis { axis, axes } => write!(
                f,
                "{axis:?} is not an axis of this sweep{}; its axes are: {}",
                crate::suggest::hint(axis, axes),
                axes.join(", ")
            ),
            ChartProblem::SameAxes => write!(f, "x and y must be two different axes"),
            ChartProblem::UnknownSeries { series, known } => write!(
                f,
                "series {series:?} is not a series of this sweep{}; its series are: {}",
                crate::suggest::hint(series, known),
                known.join(", ")
            ),
            ChartProblem::AtUnknownAxis { path, axes } => write!(
                f,
                "at {path:?}: not an axis of this sweep; its axes are: {}",
                axes.join(", ")
            ),
            ChartProblem::AtSpreadAxis { path } => write!(
                f,
                "at {path:?}: the chart already spreads this axis; hold only other axes at one value"
            ),
            ChartProblem::AtUnknownValue {
                path,
                value,
                values,
            } => write!(
                f,
                "at {path:?} = {value}: not a value of that axis; its values are: {}",
                values.join(", ")
            ),
        }
    }
}

impl std::error::Error for ChartSpecError {}
