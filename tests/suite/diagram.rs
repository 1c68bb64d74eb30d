//! Sequence diagrams as a newcomer reads them: a legend, text that never overlaps,
//! lost messages marked toward their receiver, times without spurious decimals, and
//! what the diagram leaves out said on stderr.

use crate::common::{acidbase, path_str, stderr, TempDir};

/// A text element of the SVG: its box (estimated from its position, anchor, size and
/// length, at 0.6 of the font size per character, the width of an average sans-serif
/// glyph) and its content.
struct Label {
    text: String,
    b: [f64; 4],
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let k = format!(" {name}=\"");
    let i = tag.find(&k)? + k.len();
    let j = tag[i..].find('"')?;
    Some(tag[i..i + j].to_string())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn labels(svg: &str) -> Vec<Label> {
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text ") {
        rest = &rest[i..];
        let end_tag = rest.find('>').expect("tag closed");
        let tag = &rest[..end_tag];
        let close = rest.find("</text>").expect("text closed");
        let text = unescape(&rest[end_tag + 1..close]);
        rest = &rest[close..];
        let num = |n: &str| -> f64 {
            attr(tag, n)
                .unwrap_or_else(|| panic!("{n} in {tag}"))
                .parse()
                .expect("a number")
        };
        let size = attr(tag, "font-size").map_or(11.0, |s| s.parse().expect("size"));
        let (x, y) = (num("x"), num("y"));
        let w = text.chars().count() as f64 * size * 0.6;
        let x0 = match attr(tag, "text-anchor").as_deref() {
            Some("middle") => x - w / 2.0,
            Some("end") => x - w,
            _ => x,
        };
        out.push(Label {
            text,
            b: [x0, y - size * 0.75, x0 + w, y + size * 0.2],
        });
    }
    out
}

/// Pairs of labels whose boxes overlap.
fn overlaps(svg: &str) -> Vec<(String, String)> {
    let l = labels(svg);
    let mut bad = Vec::new();
    for i in 0..l.len() {
        for j in i + 1..l.len() {
            let (a, b) = (&l[i].b, &l[j].b);
            if a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3] {
                bad.push((l[i].text.clone(), l[j].text.clone()));
            }
        }
    }
    bad
}

/// Each lane's x, by node name.
fn lane_x(svg: &str) -> Vec<(String, f64)> {
    svg.lines()
        .filter(|l| l.contains(r#"class="lane""#))
        .map(|l| {
            (
                attr(l, "data-node").expect("node"),
                attr(l, "x1").expect("x").parse().expect("x"),
            )
        })
        .collect()
}

fn draw(dir: &TempDir, name: &str, args: &[&str]) -> (String, String) {
    let svg = dir.path(name);
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--diagram", path_str(&svg)]);
    let out = acidbase(&a);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    (std::fs::read_to_string(&svg).expect("drawn"), stderr(&out))
}

#[test]
fn the_default_crash_diagram_focuses_on_the_transaction_hit_and_is_readable() {
    let dir = TempDir::new("diagram-default");
    let (svg, err) = draw(&dir, "d.svg", &["scenarios/2pc-coordinator-crash.ron"]);
    // Large: focused on transaction 0, which lost its votes to the crashed TM; the
    // reader is told which, why, and how to choose another.
    assert!(
        err.contains("shows only transaction 0 (the one with the most messages lost"),
        "{err}"
    );
    assert!(
        err.contains("--txn ID") && err.contains("--from MS --to MS"),
        "{err}"
    );
    assert!(svg.contains("— txn 0</text>"), "the title says the focus");
    // A legend naming the marks this diagram uses.
    assert!(svg.contains(r#"<g class="legend">"#));
    for item in [
        "message (arrow at arrival)",
        "lost or dropped",
        "locks held: yes vote → outcome applied",
        "crash; lane dashed while down",
        "restart",
        "quiet stretch cut out",
    ] {
        assert!(svg.contains(item), "legend lacks {item}");
    }
    // The quiet 95 ms between the TM's in-doubt scans are cut out and said.
    assert!(svg.contains(">≈ 95 ms quiet</text>"), "no break mark");
    assert!(svg.contains(r#"class="break""#));
    // Times as a reader writes them.
    assert!(!svg.contains("0.000 ms") && !svg.contains(".000 ms"));
    assert!(svg.contains(">15 ms</text>") && svg.contains(">0 ms</text>"));
    // The broadcast is labelled once; its three Status replies too.
    assert!(svg.contains(">Prepare ×3</text>"), "{svg}");
    assert!(svg.contains(">Status(Aborted) ×3</text>"));
    assert!(!svg.contains("Status(Aborted)Status"));
    let bad = overlaps(&svg);
    assert!(bad.is_empty(), "overlapping labels: {bad:?}");
    // Before: 910×3692 (146 rows); now a page.
    let height: f64 = attr(&svg[..200], "height")
        .expect("height")
        .parse()
        .expect("a number");
    assert!(height < 1000.0, "height {height}");
}

#[test]
fn lost_messages_are_marked_toward_the_lane_they_were_going_to() {
    let dir = TempDir::new("diagram-lost");
    for (name, args) in [
        ("crash.svg", vec!["scenarios/2pc-coordinator-crash.ron"]),
        (
            "part.svg",
            vec!["scenarios/2pc-partition.ron", "--from", "0", "--to", "400"],
        ),
    ] {
        let (svg, _) = draw(&dir, name, &args);
        let lanes = lane_x(&svg);
        let x_of = |n: &str| {
            lanes
                .iter()
                .find(|(m, _)| m == n)
                .map(|(_, x)| *x)
                .unwrap_or_else(|| panic!("no lane {n}"))
        };
        let mut at_receiver = 0;
        let mut dropped = 0;
        for l in svg.lines().filter(|l| l.contains(r#"class="msg dropped""#)) {
            dropped += 1;
            let from = x_of(&attr(l, "data-from").expect("from"));
            let to = x_of(&attr(l, "data-to").expect("to"));
            let x1: f64 = attr(l, "x1").expect("x1").parse().expect("x1");
            let x2: f64 = attr(l, "x2").expect("x2").parse().expect("x2");
            assert!((x1 - from).abs() < 0.5, "starts at its sender: {l}");
            // Ends at the receiver's lane, or part way toward it (dropped at the send).
            let toward = (x2 - to).abs() < 0.5 || (from.min(to) < x2 && x2 < from.max(to));
            assert!(toward, "{name}: lost mark not toward the receiver: {l}");
            at_receiver += usize::from((x2 - to).abs() < 0.5);
        }
        assert!(
            dropped > 0 && at_receiver > 0,
            "{name}: {dropped} {at_receiver}"
        );
        let bad = overlaps(&svg);
        assert!(bad.is_empty(), "{name}: overlapping labels: {bad:?}");
    }
}

#[test]
fn a_window_draws_every_transaction_and_says_on_stderr_where_it_stops() {
    let dir = TempDir::new("diagram-cut");
    // A window: no focus, every transaction; the happy run has thousands of instants,
    // so the diagram stops at its row cap and says so on stderr too.
    let (svg, err) = draw(&dir, "w.svg", &["scenarios/2pc-happy.ron", "--from", "0"]);
    assert!(!err.contains("shows only transaction"), "{err}");
    assert!(err.contains("the diagram stops at row 250"), "{err}");
    assert!(err.contains("more instants after") && err.contains("--from/--to or --txn"));
    assert!(svg.contains(r#"class="truncated""#));
    let bad = overlaps(&svg);
    assert!(bad.is_empty(), "overlapping labels: {bad:?}");
    // Messages delivered twice: the second copy dashed purple, named in the legend.
    let (svg, _) = draw(
        &dir,
        "dup.svg",
        &[
            "scenarios/consumer-without-dedupe.ron",
            "--from",
            "0",
            "--to",
            "300",
        ],
    );
    assert!(svg.contains(r#"class="msg duplicate""#) && svg.contains(">duplicate copy</text>"));
    assert!(overlaps(&svg).is_empty());
    // A chosen transaction: no focus notice, no truncation.
    let (svg, err) = draw(
        &dir,
        "t.svg",
        &["scenarios/2pc-coordinator-crash.ron", "--txn", "1024"],
    );
    assert!(
        !err.contains("shows only") && !err.contains("stops at"),
        "{err}"
    );
    assert!(svg.contains("decided Commit"));
    assert!(overlaps(&svg).is_empty());
}
