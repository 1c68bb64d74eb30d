//! `acidbase chart`: redraw a sweep's charts, or one chart described by flags.

use super::spec::{BarsChart, CdfChart, ChartSpec, HeatmapChart, LineChart, ScatterChart, Stat};
use crate::sweep::{load_results, write_bytes, ChartFormat, SweepError};
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

/// Draws and writes; returns the files written.
pub fn redraw(r: &Request) -> Result<Vec<PathBuf>, SweepError> {
    let (info, rows) = load_results(&r.results)?;
    let dir = if r.results.is_dir() {
        r.results.clone()
    } else {
        r.results.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    let draw = |spec: &ChartSpec, path: &Path, format| -> Result<PathBuf, SweepError> {
        let bytes = super::render(spec, &info, &rows, format)
            .map_err(|m| SweepError::input(format!("{}: {m}", path.display())))?;
        write_bytes(path, &bytes)
    };
    match r.kind {
        Some(kind) => {
            let spec = spec_of(r, kind)?;
            let path = r
                .out
                .clone()
                .unwrap_or_else(|| dir.join(format!("{}.{}", spec.file_stem(), r.format.ext())));
            // The file's extension, if it names a format, decides it.
            let format = match path.extension().and_then(|e| e.to_str()) {
                Some(e) if e.eq_ignore_ascii_case("png") => ChartFormat::Png,
                Some(e) if e.eq_ignore_ascii_case("svg") => ChartFormat::Svg,
                _ => r.format,
            };
            Ok(vec![draw(&spec, &path, format)?])
        }
        None => {
            if info.charts.is_empty() {
                return Err(SweepError::input(format!(
                    "{}: the sweep asked for no charts (or there is no plan.json beside runs.csv); draw one with --kind",
                    r.results.display()
                )));
            }
            let out = r.out.clone().unwrap_or(dir);
            std::fs::create_dir_all(&out)
                .map_err(|e| SweepError::input(format!("{}: {e}", out.display())))?;
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
