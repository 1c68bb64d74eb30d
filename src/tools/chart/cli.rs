//! `acidbase chart`: redraw a sweep's charts, or one chart described by flags.

use super::spec::{BarsChart, CdfChart, ChartSpec, HeatmapChart, LineChart, ScatterChart, Stat};
use super::ChartFormat;
use crate::tools::sweep::{load_summary, write_bytes, SweepError};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Line,
    Cdf,
    Bars,
    Scatter,
    Heatmap,
}

/// What `acidbase chart` was asked to draw.
#[derive(Clone, Debug)]
pub struct Request {
    /// A sweep output directory or its `runs.csv`.
    pub results: PathBuf,
    /// One chart of this kind; `None`: every chart the sweep file asked for.
    pub kind: Option<Kind>,
    pub metric: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    pub stat: Stat,
    pub title: Option<String>,
    pub format: ChartFormat,
    /// The file (with `kind`) or directory to write.
    pub out: Option<PathBuf>,
}

fn need(v: &Option<String>, flag: &str, kind: &str) -> Result<String, SweepError> {
    v.clone().ok_or_else(|| {
        SweepError::input(format!(
            "--kind {kind} needs {flag} (see acidbase chart --help)"
        ))
    })
}

/// The chart the flags describe.
pub fn spec_of(r: &Request, kind: Kind) -> Result<ChartSpec, SweepError> {
    Ok(match kind {
        Kind::Line => ChartSpec::Line(LineChart {
            metric: need(&r.metric, "--metric", "line")?,
            x: need(&r.x, "--x", "line")?,
            stat: r.stat,
            title: r.title.clone(),
            x_label: None,
            y_label: None,
            series: Vec::new(),
            at: Default::default(),
            file: None,
        }),
        Kind::Cdf => ChartSpec::Cdf(CdfChart {
            title: r.title.clone(),
            log_x: false,
            series: Vec::new(),
            at: Default::default(),
            file: None,
        }),
        Kind::Bars => ChartSpec::Bars(BarsChart {
            metric: need(&r.metric, "--metric", "bars")?,
            x: r.x.clone(),
            stat: r.stat,
            title: r.title.clone(),
            x_label: None,
            y_label: None,
            series: Vec::new(),
            at: Default::default(),
            file: None,
        }),
        Kind::Scatter => ChartSpec::Scatter(ScatterChart {
            x_metric: "availability".into(),
            x_stat: Stat::Mean,
            y_metric: need(&r.metric, "--metric", "scatter")?,
            y_stat: Stat::Share,
            along: need(&r.x, "--x", "scatter")?,
            title: r.title.clone(),
            x_label: None,
            y_label: None,
            series: Vec::new(),
            at: Default::default(),
            file: None,
        }),
        Kind::Heatmap => ChartSpec::Heatmap(HeatmapChart {
            metric: need(&r.metric, "--metric", "heatmap")?,
            x: need(&r.x, "--x", "heatmap")?,
            y: need(&r.y, "--y", "heatmap")?,
            stat: r.stat,
            title: r.title.clone(),
            x_label: None,
            y_label: None,
            series: Vec::new(),
            at: Default::default(),
            file: None,
        }),
    })
}

/// The chart format a file name asks for: its extension, `.svg` or `.png` (any
/// case). Anything else is refused rather than written in another format under a
/// misleading name.
pub fn format_of(path: &Path) -> Result<ChartFormat, SweepError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(ChartFormat::Png),
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(ChartFormat::Svg),
        other => Err(SweepError::input(format!(
            "--out {}: {}; acidbase writes charts as .svg or .png (the extension picks the format)",
            path.display(),
            match other {
                Some(e) => format!("the extension .{e} names no chart format it writes"),
                None => "the file name has no extension".to_string(),
            }
        ))),
    }
}

/// Draws and writes; returns the files written.
pub fn redraw(r: &Request) -> Result<Vec<PathBuf>, SweepError> {
    let single = r.kind.map(|k| spec_of(r, k)).transpose()?;
    let dir = if r.results.is_dir() {
        r.results.clone()
    } else {
        r.results.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    // Check the output before reading what may be a large file.
    let single_out = match &single {
        Some(spec) => {
            let path = r
                .out
                .clone()
                .unwrap_or_else(|| dir.join(format!("{}.{}", spec.file_stem(), r.format.ext())));
            let format = format_of(&path)?;
            Some((path, format))
        }
        None => None,
    };
    let keep = |info: &crate::tools::sweep::PlanInfo| -> Vec<String> {
        match &single {
            Some(spec) => spec.metrics(),
            None => info.charts.iter().flat_map(|c| c.metrics()).collect(),
        }
    };
    let (info, from_plan, groups) = load_summary(&r.results, &keep)?;
    let draw = |spec: &ChartSpec, path: &Path, format| -> Result<PathBuf, SweepError> {
        let bytes = super::render(spec, &info, &groups, format)
            .map_err(|m| SweepError::input(format!("{}: {m}", path.display())))?;
        write_bytes(path, &bytes)
    };
    match (single, single_out) {
        (Some(spec), Some((path, format))) => Ok(vec![draw(&spec, &path, format)?]),
        _ => {
            if info.charts.is_empty() {
                return Err(SweepError::input(if from_plan {
                    format!(
                        "{}: the sweep asked for no charts (its plan.json lists none); draw one with --kind",
                        r.results.display()
                    )
                } else {
                    format!(
                        "{}: there is no plan.json beside runs.csv, so which charts the sweep asked for is unknown; draw one with --kind",
                        r.results.display()
                    )
                }));
            }
            let out = r.out.clone().unwrap_or(dir);
            crate::tools::sweep::make_dir(&out)?;
            info.charts
                .iter()
                .map(|c| {
                    let path = out.join(format!("{}.{}", c.file_stem(), r.format.ext()));
                    draw(c, &path, r.format)
                })
                .collect()
        }
    }
}
