//! Sequence (space-time, Lamport) diagrams of a run, as hand-written SVG.
//!
//! A lane per node, time flowing down; an arrow per message copy (dropped ones end in
//! a red cross), timers as small circles, crashes as red crosses with the lane dashed
//! while the node is down, restarts in green, partitions as dashed bands across the
//! lanes, lock-hold bars beside a participant's lane from its yes vote until it
//! applies the outcome, and notes at the key moments ("in doubt", "decided Commit").
//!
//! Rows are distinct instants, not a linear time scale, so a burst of events at one
//! millisecond stays readable next to a long quiet wait; each row is labelled with its
//! time. Long runs are windowed (`from_ms`/`to_ms`, `txn`) and capped at
//! [`DiagramOptions::max_rows`].

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
}

impl Default for DiagramOptions {
    fn default() -> Self {
        DiagramOptions {
            txn: None,
            from_ms: None,
            to_ms: None,
            max_rows: 250,
            title: String::new(),
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
const TOP: f64 = 70.0;
const ROW: f64 = 24.0;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
}

/// Draws `trace` (of a run whose nodes are `names`) as an SVG document.
pub fn svg(trace: &[TraceLine], names: &[String], opts: &DiagramOptions) -> String {
    let filter = Filter::new(opts);
    let arrows = pair_arrows(trace, names, &filter);
    let layout = Layout::new(names, instants(trace, &arrows, &filter), opts.max_rows);
    let mut s = String::new();
    header(&mut s, &layout, &opts.title);
    lanes(&mut s, &layout);
    time_labels(&mut s, &layout);
    down_and_lock_bars(&mut s, trace, &layout, &filter);
    for a in &arrows {
        arrow(&mut s, a, &layout);
    }
    point_events(&mut s, trace, &layout, &filter);
    truncation_note(&mut s, &layout);
    s.push_str("</svg>\n");
    s
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
                let keep = filter.wanted(l) && filter.in_window(l.t_us);
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
                    });
                    if !keep {
                        arrows[i].label.clear(); // marker: not drawn
                    }
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
    arrows.into_iter().filter(|a| !a.label.is_empty()).collect()
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
    let drawn_kinds = [
        "timer",
        "crash",
        "restart",
        "cut_start",
        "cut_end",
        "observe",
    ];
    for l in trace {
        if drawn_kinds.contains(&l.kind.as_str()) && filter.in_window(l.t_us) {
            let fault = matches!(
                l.kind.as_str(),
                "crash" | "restart" | "cut_start" | "cut_end"
            );
            if fault || (filter.wanted(l) && (l.kind != "timer" || filter.txn.is_none())) {
                times.push(l.t_us);
            }
        }
    }
    times.sort_unstable();
    times.dedup();
    times
}

/// Where things go: a lane per node across, a row per drawn instant down. Rows are
/// instants rather than a time scale (see the module doc), so every drawing step
/// places by row.
struct Layout<'a> {
    names: &'a [String],
    /// The drawn instants, at most `max_rows` of them.
    times: Vec<u64>,
    /// Instants cut by `max_rows`.
    truncated: usize,
}

impl<'a> Layout<'a> {
    fn new(names: &'a [String], mut times: Vec<u64>, max_rows: usize) -> Self {
        let truncated = times.len().saturating_sub(max_rows);
        times.truncate(max_rows);
        Layout {
            names,
            times,
            truncated,
        }
    }

    fn lane(&self, n: &str) -> Option<usize> {
        lane_of(self.names, n)
    }

    fn row_of(&self, t: u64) -> Option<usize> {
        self.times.binary_search(&t).ok()
    }

    fn y(row: usize) -> f64 {
        TOP + 30.0 + row as f64 * ROW
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
        Self::y(self.times.len().max(1))
    }

    fn height(&self) -> f64 {
        self.bottom() + 40.0 + if self.truncated > 0 { 20.0 } else { 0.0 }
    }

    fn width(&self) -> f64 {
        Self::x(self.names.len().max(1) - 1) + 190.0
    }
}

/// The document's opening: size, the arrowhead marker, a white background, the title.
fn header(s: &mut String, layout: &Layout, title: &str) {
    let (width, height) = (layout.width(), layout.height());
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    if !title.is_empty() {
        let _ = writeln!(
            s,
            r#"<text class="title" x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
            esc(title)
        );
    }
}

/// A vertical line per node, with its name on top.
fn lanes(s: &mut String, layout: &Layout) {
    let bottom = layout.bottom();
    for (i, n) in layout.names.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<line class="lane" data-node="{n}" x1="{x:.0}" y1="{top:.0}" x2="{x:.0}" y2="{bottom:.0}" stroke="#999" stroke-width="1"/>"##,
            n = esc(n),
            x = Layout::x(i),
            top = TOP + 10.0
        );
        let _ = writeln!(
            s,
            r#"<text class="lane-name" x="{:.0}" y="{:.0}" text-anchor="middle" font-weight="bold" font-size="13">{}</text>"#,
            Layout::x(i),
            TOP,
            esc(n)
        );
    }
}

/// Each row's time, at the left: rows are not a linear scale, so each says its own.
fn time_labels(s: &mut String, layout: &Layout) {
    for (r, t) in layout.times.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text class="time" x="8" y="{:.0}" fill="#666">{:.3} ms</text>"##,
            Layout::y(r) + 4.0,
            *t as f64 / 1000.0
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

/// Down periods (dashed red, crash to restart) and lock-hold bars (yes vote to
/// applied outcome), drawn first so the arrows lie on top. Either still open at the
/// last row runs to it.
fn down_and_lock_bars(s: &mut String, trace: &[TraceLine], layout: &Layout, filter: &Filter) {
    let (x, y) = (Layout::x, Layout::y);
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
                    if l.what.starts_with("Prepared") {
                        let slot = free_slot(&locks, i);
                        locks.insert((i, txn), (r, slot));
                    } else if is_applied(&l.what) {
                        if let Some((from, slot)) = locks.remove(&(i, txn)) {
                            lock_bar(s, x(i) - 6.0 * slot as f64, y(from), y(r), txn);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let end_row = layout.end_row();
    for ((i, txn), (from, slot)) in locks {
        lock_bar(s, x(i) - 6.0 * slot as f64, y(from), y(end_row), txn);
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
            y(from),
            y(to),
            x = x(i)
        );
    }
}

/// One message copy: a line from its send to its arrival (past the last row if it
/// arrives after it, part way if dropped at the send), dropped ones dashed red with
/// a cross and the reason, and its label at the middle.
fn arrow(s: &mut String, a: &Arrow, layout: &Layout) {
    let (Some(r0), x0, x1) = (layout.row_of(a.sent), Layout::x(a.from), Layout::x(a.to)) else {
        return;
    };
    let y0 = Layout::y(r0);
    let (x_end, y_end) = match a.arrival.and_then(|t| layout.row_of(t)) {
        Some(r1) => (x1, Layout::y(r1)),
        None if a.arrival.is_some() => (x1, Layout::y(layout.end_row()) + ROW / 2.0),
        // Dropped at the send: the arrow stops part way.
        None => (x0 + (x1 - x0) * 0.45, y0 + ROW * 0.6),
    };
    let lost = a.dropped.is_some();
    let (class, colour, dash) = if lost {
        ("msg dropped", "#d33", r#" stroke-dasharray="5 3""#)
    } else {
        ("msg", "#333", "")
    };
    let marker = if lost {
        ""
    } else {
        r#" marker-end="url(#arrow)""#
    };
    let _ = writeln!(
        s,
        r#"<line class="{class}" x1="{x0:.1}" y1="{y0:.1}" x2="{x_end:.1}" y2="{y_end:.1}" stroke="{colour}" stroke-width="1.2"{dash}{marker}/>"#
    );
    if let Some(reason) = &a.dropped {
        cross(s, x_end, y_end, "#d33");
        let _ = writeln!(
            s,
            r##"<text class="drop-reason" x="{:.1}" y="{:.1}" fill="#d33" font-size="9">{}</text>"##,
            x_end + 6.0,
            y_end + 10.0,
            esc(reason)
        );
    }
    let (mx, my) = ((x0 + x_end) / 2.0, (y0 + y_end) / 2.0 - 3.0);
    let _ = writeln!(
        s,
        r#"<text class="msg-label" x="{mx:.1}" y="{my:.1}" text-anchor="middle" fill="{colour}" font-size="10">{}</text>"#,
        esc(&a.label)
    );
}

/// Point events at their rows: a node's crashes, restarts, timers and notes, and the
/// partitions across all lanes. Notes at one lane and instant are stacked.
fn point_events(s: &mut String, trace: &[TraceLine], layout: &Layout, filter: &Filter) {
    let mut notes_at: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    for (k, l) in trace.iter().enumerate() {
        let Some(r) = layout.row_of(l.t_us) else {
            continue;
        };
        match l.kind.as_str() {
            "crash" | "restart" | "timer" | "observe" => {
                let Some(i) = layout.lane(&l.node) else {
                    continue;
                };
                node_event(s, l, (i, r), filter, &mut notes_at);
            }
            "cut_start" | "cut_end" => cut_line(s, trace, k, Layout::y(r), layout.width()),
            _ => {}
        }
    }
}

/// An event at one node (lane `i`, row `r`): a crash, a restart, a timer (only when
/// no transaction is chosen) or a note at a key moment of the chosen transactions.
fn node_event(
    s: &mut String,
    l: &TraceLine,
    (i, r): (usize, usize),
    filter: &Filter,
    notes_at: &mut BTreeMap<(usize, usize), u32>,
) {
    let (xx, yy) = (Layout::x(i), Layout::y(r));
    match l.kind.as_str() {
        "crash" => {
            cross(s, xx, yy, "#d33");
            note(s, "crash", xx + 9.0, yy + 4.0, "#d33", "crashed");
        }
        "restart" => {
            let _ = writeln!(
                s,
                r##"<circle class="restart" cx="{xx:.0}" cy="{yy:.0}" r="5" fill="#2a2"/>"##
            );
            note(s, "restart", xx + 9.0, yy + 4.0, "#2a2", "restarted");
        }
        "timer" if filter.txn.is_none() => {
            let _ = writeln!(
                s,
                r##"<circle class="timer" cx="{xx:.0}" cy="{yy:.0}" r="4" fill="white" stroke="#36c"/>"##
            );
            note(
                s,
                "timer-label",
                xx + 7.0,
                yy + 12.0,
                "#36c",
                &format!("timer {}", short(&l.what)),
            );
        }
        "observe" if filter.wanted(l) => {
            if let Some((text, colour)) = observation_note(&l.what) {
                let n = notes_at.entry((i, r)).or_insert(0);
                let dy = 11.0 * f64::from(*n);
                *n += 1;
                note(s, "note", xx + 9.0, yy - 4.0 + dy, colour, &text);
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
    if w.starts_with("Prepared") {
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
fn cut_line(s: &mut String, trace: &[TraceLine], k: usize, yy: f64, width: f64) {
    let l = &trace[k];
    let start = l.kind == "cut_start";
    let mirror = |m: &TraceLine| {
        m.kind == l.kind && m.t_us == l.t_us && m.cut_from == l.cut_to && m.cut_to == l.cut_from
    };
    if k > 0 && mirror(&trace[k - 1]) {
        return;
    }
    let symmetric = trace.get(k + 1).is_some_and(mirror);
    let _ = writeln!(
        s,
        r##"<line class="cut" x1="{:.0}" y1="{yy:.0}" x2="{:.0}" y2="{yy:.0}" stroke="{}" stroke-width="1" stroke-dasharray="2 3"/>"##,
        LEFT - 20.0,
        width - 10.0,
        if start { "#d33" } else { "#2a2" }
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
    note(
        s,
        "cut-label",
        width - 12.0 - 6.0 * text.chars().count() as f64,
        yy - 3.0,
        if start { "#d33" } else { "#2a2" },
        &text,
    );
}

/// Says how many instants `max_rows` cut, and how to see them.
fn truncation_note(s: &mut String, layout: &Layout) {
    if layout.truncated > 0 {
        let _ = writeln!(
            s,
            r##"<text class="truncated" x="10" y="{:.0}" fill="#d33">… {} more instants after {:.3} ms not drawn: narrow with --from/--to or --txn</text>"##,
            layout.height() - 12.0,
            layout.truncated,
            layout.times.last().copied().unwrap_or(0) as f64 / 1000.0
        );
    }
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

fn note(s: &mut String, class: &str, x: f64, y: f64, colour: &str, text: &str) {
    let size = if class == "timer-label" { 9 } else { 11 };
    let _ = writeln!(
        s,
        r#"<text class="{class}" x="{x:.1}" y="{y:.1}" fill="{colour}" font-size="{size}">{}</text>"#,
        esc(text)
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
        let all = svg(&trace, &o.names, &DiagramOptions::default());
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
        let w = svg(
            &trace,
            &o.names,
            &DiagramOptions {
                max_rows: 20,
                ..Default::default()
            },
        );
        assert!(balanced(&w));
        assert!(w.contains(r#"class="truncated""#));
        assert_eq!(w.matches(r#"class="time""#).count(), 20);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
