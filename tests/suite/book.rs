//! The book's links and images resolve: every page the summary lists exists, every
//! relative link names a page (and, with `#…`, a heading on it) and every image a
//! file. mdBook itself only warns about some of these, and says nothing of anchors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src")
}

/// The anchor mdBook gives a heading: lower case, spaces to `-`, other punctuation
/// dropped (its `normalize_id`).
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_lowercase().collect::<String>())
            } else if c.is_whitespace() {
                Some("-".into())
            } else {
                None
            }
        })
        .collect()
}

/// The lines of a page outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}

/// The anchors of a page's headings (outside code blocks), with mdBook's `-1`, `-2`
/// suffixes for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose_lines(text) {
        if let Some(h) = line.strip_prefix('#') {
            let base = anchor(h.trim_start_matches('#'));
            let mut id = base.clone();
            let mut n = 1;
            while out.contains(&id) {
                id = format!("{base}-{n}");
                n += 1;
            }
            out.insert(id);
        }
    }
    out
}

/// The targets of `](target)` links and images on a page, outside code blocks and
/// inline code.
fn targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

#[test]
fn every_page_link_anchor_and_image_of_the_book_resolves() {
    let src = src();
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).expect("SUMMARY.md");
    let listed: Vec<String> = targets(&summary);
    assert!(
        listed.len() > 20,
        "the summary lists {} pages",
        listed.len()
    );
    let mut broken = Vec::new();
    for page in &listed {
        if !src.join(page).is_file() {
            broken.push(format!("SUMMARY.md lists {page}, which does not exist"));
        }
    }
    for page in &listed {
        let Ok(text) = std::fs::read_to_string(src.join(page)) else {
            continue;
        };
        for target in targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, frag) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let dir = src
                .join(page)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(src.clone());
            let path = if file.is_empty() {
                src.join(page)
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{page}: {target}: no such file"));
                continue;
            }
            if let Some(frag) = frag {
                let linked = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&linked).contains(frag) {
                    broken.push(format!("{page}: {target}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken links in the book:\n{}",
        broken.join("\n")
    );
}

#[test]
fn anchors_follow_mdbook() {
    assert_eq!(
        anchor(" `Scatter`: the CAP picture"),
        "scatter-the-cap-picture"
    );
    assert_eq!(
        anchor(" A — Atomicity: all or nothing"),
        "a--atomicity-all-or-nothing"
    );
    let a = anchors("# X\n```\n# not a heading\n```\n## X\n");
    assert_eq!(a, BTreeSet::from(["x".to_string(), "x-1".to_string()]));
}

/// The protocol chapters, each of which shows the sequence diagram of its key scenario.
const PROTOCOL_CHAPTERS: [&str; 10] = [
    "two-phase-commit",
    "three-phase-commit",
    "paxos-commit",
    "tcc",
    "saga",
    "reliable-messaging",
    "service-calls",
    "cache",
    "local-cache",
    "global-ids",
];

/// The figures `book/diagrams.sh` draws: (scenario, transaction, file).
fn diagram_list() -> Vec<(String, String, String)> {
    let script = std::fs::read_to_string(src().join("../diagrams.sh")).expect("diagrams.sh");
    let list = script
        .split("<<'LIST'\n")
        .nth(1)
        .and_then(|r| r.split("\nLIST").next())
        .expect("a LIST block");
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "scenario txn file: {l}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

/// Every protocol chapter embeds one of the listed diagrams with the command that
/// draws it, and every listed figure is byte for byte what that command draws now
/// (rerun `book/diagrams.sh` after changing the diagram or a protocol).
#[test]
fn every_protocol_chapter_shows_its_sequence_diagram_as_drawn_now() {
    let list = diagram_list();
    for ch in PROTOCOL_CHAPTERS {
        let page = std::fs::read_to_string(src().join(format!("{ch}.md"))).expect("chapter");
        let shown = list.iter().find(|(sc, txn, file)| {
            page.contains(&format!("](figures/{file})"))
                && page.contains(&format!(
                    "`acidbase run scenarios/{sc}.ron --txn {txn} --diagram"
                ))
        });
        assert!(
            shown.is_some(),
            "{ch}.md embeds no diagram of book/diagrams.sh with its command"
        );
    }
    let dir = crate::common::TempDir::new("book-diagrams");
    for (sc, txn, file) in &list {
        let out = dir.path(file);
        let run = crate::common::acidbase(&[
            "run",
            &format!("scenarios/{sc}.ron"),
            "--txn",
            txn,
            "--diagram",
            crate::common::path_str(&out),
        ]);
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{sc}: {}",
            crate::common::stderr(&run)
        );
        let now = std::fs::read(&out).expect("drawn");
        let committed = std::fs::read(src().join("figures").join(file)).expect("figure");
        assert!(
            now == committed,
            "book/src/figures/{file} is not what `acidbase run scenarios/{sc}.ron --txn {txn} --diagram` draws now: run book/diagrams.sh"
        );
    }
}
