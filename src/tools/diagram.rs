//! Sequence (space-time, Lamport) diagrams of a run, as hand-written SVG.
//!
//! A lane per node, time flowing down; an arrow per message copy (lost or dropped
//! ones dashed red, ending in a cross on the way to, or at, the lane they were going
//! to; a duplicate copy dashed purple), timers as small circles, crashes as red
//! crosses with the lane dashed while the node is down, restarts in green,
//! partitions as dashed lines across the lanes, lock-hold bars beside a
//! participant's lane from its yes vote until it applies the outcome, and notes at
//! the key moments ("in doubt", "decided Commit"). A legend at the top names every
//! mark the diagram uses.
//!
//! Rows are distinct instants, not a linear time scale, so a burst of events at one
//! millisecond stays readable next to a long quiet wait; each row is labelled with its
//! time, and where a quiet stretch much longer than the usual step is cut out, a break
//! mark across the lanes says how long it was. Text never overlaps: identical
//! messages sent together get one label ("Prepare ×3"), and a label with no free
//! place is left out (its line keeps it as a tooltip). Long runs are windowed
//! (`from_ms`/`to_ms`, `txn`), focused on one transaction by default
//! ([`DiagramOptions::auto_focus`]) and capped at [`DiagramOptions::max_rows`]; what
//! was left out is said in [`Diagram::notices`] as well as in the picture.

use crate::tools::tracelog::{short, TraceLine};
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

/// What to draw.
#[derive(Clone, Debug)]
pub struct DiagramOptions {
    /// Only messages and notes about this transaction (faults are always drawn).
    pub txn: Option<u64>,
    pub from_ms: Option<f64>,
    pub to_ms: Option<f64>,
    /// At most this many instants (rows); later ones are cut with a note.
    pub max_rows: usize,
    pub title: String,
    /// With no `txn`, `from_ms` or `to_ms`: when the run has more than
    /// [`LARGE_ROWS`] instants, draw only one transaction ([`choose_focus`]) and say
    /// so in [`Diagram::notices`].
    pub auto_focus: bool,
}

impl Default for DiagramOptions {
    fn default() -> Self {
        DiagramOptions {
            txn: None,
            from_ms: None,
            to_ms: None,
            max_rows: 250,
            title: String::new(),
            auto_focus: true,
        }
    }
}

/// A diagram's time window that [`check_window`] refuses.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowError {
    /// `flag` (`--from` or `--to`) is not a finite time from 0 to
    /// [`crate::scenario::MAX_MS`].
    OutOfRange { flag: &'static str, value_ms: f64 },
    /// `--to` is before `--from`.
    ToBeforeFrom { from_ms: f64, to_ms: f64 },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::OutOfRange { flag, value_ms } => write!(
                f,
                "{flag} {value_ms}: expected a time in ms from 0 to {}",
                crate::scenario::MAX_MS
            ),
            WindowError::ToBeforeFrom { from_ms, to_ms } => {
                write!(f, "--to {to_ms} is before --from {from_ms}")
            }
        }
    }
}

impl std::error::Error for WindowError {}

/// Checks a diagram's time window (`--from`/`--to`, in ms): each bound a finite
/// number from 0 to [`crate::scenario::MAX_MS`], and `to` not before `from`. NaN, an
/// infinity or a negative time would otherwise be turned silently into some window.
pub fn check_window(from_ms: Option<f64>, to_ms: Option<f64>) -> Result<(), WindowError> {
    for (flag, v) in [("--from", from_ms), ("--to", to_ms)] {
        if let Some(v) = v {
            if !(v.is_finite() && (0.0..=crate::scenario::MAX_MS).contains(&v)) {
                return Err(WindowError::OutOfRange { flag, value_ms: v });
            }
        }
    }
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if t < f {
            return Err(WindowError::ToBeforeFrom {
                from_ms: f,
                to_ms: t,
            });
        }
    }
    Ok(())
}

const LANE_GAP: f64 = 150.0;
const LEFT: f64 = 120.0;
/// Where the lane names sit when there is no legend.
const TOP: f64 = 50.0;
const ROW: f64 = 24.0;
/// The extra height of a break mark (a cut-out quiet stretch) between two rows.
const BREAK: f64 = 14.0;
/// A diagram with more instants than this, asked for without `txn`, `from_ms` or
/// `to_ms`, is focused on one transaction when [`DiagramOptions::auto_focus`] is set.
pub const LARGE_ROWS: usize = 80;
/// The width of a character of text, as a fraction of the font size: a generous
/// estimate for sans-serif, so that labels placed apart are apart when rendered.
pub const CHAR_WIDTH: f64 = 0.62;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A time in µs as a reader wants it: "15 ms", "0.5 ms", "12.25 ms", "0 ms".
pub fn fmt_ms(us: u64) -> String {
    let whole = us / 1000;
    let frac = us % 1000;
    if frac == 0 {
        return format!("{whole} ms");
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{} ms", digits.trim_end_matches('0'))
}

/// One message copy: sent at `sent`, arriving (or lost) at `arrival`.
struct Arrow {
    from: usize,
    to: usize,
    sent: u64,
    arrival: Option<u64>,
    label: String,
    /// `None`: delivered; `Some(reason)`: dropped.
    dropped: Option<String>,
    /// The second copy of a message delivered twice.
    duplicate: bool,
    /// The label drawn for this arrow: `None` when an arrow of its group carries it.
    shown: Option<String>,
}

/// A drawn diagram and what the reader of the command should be told about it (the
/// transaction it focuses on, instants it leaves out), one sentence each.
#[derive(Clone, Debug)]
pub struct Diagram {
    pub svg: String,
    pub notices: Vec<String>,
    /// The transaction chosen by [`DiagramOptions::auto_focus`], if one was.
    pub focus: Option<u64>,
}

/// Draws `trace` (of a run whose nodes are `names`) as an SVG document.
pub fn svg(trace: &[TraceLine], names: &[String], opts: &DiagramOptions) -> String {
    draw(trace, names, opts).svg
}

/// The transaction a large diagram focuses on, and why: the one with the most
/// messages lost or dropped (the earliest on a tie); when none was lost, the one that
/// took longest from its first line to its last. `None` with fewer than two
/// transactions.
pub fn choose_focus(trace: &[TraceLine]) -> Option<(u64, String)> {
    // txn → (copies lost or dropped, first line, last line)
    let mut per: BTreeMap<u64, (usize, u64, u64)> = BTreeMap::new();
    for l in trace {
        let Some(t) = l.txn() else { continue };
        let e = per.entry(t).or_insert((0, l.t_us, l.t_us));
        e.1 = e.1.min(l.t_us);
        e.2 = e.2.max(l.t_us);
        if l.kind == "lost" || (l.kind == "send" && l.fate.starts_with("dropped")) {
            e.0 += 1;
        }
    }
    if per.len() < 2 {
        return None;
    }
    let most_lost = per
        .iter()
        .max_by_key(|(t, e)| (e.0, std::cmp::Reverse(**t)))?;
    if most_lost.1 .0 > 0 {
        return Some((
            *most_lost.0,
            format!(
                "the one with the most messages lost or dropped, {}",
                most_lost.1 .0
            ),
        ));
    }
    let longest = per
        .iter()
        .max_by_key(|(t, e)| (e.2 - e.1, std::cmp::Reverse(**t)))?;
    Some((
        *longest.0,
        format!(
            "the longest-running, {} from its first message to its last",
            fmt_ms(longest.1 .2 - longest.1 .1)
        ),
    ))
}

/// Draws `trace` as [`svg`] does, and says what the diagram leaves out.
pub fn draw(trace: &[TraceLine], names: &[String], opts: &DiagramOptions) -> Diagram {
    let mut opts = opts.clone();
    let mut notices = Vec::new();
    let mut focus = None;
    if opts.auto_focus && opts.txn.is_none() && opts.from_ms.is_none() && opts.to_ms.is_none() {
        let filter = Filter::new(&opts);
        let rows = instants(trace, &pair_arrows(trace, names, &filter), &filter).len();
        if rows > LARGE_ROWS {
            if let Some((txn, why)) = choose_focus(trace) {
                let txns = trace
                    .iter()
                    .filter_map(TraceLine::txn)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                notices.push(format!(
                    "the whole run would be {rows} rows of {txns} transactions: the diagram shows \
                     only transaction {txn} ({why}) and the faults; choose another with --txn ID, \
                     or a time window of every transaction with --from MS --to MS"
                ));
                opts.txn = Some(txn);
                focus = Some(txn);
                if !opts.title.is_empty() {
                    opts.title = format!("{} — txn {txn}", opts.title);
                }
            }
        }
    }
    let filter = Filter::new(&opts);
    let mut arrows = pair_arrows(trace, names, &filter);
    group_labels(&mut arrows);
    let mut legend = Legend::of(trace, &arrows, &filter);
    let layout = Layout::new(names, instants(trace, &arrows, &filter), &opts, &legend);
    legend.breaks = !layout.breaks.is_empty();
    let mut s = String::new();
    let mut texts = Texts::default();
    header(&mut s, &layout, &opts.title, &mut texts);
    legend.draw(&mut s, &layout, &mut texts);
    lanes(&mut s, &layout, &mut texts);
    time_labels(&mut s, &layout, &mut texts);
    down_and_lock_bars(&mut s, trace, &layout, &filter);
    for a in &arrows {
        arrow(&mut s, a, &layout, &mut texts);
    }
    point_events(&mut s, trace, &layout, &filter, &mut texts);
    if let Some(n) = truncation_note(&layout, &mut texts) {
        notices.push(n);
    }
    texts.place_all(&mut s, layout.width(), layout.height());
    s.push_str("</svg>\n");
    Diagram {
        svg: s,
        notices,
        focus,
    }
}

/// Gives identical messages sent by one node at one instant (a broadcast: `Prepare`
/// to every participant) one label, "Prepare ×3", on the arrow to the nearest lane.
fn group_labels(arrows: &mut [Arrow]) {
    // (from, sent, label, lost, duplicate) → arrow indices
    type Key = (usize, u64, String, bool, bool);
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, a) in arrows.iter().enumerate() {
        let key = (
            a.from,
            a.sent,
            a.label.clone(),
            a.dropped.is_some(),
            a.duplicate,
        );
        groups.entry(key).or_default().push(i);
    }
    for ((_, _, label, _, _), members) in groups {
        let nearest = members
            .iter()
            .copied()
            .min_by_key(|&i| arrows[i].to.abs_diff(arrows[i].from));
        if let Some(n) = nearest {
            arrows[n].shown = Some(if members.len() > 1 {
                format!("{label} ×{}", members.len())
            } else {
                label
            });
        }
    }
}

/// Which lines of the trace the options select: a time window and a transaction.
/// One place for the rule, since arrows, rows, bars and notes all apply it.
struct Filter {
    lo: u64,
    hi: u64,
    txn: Option<u64>,
}

impl Filter {
    fn new(opts: &DiagramOptions) -> Self {
        Filter {
            lo: opts.from_ms.map_or(0, crate::run::ms_to_us),
            hi: opts.to_ms.map_or(u64::MAX, crate::run::ms_to_us),
            txn: opts.txn,
        }
    }

    fn in_window(&self, t: u64) -> bool {
        self.lo <= t && t <= self.hi
    }

    /// About the chosen transaction (every line when none is chosen).
    fn wanted(&self, l: &TraceLine) -> bool {
        match (self.txn, l.txn()) {
            (None, _) => true,
            (Some(x), Some(t)) => x == t,
            (Some(_), None) => false,
        }
    }
}

/// The lane of node `n`, if it is one of the run's.
fn lane_of(names: &[String], n: &str) -> Option<usize> {
    names.iter().position(|m| m == n)
}

/// Pairs each send with its arrival(s), keeping the selected ones: the trace records
/// a send and its delivery (or loss) as separate lines, and an arrow needs both ends.
fn pair_arrows(trace: &[TraceLine], names: &[String], filter: &Filter) -> Vec<Arrow> {
    let mut arrows: Vec<Arrow> = Vec::new();
    let mut keep: Vec<bool> = Vec::new();
    // (from, to, message) → copies in flight: (arrow index, expected arrival).
    type InFlight = Vec<(usize, Option<u64>)>;
    let mut pending: BTreeMap<(String, String, String), InFlight> = BTreeMap::new();
    for l in trace {
        match l.kind.as_str() {
            "send" => {
                let (Some(from), Some(to)) = (lane_of(names, &l.node), lane_of(names, &l.to))
                else {
                    continue;
                };
                let kept = filter.wanted(l) && filter.in_window(l.t_us);
                let dropped = l.fate.strip_prefix("dropped: ").map(str::to_string);
                let copies = if l.fate == "delivered twice" { 2 } else { 1 };
                for copy in 0..copies {
                    let expected = (copy == 0).then(|| l.t_us + l.delay_us.unwrap_or(0));
                    let i = arrows.len();
                    arrows.push(Arrow {
                        from,
                        to,
                        sent: l.t_us,
                        arrival: if dropped.is_some() { None } else { expected },
                        label: short(&l.what),
                        dropped: dropped.clone(),
                        duplicate: copy == 1,
                        shown: None,
                    });
                    keep.push(kept);
                    if dropped.is_none() {
                        pending
                            .entry((l.node.clone(), l.to.clone(), l.what.clone()))
                            .or_default()
                            .push((i, expected));
                    }
                }
            }
            "deliver" | "lost" => {
                let key = (l.node.clone(), l.to.clone(), l.what.clone());
                if let Some(list) = pending.get_mut(&key) {
                    let pos = list
                        .iter()
                        .position(|(_, e)| *e == Some(l.t_us))
                        .or_else(|| list.iter().position(|(_, e)| e.is_none()))
                        .unwrap_or(0);
                    if pos < list.len() {
                        let (i, _) = list.remove(pos);
                        arrows[i].arrival = Some(l.t_us);
                        if l.kind == "lost" {
                            arrows[i].dropped = Some(l.fate.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    arrows
        .into_iter()
        .zip(keep)
        .filter_map(|(a, k)| k.then_some(a))
        .collect()
}

/// The instants to draw, in order (not yet capped): every arrow's ends and every
/// selected point event. Each becomes a row.
fn instants(trace: &[TraceLine], arrows: &[Arrow], filter: &Filter) -> Vec<u64> {
    let mut times: Vec<u64> = Vec::new();
    for a in arrows {
        times.push(a.sent);
        if let Some(t) = a.arrival {
            times.push(t);
        }
    }
    for l in trace {
        if shown_event(l, filter) {
            times.push(l.t_us);
        }
    }
    times.sort_unstable();
    times.dedup();
    times
}

/// A point event the diagram draws: faults always (in the window), timers when no
/// transaction is chosen, observations of the chosen transactions.
fn shown_event(l: &TraceLine, filter: &Filter) -> bool {
    if !filter.in_window(l.t_us) {
        return false;
    }
    match l.kind.as_str() {
        "crash" | "restart" | "cut_start" | "cut_end" => true,
        "timer" => filter.txn.is_none(),
        "observe" => filter.wanted(l),
        _ => false,
    }
}

/// The marks a diagram uses, each named in its legend.
#[derive(Clone, Copy, Default)]
struct Legend {
    lost: bool,
    duplicate: bool,
    locks: bool,
    crash: bool,
    restart: bool,
    timer: bool,
    cut: bool,
    /// Set once the rows are known (a quiet stretch cut out).
    breaks: bool,
}

impl Legend {
    fn of(trace: &[TraceLine], arrows: &[Arrow], filter: &Filter) -> Self {
        let mut g = Legend {
            lost: arrows.iter().any(|a| a.dropped.is_some()),
            duplicate: arrows.iter().any(|a| a.duplicate),
            ..Default::default()
        };
        for l in trace.iter().filter(|l| shown_event(l, filter)) {
            match l.kind.as_str() {
                "crash" => g.crash = true,
                "restart" => g.restart = true,
                "timer" => g.timer = true,
                "cut_start" | "cut_end" => g.cut = true,
                "observe" if l.what.starts_with("Prepared") => g.locks = true,
                _ => {}
            }
        }
        g
    }

    /// The items in order, with the width each takes.
    fn items(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = vec![("msg", "message (arrow at arrival)")];
        let all = [
            (
                self.lost,
                "lost",
                "lost or dropped (× where it stopped, toward its receiver)",
            ),
            (self.duplicate, "dup", "duplicate copy"),
            (self.locks, "lock", "locks held: yes vote → outcome applied"),
            (self.crash, "crash", "crash; lane dashed while down"),
            (self.restart, "restart", "restart"),
            (self.timer, "timer", "timer fired"),
            (self.cut, "cut", "partition made / healed"),
            (
                self.breaks,
                "break",
                "quiet stretch cut out (its length at the left)",
            ),
        ];
        v.extend(all.iter().filter(|(on, ..)| *on).map(|(_, k, t)| (*k, *t)));
        v
    }

    fn item_width(text: &str) -> f64 {
        30.0 + text.chars().count() as f64 * 10.0 * CHAR_WIDTH + 16.0
    }

    /// The legend's rows, items wrapped to `width`.
    fn rows(&self, width: f64) -> Vec<Vec<(&'static str, &'static str)>> {
        let mut rows: Vec<Vec<(&'static str, &'static str)>> = vec![Vec::new()];
        let mut x = 10.0;
        for item in self.items() {
            let w = Self::item_width(item.1);
            if x + w > width - 10.0 && rows.last().is_some_and(|r| !r.is_empty()) {
                rows.push(Vec::new());
                x = 10.0;
            }
            x += w;
            if let Some(r) = rows.last_mut() {
                r.push(item);
            }
        }
        rows
    }

    fn draw(&self, s: &mut String, layout: &Layout, texts: &mut Texts) {
        s.push_str("<g class=\"legend\">\n");
        for (k, row) in self.rows(layout.width()).iter().enumerate() {
            let y = 38.0 + 16.0 * k as f64;
            let mut x = 10.0;
            for (kind, text) in row {
                legend_glyph(s, kind, x, y);
                texts.fixed(Text::new("legend-label", x + 30.0, y + 4.0, text).size(10.0));
                x += Self::item_width(text);
            }
        }
        s.push_str("</g>\n");
    }
}

/// The small sample of a mark drawn before its legend entry, `x` to `x + 24`.
fn legend_glyph(s: &mut String, kind: &str, x: f64, y: f64) {
    let (x1, x2) = (x, x + 24.0);
    match kind {
        "msg" => {
            let _ = writeln!(
                s,
                r##"<line x1="{x1:.1}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#333" stroke-width="1.2" marker-end="url(#arrow)"/>"##
            );
        }
        "lost" => {
            let _ = writeln!(
                s,
                r##"<line x1="{x1:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#d33" stroke-width="1.2" stroke-dasharray="5 3"/>"##,
                x2 - 4.0
            );
            cross(s, x2 - 4.0, y, "#d33");
        }
        "dup" => {
            let _ = writeln!(
                s,
                r##"<line x1="{x1:.1}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#85c" stroke-width="1.2" stroke-dasharray="2 2" marker-end="url(#arrow)"/>"##
            );
        }
        "lock" => {
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="5" height="12" fill="#f0a030" opacity="0.7"/>"##,
                x + 10.0,
                y - 6.0
            );
        }
        "crash" => {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#d33" stroke-width="3" stroke-dasharray="4 4"/>"##,
                x + 12.0,
                y - 7.0,
                x + 12.0,
                y + 7.0
            );
            cross(s, x + 12.0, y, "#d33");
        }
        "restart" => {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{y:.1}" r="5" fill="#2a2"/>"##,
                x + 12.0
            );
        }
        "timer" => {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{y:.1}" r="4" fill="white" stroke="#36c"/>"##,
                x + 12.0
            );
        }
        "cut" => {
            let _ = writeln!(
                s,
                r##"<line x1="{x1:.1}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#d33" stroke-width="1" stroke-dasharray="2 3"/>"##
            );
        }
        _ => break_glyph(s, x + 12.0, y),
    }
}

/// The break mark "//" across a lane (or the time axis) at `(x, y)`.
fn break_glyph(s: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        s,
        r##"<path class="break" d="M {:.1} {:.1} L {:.1} {:.1} M {:.1} {:.1} L {:.1} {:.1}" stroke="#666" stroke-width="1.5" fill="none"/>"##,
        x - 7.0,
        y + 1.0,
        x + 1.0,
        y - 5.0,
        x - 1.0,
        y + 5.0,
        x + 7.0,
        y - 1.0
    );
}

/// Where things go: a lane per node across, a row per drawn instant down. Rows are
/// instants rather than a time scale (see the module doc), so every drawing step
/// places by row; a step much longer than the usual one gets a break mark and a
/// little extra height.
struct Layout<'a> {
    names: &'a [String],
    /// The drawn instants, at most `max_rows` of them.
    times: Vec<u64>,
    /// Instants cut by `max_rows`.
    truncated: usize,
    /// Where the lane names sit (below the title and legend).
    top: f64,
    /// Each row's y.
    ys: Vec<f64>,
    /// Rows preceded by a cut-out quiet stretch.
    breaks: Vec<usize>,
}

impl<'a> Layout<'a> {
    fn new(
        names: &'a [String],
        mut times: Vec<u64>,
        opts: &DiagramOptions,
        legend: &Legend,
    ) -> Self {
        let truncated = times.len().saturating_sub(opts.max_rows);
        times.truncate(opts.max_rows);
        let breaks = quiet_stretches(&times);
        let width = Self::width_for(names.len());
        let with_breaks = Legend {
            breaks: !breaks.is_empty(),
            ..*legend
        };
        let legend_rows = with_breaks.rows(width).len() as f64;
        let top = TOP + 16.0 * legend_rows + 10.0;
        let mut ys = Vec::with_capacity(times.len());
        let mut y = top + 30.0;
        for r in 0..times.len() {
            if r > 0 {
                y += ROW;
            }
            if breaks.binary_search(&r).is_ok() {
                y += BREAK;
            }
            ys.push(y);
        }
        Layout {
            names,
            times,
            truncated,
            top,
            ys,
            breaks,
        }
    }

    fn lane(&self, n: &str) -> Option<usize> {
        lane_of(self.names, n)
    }

    fn row_of(&self, t: u64) -> Option<usize> {
        self.times.binary_search(&t).ok()
    }

    fn y(&self, row: usize) -> f64 {
        match self.ys.get(row) {
            Some(y) => *y,
            None => self.ys.last().map_or(self.top + 30.0, |y| y + ROW),
        }
    }

    fn x(lane: usize) -> f64 {
        LEFT + lane as f64 * LANE_GAP
    }

    /// The last row: where bars still open at the end stop.
    fn end_row(&self) -> usize {
        self.times.len().saturating_sub(1)
    }

    /// Where the lanes end.
    fn bottom(&self) -> f64 {
        self.y(self.times.len().max(1))
    }

    fn height(&self) -> f64 {
        self.bottom() + 40.0 + if self.truncated > 0 { 20.0 } else { 0.0 }
    }

    fn width_for(lanes: usize) -> f64 {
        Self::x(lanes.max(1) - 1) + 190.0
    }

    fn width(&self) -> f64 {
        Self::width_for(self.names.len())
    }
}

/// The rows before which a quiet stretch is cut out: the step to them is more than
/// four times the median step and at least 1 ms.
fn quiet_stretches(times: &[u64]) -> Vec<usize> {
    if times.len() < 3 {
        return Vec::new();
    }
    let mut steps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    steps.sort_unstable();
    let median = steps[steps.len() / 2];
    let threshold = (median * 4).max(1000);
    (1..times.len())
        .filter(|&r| times[r] - times[r - 1] > threshold)
        .collect()
}

/// A piece of text and where it goes.
#[derive(Clone)]
struct Text {
    class: &'static str,
    x: f64,
    y: f64,
    anchor: &'static str,
    size: f64,
    colour: &'static str,
    bold: bool,
    text: String,
}

impl Text {
    fn new(class: &'static str, x: f64, y: f64, text: &str) -> Self {
        Text {
            class,
            x,
            y,
            anchor: "start",
            size: 11.0,
            colour: "#000",
            bold: false,
            text: text.to_string(),
        }
    }
    fn size(mut self, size: f64) -> Self {
        self.size = size;
        self
    }
    fn colour(mut self, c: &'static str) -> Self {
        self.colour = c;
        self
    }
    fn anchor(mut self, a: &'static str) -> Self {
        self.anchor = a;
        self
    }
    fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    fn at(&self, x: f64, y: f64) -> Self {
        Text {
            x,
            y,
            ..self.clone()
        }
    }

    /// An estimate of the box the text covers: [x0, y0, x1, y1].
    fn bbox(&self) -> [f64; 4] {
        let w = self.text.chars().count() as f64 * self.size * CHAR_WIDTH;
        let x0 = match self.anchor {
            "middle" => self.x - w / 2.0,
            "end" => self.x - w,
            _ => self.x,
        };
        [
            x0,
            self.y - self.size * 0.8,
            x0 + w,
            self.y + self.size * 0.25,
        ]
    }

    fn write(&self, s: &mut String) {
        let anchor = if self.anchor == "start" {
            String::new()
        } else {
            format!(r#" text-anchor="{}""#, self.anchor)
        };
        let bold = if self.bold {
            r#" font-weight="bold""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<text class="{}" x="{:.1}" y="{:.1}"{anchor} fill="{}" font-size="{}"{bold}>{}</text>"#,
            self.class,
            self.x,
            self.y,
            self.colour,
            self.size,
            esc(&self.text)
        );
    }
}

/// The diagram's text, placed last so no two pieces overlap: fixed pieces (title,
/// legend, lane names, times) first, then each other piece at the first of its
/// candidate places that is free, by priority; a piece with no free place is left out.
#[derive(Default)]
struct Texts {
    fixed: Vec<Text>,
    /// (priority, candidate places), lower priority placed first.
    wanted: Vec<(u8, Vec<Text>)>,
}

impl Texts {
    fn fixed(&mut self, t: Text) {
        self.fixed.push(t);
    }

    fn want(&mut self, priority: u8, candidates: Vec<Text>) {
        self.wanted.push((priority, candidates));
    }

    fn place_all(mut self, s: &mut String, width: f64, height: f64) {
        let mut boxes: Vec<[f64; 4]> = Vec::new();
        let pad = |b: [f64; 4]| [b[0] - 1.0, b[1] - 1.0, b[2] + 1.0, b[3] + 1.0];
        for t in &self.fixed {
            t.write(s);
            boxes.push(pad(t.bbox()));
        }
        self.wanted.sort_by_key(|(p, _)| *p);
        for (_, candidates) in &self.wanted {
            let free = candidates.iter().find(|c| {
                let b = pad(c.bbox());
                b[0] >= 0.0
                    && b[2] <= width
                    && b[1] >= 0.0
                    && b[3] <= height
                    && !boxes.iter().any(|o| overlap(&b, o))
            });
            if let Some(c) = free {
                c.write(s);
                boxes.push(pad(c.bbox()));
            }
        }
    }
}

fn overlap(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The document's opening: size, the arrowhead marker, a white background, the title.
fn header(s: &mut String, layout: &Layout, title: &str, texts: &mut Texts) {
    let (width, height) = (layout.width(), layout.height());
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker><marker id="arrow-dup" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#85c"/></marker></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    if !title.is_empty() {
        texts.fixed(Text::new("title", 10.0, 20.0, title).size(14.0).bold());
    }
}

/// A vertical line per node, with its name on top.
fn lanes(s: &mut String, layout: &Layout, texts: &mut Texts) {
    let bottom = layout.bottom();
    for (i, n) in layout.names.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<line class="lane" data-node="{n}" x1="{x:.0}" y1="{top:.0}" x2="{x:.0}" y2="{bottom:.0}" stroke="#999" stroke-width="1"/>"##,
            n = esc(n),
            x = Layout::x(i),
            top = layout.top + 10.0
        );
        texts.fixed(
            Text::new("lane-name", Layout::x(i), layout.top, n)
                .anchor("middle")
                .size(13.0)
                .bold(),
        );
    }
}

/// Each row's time, at the left: rows are not a linear scale, so each says its own;
/// before a row that follows a quiet stretch, a break mark on the axis and every lane
/// with the stretch's length.
fn time_labels(s: &mut String, layout: &Layout, texts: &mut Texts) {
    for (r, t) in layout.times.iter().enumerate() {
        texts.fixed(Text::new("time", 8.0, layout.y(r) + 4.0, &fmt_ms(*t)).colour("#666"));
    }
    for &r in &layout.breaks {
        let y = layout.y(r) - (ROW + BREAK) / 2.0;
        let gap = layout.times[r] - layout.times[r - 1];
        for i in 0..layout.names.len() {
            break_glyph(s, Layout::x(i), y);
        }
        texts.fixed(
            Text::new(
                "break-label",
                8.0,
                y + 4.0,
                &format!("≈ {} quiet", fmt_ms(gap)),
            )
            .size(9.0)
            .colour("#666"),
        );
    }
}

/// Lock-hold bars open at a row: (lane, txn) → (row of the yes vote, slot).
type OpenLocks = BTreeMap<(usize, u64), (usize, usize)>;

/// The first slot beside `lane` no open bar uses: slots keep concurrent lock-hold
/// bars of one participant apart.
fn free_slot(locks: &OpenLocks, lane: usize) -> usize {
    (0..)
        .find(|k| !locks.iter().any(|(&(l, _), &(_, s))| l == lane && s == *k))
        .unwrap_or(0)
}

/// What a bar beside a lane shows ([`bars`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BarKind {
    /// A participant holds its locks for `txn`, in doubt: from its yes vote
    /// (`Prepared`) until it applies the outcome.
    Lock,
    /// The node is down: from its crash until its restart.
    Down,
}

/// One bar of a run's diagram: a node's lock hold or down period, in virtual time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bar {
    pub node: String,
    pub kind: BarKind,
    /// The transaction whose locks are held (`None` for a down period).
    pub txn: Option<u64>,
    pub from_us: u64,
    /// `None`: still open when the trace ends (drawn to the last row).
    pub to_us: Option<u64>,
}

/// Whether an observation opens a lock-hold bar (a participant voted yes and is in
/// doubt), and whether it closes one ([`is_applied`]).
fn opens_lock(what: &str) -> bool {
    what.starts_with("Prepared")
}

/// The lock-hold and down bars of a whole trace, by the rules the diagram draws them
/// with (its own drawing pairs them within its window): what a page that draws the
/// run itself shows beside the lanes. In order of their start, lock bars of one
/// instant in trace order.
pub fn bars(trace: &[TraceLine]) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    let mut open: BTreeMap<(String, Option<u64>, BarKind), usize> = BTreeMap::new();
    for l in trace {
        let (kind, txn, opens) = match l.kind.as_str() {
            "crash" => (BarKind::Down, None, true),
            "restart" => (BarKind::Down, None, false),
            "observe" => match l.txn() {
                Some(t) if opens_lock(&l.what) => (BarKind::Lock, Some(t), true),
                Some(t) if is_applied(&l.what) => (BarKind::Lock, Some(t), false),
                _ => continue,
            },
            _ => continue,
        };
        let key = (l.node.clone(), txn, kind);
        if opens {
            open.insert(key, out.len());
            out.push(Bar {
                node: l.node.clone(),
                kind,
                txn,
                from_us: l.t_us,
                to_us: None,
            });
        } else if let Some(i) = open.remove(&key) {
            out[i].to_us = Some(l.t_us);
        }
    }
    out
}

/// Down periods (dashed red, crash to restart) and lock-hold bars (yes vote to
/// applied outcome), drawn first so the arrows lie on top. Either still open at the
/// last row runs to it.
fn down_and_lock_bars(s: &mut String, trace: &[TraceLine], layout: &Layout, filter: &Filter) {
    let x = Layout::x;
    let mut down_since: Vec<Option<usize>> = vec![None; layout.names.len()];
    let mut locks: OpenLocks = BTreeMap::new();
    let mut bars: Vec<(usize, usize, usize)> = Vec::new();
    for l in trace {
        let Some(i) = layout.lane(&l.node) else {
            continue;
        };
        let Some(r) = layout.row_of(l.t_us) else {
            continue;
        };
        match l.kind.as_str() {
            "crash" => down_since[i] = Some(r),
            "restart" => {
                if let Some(from) = down_since[i].take() {
                    bars.push((i, from, r));
                }
            }
            "observe" if filter.wanted(l) => {
                if let Some(txn) = l.txn() {
                    if opens_lock(&l.what) {
                        let slot = free_slot(&locks, i);
                        locks.insert((i, txn), (r, slot));
                    } else if is_applied(&l.what) {
                        if let Some((from, slot)) = locks.remove(&(i, txn)) {
                            lock_bar(
                                s,
                                x(i) - 6.0 * slot as f64,
                                layout.y(from),
                                layout.y(r),
                                txn,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let end_row = layout.end_row();
    for ((i, txn), (from, slot)) in locks {
        lock_bar(
            s,
            x(i) - 6.0 * slot as f64,
            layout.y(from),
            layout.y(end_row),
            txn,
        );
    }
    for (i, d) in down_since.iter().enumerate() {
        if let Some(from) = d {
            bars.push((i, *from, end_row));
        }
    }
    for (i, from, to) in bars {
        let _ = writeln!(
            s,
            r##"<line class="down" x1="{x:.0}" y1="{:.0}" x2="{x:.0}" y2="{:.0}" stroke="#d33" stroke-width="3" stroke-dasharray="4 4"/>"##,
            layout.y(from),
            layout.y(to),
            x = x(i)
        );
    }
}

/// One message copy: a line from its send to its arrival (past the last row if it
/// arrives after it, part way toward its receiver if dropped at the send), lost or
/// dropped ones dashed red with a cross where they stopped and the reason, a
/// duplicate copy dashed purple; its label (if it carries its group's) along it.
fn arrow(s: &mut String, a: &Arrow, layout: &Layout, texts: &mut Texts) {
    let (Some(r0), x0, x1) = (layout.row_of(a.sent), Layout::x(a.from), Layout::x(a.to)) else {
        return;
    };
    let y0 = layout.y(r0);
    let (x_end, y_end) = match a.arrival.and_then(|t| layout.row_of(t)) {
        Some(r1) => (x1, layout.y(r1)),
        None if a.arrival.is_some() => (x1, layout.y(layout.end_row()) + ROW / 2.0),
        // Dropped at the send: the arrow stops part way toward its receiver.
        None => (x0 + (x1 - x0) * 0.45, y0 + ROW * 0.6),
    };
    let lost = a.dropped.is_some();
    let (class, colour, dash, marker) = if lost {
        ("msg dropped", "#d33", r#" stroke-dasharray="5 3""#, "")
    } else if a.duplicate {
        (
            "msg duplicate",
            "#85c",
            r#" stroke-dasharray="2 2""#,
            r#" marker-end="url(#arrow-dup)""#,
        )
    } else {
        ("msg", "#333", "", r#" marker-end="url(#arrow)""#)
    };
    let (from, to) = (&layout.names[a.from], &layout.names[a.to]);
    let tip = format!(
        "{} {from} → {to}, sent at {}{}",
        a.label,
        fmt_ms(a.sent),
        match &a.dropped {
            Some(r) => format!(", lost: {r}"),
            None => String::new(),
        }
    );
    let _ = writeln!(
        s,
        r#"<line class="{class}" data-from="{}" data-to="{}" x1="{x0:.1}" y1="{y0:.1}" x2="{x_end:.1}" y2="{y_end:.1}" stroke="{colour}" stroke-width="1.2"{dash}{marker}><title>{}</title></line>"#,
        esc(from),
        esc(to),
        esc(&tip)
    );
    if let Some(reason) = &a.dropped {
        cross(s, x_end, y_end, "#d33");
        // The reason on the far side of the cross from the sender, or below it.
        let base = Text::new("drop-reason", 0.0, 0.0, reason)
            .size(9.0)
            .colour("#d33");
        let away = if x1 >= x0 { 8.0 } else { -8.0 };
        let anchor = if x1 >= x0 { "start" } else { "end" };
        texts.want(
            5,
            vec![
                base.at(x_end + away, y_end + 11.0).anchor(anchor),
                base.at(x_end - away, y_end + 11.0)
                    .anchor(if anchor == "start" { "end" } else { "start" }),
                base.at(x_end, y_end + 16.0).anchor("middle"),
            ],
        );
    }
    if let Some(label) = &a.shown {
        let base = Text::new("msg-label", 0.0, 0.0, label)
            .size(10.0)
            .colour(if lost {
                "#d33"
            } else if a.duplicate {
                "#85c"
            } else {
                "#333"
            })
            .anchor("middle");
        let along = |f: f64, dy: f64| base.at(x0 + (x_end - x0) * f, y0 + (y_end - y0) * f + dy);
        let mut c = Vec::new();
        for f in [0.5, 0.35, 0.65, 0.25, 0.75, 0.15, 0.85] {
            c.push(along(f, -3.0));
            c.push(along(f, 11.0));
        }
        texts.want(4, c);
    }
}

/// Point events at their rows: a node's crashes, restarts, timers and notes, and the
/// partitions across all lanes.
fn point_events(
    s: &mut String,
    trace: &[TraceLine],
    layout: &Layout,
    filter: &Filter,
    texts: &mut Texts,
) {
    for (k, l) in trace.iter().enumerate() {
        let Some(r) = layout.row_of(l.t_us) else {
            continue;
        };
        match l.kind.as_str() {
            "crash" | "restart" | "timer" | "observe" => {
                let Some(i) = layout.lane(&l.node) else {
                    continue;
                };
                node_event(s, l, (i, layout.y(r)), filter, texts);
            }
            "cut_start" | "cut_end" => cut_line(s, trace, k, layout.y(r), layout.width(), texts),
            _ => {}
        }
    }
}

/// Places for a note beside lane x = `xx` at row y = `yy`: right of the lane, then
/// stacked below, then left of it.
fn beside(t: Text, xx: f64, yy: f64) -> Vec<Text> {
    let mut c = Vec::new();
    for dy in [-4.0, 8.0, -15.0, 19.0] {
        c.push(t.at(xx + 9.0, yy + dy).anchor("start"));
        c.push(t.at(xx - 9.0, yy + dy).anchor("end"));
    }
    c
}

/// An event at one node (lane x, row y): a crash, a restart, a timer (only when
/// no transaction is chosen) or a note at a key moment of the chosen transactions.
fn node_event(
    s: &mut String,
    l: &TraceLine,
    (i, yy): (usize, f64),
    filter: &Filter,
    texts: &mut Texts,
) {
    let xx = Layout::x(i);
    match l.kind.as_str() {
        "crash" => {
            cross(s, xx, yy, "#d33");
            let t = Text::new("crash", 0.0, 0.0, "crashed").colour("#d33");
            texts.want(1, beside(t, xx, yy + 8.0));
        }
        "restart" => {
            let _ = writeln!(
                s,
                r##"<circle class="restart" cx="{xx:.0}" cy="{yy:.0}" r="5" fill="#2a2"/>"##
            );
            let t = Text::new("restart", 0.0, 0.0, "restarted").colour("#2a2");
            texts.want(1, beside(t, xx, yy + 8.0));
        }
        "timer" if filter.txn.is_none() => {
            let _ = writeln!(
                s,
                r##"<circle class="timer" cx="{xx:.0}" cy="{yy:.0}" r="4" fill="white" stroke="#36c"><title>timer {}</title></circle>"##,
                esc(&l.what)
            );
            let t = Text::new(
                "timer-label",
                0.0,
                0.0,
                &format!("timer {}", short(&l.what)),
            )
            .size(9.0)
            .colour("#36c");
            texts.want(6, beside(t, xx, yy + 12.0));
        }
        "observe" if filter.wanted(l) => {
            if let Some((text, colour)) = observation_note(&l.what) {
                let t = Text::new("note", 0.0, 0.0, &text).colour(colour);
                texts.want(2, beside(t, xx, yy));
            }
        }
        _ => {}
    }
}

/// An outcome applied at a participant, with its times or without (`Resolved`).
fn is_applied(what: &str) -> bool {
    what.starts_with("Applied") || what.starts_with("Resolved")
}

/// The note for an observation worth one (a participant in doubt, a decision, an
/// outcome applied or told), with its colour; the others are not drawn.
fn observation_note(w: &str) -> Option<(String, &'static str)> {
    if opens_lock(w) {
        Some(("in doubt".to_string(), "#d80"))
    } else if w.starts_with("Decided") {
        Some((format!("decided {}", outcome_word(w)), "#000"))
    } else if is_applied(w) {
        Some((format!("applied {}", outcome_word(w)), "#060"))
    } else if w.starts_with("Answered") {
        Some((format!("told {}", outcome_word(w)), "#060"))
    } else {
        None
    }
}

/// A cut made or healed (`trace[k]`) as a dashed line across the lanes at `yy`, with
/// its sides named at the right. A symmetric partition is two cuts at one instant,
/// each the other's mirror: it is drawn once, as a partition.
fn cut_line(s: &mut String, trace: &[TraceLine], k: usize, yy: f64, width: f64, texts: &mut Texts) {
    let l = &trace[k];
    let start = l.kind == "cut_start";
    let mirror = |m: &TraceLine| {
        m.kind == l.kind && m.t_us == l.t_us && m.cut_from == l.cut_to && m.cut_to == l.cut_from
    };
    if k > 0 && mirror(&trace[k - 1]) {
        return;
    }
    let symmetric = trace.get(k + 1).is_some_and(mirror);
    let colour = if start { "#d33" } else { "#2a2" };
    let _ = writeln!(
        s,
        r##"<line class="cut" x1="{:.0}" y1="{yy:.0}" x2="{:.0}" y2="{yy:.0}" stroke="{colour}" stroke-width="1" stroke-dasharray="2 3"/>"##,
        LEFT - 20.0,
        width - 10.0,
    );
    let text = format!(
        "{} {{{}}} {} {{{}}}",
        match (start, symmetric) {
            (true, true) => "partition",
            (true, false) => "cut",
            (false, _) => "healed",
        },
        l.cut_from.join(","),
        if symmetric { "|" } else { "→" },
        l.cut_to.join(",")
    );
    let t = Text::new("cut-label", 0.0, 0.0, &text)
        .colour(colour)
        .anchor("end");
    texts.want(
        3,
        vec![t.at(width - 12.0, yy - 3.0), t.at(width - 12.0, yy + 11.0)],
    );
}

/// Says how many instants `max_rows` cut, and how to see them: in the picture, and
/// as the sentence returned for the command to print.
fn truncation_note(layout: &Layout, texts: &mut Texts) -> Option<String> {
    if layout.truncated == 0 {
        return None;
    }
    let text = format!(
        "{} more instants after {} not drawn: narrow with --from/--to or --txn",
        layout.truncated,
        fmt_ms(layout.times.last().copied().unwrap_or(0))
    );
    texts.fixed(
        Text::new(
            "truncated",
            10.0,
            layout.height() - 12.0,
            &format!("… {text}"),
        )
        .colour("#d33"),
    );
    Some(format!(
        "the diagram stops at row {}: {text}",
        layout.times.len()
    ))
}

fn outcome_word(text: &str) -> &'static str {
    if text.contains("Commit") {
        "Commit"
    } else if text.contains("Abort") {
        "Abort"
    } else {
        ""
    }
}

fn lock_bar(s: &mut String, x: f64, y0: f64, y1: f64, txn: u64) {
    let _ = writeln!(
        s,
        r##"<rect class="lock" x="{:.1}" y="{y0:.1}" width="5" height="{:.1}" fill="#f0a030" opacity="0.7"><title>locks held for txn {txn}</title></rect>"##,
        x - 8.0,
        (y1 - y0).max(2.0)
    );
}

fn cross(s: &mut String, x: f64, y: f64, colour: &str) {
    let _ = writeln!(
        s,
        r#"<path class="cross" d="M {:.1} {:.1} L {:.1} {:.1} M {:.1} {:.1} L {:.1} {:.1}" stroke="{colour}" stroke-width="2"/>"#,
        x - 5.0,
        y - 5.0,
        x + 5.0,
        y + 5.0,
        x - 5.0,
        y + 5.0,
        x + 5.0,
        y - 5.0
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_are_finite_and_not_negative() {
        assert!(check_window(Some(0.0), Some(300.0)).is_ok());
        assert!(check_window(None, None).is_ok());
        for (f, t) in [
            (Some(f64::NAN), None),
            (None, Some(f64::INFINITY)),
            (Some(-1.0), None),
            (Some(2e9), None),
        ] {
            let e = check_window(f, t).unwrap_err().to_string();
            assert!(e.contains("expected a time in ms from 0 to"), "{e}");
        }
        assert!(check_window(Some(5.0), Some(4.0))
            .unwrap_err()
            .to_string()
            .contains("before --from"));
    }

    use super::*;

    /// Every `<tag>` is closed in order (self-closing tags count as closed).
    pub fn balanced(svg: &str) -> bool {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let Some(j) = rest.find('>') else {
                return false;
            };
            let tag = &rest[..j];
            rest = &rest[j + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name.trim()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                let name: String = tag.chars().take_while(|c| !c.is_whitespace()).collect();
                stack.push(name);
            }
        }
        stack.is_empty()
    }

    #[test]
    fn the_default_scenario_draws_a_lane_per_node_and_a_crash() {
        let s = crate::run::default_scenario();
        let (o, trace) = crate::tools::tracelog::run_traced(&s, s.scenario.seed);
        let w = svg(
            &trace,
            &o.names,
            &DiagramOptions {
                to_ms: Some(200.0),
                ..Default::default()
            },
        );
        assert!(balanced(&w), "{w}");
        assert!(w.starts_with("<svg"));
        assert_eq!(w.matches(r#"class="lane""#).count(), o.names.len());
        assert!(w.contains(r#"class="crash""#));
        assert!(w.contains("in doubt"));
        assert!(w.contains(r#"class="lock""#));
        let all = svg(
            &trace,
            &o.names,
            &DiagramOptions {
                auto_focus: false,
                ..Default::default()
            },
        );
        let one = svg_for_txn(&trace, &o.names, 0);
        assert!(balanced(&one));
        let arrows = |x: &str| x.matches(r#"class="msg""#).count();
        assert!(0 < arrows(&one) && arrows(&one) < arrows(&all));
    }

    fn svg_for_txn(trace: &[TraceLine], names: &[String], txn: u64) -> String {
        svg(
            trace,
            names,
            &DiagramOptions {
                txn: Some(txn),
                ..Default::default()
            },
        )
    }

    #[test]
    fn long_runs_are_cut_with_a_note() {
        let s = crate::run::parse("(duration_ms: 300)", "x.ron").expect("valid");
        let (o, trace) = crate::tools::tracelog::run_traced(&s, 1);
        let d = draw(
            &trace,
            &o.names,
            &DiagramOptions {
                max_rows: 20,
                auto_focus: false,
                ..Default::default()
            },
        );
        let w = d.svg;
        assert!(balanced(&w));
        assert_eq!(d.notices.len(), 1);
        assert!(
            d.notices[0].contains("more instants after"),
            "{:?}",
            d.notices
        );
        assert!(w.contains(r#"class="truncated""#));
        assert_eq!(w.matches(r#"class="time""#).count(), 20);
    }

    #[test]
    fn times_are_written_without_spurious_decimals() {
        assert_eq!(fmt_ms(0), "0 ms");
        assert_eq!(fmt_ms(15_000), "15 ms");
        assert_eq!(fmt_ms(500), "0.5 ms");
        assert_eq!(fmt_ms(12_250), "12.25 ms");
        assert_eq!(fmt_ms(1), "0.001 ms");
    }

    #[test]
    fn quiet_stretches_are_steps_far_longer_than_the_usual_one() {
        // Steps of 5 ms, one of 95 ms: only that one is cut out.
        let t = [0, 5_000, 10_000, 15_000, 110_000, 115_000];
        assert_eq!(quiet_stretches(&t), vec![4]);
        // Even steps: nothing cut.
        assert!(quiet_stretches(&[0, 100_000, 200_000, 300_000]).is_empty());
    }

    #[test]
    fn a_large_run_focuses_on_the_transaction_that_lost_most_and_says_so() {
        let s = crate::run::default_scenario();
        let (o, trace) = crate::tools::tracelog::run_traced(&s, s.scenario.seed);
        let d = draw(&trace, &o.names, &DiagramOptions::default());
        assert_eq!(d.focus, Some(0));
        assert!(d.notices[0].contains("transaction 0"), "{:?}", d.notices);
        // Asked for a transaction or a window: no focus.
        for opts in [
            DiagramOptions {
                txn: Some(0),
                ..Default::default()
            },
            DiagramOptions {
                from_ms: Some(0.0),
                ..Default::default()
            },
        ] {
            assert_eq!(draw(&trace, &o.names, &opts).focus, None);
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
