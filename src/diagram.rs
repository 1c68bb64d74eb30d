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

use crate::tracelog::{short, TraceLine};
use std::collections::BTreeMap;
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

/// Checks a diagram's time window (`--from`/`--to`, in ms): each bound a finite
/// number from 0 to [`crate::scenario::MAX_MS`], and `to` not before `from`. NaN, an
/// infinity or a negative time would otherwise be turned silently into some window.
pub fn check_window(from_ms: Option<f64>, to_ms: Option<f64>) -> Result<(), String> {
    for (flag, v) in [("--from", from_ms), ("--to", to_ms)] {
        if let Some(v) = v {
            if !(v.is_finite() && (0.0..=crate::scenario::MAX_MS).contains(&v)) {
                return Err(format!(
                    "{flag} {v}: expected a time in ms from 0 to {}",
                    crate::scenario::MAX_MS
                ));
            }
        }
    }
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        if t < f {
            return Err(format!("--to {t} is before --from {f}"));
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
    let lane = |n: &str| names.iter().position(|m| m == n);
    let lo = opts.from_ms.map_or(0, crate::run::ms_to_us);
    let hi = opts.to_ms.map_or(u64::MAX, crate::run::ms_to_us);
    let in_window = |t: u64| lo <= t && t <= hi;
    let wanted = |l: &TraceLine| match (opts.txn, l.txn()) {
        (None, _) => true,
        (Some(x), Some(t)) => x == t,
        (Some(_), None) => false,
    };

    // Pair each send with its arrival(s).
    let mut arrows: Vec<Arrow> = Vec::new();
    // (from, to, message) → copies in flight: (arrow index, expected arrival).
    type InFlight = Vec<(usize, Option<u64>)>;
    let mut pending: BTreeMap<(String, String, String), InFlight> = BTreeMap::new();
    for l in trace {
        match l.kind.as_str() {
            "send" => {
                let (Some(from), Some(to)) = (lane(&l.node), lane(&l.to)) else {
                    continue;
                };
                let keep = wanted(l) && in_window(l.t_us);
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
    let arrows: Vec<Arrow> = arrows.into_iter().filter(|a| !a.label.is_empty()).collect();

    // The instants to draw, in order.
    let mut times: Vec<u64> = Vec::new();
    for a in &arrows {
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
        if drawn_kinds.contains(&l.kind.as_str()) && in_window(l.t_us) {
            let fault = matches!(
                l.kind.as_str(),
                "crash" | "restart" | "cut_start" | "cut_end"
            );
            if fault || (wanted(l) && (l.kind != "timer" || opts.txn.is_none())) {
                times.push(l.t_us);
            }
        }
    }
    times.sort_unstable();
    times.dedup();
    let truncated = times.len().saturating_sub(opts.max_rows);
    times.truncate(opts.max_rows);
    let last_t = times.last().copied().unwrap_or(0);
    let row_of = |t: u64| -> Option<usize> { times.binary_search(&t).ok() };
    let y = |row: usize| TOP + 30.0 + row as f64 * ROW;
    let x = |lane: usize| LEFT + lane as f64 * LANE_GAP;
    let height = y(times.len().max(1)) + 40.0 + if truncated > 0 { 20.0 } else { 0.0 };
    let width = x(names.len().max(1) - 1) + 190.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>"##
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    if !opts.title.is_empty() {
        let _ = writeln!(
            s,
            r#"<text class="title" x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
            esc(&opts.title)
        );
    }
    // Lanes.
    let bottom = y(times.len().max(1));
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<line class="lane" data-node="{n}" x1="{x:.0}" y1="{top:.0}" x2="{x:.0}" y2="{bottom:.0}" stroke="#999" stroke-width="1"/>"##,
            n = esc(n),
            x = x(i),
            top = TOP + 10.0
        );
        let _ = writeln!(
            s,
            r#"<text class="lane-name" x="{:.0}" y="{:.0}" text-anchor="middle" font-weight="bold" font-size="13">{}</text>"#,
            x(i),
            TOP,
            esc(n)
        );
    }
    // Time labels.
    for (r, t) in times.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text class="time" x="8" y="{:.0}" fill="#666">{:.3} ms</text>"##,
            y(r) + 4.0,
            *t as f64 / 1000.0
        );
    }
    // Down periods and lock-hold bars (behind the arrows).
    let mut down_since: Vec<Option<usize>> = vec![None; names.len()];
    // (lane, txn) → (row of the yes vote, slot); slots keep concurrent bars apart.
    let mut locks: BTreeMap<(usize, u64), (usize, usize)> = BTreeMap::new();
    let slot_free = |locks: &BTreeMap<(usize, u64), (usize, usize)>, lane: usize| {
        (0..)
            .find(|k| !locks.iter().any(|(&(l, _), &(_, s))| l == lane && s == *k))
            .unwrap_or(0)
    };
    let mut bars: Vec<(usize, usize, usize)> = Vec::new();
    for l in trace {
        let Some(i) = lane(&l.node) else { continue };
        let Some(r) = row_of(l.t_us) else { continue };
        match l.kind.as_str() {
            "crash" => down_since[i] = Some(r),
            "restart" => {
                if let Some(from) = down_since[i].take() {
                    bars.push((i, from, r));
                }
            }
            "observe" if wanted(l) => {
                if let Some(txn) = l.txn() {
                    if l.what.starts_with("Prepared") {
                        let slot = slot_free(&locks, i);
                        locks.insert((i, txn), (r, slot));
                    } else if l.what.starts_with("Applied") {
                        if let Some((from, slot)) = locks.remove(&(i, txn)) {
                            lock_bar(&mut s, x(i) - 6.0 * slot as f64, y(from), y(r), txn);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let end_row = times.len().saturating_sub(1);
    for ((i, txn), (from, slot)) in locks {
        lock_bar(&mut s, x(i) - 6.0 * slot as f64, y(from), y(end_row), txn);
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
    // Arrows.
    for a in &arrows {
        let (Some(r0), x0, x1) = (row_of(a.sent), x(a.from), x(a.to)) else {
            continue;
        };
        let y0 = y(r0);
        let (x_end, y_end) = match a.arrival.and_then(row_of) {
            Some(r1) => (x1, y(r1)),
            None if a.arrival.is_some() => (x1, y(end_row) + ROW / 2.0),
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
            cross(&mut s, x_end, y_end, "#d33");
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
    // Point events and notes; notes at one lane and instant are stacked.
    let mut notes_at: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    for (k, l) in trace.iter().enumerate() {
        let Some(r) = row_of(l.t_us) else { continue };
        let yy = y(r);
        match l.kind.as_str() {
            "crash" | "restart" | "timer" | "observe" => {
                let Some(i) = lane(&l.node) else { continue };
                let xx = x(i);
                match l.kind.as_str() {
                    "crash" => {
                        cross(&mut s, xx, yy, "#d33");
                        note(&mut s, "crash", xx + 9.0, yy + 4.0, "#d33", "crashed");
                    }
                    "restart" => {
                        let _ = writeln!(
                            s,
                            r##"<circle class="restart" cx="{xx:.0}" cy="{yy:.0}" r="5" fill="#2a2"/>"##
                        );
                        note(&mut s, "restart", xx + 9.0, yy + 4.0, "#2a2", "restarted");
                    }
                    "timer" if opts.txn.is_none() => {
                        let _ = writeln!(
                            s,
                            r##"<circle class="timer" cx="{xx:.0}" cy="{yy:.0}" r="4" fill="white" stroke="#36c"/>"##
                        );
                        note(
                            &mut s,
                            "timer-label",
                            xx + 7.0,
                            yy + 12.0,
                            "#36c",
                            &format!("timer {}", short(&l.what)),
                        );
                    }
                    "observe" if wanted(l) => {
                        let w = &l.what;
                        let text = if w.starts_with("Prepared") {
                            Some(("in doubt".to_string(), "#d80"))
                        } else if w.starts_with("Decided") {
                            Some((format!("decided {}", outcome_word(w)), "#000"))
                        } else if w.starts_with("Applied") {
                            Some((format!("applied {}", outcome_word(w)), "#060"))
                        } else if w.starts_with("Answered") {
                            Some((format!("told {}", outcome_word(w)), "#060"))
                        } else {
                            None
                        };
                        if let Some((text, colour)) = text {
                            let n = notes_at.entry((i, r)).or_insert(0);
                            let dy = 11.0 * f64::from(*n);
                            *n += 1;
                            note(&mut s, "note", xx + 9.0, yy - 4.0 + dy, colour, &text);
                        }
                    }
                    _ => {}
                }
            }
            "cut_start" | "cut_end" => {
                let start = l.kind == "cut_start";
                let mirror = |m: &TraceLine| {
                    m.kind == l.kind
                        && m.t_us == l.t_us
                        && m.cut_from == l.cut_to
                        && m.cut_to == l.cut_from
                };
                // A symmetric partition is two cuts at one instant: draw it once.
                if k > 0 && mirror(&trace[k - 1]) {
                    continue;
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
                    &mut s,
                    "cut-label",
                    width - 12.0 - 6.0 * text.chars().count() as f64,
                    yy - 3.0,
                    if start { "#d33" } else { "#2a2" },
                    &text,
                );
            }
            _ => {}
        }
    }
    if truncated > 0 {
        let _ = writeln!(
            s,
            r##"<text class="truncated" x="10" y="{:.0}" fill="#d33">… {truncated} more instants after {:.3} ms not drawn: narrow with --from/--to or --txn</text>"##,
            height - 12.0,
            last_t as f64 / 1000.0
        );
    }
    s.push_str("</svg>\n");
    s
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
            let e = check_window(f, t).unwrap_err();
            assert!(e.contains("expected a time in ms from 0 to"), "{e}");
        }
        assert!(check_window(Some(5.0), Some(4.0))
            .unwrap_err()
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
        let s = crate::run::default_scenario().scenario;
        let (o, trace) = crate::tracelog::run_traced(&crate::run::Registry::builtin(), &s, s.seed);
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
        let s = crate::run::parse("(duration_ms: 300)", "x.ron")
            .expect("valid")
            .scenario;
        let (o, trace) = crate::tracelog::run_traced(&crate::run::Registry::builtin(), &s, 1);
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
