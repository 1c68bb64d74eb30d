//! A run's call tree read back from its `--trace` lines: the spans (a message from
//! its send to its delivery, a timer's firing), one request's tree as indented text
//! (`acidbase trace FILE --txn N`), and the whole run in OpenTelemetry's JSON format
//! (OTLP/JSON, the `ExportTraceServiceRequest` / `TracesData` shape that trace viewers
//! import: `resourceSpans` → `scopeSpans` → `spans`).
//!
//! The OTLP document is written with `serde_json` by hand, following the
//! specification's JSON mapping (ids as lowercase hex, times as decimal strings of
//! nanoseconds, enums as integers, `camelCase` keys): the one crate that carries the
//! schema (`opentelemetry-proto`) needs the OpenTelemetry SDK for its trace types
//! (with prost, futures and a second `rand`): about 31 s more per build with one
//! build job, measured, for one export. The shape was checked against that crate's
//! `TracesData` instead (the book's trace-format page says how).
//! Virtual time starts at 0, so the spans sit at the Unix epoch: a viewer shows
//! `1970-01-01T00:00:00.005Z` for 5 ms into the run.

use crate::engine::trace::{span_id_hex, trace_id, trace_id_hex};
use crate::engine::TraceKey;
use crate::tools::tracelog::{short, TraceLine};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What a span is.
#[derive(Clone, Debug, PartialEq)]
pub enum SpanKind {
    /// A message from `from` to `to`; `fate` as the send line says it.
    Message {
        from: String,
        to: String,
        fate: String,
    },
    /// A timer on `node` fired.
    Timer { node: String },
}

/// One span of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub kind: SpanKind,
    /// The message or timer as text (`Vote { txn: 0, yes: true }`).
    pub what: String,
    pub txn: Option<u64>,
    pub start_us: u64,
    /// Each arrival that ran the receiver's handler (two for a duplicate).
    pub delivered_us: Vec<u64>,
    /// An arrival dropped on the way in, and why (`receiver down`, `partition`).
    pub lost: Vec<(u64, String)>,
}

impl Span {
    /// The short name (`Vote(yes)`, `timer InDoubtScan`).
    pub fn name(&self) -> String {
        match self.kind {
            SpanKind::Message { .. } => short(&self.what),
            SpanKind::Timer { .. } => format!("timer {}", short(&self.what)),
        }
    }

    /// The node the span starts on (the sender, or the timer's node).
    pub fn node(&self) -> &str {
        match &self.kind {
            SpanKind::Message { from, .. } => from,
            SpanKind::Timer { node } => node,
        }
    }

    /// When the span ends: its last arrival (delivered or lost), else its start.
    pub fn end_us(&self) -> u64 {
        self.delivered_us
            .iter()
            .copied()
            .chain(self.lost.iter().map(|(t, _)| *t))
            .max()
            .unwrap_or(self.start_us)
    }

    /// What became of a message, in words: `delivered at 10.0 ms`, `delivered twice
    /// (at 10.0 ms, 12.0 ms)`, `dropped: loss`, `lost at 15.0 ms: receiver down`,
    /// `in flight at the end`; empty for a timer.
    pub fn fate(&self) -> String {
        let SpanKind::Message { fate, .. } = &self.kind else {
            return String::new();
        };
        if fate.starts_with("dropped") {
            return fate.clone();
        }
        let mut parts: Vec<String> = Vec::new();
        match self.delivered_us.as_slice() {
            [] => {}
            [t] => parts.push(format!("delivered at {}", ms(*t))),
            ts => parts.push(format!(
                "delivered {} (at {})",
                if ts.len() == 2 {
                    "twice".to_string()
                } else {
                    format!("{} times", ts.len())
                },
                ts.iter().map(|t| ms(*t)).collect::<Vec<_>>().join(", ")
            )),
        }
        for (t, why) in &self.lost {
            parts.push(format!("lost at {}: {why}", ms(*t)));
        }
        let copies = if fate == "delivered twice" { 2 } else { 1 };
        if self.delivered_us.len() + self.lost.len() < copies {
            parts.push("in flight at the end".to_string());
        }
        parts.join("; ")
    }
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The spans of a trace, in the order they began. Lines without span ids (a trace of
/// the unversioned first format) give none.
pub fn spans(lines: &[TraceLine]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    for l in lines {
        let (Some(trace_id), Some(span_id)) = (l.trace_id, l.span_id) else {
            continue;
        };
        let kind = match l.kind.as_str() {
            "send" => SpanKind::Message {
                from: l.node.clone(),
                to: l.to.clone(),
                fate: l.fate.clone(),
            },
            "timer" => SpanKind::Timer {
                node: l.node.clone(),
            },
            "deliver" | "lost" => {
                if let Some(&i) = index.get(&span_id) {
                    if l.kind == "deliver" {
                        out[i].delivered_us.push(l.t_us);
                    } else {
                        out[i].lost.push((l.t_us, l.fate.clone()));
                    }
                }
                continue;
            }
            _ => continue,
        };
        index.insert(span_id, out.len());
        out.push(Span {
            trace_id,
            span_id,
            parent_span_id: l.parent_span_id,
            kind,
            what: l.what.clone(),
            txn: l.txn,
            start_us: l.t_us,
            delivered_us: Vec::new(),
            lost: Vec::new(),
        });
    }
    out
}

/// The trace id of transaction `txn`'s trace, as written (32 hex digits).
pub fn txn_trace_id(txn: u64) -> String {
    trace_id_hex(TraceKey::Txn(txn)).expect("a transaction's trace has an id")
}

/// The trace id of transaction `txn`'s trace, as a number.
pub fn txn_trace(txn: u64) -> u128 {
    trace_id(TraceKey::Txn(txn)).expect("a transaction's trace has an id")
}

fn hex32(id: u128) -> String {
    format!("{id:032x}")
}

/// `txn 0: trace 0000000000000001000000000000000`, for each of `txns`, joined by `; `
/// (what a story's header or a diagram's title says of the transactions it follows).
pub fn traces_named(txns: &[u64]) -> String {
    txns.iter()
        .map(|&t| format!("txn {t}: trace {}", txn_trace_id(t)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One trace's spans as an indented tree, one line per span: time, who to whom, what,
/// and what became of it. A timer that a timer of the same name on the same node set
/// (a periodic scan) is printed beside its parent rather than under it, so a long
/// series does not march off to the right.
pub fn tree(spans: &[Span], trace_id: u128) -> Vec<String> {
    let mine: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let ids: BTreeMap<u64, usize> = mine
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); mine.len()];
    let mut roots = Vec::new();
    for (i, s) in mine.iter().enumerate() {
        match s.parent_span_id.and_then(|p| ids.get(&p)) {
            Some(&p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    let mut out = Vec::new();
    // Depth-first, children in the order they began; an explicit stack, as a trace
    // may be deep.
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let s = mine[i];
        let who = match &s.kind {
            SpanKind::Message { from, to, .. } => format!("{from} → {to}"),
            SpanKind::Timer { node } => node.clone(),
        };
        let fate = s.fate();
        let mut line = format!(
            "{}t={:<9} {who:<16} {}",
            "  ".repeat(depth),
            ms(s.start_us),
            s.name()
        );
        if !fate.is_empty() {
            line.push_str(&format!("  [{fate}]"));
        }
        out.push(line.trim_end().to_string());
        for &c in children[i].iter().rev() {
            let child = mine[c];
            let repeat = matches!((&s.kind, &child.kind),
                (SpanKind::Timer { node: a }, SpanKind::Timer { node: b }) if a == b && s.what == child.what);
            stack.push((c, if repeat { depth } else { depth + 1 }));
        }
    }
    out
}

/// One line per trace, in the order the traces began: its id, its transaction (if
/// it is one's), its number of spans and the time of its first span.
pub fn summary(spans: &[Span]) -> Vec<String> {
    let mut order: Vec<(u128, Option<u64>, u64, usize)> = Vec::new();
    let mut at: BTreeMap<u128, usize> = BTreeMap::new();
    for s in spans {
        match at.get(&s.trace_id) {
            Some(&i) => order[i].3 += 1,
            None => {
                at.insert(s.trace_id, order.len());
                let txn = s.txn.filter(|&t| txn_trace(t) == s.trace_id);
                order.push((s.trace_id, txn, s.start_us, 1));
            }
        }
    }
    order
        .into_iter()
        .map(|(id, txn, t, n)| {
            let what = txn.map_or_else(|| "no transaction".to_string(), |t| format!("txn {t}"));
            format!("{}  {what:<16} {n:>6} spans, from t={}", hex32(id), ms(t))
        })
        .collect()
}

/// A `--trace` file's text read back: its node names (from the header) and spans.
pub fn read(text: &str) -> (Vec<String>, Vec<Span>) {
    let names = crate::tools::tracelog::header_names(text);
    (names, spans(&crate::tools::tracelog::parse(text)))
}

fn attr(key: &str, value: Value) -> Value {
    json!({"key": key, "value": value})
}

fn string_value(s: &str) -> Value {
    json!({"stringValue": s})
}

/// OTLP's `SpanKind` numbers.
const KIND_INTERNAL: u64 = 1;
const KIND_PRODUCER: u64 = 4;
/// OTLP's `StatusCode.STATUS_CODE_ERROR`.
const STATUS_ERROR: u64 = 2;

fn nanos(us: u64) -> String {
    (u128::from(us) * 1000).to_string()
}

/// The run's spans as an OTLP/JSON document: one resource per node (its
/// `service.name` is the node's name, in the order of `names`, then any name only the
/// spans know), each span on the resource of the node where it starts. A message is
/// a `PRODUCER` span from its send to its last arrival, with an event per arrival;
/// dropped or lost copies set the status to `ERROR` with the reason. A timer's firing
/// is an `INTERNAL` span of no length.
pub fn otlp(spans: &[Span], names: &[String]) -> Value {
    let mut nodes: Vec<String> = names.to_vec();
    for s in spans {
        if !nodes.iter().any(|n| n == s.node()) {
            nodes.push(s.node().to_string());
        }
    }
    let mut by_node: Vec<Vec<Value>> = vec![Vec::new(); nodes.len()];
    for s in spans {
        let Some(n) = nodes.iter().position(|n| n == s.node()) else {
            continue;
        };
        let mut attributes = vec![attr("acidbase.what", string_value(&s.what))];
        if let Some(t) = s.txn {
            attributes.push(attr("acidbase.txn", json!({"intValue": t.to_string()})));
        }
        let mut span = json!({
            "traceId": hex32(s.trace_id),
            "spanId": span_id_hex(s.span_id),
            "name": s.name(),
            "startTimeUnixNano": nanos(s.start_us),
            "endTimeUnixNano": nanos(s.end_us()),
        });
        let mut events = Vec::new();
        let mut error: Option<String> = None;
        match &s.kind {
            SpanKind::Message { from, to, fate } => {
                span["kind"] = json!(KIND_PRODUCER);
                attributes.push(attr("acidbase.from", string_value(from)));
                attributes.push(attr("acidbase.to", string_value(to)));
                attributes.push(attr("peer.service", string_value(to)));
                attributes.push(attr("acidbase.fate", string_value(&s.fate())));
                for t in &s.delivered_us {
                    events.push(json!({"timeUnixNano": nanos(*t), "name": "delivered"}));
                }
                for (t, why) in &s.lost {
                    events.push(json!({"timeUnixNano": nanos(*t), "name": "lost", "attributes": [attr("acidbase.reason", string_value(why))]}));
                    error.get_or_insert_with(|| format!("lost: {why}"));
                }
                if fate.starts_with("dropped") {
                    error = Some(fate.clone());
                }
            }
            SpanKind::Timer { .. } => span["kind"] = json!(KIND_INTERNAL),
        }
        if let Some(p) = s.parent_span_id {
            span["parentSpanId"] = json!(span_id_hex(p));
        }
        span["attributes"] = Value::Array(attributes);
        if !events.is_empty() {
            span["events"] = Value::Array(events);
        }
        if let Some(message) = error {
            span["status"] = json!({"code": STATUS_ERROR, "message": message});
        }
        by_node[n].push(span);
    }
    let resource_spans: Vec<Value> = nodes
        .iter()
        .zip(by_node)
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(name, spans)| {
            json!({
                "resource": {"attributes": [attr("service.name", string_value(name))]},
                "scopeSpans": [{
                    "scope": {"name": "acidbase", "version": env!("CARGO_PKG_VERSION")},
                    "spans": spans,
                }],
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tracelog::run_traced;

    fn happy() -> (Vec<String>, Vec<Span>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let l = crate::run::load(&dir.join("2pc-happy.ron")).expect("valid");
        let (o, lines) = run_traced(&l, l.scenario.seed);
        (o.names, spans(&lines))
    }

    #[test]
    fn every_parent_is_a_span_of_the_same_trace() {
        let (_, spans) = happy();
        assert!(spans.len() > 10);
        let by_id: BTreeMap<u64, &Span> = spans.iter().map(|s| (s.span_id, s)).collect();
        assert_eq!(by_id.len(), spans.len(), "span ids are unique");
        for s in &spans {
            if let Some(p) = &s.parent_span_id {
                let parent = by_id.get(p).expect("the parent is a span");
                assert_eq!(parent.trace_id, s.trace_id, "{s:?}");
                assert!(parent.start_us <= s.start_us, "{s:?}");
            }
        }
    }

    #[test]
    fn a_2pc_tree_goes_prepare_vote_decision() {
        let (_, spans) = happy();
        // The first transaction over several shards (one shard commits in one phase).
        let tree = (0..100)
            .map(|t| tree(&spans, txn_trace(t)))
            .find(|tree| tree.iter().any(|l| l.contains("Prepare")))
            .expect("a transaction that prepares");
        let text = tree.join("\n");
        let at = |what: &str| {
            tree.iter()
                .position(|l| l.contains(what))
                .unwrap_or_else(|| panic!("{what} in\n{text}"))
        };
        assert!(tree[0].contains("client → tm") && tree[0].contains("Request"));
        assert!(at("Prepare") < at("Vote(yes)"), "{text}");
        assert!(at("Vote(yes)") < at("Decision(Commit)"), "{text}");
        // A vote is the child of the prepare it answers: one level deeper.
        let indent = |i: usize| tree[i].len() - tree[i].trim_start().len();
        assert_eq!(indent(at("Vote(yes)")), indent(at("Prepare")) + 2, "{text}");
    }

    #[test]
    fn otlp_has_the_required_fields() {
        let (names, spans) = happy();
        let doc = otlp(&spans, &names);
        let mut count = 0;
        for rs in doc["resourceSpans"].as_array().expect("resourceSpans") {
            let service = &rs["resource"]["attributes"][0];
            assert_eq!(service["key"], "service.name");
            assert!(names.contains(
                &service["value"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_string()
            ));
            for s in rs["scopeSpans"][0]["spans"].as_array().expect("spans") {
                count += 1;
                let hex = |k: &str, n: usize| {
                    let v = s[k].as_str().unwrap_or_else(|| panic!("{k} in {s}"));
                    assert!(
                        v.len() == n && v.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{s}"
                    );
                    assert!(v.bytes().any(|b| b != b'0'), "{k} is not all zeros: {s}");
                };
                hex("traceId", 32);
                hex("spanId", 16);
                let start: u128 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                let end: u128 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
                assert!(start <= end);
                assert!(s["name"].as_str().is_some_and(|n| !n.is_empty()));
            }
        }
        assert_eq!(count, spans.len());
    }
}
