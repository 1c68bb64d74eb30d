//! `--trace FILE`: every event of a run as one JSON object per line, in a stable,
//! versioned format (its reference: book/src/trace-format.md).
//!
//! The first line is a header (`kind: "trace_format"`, `version`, the node names).
//! Every other line has `t_us` (virtual time), `kind` and the fields of that kind.
//! Messages, timers and observations are JSON through their `Serialize` form (a
//! variant is an object with one key, its name; a unit variant is a string), with
//! node ids and node sets written as node names ([`crate::ids::with_node_names`]).
//! A message or observation about a transaction has its id under `txn` (from the
//! protocol's [`Node::msg_txn`] and the observation's own). Events that belong to a
//! call tree carry `trace_id`, `span_id` and (unless a root) `parent_span_id`, as
//! lowercase hex in OpenTelemetry's widths ([`trace_id_hex`], [`span_id_hex`]); see
//! [`crate::engine::SpanRef`] for what a span is.

use crate::engine::{SpanRef, TraceEvent, TraceKey, TraceSink};
use crate::faults::FaultAction;
use crate::network::Fate;
use crate::node::{Node, NodeId};
use serde_json::{json, Value};
use std::io::Write;
use std::rc::Rc;

/// The format's version, in the header line. 1 was the unversioned format whose
/// messages were Rust debug strings; 2 is structured JSON with spans.
pub const FORMAT_VERSION: u64 = 2;

/// The trace id of `key`: a transaction's has `1` in the high 64 bits and the
/// transaction id in the low 64 (txn 12 is `0000000000000001000000000000000c` in
/// hex); a tree that names no transaction has `2` and its root span. `None` for no
/// trace.
pub fn trace_id(key: TraceKey) -> Option<u128> {
    match key {
        TraceKey::None => None,
        TraceKey::Txn(t) => Some((1u128 << 64) | u128::from(t)),
        TraceKey::Root(s) => Some((2u128 << 64) | u128::from(s)),
    }
}

/// [`trace_id`] as written: 32 lowercase hex digits.
pub fn trace_id_hex(key: TraceKey) -> Option<String> {
    trace_id(key).map(|id| format!("{id:032x}"))
}

/// The 16-hex-digit span id (never all zeros: spans count from 1).
pub fn span_id_hex(span: u64) -> String {
    format!("{span:016x}")
}

pub struct JsonLines {
    out: std::io::BufWriter<Box<dyn Write>>,
    names: Rc<[String]>,
    failed: bool,
}

/// One line being written, field by field (in the order the book lists them): the
/// message is serialized straight into it, never through a `serde_json::Value`.
struct Line(String);

impl Line {
    fn new(t_us: u64, kind: &str) -> Self {
        Line(format!("{{\"t_us\":{t_us},\"kind\":\"{kind}\""))
    }
    fn key(&mut self, k: &str) {
        self.0.push_str(",\"");
        self.0.push_str(k);
        self.0.push_str("\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        // Writing into a String cannot fail.
        self.0
            .push_str(&serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into()));
    }
    fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        self.0.push_str(&v.to_string());
    }
    fn json(&mut self, k: &str, v: &Value) {
        self.key(k);
        self.0.push_str(&v.to_string());
    }
    /// `value` as JSON with node ids as names; its debug text (a string) if serde
    /// refuses it (a map whose keys are not strings or numbers, say).
    fn structured<T: serde::Serialize + std::fmt::Debug + ?Sized>(
        &mut self,
        k: &str,
        value: &T,
        names: &Rc<[String]>,
    ) {
        self.key(k);
        match crate::ids::with_node_names(names, || serde_json::to_string(value)) {
            Ok(text) => self.0.push_str(&text),
            Err(_) => self.0.push_str(
                &serde_json::to_string(&format!("{value:?}")).unwrap_or_else(|_| "\"\"".into()),
            ),
        }
    }
    /// The transaction (`txn`), when the event names one, and the span.
    fn tags(&mut self, txn: Option<crate::node::TxnId>, span: SpanRef) {
        if let Some(t) = txn {
            self.num("txn", t);
        }
        if let Some(id) = trace_id_hex(span.trace) {
            self.str("trace_id", &id);
            self.str("span_id", &span_id_hex(span.span));
            if span.parent != 0 {
                self.str("parent_span_id", &span_id_hex(span.parent));
            }
        }
    }
    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl JsonLines {
    pub fn new(out: Box<dyn Write>, names: Vec<String>) -> Self {
        let mut sink = JsonLines {
            out: std::io::BufWriter::new(out),
            names: names.into(),
            failed: false,
        };
        let mut header = Line::new(0, "trace_format");
        header.str("format", "acidbase-trace");
        header.num("version", FORMAT_VERSION);
        header.json("nodes", &json!(&*sink.names));
        sink.write(&header.finish());
        sink
    }

    fn name(&self, n: NodeId) -> &str {
        self.names.get(n.index()).map_or("?", String::as_str)
    }

    fn write(&mut self, line: &str) {
        if self.failed {
            return;
        }
        if writeln!(self.out, "{line}").is_err() {
            self.failed = true;
        }
    }
}

impl<N: Node> TraceSink<N> for JsonLines {
    fn record(&mut self, at_us: u64, event: TraceEvent<'_, N>) {
        self.record_span(at_us, SpanRef::default(), event);
    }

    fn record_span(&mut self, at_us: u64, span: SpanRef, event: TraceEvent<'_, N>) {
        if self.failed {
            return;
        }
        let names = Rc::clone(&self.names);
        let message = |kind: &str, from: NodeId, to: NodeId, msg: &N::Msg| {
            let mut l = Line::new(at_us, kind);
            l.str("from", self.name(from));
            l.str("to", self.name(to));
            l.structured("msg", msg, &names);
            l
        };
        let line = match event {
            TraceEvent::Send {
                from,
                to,
                msg,
                fate,
            } => {
                let mut l = message("send", from, to, msg);
                match fate {
                    Fate::Dropped(r) => {
                        l.str("fate", &format!("dropped: {}", r.as_str()));
                        l.json("delay_us", &Value::Null);
                    }
                    Fate::Delivered {
                        delay_us,
                        duplicate_delay_us,
                    } => {
                        l.str(
                            "fate",
                            if duplicate_delay_us.is_some() {
                                "delivered twice"
                            } else {
                                "delivered"
                            },
                        );
                        l.num("delay_us", delay_us);
                    }
                }
                l.tags(N::msg_txn(msg), span);
                l
            }
            TraceEvent::Deliver { from, to, msg } => {
                let mut l = message("deliver", from, to, msg);
                l.tags(N::msg_txn(msg), span);
                l
            }
            TraceEvent::Lost {
                from,
                to,
                msg,
                reason,
            } => {
                let mut l = message("lost", from, to, msg);
                l.str("reason", reason.as_str());
                l.tags(N::msg_txn(msg), span);
                l
            }
            TraceEvent::Timer { node, timer } => {
                let mut l = Line::new(at_us, "timer");
                l.str("node", self.name(node));
                l.structured("timer", timer, &names);
                l.tags(None, span);
                l
            }
            TraceEvent::Fault(a) => match a {
                FaultAction::Crash(n) | FaultAction::Restart(n) => {
                    let kind = if matches!(a, FaultAction::Crash(_)) {
                        "crash"
                    } else {
                        "restart"
                    };
                    let mut l = Line::new(at_us, kind);
                    l.str("node", self.name(*n));
                    l
                }
                // The engine reports cuts as `TraceEvent::Cut` (with their nodes); a
                // sink fed by other means still writes the documented kinds.
                FaultAction::CutStart(c) | FaultAction::CutEnd(c) => {
                    let kind = if matches!(a, FaultAction::CutStart(_)) {
                        "cut_start"
                    } else {
                        "cut_end"
                    };
                    let mut l = Line::new(at_us, kind);
                    l.num("cut", *c as u64);
                    l
                }
                FaultAction::ClockStep { node, step_us } => {
                    let mut l = Line::new(at_us, "clock_step");
                    l.str("node", self.name(*node));
                    l.json("step_us", &Value::from(*step_us));
                    l
                }
            },
            TraceEvent::Cut { index, cut, active } => {
                let names = |set: crate::node::NodeSet| {
                    json!(set.iter().map(|n| self.name(n)).collect::<Vec<_>>())
                };
                let mut l = Line::new(at_us, if active { "cut_start" } else { "cut_end" });
                l.num("cut", index as u64);
                l.json("from", &names(cut.from));
                l.json("to", &names(cut.to));
                l
            }
            TraceEvent::Observe { node, obs } => {
                let mut l = Line::new(at_us, "observe");
                l.str("node", self.name(node));
                l.structured("obs", obs, &names);
                l.tags(Some(obs.txn()), span);
                l
            }
            TraceEvent::Persist { node, writes } => {
                let mut l = Line::new(at_us, "persist");
                l.str("node", self.name(node));
                l.num("writes", u64::from(writes));
                l.tags(None, span);
                l
            }
        };
        let line = line.finish();
        self.write(&line);
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
