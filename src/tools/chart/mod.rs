//! Charts of sweep results (plotters): a metric against a parameter with confidence
//! bands, latency CDFs, grouped bars, the availability-vs-consistency (CAP) scatter,
//! and heat maps over two axes. SVG or PNG.
//!
//! Text is laid out (and, in PNG, drawn: `text`, not plotters' own) with DejaVu
//! Sans compiled into the binary (`assets/fonts/`, ab_glyph), so a chart renders
//! the same on a machine with no fonts or font libraries. SVG files name
//! `sans-serif` for viewers to draw with.
//!
//! Charts are drawn from the summary ([`crate::tools::sweep::summary`]), so a chart and the
//! numbers in `summary.csv` always agree.

pub mod cli;
pub mod spec;
mod text;

pub use spec::{
    BarsChart, CdfChart, ChartProblem, ChartSpec, ChartSpecError, HeatmapChart, LineChart,
    ScatterChart, Stat,
};

use crate::tools::sweep::spec::PlanInfo;
use crate::tools::sweep::stats::Describe;
use crate::tools::sweep::summary::Group;
use crate::tools::sweep::table::{CDF_PREFIX, LATENCY_QUANTILES};
use crate::tools::sweep::{write_bytes, DrawCharts, SweepError};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use spec::metric_label;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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

/// The charts a sweep file asks for, drawn in `format` when a sweep (or a merge of
/// its shards) completes: what `acidbase sweep` and `merge` hand the sweep.
#[derive(Clone, Copy, Debug)]
pub struct SweepCharts {
    pub format: ChartFormat,
}

impl DrawCharts for SweepCharts {
    fn draw(
        &self,
        out: &Path,
        info: &PlanInfo,
        groups: &[Group],
    ) -> Result<Vec<PathBuf>, SweepError> {
        info.charts
            .iter()
            .map(|chart| {
                let path = out.join(format!("{}.{}", chart.file_stem(), self.format.ext()));
                let bytes = render(chart, info, groups, self.format)
                    .map_err(|m| SweepError::input(format!("chart {}: {m}", path.display())))?;
                write_bytes(&path, &bytes)
            })
            .collect()
    }
}

/// Pixel size of every chart: wide enough that, shrunk to a book page's width,
/// tick labels stay at a reading size.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 750;

const FONT: &str = "sans-serif";
const TITLE_PX: f64 = 38.0;
const DESC_PX: f64 = 30.0;
const TICK_PX: f64 = 24.0;
const LEGEND_PX: f64 = 24.0;

static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies;
/// then Tol's wine and a mid grey, so eight or nine series stay apart (Okabe–Ito's
/// yellow is too pale on white for a line).
const PALETTE: [RGBColor; 9] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(136, 34, 85),
    RGBColor(120, 120, 120),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn register_font() -> Result<(), ChartError> {
    static ONCE: std::sync::OnceLock<Result<(), ChartError>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            plotters::style::register_font(FONT, style, DEJAVU_SANS)
                .map_err(|_| ChartError::Font)?;
        }
        Ok(())
    })
    .clone()
}

fn err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Drawing(format!("{e:?}"))
}

/// Why a chart could not be drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartError {
    /// The embedded font did not load.
    Font,
    /// The chart asks for what the sweep does not have (an axis, metric or series).
    Spec(ChartSpecError),
    /// The drawing library or the PNG encoder failed.
    Drawing(String),
}

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChartError::Font => write!(f, "the embedded font could not be read"),
            ChartError::Spec(e) => write!(f, "{e}"),
            ChartError::Drawing(m) => write!(f, "drawing failed: {m}"),
        }
    }
}

impl std::error::Error for ChartError {}

/// Renders one chart of a sweep's results to SVG or PNG bytes, from the summary of
/// every (point, series) in canonical order (at least the metrics the chart draws).
pub fn render(
    spec: &ChartSpec,
    info: &PlanInfo,
    groups: &[Group],
    format: ChartFormat,
) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    spec.check_in(&info.axes, &info.metrics, &info.series)
        .map_err(ChartError::Spec)?;
    assert_eq!(
        groups.len(),
        info.points.len() * info.series.len(),
        "a summary group per point and series"
    );
    let (only, at) = spec.only();
    let at = at
        .iter()
        .map(|(p, v)| (p.clone(), crate::tools::sweep::spec::show(v)))
        .collect();
    let data = Data {
        info,
        groups,
        only,
        at,
    };
    match format {
        ChartFormat::Svg => {
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
                draw(spec, &data, &root)?;
                root.present().map_err(err)?;
            }
            Ok(s.into_bytes())
        }
        ChartFormat::Png => {
            let font =
                ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).map_err(|_| ChartError::Font)?;
            let mut buf = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
            {
                // plotters' own bitmap text misplaces glyphs (see `text`).
                let bitmap = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT));
                let root = text::BitmapText::new(bitmap, font).into_drawing_area();
                draw(spec, &data, &root)?;
                root.present().map_err(err)?;
            }
            let mut png_bytes = Vec::new();
            {
                let mut enc = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
                enc.set_color(png::ColorType::Rgb);
                enc.set_depth(png::BitDepth::Eight);
                let mut w = enc.write_header().map_err(err)?;
                w.write_image_data(&buf).map_err(err)?;
            }
            Ok(png_bytes)
        }
    }
}

struct Data<'a> {
    info: &'a PlanInfo,
    groups: &'a [Group],
    /// Only these series (all when empty).
    only: &'a [String],
    /// Axes held at one value (path → value as written).
    at: BTreeMap<String, String>,
}

/// A plotted value with its 95 % interval (NaN bounds: no band).
#[derive(Clone, Copy, Debug)]
struct Est {
    y: f64,
    lo: f64,
    hi: f64,
}

fn estimate(d: &Describe, stat: Stat) -> Est {
    let e = estimate_raw(d, stat);
    // A metric never below 0 gets no band below 0 (a t interval over few seeds can
    // reach there; the mean cannot).
    if d.min >= 0.0 {
        Est {
            lo: e.lo.max(0.0),
            ..e
        }
    } else {
        e
    }
}

fn estimate_raw(d: &Describe, stat: Stat) -> Est {
    match stat {
        Stat::Share => Est {
            y: d.share_nonzero,
            lo: d.share_nonzero_lo,
            hi: d.share_nonzero_hi,
        },
        Stat::Mean if d.ci_method.starts_with("wilson") => Est {
            y: d.rate,
            lo: d.ci95_lo,
            hi: d.ci95_hi,
        },
        Stat::Mean => Est {
            y: d.mean,
            lo: d.ci95_lo,
            hi: d.ci95_hi,
        },
    }
}

impl Data<'_> {
    fn group(&self, point: usize, series: usize) -> &Group {
        &self.groups[point * self.info.series.len() + series]
    }

    fn est(&self, point: usize, series: usize, metric: &str, stat: Stat) -> Est {
        let g = self.group(point, series);
        g.metrics.get(metric).map_or(
            Est {
                y: f64::NAN,
                lo: f64::NAN,
                hi: f64::NAN,
            },
            |d| estimate(d, stat),
        )
    }

    /// Whether a metric is a rate (a share of requests, like availability): never
    /// above 1.
    fn is_rate(&self, metric: &str) -> bool {
        self.groups.iter().any(|g| {
            g.metrics
                .get(metric)
                .is_some_and(|d| d.ci_method.starts_with("wilson"))
        })
    }

    fn axis_label(&self, path: &str) -> String {
        self.info
            .axes
            .iter()
            .find(|a| a.path == path)
            .map_or_else(|| path.to_string(), |a| a.label.clone())
    }

    /// The curves of a chart that spreads the axes `used` over its own dimensions:
    /// one per series and combination of the other axes (those with more than one
    /// value). Each curve lists its (point, series) in canonical order.
    fn curves(&self, used: &[&str]) -> Vec<(String, Vec<(usize, usize)>)> {
        let info = self.info;
        let others: Vec<usize> = info
            .axes
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                !used.contains(&a.path.as_str())
                    && a.values.len() > 1
                    && !self.at.contains_key(&a.path)
            })
            .map(|(i, _)| i)
            .collect();
        let mut curves: Vec<(String, Vec<(usize, usize)>)> = Vec::new();
        for (p, idx) in info.points.iter().enumerate() {
            let held = info
                .axes
                .iter()
                .zip(idx)
                .all(|(a, &i)| self.at.get(&a.path).is_none_or(|v| a.values[i] == *v));
            if !held {
                continue;
            }
            for (s, series) in info.series.iter().enumerate() {
                if !self.only.is_empty() && !self.only.contains(series) {
                    continue;
                }
                let mut label = series.clone();
                for &o in &others {
                    let a = &info.axes[o];
                    label.push_str(&format!(", {}: {}", a.label, a.values[idx[o]]));
                }
                match curves.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, v)) => v.push((p, s)),
                    None => curves.push((label, vec![(p, s)])),
                }
            }
        }
        curves
    }

    /// The x coordinate of a point on axis `path`: its number, or its index for
    /// categories.
    fn x_of(&self, path: &str, point: usize) -> f64 {
        let a = self.info.axis_index(path).expect("charts were checked");
        let axis = &self.info.axes[a];
        let i = self.info.points[point][a];
        if axis.numeric {
            axis.values[i].parse().unwrap_or(i as f64)
        } else {
            i as f64
        }
    }
}

fn draw<DB: DrawingBackend>(
    spec: &ChartSpec,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(err)?;
    match spec {
        ChartSpec::Line(c) => line(c, data, root),
        ChartSpec::Cdf(c) => cdf(c, data, root),
        ChartSpec::Bars(c) => bars(c, data, root),
        ChartSpec::Scatter(c) => scatter(c, data, root),
        ChartSpec::Heatmap(c) => heatmap(c, data, root),
    }
}

/// A y range covering every value and band, from 0 unless values go below.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !hi.is_finite() || hi <= lo {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.08)
}

fn x_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

/// Tick labels without float noise.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A value rounded to two significant digits (log-axis ticks: 16, not 15.8489).
fn two_digits(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powf(v.log10().floor() - 1.0);
    (v / scale).round() * scale
}

/// A heat-map cell's value with three significant digits.
fn cell(v: f64) -> String {
    let a = v.abs();
    let digits = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else {
        2
    };
    tick(format!("{v:.digits$}").parse().unwrap_or(v))
}

/// Room for the legend: the upper corner whose half of the plot peaks lower, and
/// a y range raised so that peak (bands included) stays below a legend of
/// `entries` lines. When the range may not rise (a share or a rate ends at 1) and
/// the data would reach the legend, a lower corner the data stays above.
/// `points` are (x, lowest, highest) of each plotted value with its band.
fn legend_room(
    points: &[(f64, f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
    entries: usize,
    bounded: bool,
) -> ((f64, f64), SeriesLabelPosition) {
    // The plot area is about 560 px high; a legend line takes about 30 px.
    let room = ((entries as f64 * 30.0 + 50.0) / 560.0).min(0.7);
    let side = |right: bool| {
        points
            .iter()
            .filter(move |(px, _, _)| (((px - x.0) / (x.1 - x.0)) > 0.4) == right)
    };
    let peak = |right: bool| {
        side(right)
            .map(|(_, _, hi)| *hi)
            .filter(|v| v.is_finite())
            .fold(y.0, f64::max)
    };
    let floor = |right: bool| {
        side(right)
            .map(|(_, lo, _)| *lo)
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min)
    };
    let (left, right) = (peak(false), peak(true));
    let (peak, pos) = if right <= left {
        (right, SeriesLabelPosition::UpperRight)
    } else {
        (left, SeriesLabelPosition::UpperLeft)
    };
    let top = y.0 + (peak - y.0) / (1.0 - room);
    if bounded && top > 1.0 {
        let top = y.1.max(1.0);
        let clear = y.0 + (top - y.0) * room;
        if floor(true) >= clear {
            return ((y.0, top), SeriesLabelPosition::LowerRight);
        }
        if floor(false) >= clear {
            return ((y.0, top), SeriesLabelPosition::LowerLeft);
        }
        return ((y.0, top), pos);
    }
    ((y.0, y.1.max(top)), pos)
}

/// The legend corner with the fewest plotted points near it.
fn emptiest_corner(points: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    let mut counts = [0usize; 4]; // UL, UR, LL, LR
    for (px, py) in points {
        let fx = (px - x.0) / (x.1 - x.0);
        let fy = (py - y.0) / (y.1 - y.0);
        counts[usize::from(fy <= 0.5) * 2 + usize::from(fx > 0.5)] += 1;
    }
    let order = [1, 0, 3, 2]; // prefer upper right, then upper left
    let best = order
        .iter()
        .min_by_key(|i| counts[**i])
        .copied()
        .unwrap_or(1);
    match best {
        0 => SeriesLabelPosition::UpperLeft,
        1 => SeriesLabelPosition::UpperRight,
        2 => SeriesLabelPosition::LowerLeft,
        _ => SeriesLabelPosition::LowerRight,
    }
}

fn font(px: f64) -> TextStyle<'static> {
    (FONT, px).into_font().color(&BLACK)
}

fn marker<DB: DrawingBackend>(
    i: usize,
    at: (f64, f64),
    c: RGBColor,
) -> DynElement<'static, DB, (f64, f64)> {
    match i % 3 {
        0 => Circle::new(at, 7, c.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 9, c.filled()).into_dyn(),
        _ => Cross::new(at, 7, c.stroke_width(4)).into_dyn(),
    }
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

#[allow(clippy::too_many_arguments)]
fn frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
    x_desc: &str,
    y_desc: &str,
    x_ticks: Option<&[String]>,
    x_fmt: &dyn Fn(f64) -> String,
) -> Result<Chart<'a, DB>, ChartError> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(TITLE_PX))
        .margin(24)
        .x_label_area_size(90)
        .y_label_area_size(120)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(err)?;
    let cat = |v: &f64| -> String {
        match x_ticks {
            Some(t) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < t.len() {
                    t[i as usize].clone()
                } else {
                    String::new()
                }
            }
            None => x_fmt(*v),
        }
    };
    let n_x = x_ticks.map_or(8, |t| t.len() * 4 + 1);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(TICK_PX))
        .axis_desc_style(font(DESC_PX))
        .x_labels(n_x)
        .y_labels(8)
        .x_label_formatter(&cat)
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(BLACK.stroke_width(2))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    pos: SeriesLabelPosition,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(pos)
        .margin(14)
        .legend_area_size(40)
        .background_style(WHITE.mix(0.88))
        .border_style(RGBColor(150, 150, 150))
        .label_font(font(LEGEND_PX))
        .draw()
        .map_err(err)
}

fn line<DB: DrawingBackend>(
    c: &LineChart,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    let curves = data.curves(&[&c.x]);
    let x_axis = &data.info.axes[data.info.axis_index(&c.x).expect("checked")];
    let mut pts: Vec<Vec<(f64, Est)>> = Vec::new();
    for (_, members) in &curves {
        let mut v: Vec<(f64, Est)> = members
            .iter()
            .map(|&(p, s)| (data.x_of(&c.x, p), data.est(p, s, &c.metric, c.stat)))
            .filter(|(_, e)| e.y.is_finite())
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.push(v);
    }
    let all = pts.iter().flatten();
    let xr = x_range(all.clone().map(|(x, _)| *x));
    let yr = y_range(all.clone().flat_map(|(_, e)| [e.y, e.lo, e.hi]));
    let y_desc = c
        .y_label
        .clone()
        .unwrap_or_else(|| metric_label(&c.metric, c.stat));
    let x_desc = c.x_label.clone().unwrap_or_else(|| data.axis_label(&c.x));
    let title = c
        .title
        .clone()
        .unwrap_or_else(|| format!("{y_desc} vs {x_desc}"));
    let ticks = (!x_axis.numeric).then_some(&x_axis.values[..]);
    let tops: Vec<(f64, f64, f64)> = pts
        .iter()
        .flatten()
        .map(|(x, e)| (*x, e.lo.min(e.y), e.hi.max(e.y)))
        .collect();
    let bounded = c.stat == Stat::Share || data.is_rate(&c.metric);
    let (yr, corner) = legend_room(&tops, xr, yr, curves.len(), bounded);
    let mut chart = frame(root, &title, xr, yr, &x_desc, &y_desc, ticks, &tick)?;
    let bands: Vec<Vec<(f64, f64)>> = pts
        .iter()
        .map(|v| {
            v.iter()
                .filter(|(_, e)| e.lo.is_finite() && e.hi.is_finite())
                .map(|(x, e)| (*x, e.hi))
                .chain(
                    v.iter()
                        .rev()
                        .filter(|(_, e)| e.lo.is_finite() && e.hi.is_finite())
                        .map(|(x, e)| (*x, e.lo)),
                )
                .collect()
        })
        .collect();
    let labels = line_labels(&curves, &pts);
    for (i, (label, v)) in labels.iter().zip(&pts).enumerate() {
        let col = color(i);
        let band = &bands[i];
        // A band that several curves share (e.g. 0 of n runs) is drawn once, in
        // grey: stacked translucent copies would darken into a block.
        let shared = bands.iter().filter(|b| *b == band).count() > 1;
        let first = bands.iter().position(|b| b == band) == Some(i);
        if band.len() >= 4 && first {
            let fill = if shared {
                RGBColor(120, 120, 120).mix(0.14)
            } else {
                col.mix(0.16)
            };
            chart
                .draw_series(std::iter::once(Polygon::new(band.clone(), fill.filled())))
                .map_err(err)?;
        }
        let style = col.stroke_width(3);
        chart
            .draw_series(LineSeries::new(v.iter().map(|(x, e)| (*x, e.y)), style))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (30, 0)], style)
                    + Polygon::new(legend_shape(i).0, col.filled())
                    + PathElement::new(legend_shape(i).1, col.stroke_width(4))
            });
        chart
            .draw_series(v.iter().map(|(x, e)| marker::<DB>(i, (*x, e.y), col)))
            .map_err(err)?;
    }
    legend(&mut chart, corner)
}

/// Legend labels of line curves, noting the ones another curve hides: a curve at 0
/// everywhere, or one that repeats an earlier curve point for point.
fn line_labels(curves: &[(String, Vec<(usize, usize)>)], pts: &[Vec<(f64, Est)>]) -> Vec<String> {
    let ys = |v: &Vec<(f64, Est)>| v.iter().map(|(x, e)| (*x, e.y)).collect::<Vec<_>>();
    curves
        .iter()
        .zip(pts)
        .enumerate()
        .map(|(i, ((label, _), v))| {
            if pts.len() > 1 && !v.is_empty() && v.iter().all(|(_, e)| e.y == 0.0) {
                format!("{label} (0 at every point)")
            } else if let Some(j) = (0..i).find(|&j| !v.is_empty() && ys(&pts[j]) == ys(v)) {
                format!("{label} (same as {})", curves[j].0)
            } else {
                label.clone()
            }
        })
        .collect()
}

/// A point in a legend entry, in pixels.
type Px = (i32, i32);

/// A legend entry's marker, the same shape as on the plot (circle, triangle,
/// cross) around (15, 0): a polygon, or for the cross its two strokes.
fn legend_shape(i: usize) -> (Vec<Px>, Vec<Px>) {
    match i % 3 {
        0 => (
            (0..12)
                .map(|k| {
                    let a = f64::from(k) * std::f64::consts::PI / 6.0;
                    (
                        15 + (6.5 * a.cos()).round() as i32,
                        (6.5 * a.sin()).round() as i32,
                    )
                })
                .collect(),
            Vec::new(),
        ),
        1 => (vec![(15, -8), (23, 6), (7, 6)], Vec::new()),
        _ => (
            Vec::new(),
            vec![(9, -6), (21, 6), (15, 0), (9, 6), (21, -6)],
        ),
    }
}

fn cdf<DB: DrawingBackend>(
    c: &CdfChart,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    let curves = data.curves(&[]);
    let tr = |v: f64| if c.log_x { v.max(1e-3).log10() } else { v };
    let mut pts: Vec<Vec<(f64, f64)>> = Vec::new();
    for (_, members) in &curves {
        // Quantile averaging over seeds ("Vincentizing"): the CDF of a typical run.
        let mut v: Vec<(f64, f64)> = Vec::new();
        for (name, q) in LATENCY_QUANTILES {
            let metric = format!("{CDF_PREFIX}{name}");
            let xs: Vec<f64> = members
                .iter()
                .map(|&(p, s)| data.est(p, s, &metric, Stat::Mean).y)
                .filter(|x| x.is_finite())
                .collect();
            if !xs.is_empty() {
                v.push((tr(xs.iter().sum::<f64>() / xs.len() as f64), q));
            }
        }
        pts.push(v);
    }
    let xr = x_range(pts.iter().flatten().map(|(x, _)| *x));
    let xr = if c.log_x { xr } else { (xr.0.min(0.0), xr.1) };
    let title = c
        .title
        .clone()
        .unwrap_or_else(|| "Latency of answered requests (CDF)".into());
    let x_desc = if c.log_x {
        "latency (ms, log scale)"
    } else {
        "latency (ms)"
    };
    let fmt = |v: f64| {
        if c.log_x {
            tick(two_digits(10f64.powf(v)))
        } else {
            tick(v)
        }
    };
    let mut chart = frame(
        root,
        &title,
        xr,
        (0.0, 1.02),
        x_desc,
        "share of answered requests (≤ latency)",
        None,
        &fmt,
    )?;
    for (i, ((label, _), v)) in curves.iter().zip(&pts).enumerate() {
        let col = color(i);
        // Straight lines between the stored quantiles.
        let steps = v.clone();
        let style = col.stroke_width(3);
        chart
            .draw_series(LineSeries::new(steps, style))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 30, y)], style));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn bars<DB: DrawingBackend>(
    c: &BarsChart,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    let used: Vec<&str> = c.x.iter().map(String::as_str).collect();
    let curves = data.curves(&used);
    let (groups, group_of): (Vec<String>, Box<dyn Fn(usize) -> usize>) = match &c.x {
        Some(x) => {
            let a = data.info.axis_index(x).expect("checked");
            (
                data.info.axes[a].values.clone(),
                Box::new(move |p| data.info.points[p][a]),
            )
        }
        // No grouping axis: one bar per series, named on the x axis under it (a
        // single unnamed group left the axis without a word).
        None => (
            curves.iter().map(|(l, _)| l.clone()).collect(),
            Box::new(|_| 0),
        ),
    };
    let single = c.x.is_none();
    let n = if single {
        1.0
    } else {
        curves.len().max(1) as f64
    };
    let width = 0.8 / n;
    let mut bars: Vec<(usize, f64, Est)> = Vec::new();
    for (i, (_, members)) in curves.iter().enumerate() {
        for &(p, s) in members {
            let x = if single {
                i as f64
            } else {
                group_of(p) as f64 - 0.4 + width * (i as f64 + 0.5)
            };
            bars.push((i, x, data.est(p, s, &c.metric, c.stat)));
        }
    }
    let yr = y_range(bars.iter().flat_map(|(_, _, e)| [e.y, e.lo, e.hi]));
    let y_desc = c
        .y_label
        .clone()
        .unwrap_or_else(|| metric_label(&c.metric, c.stat));
    let x_desc = c.x_label.clone().unwrap_or_else(|| {
        c.x.as_deref()
            .map_or_else(String::new, |x| data.axis_label(x))
    });
    let title = c.title.clone().unwrap_or_else(|| y_desc.clone());
    let mut chart = frame(
        root,
        &title,
        (-0.5, groups.len() as f64 - 0.5),
        yr,
        &x_desc,
        &y_desc,
        Some(&groups),
        &tick,
    )?;
    for (i, (label, _)) in curves.iter().enumerate() {
        let col = color(i);
        let mine: Vec<&(usize, f64, Est)> = bars.iter().filter(|b| b.0 == i).collect();
        chart
            .draw_series(mine.iter().filter(|b| b.2.y.is_finite()).map(|(_, x, e)| {
                Rectangle::new(
                    [
                        (x - width * 0.45, 0.0f64.min(e.y)),
                        (x + width * 0.45, e.y.max(0.0)),
                    ],
                    col.filled(),
                )
            }))
            .map_err(err)?
            .label(label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 9), (x + 26, y + 9)], col.filled()));
        for (_, x, e) in mine {
            if e.lo.is_finite() && e.hi.is_finite() {
                let cap = width * 0.15;
                let s = BLACK.stroke_width(2);
                chart
                    .draw_series([
                        PathElement::new(vec![(*x, e.lo), (*x, e.hi)], s),
                        PathElement::new(vec![(x - cap, e.lo), (x + cap, e.lo)], s),
                        PathElement::new(vec![(x - cap, e.hi), (x + cap, e.hi)], s),
                    ])
                    .map_err(err)?;
            }
        }
    }
    if single {
        // Each bar is named under it: a legend would only repeat the names (and
        // cover a bar).
        return Ok(());
    }
    let tops: Vec<(f64, f64)> = bars
        .iter()
        .flat_map(|(_, x, e)| [(*x, e.y), (*x, e.hi)])
        .filter(|(_, y)| y.is_finite())
        .collect();
    legend(
        &mut chart,
        emptiest_corner(&tops, (-0.5, groups.len() as f64 - 0.5), yr),
    )
}

fn scatter<DB: DrawingBackend>(
    c: &ScatterChart,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    let curves = data.curves(&[&c.along]);
    let along = &data.info.axes[data.info.axis_index(&c.along).expect("checked")];
    let mut pts: Vec<Vec<(Est, Est, String)>> = Vec::new();
    for (_, members) in &curves {
        let mut v: Vec<(f64, Est, Est, String)> = members
            .iter()
            .map(|&(p, s)| {
                let a = data.info.axis_index(&c.along).expect("checked");
                (
                    data.x_of(&c.along, p),
                    data.est(p, s, &c.x_metric, c.x_stat),
                    data.est(p, s, &c.y_metric, c.y_stat),
                    along.values[data.info.points[p][a]].clone(),
                )
            })
            .filter(|(_, x, y, _)| x.y.is_finite() && y.y.is_finite())
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.push(v.into_iter().map(|(_, x, y, l)| (x, y, l)).collect());
    }
    let all = pts.iter().flatten();
    let xr = {
        let (lo, hi) = x_range(all.clone().flat_map(|(x, _, _)| [x.y, x.lo, x.hi]));
        let pad = (hi - lo) * 0.08;
        (lo - pad, hi + pad)
    };
    let yr = y_range(all.clone().flat_map(|(_, y, _)| [y.y, y.lo, y.hi]));
    let x_desc = c
        .x_label
        .clone()
        .unwrap_or_else(|| metric_label(&c.x_metric, c.x_stat));
    let y_desc = c
        .y_label
        .clone()
        .unwrap_or_else(|| metric_label(&c.y_metric, c.y_stat));
    let title = c
        .title
        .clone()
        .unwrap_or_else(|| format!("Availability vs consistency, one point per {}", along.label));
    let tops: Vec<(f64, f64, f64)> = pts
        .iter()
        .flatten()
        .map(|(x, y, _)| (x.y, y.lo.min(y.y), y.hi.max(y.y)))
        .collect();
    let bounded = c.y_stat == Stat::Share || data.is_rate(&c.y_metric);
    let (yr, corner) = legend_room(&tops, xr, yr, curves.len(), bounded);
    let mut chart = frame(root, &title, xr, yr, &x_desc, &y_desc, None, &tick)?;
    // Point labels already placed, so that a label landing on one is left out (on a
    // shared line, such as every safe series at 0, they would print over each other).
    let mut placed: Vec<(f64, f64)> = Vec::new();
    let (x_span, y_span) = (xr.1 - xr.0, yr.1 - yr.0);
    for (i, ((label, _), v)) in curves.iter().zip(&pts).enumerate() {
        let col = color(i);
        let thin = col.mix(0.6).stroke_width(2);
        // A series flat on the floor hides under the others there: the legend says
        // where it is.
        let label = if !v.is_empty() && v.iter().all(|(_, y, _)| y.y == 0.0) {
            format!("{label} (0 at every point)")
        } else {
            label.clone()
        };
        for (x, y, _) in v {
            let mut whiskers = Vec::new();
            if x.lo.is_finite() && x.hi.is_finite() {
                whiskers.push(PathElement::new(vec![(x.lo, y.y), (x.hi, y.y)], thin));
            }
            if y.lo.is_finite() && y.hi.is_finite() {
                whiskers.push(PathElement::new(vec![(x.y, y.lo), (x.y, y.hi)], thin));
            }
            chart.draw_series(whiskers).map_err(err)?;
        }
        let style = col.stroke_width(2);
        chart
            .draw_series(LineSeries::new(v.iter().map(|(x, y, _)| (x.y, y.y)), style))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (30, 0)], style)
                    + Polygon::new(legend_shape(i).0, col.filled())
                    + PathElement::new(legend_shape(i).1, col.stroke_width(4))
            });
        chart
            .draw_series(v.iter().map(|(x, y, _)| marker::<DB>(i, (x.y, y.y), col)))
            .map_err(err)?;
        let free: Vec<&(Est, Est, String)> = v
            .iter()
            .filter(|(x, y, _)| {
                let clash = placed.iter().any(|&(px, py)| {
                    ((x.y - px) / x_span).abs() < 0.035 && ((y.y - py) / y_span).abs() < 0.04
                });
                if !clash {
                    placed.push((x.y, y.y));
                }
                !clash
            })
            .collect();
        chart
            .draw_series(free.into_iter().map(|(x, y, l)| {
                Text::new(
                    format!(" {l}"),
                    (x.y, y.y),
                    font(18.0)
                        .color(&col)
                        .pos(Pos::new(HPos::Left, VPos::Bottom)),
                )
            }))
            .map_err(err)?;
    }
    legend(&mut chart, corner)
}

/// Viridis, approximated by five stops.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let f = t * 4.0;
    let i = (f.floor() as usize).min(3);
    let u = f - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * u).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn heatmap<DB: DrawingBackend>(
    c: &HeatmapChart,
    data: &Data,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), ChartError> {
    let info = data.info;
    let curves = data.curves(&[&c.x, &c.y]);
    let (xa, ya) = (
        info.axis_index(&c.x).expect("checked"),
        info.axis_index(&c.y).expect("checked"),
    );
    let (nx, ny) = (info.axes[xa].values.len(), info.axes[ya].values.len());
    let cells: Vec<Vec<(usize, usize, f64)>> = curves
        .iter()
        .map(|(_, members)| {
            members
                .iter()
                .map(|&(p, s)| {
                    (
                        info.points[p][xa],
                        info.points[p][ya],
                        data.est(p, s, &c.metric, c.stat).y,
                    )
                })
                .collect()
        })
        .collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in cells
        .iter()
        .flatten()
        .map(|c| c.2)
        .filter(|v| v.is_finite())
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let metric = metric_label(&c.metric, c.stat);
    let title = c.title.clone().unwrap_or_else(|| metric.clone());
    let titled = root
        .margin(12, 0, 0, 0)
        .titled(&title, font(TITLE_PX))
        .map_err(err)?;
    let (w, _) = titled.dim_in_pixel();
    let (panels_area, bar_area) = titled.split_horizontally(w.saturating_sub(150));
    let panels = panels_area.split_evenly((1, cells.len().max(1)));
    let x_desc = c.x_label.clone().unwrap_or_else(|| data.axis_label(&c.x));
    let y_desc = c.y_label.clone().unwrap_or_else(|| data.axis_label(&c.y));
    for ((label, _), (area, cells)) in curves.iter().zip(panels.iter().zip(&cells)) {
        let xt = info.axes[xa].values.clone();
        let yt = info.axes[ya].values.clone();
        let mut chart = ChartBuilder::on(area)
            .caption(label, font(DESC_PX))
            .margin(16)
            .x_label_area_size(80)
            .y_label_area_size(110)
            .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
            .map_err(err)?;
        let cat = |t: &[String], v: f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < t.len() {
                t[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_desc.as_str())
            .y_desc(y_desc.as_str())
            .label_style(font(TICK_PX))
            .axis_desc_style(font(DESC_PX))
            .x_labels(nx * 4 + 1)
            .y_labels(ny * 4 + 1)
            .x_label_formatter(&|v| cat(&xt, *v))
            .y_label_formatter(&|v| cat(&yt, *v))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(cells.iter().map(|(x, y, v)| {
                let col = if v.is_finite() {
                    viridis((v - lo) / (hi - lo))
                } else {
                    RGBColor(200, 200, 200)
                };
                Rectangle::new(
                    [
                        (*x as f64 - 0.5, *y as f64 - 0.5),
                        (*x as f64 + 0.5, *y as f64 + 0.5),
                    ],
                    col.filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(cells.iter().filter(|c| c.2.is_finite()).map(|(x, y, v)| {
                let light = (v - lo) / (hi - lo) < 0.6;
                let col: &'static RGBColor = if light { &WHITE } else { &BLACK };
                Text::new(
                    cell(*v),
                    (*x as f64, *y as f64),
                    font(22.0)
                        .color(col)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(err)?;
    }
    // The colour scale.
    let mut bar = ChartBuilder::on(&bar_area)
        .margin_top(70)
        .margin_bottom(100)
        .margin_right(10)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(err)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .label_style(font(TICK_PX - 4.0))
        .y_labels(6)
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err)?;
    let steps = 64;
    bar.draw_series((0..steps).map(|i| {
        let a = lo + (hi - lo) * i as f64 / steps as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            viridis((i as f64 + 0.5) / steps as f64).filled(),
        )
    }))
    .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_have_no_float_noise() {
        assert_eq!(tick(0.30000000000000004), "0.3");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(250000.0), "2.5e5");
    }

    #[test]
    fn the_legend_gets_room_above_the_data_or_a_free_lower_corner() {
        // Data peaking at 0.5 on the right, 0.9 on the left: upper right, and a
        // range raised so 0.5 stays below a 3-line legend (room 140/560 = 0.25).
        let pts = [(0.0, 0.0, 0.9), (10.0, 0.0, 0.5)];
        let ((lo, hi), pos) = legend_room(&pts, (0.0, 10.0), (0.0, 0.6), 3, false);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.5 / 0.75).abs() < 1e-9, "{hi}");
        assert_eq!(pos, SeriesLabelPosition::UpperRight);
        // A rate near 1 everywhere may not rise past 1: the legend goes low.
        let pts = [(0.0, 0.95, 1.0), (10.0, 0.7, 0.8)];
        let ((_, hi), pos) = legend_room(&pts, (0.0, 10.0), (0.0, 1.08), 8, true);
        assert_eq!(hi, 1.08);
        assert_eq!(pos, SeriesLabelPosition::LowerRight);
    }

    #[test]
    fn hidden_curves_say_so_in_the_legend() {
        let e = |y: f64| Est { y, lo: 0.0, hi: y };
        let curves: Vec<(String, Vec<(usize, usize)>)> = ["a", "b", "c"]
            .iter()
            .map(|l| (l.to_string(), Vec::new()))
            .collect();
        let pts = vec![
            vec![(0.0, e(0.0)), (1.0, e(0.0))],
            vec![(0.0, e(0.1)), (1.0, e(0.3))],
            vec![(0.0, e(0.1)), (1.0, e(0.3))],
        ];
        assert_eq!(
            line_labels(&curves, &pts),
            ["a (0 at every point)", "b", "c (same as b)"]
        );
    }

    #[test]
    fn log_ticks_keep_two_digits() {
        assert_eq!(tick(two_digits(15.848_931)), "16");
        assert_eq!(tick(two_digits(6.309_573)), "6.3");
        assert_eq!(tick(two_digits(158.489_3)), "160");
        assert_eq!(tick(two_digits(100.0)), "100");
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }
}
