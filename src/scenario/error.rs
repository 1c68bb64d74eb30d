//! Reading a scenario and placing what is wrong with it: the file, line and column
//! of a field, and RON's errors said in the user's terms.

use super::Scenario;
use std::fmt;
use std::path::Path;

/// A problem with a scenario, located in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A scenario with the text it came from, so later checks can point into it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    pub file: String,
    pub source: String,
}

impl Loaded {
    /// An error located at the first match of `path` (a sequence of needles, each
    /// searched after the previous one), or at the deepest needle found.
    pub fn error_at(&self, path: &[&str], message: impl Into<String>) -> ScenarioError {
        self.error_at_entry(path, None, &[], message)
    }

    /// An error in entry number `entry.1` (0-based) of a list found at `path`, where
    /// each entry is recognised by its key `entry.0`; `field` narrows it further.
    pub fn error_at_entry(
        &self,
        path: &[&str],
        entry: Option<(&str, usize)>,
        field: &[&str],
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, col) = locate(&self.source, path, entry, field);
        ScenarioError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        }
    }
}

/// How scenario RON is read (also a testing harness's schedules, in the same terms):
/// `Some` may be left out and newtype variants unwrapped.
pub(crate) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(
        ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES
            | ron::extensions::Extensions::IMPLICIT_SOME,
    )
}

/// Reads a scenario from text (its syntax and types; `file` names it in errors). It
/// is checked against its protocol by `run::Registry::parse`, which calls this.
pub fn read(source: &str, file: &str) -> Result<Loaded, ScenarioError> {
    let mut scenario: Scenario = ron_options().from_str(source).map_err(|e| {
        let (line, col) = (e.span.start.line, e.span.start.col);
        let message = match (&e.code, key_before(source, line, col)) {
            (ron::Error::NoSuchStructField { .. } | ron::Error::MissingStructField { .. }, _)
            | (_, None) => explain_ron_error(&e.code, "book/src/scenario.md"),
            (_, Some(key)) => format!(
                "{key}: {}",
                explain_ron_error(&e.code, "book/src/scenario.md")
            ),
        };
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            message,
        }
    })?;
    if scenario.name.is_empty() {
        scenario.name = Path::new(file)
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .trim_end_matches(" (built in)")
                    .to_string()
            })
            .unwrap_or_else(|| "scenario".into());
        scenario.name = scenario
            .name
            .split_whitespace()
            .next()
            .unwrap_or("scenario")
            .to_string();
    }
    Ok(Loaded {
        scenario,
        file: file.to_string(),
        source: source.to_string(),
    })
}

/// Reads a scenario file (see [`read`]).
pub fn read_file(path: &Path) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        col: 0,
        message: format!("cannot read the scenario file: {e}"),
    })?;
    read(&source, &file)
}

/// A protocol's options that cannot be read, said for the user (validation shows it
/// as `options: MESSAGE` at the scenario's `options` field). A protocol that reads or
/// checks its own options in [`crate::protocols::Protocol::options`] returns one with
/// its own words: `Err(OptionsError::new("retry_ms must be positive"))`, or
/// `Err(message.into())` from a `String` or `&str`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionsError {
    pub message: String,
}

impl OptionsError {
    pub fn new(message: impl Into<String>) -> OptionsError {
        OptionsError {
            message: message.into(),
        }
    }
}

impl From<String> for OptionsError {
    fn from(message: String) -> OptionsError {
        OptionsError::new(message)
    }
}

impl From<&str> for OptionsError {
    fn from(message: &str) -> OptionsError {
        OptionsError::new(message)
    }
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OptionsError {}

/// A protocol's `options:` (the RON text a scenario holds) as its options type.
pub fn parse_options<T: serde::de::DeserializeOwned>(
    raw: &ron::value::RawValue,
) -> Result<T, OptionsError> {
    ron_options()
        .from_str(raw.get_ron())
        .map_err(|e| OptionsError::new(explain_ron_error(&e.code, "the protocol's documentation")))
}

/// A RON error in words fit for the user (`reference`: the book page that lists the
/// fields): what it names is cut to a readable length
/// (a megabyte-long field name is not echoed back), and the parser's advice to its
/// own programmers (`serde_stacker`) is replaced by what the user can do.
pub(crate) fn explain_ron_error(code: &ron::Error, reference: &str) -> String {
    let one_of = |expected: &[&str]| match expected {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [init @ .., last] => format!(
            "one of {}, or `{last}`",
            init.iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let unexpected = |what: &str, found: &str, outer: &Option<String>, expected| {
        let outer = outer
            .as_deref()
            .map_or_else(String::new, |o| format!(" in `{}`", clip(o)));
        format!(
            "Unexpected {what} named `{}`{outer}, expected {} instead",
            clip(found),
            one_of(expected)
        )
    };
    match code {
        ron::Error::NoSuchStructField {
            expected,
            found,
            outer,
        } => format!(
            "{}; see {reference} for every field",
            unexpected("field", found, outer, expected)
        ),
        ron::Error::NoSuchEnumVariant {
            expected,
            found,
            outer,
        } => unexpected("variant", found, outer, expected),
        ron::Error::ExceededRecursionLimit => format!(
            "nested too deeply (more than {RON_RECURSION_LIMIT} levels): no scenario or sweep value needs that many"
        ),
        // Anything else the parser says, bounded (it may quote what it read).
        other => clip_to(&other.to_string(), 400),
    }
}

/// The nesting depth RON reads before giving up.
const RON_RECURSION_LIMIT: usize = 128;

/// `text` cut to at most 80 characters (with the total length said), for echoing
/// what a user wrote back in an error.
pub(crate) fn clip(text: &str) -> String {
    clip_to(text, 80)
}

/// A number as a message shows it: plain digits in the everyday range, the
/// exponent form outside it (so `1e-308` is not written as 310 digits).
pub(crate) struct Num(pub(crate) f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0.abs();
        if a == 0.0 || !a.is_finite() || (1e-6..1e16).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

fn clip_to(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        text.to_string()
    } else {
        let head: String = text.chars().take(max).collect();
        format!("{head}… ({n} characters)")
    }
}

/// The field name written just before a value at (`line`, `col`), if any: RON's type
/// errors name the expected type but not the field.
fn key_before(source: &str, line: usize, col: usize) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let upto: String = text.chars().take(col.saturating_sub(1)).collect();
    let before_colon = upto.trim_end().strip_suffix(':')?;
    let key: String = before_colon
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Line and column (1-based) in `source` of: each needle of `path` in turn (each
/// searched after the previous), then the `n`-th occurrence of the entry key, then
/// each needle of `field`. Stops at the deepest match found. Identifier needles match
/// whole keys only, outside comments and strings; quoted needles match a string.
fn locate(
    source: &str,
    path: &[&str],
    entry: Option<(&str, usize)>,
    field: &[&str],
) -> (usize, usize) {
    let mut from = 0;
    let mut at = None;
    let mut steps: Vec<(&str, usize)> = path.iter().map(|n| (*n, 0)).collect();
    if let Some((key, n)) = entry {
        steps.push((key, n));
    }
    steps.extend(field.iter().map(|n| (*n, 0)));
    'steps: for (needle, skip) in steps {
        let mut start = from;
        for _ in 0..=skip {
            match find_needle(source, needle, start) {
                Some(i) => {
                    at = Some(i);
                    start = i + needle.len();
                }
                None => break 'steps,
            }
        }
        from = start;
    }
    let Some(i) = at else {
        return (1, 1);
    };
    let before = &source[..i];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(i, |nl| i - nl - 1) + 1;
    (line, col)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn find_needle(source: &str, needle: &str, from: usize) -> Option<usize> {
    let ident = needle.chars().all(is_ident_char);
    let mut start = from;
    while let Some(rel) = source.get(start..)?.find(needle) {
        let i = start + rel;
        start = i + needle.len();
        let line_start = source[..i].rfind('\n').map_or(0, |n| n + 1);
        let prefix = &source[line_start..i];
        if prefix.contains("//") {
            continue;
        }
        if ident {
            let quotes = prefix.matches('"').count() - prefix.matches("\\\"").count();
            let before_ok = !prefix.chars().next_back().is_some_and(is_ident_char);
            let after_ok = !source[i + needle.len()..]
                .chars()
                .next()
                .is_some_and(is_ident_char);
            if quotes % 2 == 1 || !before_ok || !after_ok {
                continue;
            }
        }
        return Some(i);
    }
    None
}
