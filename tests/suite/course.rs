//! The course's exercises: every answer the book gives is a run this test repeats.
//!
//! An answer line reads
//! ``- `acidbase run scenarios/X.ron [ARGS]` with `key: value`, …: `metric.path` = **N**``:
//! the test copies the scenario, sets each `key` on the one line of the file that
//! sets it (outside comments and strings), runs the binary with `--format json` and
//! compares the metric with N. So the numbers a student reads are the ones they get.

use crate::common::{acidbase, stdout, TempDir};
use std::collections::BTreeMap;
use std::path::Path;

/// The course's chapters, in the order the book's summary lists them.
const CHAPTERS: &[&str] = &[
    "course.md",
    "acid.md",
    "cap.md",
    "base.md",
    "case-transfer.md",
    "case-order-inventory.md",
    "case-sync-timeout.md",
    "case-async-callback.md",
    "case-lost-order.md",
    "case-state-mismatch.md",
    "case-cache.md",
];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Run {
    args: Vec<String>,
    edits: Vec<(String, String)>,
}

#[derive(Debug)]
struct Answer {
    chapter: String,
    line: usize,
    run: Run,
    metric: String,
    value: f64,
}

/// Text between the first pair of backticks of `s`, and what follows it.
fn backticked(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('`')?;
    let end = s.find('`')?;
    Some((&s[..end], &s[end + 1..]))
}

/// One answer line, or `None` if the line is not one; `Err` if it starts like one
/// but does not parse (a typo in the book must fail the test, not skip the answer).
fn parse_answer(line: &str) -> Option<Result<(Run, String, f64), String>> {
    let rest = line.trim_start().strip_prefix("- `acidbase run ")?;
    Some((|| {
        let end = rest
            .find('`')
            .ok_or("no closing backtick after the command")?;
        let args: Vec<String> = rest[..end].split_whitespace().map(String::from).collect();
        let mut rest = &rest[end + 1..];
        let mut edits = Vec::new();
        if let Some(r) = rest.strip_prefix(" with ") {
            rest = r;
            loop {
                let (edit, r) = backticked(rest).ok_or("an edit must be in backticks")?;
                let (k, v) = edit.split_once(": ").ok_or("an edit reads `key: value`")?;
                edits.push((k.to_string(), v.to_string()));
                rest = r;
                match rest.strip_prefix(", ") {
                    Some(r) => rest = r,
                    None => break,
                }
            }
        }
        let rest = rest
            .strip_prefix(": ")
            .ok_or("expected `: ` before the metric")?;
        let (metric, rest) = backticked(rest).ok_or("the metric must be in backticks")?;
        let rest = rest.strip_prefix(" = **").ok_or("expected ` = **N**`")?;
        let end = rest.find("**").ok_or("the value must end with **")?;
        let value: f64 = rest[..end]
            .parse()
            .map_err(|_| format!("not a number: {}", &rest[..end]))?;
        Ok((Run { args, edits }, metric.to_string(), value))
    })())
}

fn answers() -> Vec<Answer> {
    let mut out = Vec::new();
    for chapter in CHAPTERS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("book/src")
            .join(chapter);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut in_code = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if in_code {
                continue;
            }
            if let Some(parsed) = parse_answer(line) {
                let (run, metric, value) =
                    parsed.unwrap_or_else(|e| panic!("{chapter}:{}: {e}: {line}", i + 1));
                out.push(Answer {
                    chapter: chapter.to_string(),
                    line: i + 1,
                    run,
                    metric,
                    value,
                });
            }
        }
    }
    out
}

/// Byte ranges of `key:` in `text` outside comments and string literals, where
/// `key` is a whole identifier.
fn key_positions(text: &str, key: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let pat = format!("{key}:");
    let mut found = Vec::new();
    let (mut i, mut in_str, mut in_comment) = (0, false, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_comment {
            in_comment = c != b'\n';
        } else if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if text[i..].starts_with("//") {
            in_comment = true;
        } else if text[i..].starts_with(&pat)
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            found.push(i);
        }
        i += 1;
    }
    found
}

/// The scenario with `key`'s value replaced on the one place that sets it.
fn edit(text: &str, key: &str, value: &str) -> Result<String, String> {
    let at = key_positions(text, key);
    let [at] = at[..] else {
        return Err(format!("`{key}:` is set {} times, not once", at.len()));
    };
    let start = at + key.len() + 1;
    let len = text[start..]
        .find([',', ')', '\n'])
        .ok_or_else(|| format!("no end to the value of `{key}`"))?;
    Ok(format!(
        "{}: {value}{}",
        &text[..at + key.len()],
        &text[start + len..]
    ))
}

fn metric(report: &serde_json::Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(report, |v, part| v.get(part))?
        .as_f64()
}

fn run(run: &Run, dir: &TempDir, n: usize) -> Result<serde_json::Value, String> {
    let (scenario, flags) = run.args.split_first().ok_or("no scenario in the command")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join(scenario)).map_err(|e| e.to_string())?;
    for (k, v) in &run.edits {
        text = edit(&text, k, v)?;
    }
    let file = dir.write(&format!("exercise-{n}.ron"), &text);
    let mut args = vec!["run", file.to_str().ok_or("temp path")?];
    args.extend(flags.iter().map(String::as_str));
    args.extend(["--format", "json"]);
    let out = acidbase(&args);
    serde_json::from_str(&stdout(&out)).map_err(|e| {
        format!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn every_answer_in_the_course_is_what_the_run_gives() {
    let answers = answers();
    for chapter in CHAPTERS {
        assert!(
            answers.iter().any(|a| a.chapter == *chapter),
            "{chapter} has no checked answer"
        );
    }
    let dir = TempDir::new("course");
    let mut reports: BTreeMap<Run, serde_json::Value> = BTreeMap::new();
    let mut wrong = Vec::new();
    for a in &answers {
        if !reports.contains_key(&a.run) {
            let n = reports.len();
            let report =
                run(&a.run, &dir, n).unwrap_or_else(|e| panic!("{}:{}: {e}", a.chapter, a.line));
            reports.insert(a.run.clone(), report);
        }
        let got = metric(&reports[&a.run], &a.metric);
        let close = got.is_some_and(|g| (g - a.value).abs() <= 1e-9 * a.value.abs().max(1.0));
        if !close {
            wrong.push(format!(
                "{}:{}: {} {:?} → {} is {got:?}, the book says {}",
                a.chapter,
                a.line,
                a.run.args.join(" "),
                a.run.edits,
                a.metric,
                a.value
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that no longer hold:\n{}",
        wrong.join("\n")
    );
    assert!(answers.len() >= 40, "only {} answers found", answers.len());
}

#[test]
fn an_answer_line_parses_and_an_edit_touches_only_the_setting() {
    let (run, metric, value) = parse_answer(
        "   - `acidbase run scenarios/x.ron --seed 3` with `a: false`, `b: \"x\"`: `m.n` = **12**",
    )
    .expect("an answer line")
    .expect("it parses");
    assert_eq!(run.args, ["scenarios/x.ron", "--seed", "3"]);
    assert_eq!(
        run.edits,
        [("a".into(), "false".into()), ("b".into(), "\"x\"".into())]
    );
    assert_eq!((metric.as_str(), value), ("m.n", 12.0));
    assert!(parse_answer("- `acidbase run x.ron`: m = 3")
        .expect("starts")
        .is_err());
    assert!(parse_answer("- plain text").is_none());

    let text = "// compensation: true\n(description: \"no compensation: x\",\n calls: (compensation: true, partial_compensation: 1),\n)";
    let edited = edit(text, "compensation", "false").expect("set once");
    assert!(edited.contains("calls: (compensation: false, partial_compensation: 1)"));
    assert!(edited.starts_with("// compensation: true\n(description: \"no compensation: x\""));
    assert!(edit(text, "missing", "1").is_err());
}
