//! A run's trace read back from its JSON lines (the `--trace` format, see
//! [`crate::engine::trace`]), for the shrunk run's story and for sequence diagrams.
//!
//! Working from the JSON lines rather than from the engine's typed events keeps both
//! protocol-independent: messages, timers and observations are their debug text, from
//! which we read only the variant name and the `txn: N` field every protocol's
//! transactional messages carry.

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
    /// The message, timer or observation (debug text).
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
        .map(|k| s(k))
        .find(|x| !x.is_empty())
        .unwrap_or_default();
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
    })
}

/// Parses trace JSON lines (lines that do not parse are skipped).
pub fn parse(text: &str) -> Vec<TraceLine> {
    text.lines().filter_map(parse_line).collect()
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
