//! The sweep file (RON) and its expansion into a [`Plan`]: every (point, series) as a
//! validated [`Scenario`], and the seeds.
//!
//! A field is named by its dotted path in the scenario as serialised
//! (`faults.random_partitions.rate_per_s`, `two_pc.vote_timeout_ms`, `rms`,
//! `protocol`); enum variants are stepped through (`workload.fan_out` reaches
//! `Transfer(fan_out: ..)`, `clients.load.sessions` reaches `Closed(sessions: ..)`).
//! Setting a value goes through the scenario's own serde schema and validation, so a
//! new protocol's fields become sweepable without a change here.

use super::chart_spec::ChartSpec;
use super::SweepError;
use crate::run::{Registry, Validated};
use crate::scenario::{self, Scenario};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The sweep file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Names the output directory (`output/<name>/`); defaults to the file name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A scenario file, relative to the sweep file. Either this or `scenario`.
    #[serde(default)]
    pub base: Option<String>,
    /// An inline base scenario (the scenario file's syntax), read and validated
    /// exactly as a scenario file is.
    #[serde(default)]
    pub scenario: Option<Box<ron::value::RawValue>>,
    /// Values set on the base before the axes (path → value), e.g. a shorter horizon.
    #[serde(default, deserialize_with = "crate::unique_map::deserialize")]
    pub set: BTreeMap<String, ron::Value>,
    /// The grid: every combination of the axes' values is a point.
    #[serde(default)]
    pub axes: Vec<AxisFile>,
    /// Named settings compared side by side: one line per variant in the charts.
    /// Without variants, the series are the protocols (of a `protocol` axis, or the
    /// base's protocol).
    #[serde(default)]
    pub variants: Vec<VariantFile>,
    /// Seeds per (point, series): `first_seed`, `first_seed + 1`, ...
    pub seeds: u64,
    #[serde(default = "one")]
    pub first_seed: u64,
    /// Charts drawn at the end of the sweep (and by `acidbase chart DIR`).
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
}

fn one() -> u64 {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisFile {
    /// Dotted path of a scenario field.
    pub path: String,
    pub values: Vec<ron::Value>,
    /// Axis title for charts, with the unit, e.g. "partition rate (1/s)".
    #[serde(default)]
    pub label: Option<String>,
    /// More fields set to the same value at every point: one knob that several
    /// protocols name differently (e.g. `saga.scan_interval_ms` with
    /// `messaging.retry_ms`), or two timeouts that move together.
    #[serde(default)]
    pub also: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    pub name: String,
    /// Path → value, applied after the axes (so a variant may fix `protocol`).
    #[serde(default, deserialize_with = "crate::unique_map::deserialize")]
    pub set: BTreeMap<String, ron::Value>,
}

/// One axis of the grid, resolved.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Axis {
    pub path: String,
    pub label: String,
    /// The values as written in CSV and on charts.
    pub values: Vec<String>,
    /// Whether every value is a number (charts then use a numeric x axis).
    pub numeric: bool,
}

/// A sweep expanded: what to run, and what to draw.
#[derive(Clone, Debug)]
pub struct Plan {
    pub info: PlanInfo,
    /// One scenario per (point, series), index `point * series + s`, each bound to
    /// the protocol that validated it.
    pub scenarios: Vec<Validated>,
}

/// What the output directory records about the sweep (`plan.json`): enough to merge
/// shards and redraw charts without the sweep file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlanInfo {
    pub name: String,
    pub description: String,
    pub axes: Vec<Axis>,
    /// Series labels (variants, or protocols).
    pub series: Vec<String>,
    /// The protocol each series runs at each point (`points × series`).
    pub protocols: Vec<String>,
    /// Each point's value index on each axis, in canonical order (first axis slowest).
    pub points: Vec<Vec<usize>>,
    pub seeds: Vec<u64>,
    /// The metric columns of `runs.csv`, in order.
    pub metrics: Vec<String>,
    pub charts: Vec<ChartSpec>,
    /// A hash of everything that decides the results: the scenario of every (point,
    /// series), the seeds and the columns. A journal or shard with another fingerprint
    /// belongs to another sweep.
    pub fingerprint: String,
}

impl PlanInfo {
    pub fn runs(&self) -> usize {
        self.points.len() * self.series.len() * self.seeds.len()
    }

    /// (point, series, seed index) of run `r` in canonical order.
    pub fn split(&self, r: usize) -> (usize, usize, usize) {
        let k = self.seeds.len();
        let s = self.series.len();
        (r / (s * k), (r / k) % s, r % k)
    }

    /// The axis values of a point, as written.
    pub fn point_values(&self, point: usize) -> Vec<&str> {
        self.points[point]
            .iter()
            .zip(&self.axes)
            .map(|(i, a)| a.values[*i].as_str())
            .collect()
    }

    pub fn axis_index(&self, path: &str) -> Option<usize> {
        self.axes.iter().position(|a| a.path == path)
    }

    /// Checks that a plan read back (`plan.json`) hangs together: what every other
    /// function here takes for granted (indices in range, one protocol per point and
    /// series, charts that name its axes, metrics and series).
    pub(super) fn check(&self) -> Result<(), String> {
        if self.series.is_empty() || self.seeds.is_empty() || self.points.is_empty() {
            return Err(format!(
                "a plan needs at least one point, series and seed (it has {} points, {} series, {} seeds)",
                self.points.len(),
                self.series.len(),
                self.seeds.len()
            ));
        }
        let runs = self
            .points
            .len()
            .checked_mul(self.series.len())
            .and_then(|n| n.checked_mul(self.seeds.len()));
        if runs.is_none_or(|r| r > MAX_PLAN_RUNS) {
            return Err(format!(
                "the plan has more than {MAX_PLAN_RUNS} runs ({} points × {} series × {} seeds)",
                self.points.len(),
                self.series.len(),
                self.seeds.len()
            ));
        }
        for (i, s) in self.series.iter().enumerate() {
            if self.series[..i].contains(s) {
                return Err(format!("series {s:?} appears twice"));
            }
        }
        for (i, a) in self.axes.iter().enumerate() {
            if self.axes[..i].iter().any(|b| b.path == a.path) {
                return Err(format!("axis {:?} appears twice", a.path));
            }
            if a.values.is_empty() {
                return Err(format!("axis {:?} has no values", a.path));
            }
        }
        for (i, p) in self.points.iter().enumerate() {
            if p.len() != self.axes.len()
                || p.iter().zip(&self.axes).any(|(v, a)| *v >= a.values.len())
            {
                return Err(format!(
                    "point {i} is {p:?}, not one value index per axis ({} axes)",
                    self.axes.len()
                ));
            }
        }
        if self.protocols.len() != self.points.len() * self.series.len() {
            return Err(format!(
                "{} protocols, expected one per point and series ({})",
                self.protocols.len(),
                self.points.len() * self.series.len()
            ));
        }
        for c in &self.charts {
            c.check_in(&self.axes, &self.metrics, &self.series)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The most runs a plan read back (`plan.json`) may describe: what `chart` and
/// `merge` keep per run is one bit, so this bounds that to 1.25 GB.
pub const MAX_PLAN_RUNS: usize = 10_000_000_000;

/// Options that change how a sweep file is read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Drop protocols this build does not have (with a warning) instead of failing:
    /// lets a sweep that compares every protocol run on a build that has only some.
    pub skip_unknown_protocols: bool,
    /// The protocols this program knows.
    pub registry: Registry,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            skip_unknown_protocols: false,
            registry: Registry::builtin(),
        }
    }
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(
        ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES
            | ron::extensions::Extensions::IMPLICIT_SOME,
    )
}

/// 1-based line and column of the first `needle` outside comments, if any.
fn locate(source: &str, needle: &str) -> Option<(usize, usize)> {
    for (n, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if let Some(c) = code.find(needle) {
            return Some((n + 1, c + 1));
        }
    }
    None
}

/// Reads, expands and validates a sweep file. `warnings` collects what was skipped.
pub fn load(
    path: &Path,
    opts: ReadOptions,
    warnings: &mut Vec<String>,
) -> Result<Plan, SweepError> {
    load_checked(path, opts, &|_| Ok(()), warnings)
}

/// [`load`], calling `size` with the plan's (points, series, seeds) before any
/// point's scenario is built, so a sweep refused for its size costs nothing.
pub fn load_checked(
    path: &Path,
    opts: ReadOptions,
    size: &dyn Fn((usize, usize, usize)) -> Result<(), SweepError>,
    warnings: &mut Vec<String>,
) -> Result<Plan, SweepError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| SweepError::input(format!("{file}: cannot read the sweep file: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    load_text(&source, &file, dir, opts, size, warnings)
}

/// [`load_checked`] on a sweep file's text: `file` names it in errors, `dir` is where
/// a `base` scenario is looked for.
pub fn load_text(
    source: &str,
    file: &str,
    dir: &Path,
    opts: ReadOptions,
    size: &dyn Fn((usize, usize, usize)) -> Result<(), SweepError>,
    warnings: &mut Vec<String>,
) -> Result<Plan, SweepError> {
    let src = Source { text: source, file };
    let sweep = parse_sweep_file(&src)?;
    let registry = &opts.registry;
    let base = base_scenario(registry, &sweep, dir, &src)?;
    let name = output_name(&sweep, &src)?;
    check_seeds(&sweep, &src)?;
    let base_json = base_with_set(&base, &sweep.set, &src)?;
    let mut axes = resolve_axes(&sweep.axes, &base_json, &opts, warnings, &src)?;
    let mut variants = resolve_variants(&sweep.variants, &base.protocol, &opts, warnings, &src)?;
    if variants.is_empty() {
        variants = protocol_axis_as_series(&mut axes);
    }
    let points = grid_points(&axes, &src)?;
    let series: Vec<String> = if variants.is_empty() {
        vec![base.protocol.clone()]
    } else {
        variants.iter().map(|(n, _)| n.clone()).collect()
    };
    let n_series = variants.len().max(1);
    size((points.len(), n_series, sweep.seeds as usize))?;
    let (scenarios, protocols) = point_scenarios(
        registry, &base_json, &axes, &variants, &points, warnings, &src,
    )?;
    let metrics = super::table::metric_columns();
    let axes: Vec<Axis> = axes.into_iter().map(|a| a.axis).collect();
    check_charts(&sweep.charts, &axes, &metrics, &series, &src)?;
    let seeds: Vec<u64> = (0..sweep.seeds)
        .map(|i| sweep.first_seed.wrapping_add(i))
        .collect();
    let mut info = PlanInfo {
        name,
        description: sweep.description.clone(),
        axes,
        series,
        protocols,
        points,
        seeds,
        metrics,
        charts: sweep.charts.clone(),
        fingerprint: String::new(),
    };
    info.fingerprint = fingerprint(&info, &scenarios);
    Ok(Plan { info, scenarios })
}

/// The sweep file's text and name: what an error needs to say where it is.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    /// An input error at the first `needle` outside comments (line and column), or
    /// at the file when the needle is not in it.
    fn at(&self, needle: &str, msg: String) -> SweepError {
        let file = self.file;
        SweepError::input(match locate(self.text, needle) {
            Some((l, c)) => format!("{file}:{l}:{c}: {msg}"),
            None => format!("{file}: {msg}"),
        })
    }
}

/// The sweep file's RON, with a syntax or schema error placed and explained.
fn parse_sweep_file(src: &Source) -> Result<SweepFile, SweepError> {
    let file = src.file;
    ron_options().from_str(src.text).map_err(|e| {
        SweepError::input(format!(
            "{file}:{}:{}: {}",
            e.span.start.line,
            e.span.start.col,
            scenario::explain_ron_error(&e.code, "book/src/sweeps.md")
        ))
    })
}

/// The base scenario: the `base` file (relative to `dir`) or the inline `scenario`,
/// read and validated as a scenario file is; exactly one of them.
fn base_scenario(
    registry: &Registry,
    sweep: &SweepFile,
    dir: &Path,
    src: &Source,
) -> Result<Scenario, SweepError> {
    let (source, file) = (src.text, src.file);
    Ok(match (&sweep.base, &sweep.scenario) {
        (Some(b), None) => {
            let p = dir.join(b);
            registry
                .load(&p)
                .map_err(|e| src.at("base", format!("base scenario: {e}")))?
                .into_loaded()
                .scenario
        }
        (None, Some(raw)) => {
            let text = raw.get_ron();
            // Pad with the lines before it, so errors point into the sweep file.
            let offset = source.find(text).unwrap_or(0);
            let before = &source[..offset];
            let padded = format!(
                "{}{}{}",
                "\n".repeat(before.matches('\n').count()),
                " ".repeat(offset - before.rfind('\n').map_or(0, |n| n + 1)),
                text
            );
            registry
                .parse(&padded, file)
                .map_err(|e| SweepError::input(format!("{e} (in the inline scenario)")))?
                .into_loaded()
                .scenario
        }
        (Some(_), Some(_)) => {
            return Err(src.at(
                "scenario",
                "give either base (a scenario file) or scenario (inline), not both".into(),
            ))
        }
        (None, None) => {
            return Err(SweepError::input(format!(
                "{file}: no base scenario: add base: \"../some-scenario.ron\" (relative to the sweep file) or an inline scenario: ( ... )"
            )))
        }
    })
}

/// The sweep's name (the file's stem when not given), checked to be usable as the
/// output directory's name.
fn output_name(sweep: &SweepFile, src: &Source) -> Result<String, SweepError> {
    let name = if sweep.name.is_empty() {
        Path::new(src.file)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "sweep".into())
    } else {
        sweep.name.clone()
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        return Err(src.at(
            "name",
            format!("name {name:?}: use letters, digits, '-', '_' or '.' (it names the output directory)"),
        ));
    }
    Ok(name)
}

/// Seeds per (point, series): at least one, at most a million.
fn check_seeds(sweep: &SweepFile, src: &Source) -> Result<(), SweepError> {
    if sweep.seeds == 0 {
        return Err(src.at(
            "seeds",
            "seeds = 0: every point needs at least one seed (e.g. seeds: 10)".into(),
        ));
    }
    if sweep.seeds > 1_000_000 {
        return Err(src.at(
            "seeds",
            format!("seeds = {}: at most 1000000 per point", sweep.seeds),
        ));
    }
    Ok(())
}

/// The base scenario as JSON (the form [`set_path`] edits) with the file's `set`
/// applied: what every point starts from.
fn base_with_set(
    base: &Scenario,
    set: &BTreeMap<String, ron::Value>,
    src: &Source,
) -> Result<Value, SweepError> {
    let mut base_json = serde_json::to_value(base).expect("a scenario serialises");
    for (p, v) in set {
        finite(v, &format!("set {p:?}")).map_err(|m| src.at(&format!("{p:?}"), m))?;
        let v = json_of(v);
        set_path(&mut base_json, p, v.clone())
            .map_err(|m| src.at(&format!("{p:?}"), format!("set {p:?}: {m}")))?;
    }
    Ok(base_json)
}

/// An axis as resolved: what charts and CSV show, the values to set, and the other
/// fields set to the same value.
struct ResolvedAxis {
    axis: Axis,
    values: Vec<Value>,
    also: Vec<String>,
}

/// A series' name and what it sets (path → value), applied after the axes.
type Variant = (String, Vec<(String, Value)>);

/// Every axis of the file, checked against the base (its path and every value's
/// type, its `also` fields) and against the axes before it, with the protocols this
/// build does not have dropped when asked to.
fn resolve_axes(
    files: &[AxisFile],
    base_json: &Value,
    opts: &ReadOptions,
    warnings: &mut Vec<String>,
    src: &Source,
) -> Result<Vec<ResolvedAxis>, SweepError> {
    let at = |needle: &str, msg: String| src.at(needle, msg);
    let mut axes: Vec<ResolvedAxis> = Vec::new();
    for a in files {
        let needle = format!("{:?}", a.path);
        if axes.iter().any(|b| b.axis.path == a.path) {
            return Err(at(
                &needle,
                format!("axis {:?} appears twice: give each field one axis", a.path),
            ));
        }
        for v in &a.values {
            finite(v, &format!("axis {:?}", a.path)).map_err(|m| at(&needle, m))?;
        }
        let mut values: Vec<Value> = a.values.iter().map(json_of).collect();
        if a.path == "protocol" {
            values.retain(|v| {
                let p = v.as_str().unwrap_or("");
                let known = opts.registry.get(p).is_some();
                if !known && opts.skip_unknown_protocols {
                    warnings.push(format!(
                        "protocol {p:?} is not built into this acidbase (it has: {}); skipped",
                        opts.registry.names().join(", ")
                    ));
                }
                known || !opts.skip_unknown_protocols
            });
        }
        if a.values.is_empty() {
            return Err(at(
                &needle,
                format!(
                    "axis {:?}: values is empty; give at least one value, e.g. values: [1, 2, 4]",
                    a.path
                ),
            ));
        }
        if values.is_empty() {
            return Err(at(
                &needle,
                format!(
                    "axis {:?}: none of its protocols is built into this acidbase (it has: {})",
                    a.path,
                    opts.registry.names().join(", ")
                ),
            ));
        }
        probe_axis(a, &values, base_json, &needle, src)?;
        let shown = distinct_shown(a, &values, &needle, src)?;
        let numeric = values.iter().all(Value::is_number);
        axes.push(ResolvedAxis {
            axis: Axis {
                path: a.path.clone(),
                label: a.label.clone().unwrap_or_else(|| default_label(&a.path)),
                values: shown,
                numeric,
            },
            values,
            also: a.also.clone(),
        });
    }
    Ok(axes)
}

/// An axis's values as written in CSV and on charts, each once: two values that show
/// alike would be one column of results.
fn distinct_shown(
    a: &AxisFile,
    values: &[Value],
    needle: &str,
    src: &Source,
) -> Result<Vec<String>, SweepError> {
    let shown: Vec<String> = values.iter().map(show).collect();
    for (i, s) in shown.iter().enumerate() {
        if shown[..i].contains(s) {
            return Err(src.at(
                needle,
                format!("axis {:?}: value {s} appears twice", a.path),
            ));
        }
    }
    Ok(shown)
}

/// Sets each of an axis's values (and its `also` fields) on the base, so a wrong
/// path or type is reported at the axis, before any point is built.
fn probe_axis(
    a: &AxisFile,
    values: &[Value],
    base_json: &Value,
    needle: &str,
    src: &Source,
) -> Result<(), SweepError> {
    for v in values {
        let mut probe = base_json.clone();
        set_path(&mut probe, &a.path, v.clone())
            .map_err(|m| src.at(needle, format!("axis {:?}: {m}", a.path)))?;
        for p in &a.also {
            if *p == a.path || p == "protocol" {
                return Err(src.at(
                    needle,
                    format!("axis {:?}: also {p:?}: name other fields than the axis's own path and protocol", a.path),
                ));
            }
            set_path(&mut probe, p, v.clone())
                .map_err(|m| src.at(needle, format!("axis {:?}, also {p:?}: {m}", a.path)))?;
        }
    }
    Ok(())
}

/// The file's variants: named, distinct, finite, and (when asked) only those whose
/// protocol (their own `protocol`, else the base's) this build has.
fn resolve_variants(
    files: &[VariantFile],
    base_protocol: &str,
    opts: &ReadOptions,
    warnings: &mut Vec<String>,
    src: &Source,
) -> Result<Vec<Variant>, SweepError> {
    let at = |needle: &str, msg: String| src.at(needle, msg);
    let mut variants: Vec<Variant> = Vec::new();
    for v in files {
        if v.name.is_empty() || variants.iter().any(|(n, _)| *n == v.name) {
            return Err(at(
                &format!("{:?}", v.name),
                format!(
                    "variant {:?}: each variant needs its own non-empty name",
                    v.name
                ),
            ));
        }
        for (p, x) in &v.set {
            finite(x, &format!("variant {:?}, {p:?}", v.name))
                .map_err(|m| at(&format!("{p:?}"), m))?;
        }
        let protocol = v
            .set
            .get("protocol")
            .map(json_of)
            .and_then(|p| p.as_str().map(str::to_string))
            .unwrap_or_else(|| base_protocol.to_string());
        if opts.registry.get(&protocol).is_none() && opts.skip_unknown_protocols {
            warnings.push(format!(
                "variant {:?}: protocol {protocol:?} is not built into this acidbase (it has: {}); skipped",
                v.name,
                opts.registry.names().join(", ")
            ));
            continue;
        }
        variants.push((
            v.name.clone(),
            v.set.iter().map(|(k, x)| (k.clone(), json_of(x))).collect(),
        ));
    }
    if !files.is_empty() && variants.is_empty() {
        return Err(at(
            "variants",
            format!(
                "none of the variants' protocols is built into this acidbase (it has: {})",
                opts.registry.names().join(", ")
            ),
        ));
    }
    Ok(variants)
}

/// Without variants, a `protocol` axis gives the series: it is taken out of the grid
/// and each of its values becomes a variant that sets the protocol.
fn protocol_axis_as_series(axes: &mut Vec<ResolvedAxis>) -> Vec<Variant> {
    let mut variants = Vec::new();
    if let Some(i) = axes.iter().position(|a| a.axis.path == "protocol") {
        let ResolvedAxis { axis, values, .. } = axes.remove(i);
        for (name, v) in axis.values.into_iter().zip(values) {
            variants.push((name, vec![("protocol".to_string(), v)]));
        }
    }
    variants
}

/// The points: the cartesian product of the axes' value indices, first axis slowest
/// (the canonical order), at most a million.
fn grid_points(axes: &[ResolvedAxis], src: &Source) -> Result<Vec<Vec<usize>>, SweepError> {
    let mut points: Vec<Vec<usize>> = vec![Vec::new()];
    for ResolvedAxis { axis: a, .. } in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                (0..a.values.len()).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    if points.len() > 1_000_000 {
        return Err(SweepError::input(format!(
            "{}: {} points: at most 1000000 are supported",
            src.file,
            points.len()
        )));
    }
    Ok(points)
}

/// The scenario of every (point, series) in canonical order, each validated exactly
/// as a scenario file is (written as RON and read back) and of a protocol this build
/// has, and the protocol each runs. Size warnings (runs likely cut short) are folded
/// into one.
fn point_scenarios(
    registry: &Registry,
    base_json: &Value,
    axes: &[ResolvedAxis],
    variants: &[Variant],
    points: &[Vec<usize>],
    warnings: &mut Vec<String>,
    src: &Source,
) -> Result<(Vec<Validated>, Vec<String>), SweepError> {
    let file = src.file;
    let n_series = variants.len().max(1);
    let mut size_warnings: Vec<String> = Vec::new();
    let mut scenarios = Vec::with_capacity(points.len() * n_series);
    let mut protocols = Vec::with_capacity(points.len() * n_series);
    for point in points {
        for vi in 0..n_series {
            let (j, context) = point_settings(base_json, axes, point, variants.get(vi), src)?;
            let s: Scenario = serde_json::from_value(j)
                .map_err(|e| SweepError::input(format!("{file}: at {context}: {e}")))?;
            if registry.get(&s.protocol).is_none() {
                return Err(SweepError::input(format!(
                    "{file}: at {context}: protocol {:?} is not built into this acidbase (it has: {}); run with --skip-unknown-protocols to sweep the others",
                    s.protocol,
                    registry.names().join(", ")
                )));
            }
            let text = to_ron(&s)?;
            let checked = registry.parse(&text, "point").map_err(|e| {
                SweepError::input(format!(
                    "{file}: at {context}, the scenario is invalid: {}",
                    e.message
                ))
            })?;
            if let Some(w) = crate::run::size_warning(&checked.scenario) {
                size_warnings.push(format!("at {context}: {w}"));
            }
            protocols.push(checked.scenario.protocol.clone());
            scenarios.push(checked);
        }
    }
    if let Some(first) = size_warnings.first() {
        warnings.push(match size_warnings.len() {
            1 => first.clone(),
            n => format!(
                "{first} (and at {} more of the {} points and series)",
                n - 1,
                scenarios.len()
            ),
        });
    }
    Ok((scenarios, protocols))
}

/// The base with one point's axis values and one variant's settings applied, and
/// where that is ("rms = 3, variant \"x\"") for the errors and warnings about it.
fn point_settings(
    base_json: &Value,
    axes: &[ResolvedAxis],
    point: &[usize],
    variant: Option<&Variant>,
    src: &Source,
) -> Result<(Value, String), SweepError> {
    let at = |needle: &str, msg: String| src.at(needle, msg);
    let mut j = base_json.clone();
    let mut where_ = Vec::new();
    for (
        ResolvedAxis {
            axis: a,
            values: vals,
            also,
        },
        i,
    ) in axes.iter().zip(point)
    {
        set_path(&mut j, &a.path, vals[*i].clone())
            .map_err(|m| at(&format!("{:?}", a.path), format!("axis {:?}: {m}", a.path)))?;
        for p in also {
            set_path(&mut j, p, vals[*i].clone()).map_err(|m| {
                at(
                    &format!("{:?}", a.path),
                    format!("axis {:?}, also {p:?}: {m}", a.path),
                )
            })?;
        }
        where_.push(format!("{} = {}", a.path, a.values[*i]));
    }
    if let Some((name, set)) = variant {
        for (p, v) in set {
            set_path(&mut j, p, v.clone())
                .map_err(|m| at(&format!("{p:?}"), format!("variant {name:?}, {p:?}: {m}")))?;
        }
        where_.push(format!("variant {name:?}"));
    }
    let context = if where_.is_empty() {
        "the base scenario".to_string()
    } else {
        where_.join(", ")
    };
    Ok((j, context))
}

/// Each chart of the file against the sweep's axes, metrics and series, an error
/// placed at the chart's kind.
fn check_charts(
    charts: &[ChartSpec],
    axes: &[Axis],
    metrics: &[String],
    series: &[String],
    src: &Source,
) -> Result<(), SweepError> {
    for c in charts {
        c.check_in(axes, metrics, series)
            .map_err(|e| src.at(c.kind(), e.to_string()))?;
    }
    Ok(())
}

pub fn to_ron(s: &Scenario) -> Result<String, SweepError> {
    ron_options()
        .to_string(s)
        .map_err(|e| SweepError::input(format!("cannot write a scenario as RON: {e}")))
}

/// FNV-1a over the canonical JSON of the scenarios, seeds and columns.
fn fingerprint(info: &PlanInfo, scenarios: &[Validated]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for s in scenarios {
        eat(serde_json::to_string(s.scenario())
            .expect("a scenario serialises")
            .as_bytes());
    }
    let key = serde_json::json!({
        "axes": info.axes, "series": info.series, "points": info.points,
        "seeds": info.seeds, "metrics": info.metrics,
    });
    eat(key.to_string().as_bytes());
    format!("{h:016x}")
}

/// A number in `v` (at any depth) that is not finite: NaN and the infinities have
/// no JSON form and no scenario field takes them.
fn non_finite(v: &ron::Value) -> Option<f64> {
    match v {
        ron::Value::Number(n) => Some(n.into_f64()).filter(|f| !f.is_finite()),
        ron::Value::Option(Some(b)) => non_finite(b),
        ron::Value::Seq(s) => s.iter().find_map(non_finite),
        ron::Value::Map(m) => m.iter().find_map(|(k, v)| non_finite(k).or(non_finite(v))),
        _ => None,
    }
}

fn finite(v: &ron::Value, what: &str) -> Result<(), String> {
    match non_finite(v) {
        Some(f) => Err(format!(
            "{what}: {f} is not a finite number; no scenario field takes it"
        )),
        None => Ok(()),
    }
}

/// A RON value as JSON (RON structs and maps become objects).
pub fn json_of(v: &ron::Value) -> Value {
    match v {
        ron::Value::Bool(b) => Value::Bool(*b),
        ron::Value::Char(c) => Value::String(c.to_string()),
        ron::Value::String(s) => Value::String(s.clone()),
        ron::Value::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        ron::Value::Option(None) | ron::Value::Unit => Value::Null,
        ron::Value::Option(Some(b)) => json_of(b),
        ron::Value::Seq(s) => Value::Array(s.iter().map(json_of).collect()),
        ron::Value::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        ron::Value::String(s) => s.clone(),
                        other => show(&json_of(other)),
                    };
                    (key, json_of(v))
                })
                .collect(),
        ),
        ron::Value::Bytes(b) => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
    }
}

/// A value as written in CSV and on charts: numbers in their shortest round-trip
/// form ([`super::table::fmt_f64`]: `0.25`, `1e-308`), strings bare.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => super::table::fmt_f64(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A default chart label for a path: its last part, with the unit its suffix names.
pub fn default_label(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    let units = [
        ("_per_s", "(1/s)"),
        ("_ms", "(ms)"),
        ("_ppm", "(ppm)"),
        ("_probability", "(probability)"),
    ];
    let parts: Vec<&str> = path.split('.').collect();
    for (suffix, unit) in units {
        if let Some(stem) = last.strip_suffix(suffix) {
            // `random_partitions.rate_per_s` reads better by its parent's name.
            let what = match (stem, parts.len()) {
                ("rate", n) if n >= 2 => parts[n - 2].replace('_', " "),
                _ => stem.replace('_', " "),
            };
            return format!("{what} {unit}");
        }
    }
    match path {
        "rms" => "resource managers (participants)".into(),
        _ => last.replace('_', " "),
    }
}

/// Sets the field at dotted `path` of a serialised scenario, stepping through enum
/// variants. Checks that the field exists and that the value has the field's kind.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{path:?} is not a field path; write fields joined by dots, e.g. faults.random_partitions.rate_per_s"));
    }
    let mut cur = root;
    for (depth, part) in parts.iter().enumerate() {
        let here = parts[..depth].join(".");
        let here_name = if here.is_empty() {
            "the scenario".to_string()
        } else {
            here.clone()
        };
        // Step into an enum variant (`{"Transfer": {...}}`) that lacks the key.
        let variant = match &*cur {
            Value::Object(m) if !m.contains_key(*part) && m.len() == 1 => m
                .keys()
                .next()
                .filter(|k| k.chars().next().is_some_and(char::is_uppercase))
                .cloned(),
            _ => None,
        };
        if let Some(k) = variant {
            cur = cur.get_mut(&k).expect("the key was just seen");
        }
        match cur {
            Value::Object(m) => {
                if !m.contains_key(*part) {
                    let known: Vec<&str> = m.keys().map(String::as_str).collect();
                    return Err(format!(
                        "unknown field {part:?} in {here_name}; its fields are: {}",
                        known.join(", ")
                    ));
                }
                cur = m.get_mut(*part).expect("checked");
            }
            Value::Array(list) => {
                let n = list.len();
                let i: usize = part.parse().map_err(|_| {
                    format!("{here_name} is a list: name an entry by its index, e.g. {here}.0")
                })?;
                cur = list.get_mut(i).ok_or_else(|| {
                    format!("{here_name} has {n} entries in the base scenario: index {i} does not exist")
                })?;
            }
            Value::Null => {
                return Err(format!("{here_name} is not set in the base scenario (it is optional): set it there, or set the whole of {here_name} first"));
            }
            _ => {
                return Err(format!(
                    "{here_name} is a single value, not a group of fields; {path:?} does not exist"
                ));
            }
        }
    }
    let value = match (&*cur, value) {
        (Value::Bool(_), v @ Value::Bool(_))
        | (Value::String(_), v @ Value::String(_))
        | (Value::Null | Value::Object(_) | Value::Array(_), v) => v,
        (Value::Number(old), Value::Number(new)) => {
            let integer = old.is_u64() || old.is_i64();
            match new.as_f64() {
                Some(f) if integer && !(new.is_u64() || new.is_i64()) => {
                    if f.fract() == 0.0 && (0.0..9.0e15).contains(&f) {
                        Value::from(f as u64)
                    } else {
                        return Err(format!("{path} takes a whole number, not {f}"));
                    }
                }
                _ => Value::Number(new),
            }
        }
        (old, new) => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "true or false",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "a structure",
            };
            return Err(format!("{path} takes {}, not {}", kind(old), show(&new)));
        }
    };
    *cur = value;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::to_value(Scenario::default()).expect("serialises")
    }

    #[test]
    fn sets_nested_fields_and_steps_through_variants() {
        let mut j = base();
        set_path(&mut j, "two_pc.vote_timeout_ms", Value::from(50)).expect("ok");
        set_path(&mut j, "workload.fan_out", Value::from(2)).expect("ok");
        set_path(&mut j, "clients.load.sessions", Value::from(8.0)).expect("ok");
        set_path(&mut j, "rms", Value::from(5)).expect("ok");
        let s: Scenario = serde_json::from_value(j).expect("still a scenario");
        assert_eq!(s.two_pc.vote_timeout_ms, 50.0);
        assert_eq!(s.rms, 5);
        let crate::scenario::WorkloadSpec::Transfer(t) = &s.workload else {
            panic!("the path kept the workload a transfer")
        };
        assert_eq!(t.fan_out, 2);
        assert_eq!(
            s.clients.load,
            crate::scenario::LoadSpec::Closed {
                sessions: 8,
                think_ms: 10.0
            }
        );
    }

    #[test]
    fn unknown_paths_and_wrong_kinds_are_explained() {
        let mut j = base();
        let e = set_path(&mut j, "two_pc.vote_timeout", Value::from(1)).unwrap_err();
        assert!(
            e.contains("unknown field \"vote_timeout\" in two_pc"),
            "{e}"
        );
        assert!(e.contains("vote_timeout_ms"), "{e}");
        let e = set_path(&mut j, "rms", Value::from("three")).unwrap_err();
        assert_eq!(e, "rms takes a number, not three");
        let e = set_path(&mut j, "rms", Value::from(2.5)).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        let e = set_path(
            &mut j,
            "faults.random_partitions.rate_per_s",
            Value::from(1),
        )
        .unwrap_err();
        assert!(e.contains("not set in the base scenario"), "{e}");
        let e = set_path(&mut j, "faults.crashes.0.at_ms", Value::from(1)).unwrap_err();
        assert!(e.contains("has 0 entries"), "{e}");
        let e = set_path(&mut j, "rms.x", Value::from(1)).unwrap_err();
        assert!(e.contains("single value"), "{e}");
    }

    #[test]
    fn labels_carry_units() {
        assert_eq!(
            default_label("faults.random_partitions.rate_per_s"),
            "random partitions (1/s)"
        );
        assert_eq!(default_label("two_pc.vote_timeout_ms"), "vote timeout (ms)");
        assert_eq!(
            default_label("network.loss_probability"),
            "loss (probability)"
        );
    }
}
