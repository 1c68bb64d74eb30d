//! A run's trace read back from its JSON lines (the `--trace` format, see
//! [`crate::engine::trace`]), for the shrunk run's story and for sequence diagrams.
//!
//! Working from the JSON lines rather than from the engine's typed events keeps both
//! protocol-independent. The file holds messages, timers and observations as
//! structured JSON; the reader writes each as compact text in Rust's debug style
//! ([`render`]: `Vote { txn: 0, yes: true }`, fields in alphabetical order, node
//! sets as lists of names), from which the stories and diagrams read the variant name
//! and the few fields they tell. Lines of the unversioned first format (debug
//! strings) still read back.

use crate::run::{Outcome, TraceOut, Validated};
pub use crate::story::trace::short;
use crate::story::trace::{Fact, Happening, Moment};
use serde_json::Value;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// One trace line.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceLine {
    pub t_us: u64,
    /// `send`, `deliver`, `lost`, `timer`, `crash`, `restart`, `cut_start`, `cut_end`,
    /// `observe`, `persist`.
    pub kind: String,
    /// `node` for node events, `from` for messages.
    pub node: String,
    pub to: String,
    /// The message, timer or observation as text ([`render`]).
    pub what: String,
    /// `send`: the fate (`delivered`, `delivered twice`, `dropped: loss`…);
    /// `lost`: the reason.
    pub fate: String,
    pub delay_us: Option<u64>,
    /// `cut_start`/`cut_end`: the sides.
    pub cut_from: Vec<String>,
    pub cut_to: Vec<String>,
    /// The transaction the message or observation is about: the trace's `txn`,
    /// written from the protocol's typed accessor ([`crate::node::Node::msg_txn`]) or
    /// the observation's own transaction.
    pub txn: Option<u64>,
    /// The line's trace and span (written in hex; see [`crate::engine::trace`]).
    pub trace_id: Option<u128>,
    pub span_id: Option<u64>,
    pub parent_span_id: Option<u64>,
}

/// A structured message, timer or observation as compact text in Rust's debug style:
/// an enum variant (an object with one key that starts with a capital) is
/// `Name { field: value, .. }`, `Name(value)` or `Name`; a struct is `{ field: .. }`,
/// a list `[a, b]`; strings are written without quotes (node names, unit variants).
pub fn render(v: &Value) -> String {
    let mut out = String::new();
    render_into(v, &mut out);
    out
}

fn render_into(v: &Value, out: &mut String) {
    let fields = |m: &serde_json::Map<String, Value>, out: &mut String| {
        out.push_str("{ ");
        for (i, (k, x)) in m.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(k);
            out.push_str(": ");
            render_into(x, out);
        }
        out.push_str(" }");
    };
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_into(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let variant = (m.len() == 1)
                .then(|| m.iter().next())
                .flatten()
                .filter(|(k, _)| k.starts_with(|c: char| c.is_ascii_uppercase()));
            match variant {
                Some((name, Value::Object(inner))) => {
                    out.push_str(name);
                    out.push(' ');
                    fields(inner, out);
                }
                Some((name, Value::Array(items))) => {
                    out.push_str(name);
                    out.push('(');
                    for (i, x) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        render_into(x, out);
                    }
                    out.push(')');
                }
                Some((name, x)) => {
                    out.push_str(name);
                    out.push('(');
                    render_into(x, out);
                    out.push(')');
                }
                None => fields(m, out),
            }
        }
    }
}

impl TraceLine {
    /// The transaction the message or observation is about, if it names one.
    pub fn txn(&self) -> Option<u64> {
        self.txn
    }

    /// The line as a story tells it ([`crate::story::trace`]); `names` name the node
    /// indices inside observations.
    pub fn moment(&self, names: &[String]) -> Moment {
        let node = || self.node.clone();
        let what = match self.kind.as_str() {
            "crash" => Happening::Crashed { node: node() },
            "restart" => Happening::Restarted { node: node() },
            "cut_start" | "cut_end" => Happening::Cut {
                from: self.cut_from.clone(),
                to: self.cut_to.clone(),
                active: self.kind == "cut_start",
            },
            "send" => Happening::Sent {
                from: node(),
                to: self.to.clone(),
                msg: self.what.clone(),
                fate: self.fate.clone(),
            },
            "lost" => Happening::Lost {
                from: node(),
                to: self.to.clone(),
                msg: self.what.clone(),
                why: self.fate.clone(),
            },
            "observe" => Happening::Observed {
                node: node(),
                fact: Fact::read(&self.what, names),
                obs: self.what.clone(),
            },
            _ => Happening::Other,
        };
        Moment {
            t_us: self.t_us,
            txns: self.txn.into_iter().collect(),
            what,
        }
    }
}

fn parse_line(line: &str) -> Option<TraceLine> {
    let v: Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = s("kind");
    let node = if v.get("node").is_some() {
        s("node")
    } else {
        s("from")
    };
    let (to, cut_from, cut_to) = if kind.starts_with("cut") {
        (String::new(), list("from"), list("to"))
    } else {
        (s("to"), Vec::new(), Vec::new())
    };
    let what = ["msg", "timer", "obs"]
        .iter()
        .find_map(|k| v.get(*k))
        .map_or_else(String::new, render);
    let fate = if kind == "lost" {
        s("reason")
    } else {
        s("fate")
    };
    Some(TraceLine {
        t_us: v.get("t_us")?.as_u64()?,
        kind,
        node,
        to,
        what,
        fate,
        delay_us: v.get("delay_us").and_then(Value::as_u64),
        cut_from,
        cut_to,
        txn: v.get("txn").and_then(Value::as_u64),
        trace_id: v
            .get("trace_id")
            .and_then(Value::as_str)
            .and_then(|h| u128::from_str_radix(h, 16).ok()),
        span_id: v
            .get("span_id")
            .and_then(Value::as_str)
            .and_then(|h| u64::from_str_radix(h, 16).ok()),
        parent_span_id: v
            .get("parent_span_id")
            .and_then(Value::as_str)
            .and_then(|h| u64::from_str_radix(h, 16).ok()),
    })
}

/// The header line's `kind`.
pub const HEADER_KIND: &str = "trace_format";

/// Parses trace JSON lines (lines that do not parse, and the header, are skipped).
pub fn parse(text: &str) -> Vec<TraceLine> {
    text.lines()
        .filter_map(parse_line)
        .filter(|l| l.kind != HEADER_KIND)
        .collect()
}

/// The node names of a trace's header line (empty for a trace without one).
pub fn header_names(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == HEADER_KIND)
        .and_then(|v| {
            v["nodes"].as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// The spans of a trace's text ([`crate::tools::spans`]).
pub fn spans_of(text: &str) -> Vec<crate::tools::spans::Span> {
    crate::tools::spans::spans(&parse(text))
}

/// A `Write` into a shared buffer.
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `scenario` with `seed` and returns the outcome with its trace.
pub fn run_traced(scenario: &Validated, seed: u64) -> (Outcome, Vec<TraceLine>) {
    let buf = Rc::new(RefCell::new(Vec::new()));
    let out: TraceOut = Box::new(Shared(Rc::clone(&buf)));
    let outcome = scenario.run(seed, Some(out));
    let text = String::from_utf8_lossy(&buf.borrow()).into_owned();
    (outcome, parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule the typed accessors replaced: the first `txn: N` in the debug text.
    fn txn_in_text(text: &str) -> Option<u64> {
        let i = text.find("txn: ")? + 5;
        let digits: String = text[i..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    /// Every built-in protocol's typed transaction (messages and observations) is the
    /// one its debug text names, so diagrams and stories group exactly as before.
    #[test]
    fn typed_transactions_agree_with_the_debug_text() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for name in [
            "2pc-coordinator-crash",
            "3pc-partition",
            "tcc-hanging",
            "saga-transfer-crash",
            "half-message-checkback",
            "lost-order-reconciliation",
        ] {
            let l = crate::run::load(&dir.join(format!("{name}.ron"))).expect("valid");
            let (_, lines) = run_traced(&l, l.scenario.seed);
            let mut typed = 0;
            for line in lines
                .iter()
                .filter(|l| ["send", "deliver", "lost", "observe"].contains(&l.kind.as_str()))
            {
                assert_eq!(line.txn, txn_in_text(&line.what), "{name}: {line:?}");
                typed += usize::from(line.txn.is_some());
            }
            assert!(typed > 0, "{name}");
        }
    }

    #[test]
    fn reads_short_names() {
        assert_eq!(
            short("Decision { txn: 17, outcome: Commit }"),
            "Decision(Commit)"
        );
        assert_eq!(short("Vote { txn: 1, yes: true }"), "Vote(yes)");
        assert_eq!(
            short("Status { txn: 1, status: Aborted }"),
            "Status(Aborted)"
        );
        assert_eq!(short("Request(TxnRequest { txn: 0 })"), "Request");
    }

    #[test]
    fn a_traced_run_reads_back() {
        let s = crate::run::default_scenario();
        let (o, lines) = run_traced(&s, s.scenario.seed);
        assert!(lines.iter().any(|l| l.kind == "crash" && l.node == "tm"));
        let sends = lines.iter().filter(|l| l.kind == "send").count() as u64;
        assert_eq!(sends, o.report.network.sent);
    }
}
