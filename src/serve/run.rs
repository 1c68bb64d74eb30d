//! `POST /api/run`: one scenario (as RON text), optionally with another seed, another
//! protocol and faults added, run as `acidbase run` runs it; the answer holds the
//! report's JSON, the story, the digest, the edited scenario as RON (it replays to the
//! same digest), the trace's events and the bars the diagram draws.
//!
//! Every number comes from the library: the scenario is parsed and validated by the
//! [`Registry`], run by [`crate::run::Validated`], reported by its
//! [`crate::report::Report`], its events read from the engine's trace lines
//! ([`crate::engine::trace`]), its bars from [`crate::tools::diagram::bars`], its fault
//! windows from [`crate::run::fault_plan`]. Faults are added as scenario fields
//! (`faults.crashes`, `faults.partitions`, `faults.messages`) and validated again.

use super::ApiError;
use crate::report::Report;
use crate::run::{fault_plan, size_estimate, Registry, RunOptions, Validated};
use crate::scenario::{
    to_ron, CrashSpec, MessageFateSpec, MessageFaultSpec, PartitionSpec, Scenario, ScenarioError,
};
use crate::tools::diagram::{self, Bar};
use crate::tools::tracelog::{self, short};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

/// What the server allows one run (see `book/src/serve.md`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// The most events one run may process: a scenario's `max_events` above it is
    /// lowered to it, and a scenario whose estimated size is above it is refused.
    pub max_events: u64,
    /// The most trace events an answer carries; the rest are counted, not sent.
    pub max_shown_events: usize,
    /// The largest request body accepted (bytes).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 2_000_000,
            max_shown_events: 20_000,
            max_body_bytes: 1 << 20,
        }
    }
}

/// The body of `POST /api/run`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The scenario, as RON text.
    #[serde(default)]
    pub scenario: Option<String>,
    /// The scenario's name when its text has none (as `acidbase run NAME.ron` takes
    /// it from the file name); default `scenario`.
    #[serde(default)]
    pub name: Option<String>,
    /// The root seed (default: the scenario's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Run under this protocol instead (as `acidbase run --protocol`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Faults to add, in order.
    #[serde(default)]
    pub faults: Vec<FaultRequest>,
    /// A file written by `acidbase shrink` or `run --export-schedule` (a whole
    /// scenario with every fault scripted), run instead of `scenario`.
    #[serde(default)]
    pub counterexample: Option<String>,
}

/// A fault to add to the scenario.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultRequest {
    /// `node` crashes at `at_ms` and restarts at `restart_ms` (`null`: stays down).
    Crash {
        node: String,
        at_ms: f64,
        #[serde(default)]
        restart_ms: Option<f64>,
    },
    /// The groups are cut off from each other from `from_ms` to `to_ms` (one group:
    /// cut off from every other node).
    Partition {
        groups: Vec<Vec<String>>,
        from_ms: f64,
        to_ms: f64,
    },
    /// One message is lost.
    Lose(MessageRef),
    /// One message is held back: delivered `extra_ms` later than it was, or after a
    /// whole one-way delay of `delay_ms`.
    Delay(MessageRef),
}

/// Which message: `send` (the K-th send of the run with the faults listed before
/// this one, as the answer's events number them, from 1), or its link and count
/// (`from`, `to`, `nth`: the nth message `from` sent to `to`, as the scenario's
/// `faults.messages` name it). `extra_ms` or `delay_ms` for a delay.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<f64>,
}

/// One fault window of the run, as the engine plays it ([`fault_plan`]: scripted and
/// random alike), or one scripted message fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultWindow {
    Crash {
        node: String,
        from_us: u64,
        /// `None`: never restarts.
        to_us: Option<u64>,
    },
    /// Messages from any of `cuts[i].from` to any of `cuts[i].to` are dropped.
    Partition {
        cuts: Vec<CutNames>,
        from_us: u64,
        to_us: u64,
    },
    /// A scripted message fate (`lose`, `delay`, `duplicate`); `send` numbers it in
    /// this run's events when the run sent it.
    Message {
        fate: String,
        from: String,
        to: String,
        nth: u64,
        send: Option<u64>,
        delay_ms: Option<f64>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CutNames {
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// What the server did about its limits for this run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunLimits {
    /// The server's limits.
    #[serde(flatten)]
    pub limits: Limits,
    /// The scenario's own `max_events`, and what the run had (lowered to the limit).
    pub scenario_max_events: u64,
    pub run_max_events: u64,
    /// Trace events in the run, and in this answer.
    pub events_total: u64,
    pub events_shown: usize,
    /// What the server cut, in words (empty when nothing).
    pub notes: Vec<String>,
}

/// The answer of `POST /api/run`.
#[derive(Debug, Serialize)]
pub struct RunResponse {
    pub digest: String,
    pub seed: u64,
    pub protocol: String,
    /// Exactly the JSON `acidbase run FILE --format json` prints for `scenario_ron`.
    pub report: Report,
    /// The story `acidbase run` tells, one line per paragraph.
    pub story: String,
    /// The scenario as run (faults added, seed and protocol set): `acidbase run` on
    /// this text replays the run to the same digest.
    pub scenario_ron: String,
    pub nodes: Vec<String>,
    /// The trace's lines (format 2), each with `i` (from 0), text renderings
    /// (`text`, `label`), and for messages `send` (from 1) and, on sends, `nth`.
    pub events: Vec<Value>,
    /// Lock-hold and down bars ([`diagram::bars`]) of the events shown.
    pub spans: Vec<Bar>,
    pub faults: Vec<FaultWindow>,
    /// The faults of the request as added, each message named by link and count: a
    /// request with these (and the same scenario) runs the same run.
    pub applied_faults: Vec<FaultRequest>,
    /// The events were cut at `limits.max_shown_events`.
    pub truncated: bool,
    pub limits: RunLimits,
}

/// Which send a [`Capture`] looks for.
#[derive(Clone, Debug, PartialEq)]
enum Find {
    /// The K-th send of the run (from 1).
    Send(u64),
    /// The nth send on the link from → to.
    Link(String, String, u64),
}

/// A trace sink that keeps the first `keep` lines (after the header) and counts
/// the rest; with `find`, it also keeps that send's line and its number on its link.
#[derive(Default)]
struct Capture {
    keep: usize,
    header: Option<String>,
    lines: Vec<String>,
    total: u64,
    sends: u64,
    find: Option<Find>,
    per_link: BTreeMap<(String, String), u64>,
    found: Option<(String, u64)>,
    partial: Vec<u8>,
}

impl Capture {
    fn line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line).into_owned();
        if self.header.is_none() && self.total == 0 && kind_of(&text) == Some("trace_format") {
            self.header = Some(text);
            return;
        }
        self.total += 1;
        if kind_of(&text) == Some("send") {
            self.sends += 1;
            if let Some(find) = &self.find {
                if self.found.is_none() {
                    let link = (field(&text, "from"), field(&text, "to"));
                    let nth = self.per_link.entry(link.clone()).or_insert(0);
                    *nth += 1;
                    let hit = match find {
                        Find::Send(k) => *k == self.sends,
                        Find::Link(f, t, n) => *f == link.0 && *t == link.1 && *n == *nth,
                    };
                    if hit {
                        self.found = Some((text.clone(), *nth));
                    }
                }
            }
        }
        if self.lines.len() < self.keep {
            self.lines.push(text);
        }
    }
}

/// A line's `kind`, which the engine writes right after `t_us`.
fn kind_of(line: &str) -> Option<&str> {
    let rest = &line[line.find(",\"kind\":\"")? + 9..];
    Some(&rest[..rest.find('"')?])
}

/// The first string field `key` of a send line (`from`, `to`: node names, which
/// the engine writes before the message).
fn field(line: &str, key: &str) -> String {
    let pat = format!(",\"{key}\":");
    let Some(at) = line.find(&pat) else {
        return String::new();
    };
    let rest = &line[at + pat.len()..];
    serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default()
}

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Capture>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut c = self.0.borrow_mut();
        c.partial.extend_from_slice(data);
        let buf = std::mem::take(&mut c.partial);
        let mut start = 0;
        while let Some(n) = buf[start..].iter().position(|&b| b == b'\n') {
            c.line(&buf[start..start + n]);
            start += n + 1;
        }
        c.partial = buf[start..].to_vec();
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `v` with `seed`, capturing its trace.
fn run_captured(
    v: &Validated,
    seed: u64,
    keep: usize,
    find: Option<Find>,
) -> (crate::run::Outcome, Capture) {
    let sink = Sink(Rc::new(RefCell::new(Capture {
        keep,
        find,
        ..Capture::default()
    })));
    let opts = RunOptions {
        trace: Some(Box::new(sink.clone())),
        record_fates: false,
    };
    let outcome = v.run_with(seed, opts);
    let capture = sink.0.take();
    (outcome, capture)
}

fn located(e: &ScenarioError, prefix: &str) -> ApiError {
    let mut a = ApiError::bad(format!("{prefix}{}", e.message));
    if e.line > 0 {
        a.line = Some(e.line);
        a.column = Some(e.col);
    }
    a
}

/// The file name errors name (and whose stem names a scenario without a `name`).
fn file_name(req: &RunRequest) -> String {
    let name = req
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("scenario");
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.ron", name.trim_end_matches(".ron"))
}

/// The message a [`MessageRef`] names, found in a run of `current`: (from, to, nth,
/// the send's one-way delay in µs if it was delivered).
fn find_message(
    current: &Validated,
    seed: u64,
    m: &MessageRef,
    limits: &Limits,
) -> Result<(String, String, u64, Option<u64>), String> {
    let find = match (m.send, &m.from, &m.to, m.nth) {
        (Some(0), None, None, None) => return Err("send: sends are numbered from 1".into()),
        (Some(k), None, None, None) => Find::Send(k),
        (None, Some(from), Some(to), Some(nth)) => {
            let names = current
                .protocol()
                .node_names(current.scenario())
                .map_err(|e| e.to_string())?;
            for n in [from, to] {
                if !names.contains(n) {
                    return Err(format!(
                        "no node named {n:?}; this world's nodes are: {}",
                        names.join(", ")
                    ));
                }
            }
            if nth == 0 {
                return Err("nth: messages on a link are counted from 1".into());
            }
            if m.extra_ms.is_none() {
                // Named in full and nothing to measure: no run needed.
                return Ok((from.clone(), to.clone(), nth, None));
            }
            Find::Link(from.clone(), to.clone(), nth)
        }
        _ => return Err("name the message by `send` alone, or by `from`, `to` and `nth`".into()),
    };
    check_cost(current.scenario(), limits).map_err(|e| e.error)?;
    let (_, c) = run_captured(current, seed, 0, Some(find.clone()));
    let Some((line, nth)) = c.found else {
        return Err(match find {
            Find::Send(k) => format!("send {k}: the run has only {} message sends", c.sends),
            Find::Link(f, t, n) => format!(
                "{f} sent {t} fewer than {n} messages in this run ({})",
                c.per_link
                    .get(&(f.clone(), t.clone()))
                    .copied()
                    .unwrap_or(0)
            ),
        });
    };
    let v: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok((
        s("from"),
        s("to"),
        nth,
        v.get("delay_us").and_then(Value::as_u64),
    ))
}

/// Refuses a scenario whose run would exceed the event limit (its own `max_events`,
/// when lower, bounds it already).
fn check_cost(s: &Scenario, limits: &Limits) -> Result<(), ApiError> {
    let estimate = size_estimate(s);
    if s.max_events > limits.max_events && estimate.events > limits.max_events as f64 {
        return Err(ApiError {
            status: 422,
            error: format!(
                "this run is too large for the server: about {:.0} requests (~{:.1e} events), more than its limit of {} events (max_events); make the scenario smaller (duration_ms, clients.max_requests) or run it with `acidbase run`",
                estimate.requests, estimate.events, limits.max_events
            ),
            limit: Some("max_events"),
            ..ApiError::default()
        });
    }
    Ok(())
}

/// Adds one fault to `s`; `current` is `s` validated (to find a message in its run).
fn add_fault(
    s: &mut Scenario,
    current: &Validated,
    seed: u64,
    f: &FaultRequest,
    limits: &Limits,
) -> Result<FaultRequest, String> {
    match f {
        FaultRequest::Crash {
            node,
            at_ms,
            restart_ms,
        } => {
            s.faults.crashes.push(CrashSpec {
                node: node.clone(),
                at_ms: *at_ms,
                restart_ms: *restart_ms,
            });
            Ok(f.clone())
        }
        FaultRequest::Partition {
            groups,
            from_ms,
            to_ms,
        } => {
            s.faults.partitions.push(PartitionSpec {
                groups: groups.clone(),
                from_ms: *from_ms,
                to_ms: *to_ms,
            });
            Ok(f.clone())
        }
        FaultRequest::Lose(m) | FaultRequest::Delay(m) => {
            let lose = matches!(f, FaultRequest::Lose(_));
            match (lose, m.extra_ms.is_some(), m.delay_ms.is_some()) {
                (true, false, false) | (false, true, false) | (false, false, true) => {}
                (true, _, _) => return Err("lose takes no extra_ms or delay_ms".into()),
                (false, _, _) => return Err("delay takes extra_ms or delay_ms (one)".into()),
            }
            let (from, to, nth, delay_us) = find_message(current, seed, m, limits)?;
            let fate = if lose {
                MessageFateSpec::Lose
            } else if let Some(d) = m.delay_ms {
                MessageFateSpec::Delay { delay_ms: d }
            } else {
                let extra = m.extra_ms.unwrap_or(0.0);
                let Some(d) = delay_us else {
                    return Err(format!(
                        "the {nth}th message from {from} to {to} was not delivered: nothing to delay"
                    ));
                };
                MessageFateSpec::Delay {
                    delay_ms: crate::tools::schedule::us_to_ms(d) + extra,
                }
            };
            let delay_ms = match fate {
                MessageFateSpec::Delay { delay_ms } => Some(delay_ms),
                _ => None,
            };
            let spec = MessageFaultSpec {
                from: from.clone(),
                to: to.clone(),
                nth,
                fate,
            };
            // A message has one fate: a new one replaces a scripted one.
            s.faults
                .messages
                .retain(|x| !(x.from == spec.from && x.to == spec.to && x.nth == spec.nth));
            s.faults.messages.push(spec);
            let r = MessageRef {
                from: Some(from),
                to: Some(to),
                nth: Some(nth),
                delay_ms,
                ..MessageRef::default()
            };
            Ok(if lose {
                FaultRequest::Lose(r)
            } else {
                FaultRequest::Delay(r)
            })
        }
    }
}

fn fault_kind(f: &FaultRequest) -> &'static str {
    match f {
        FaultRequest::Crash { .. } => "crash",
        FaultRequest::Partition { .. } => "partition",
        FaultRequest::Lose(_) => "lose",
        FaultRequest::Delay(_) => "delay",
    }
}

/// `POST /api/run`.
pub fn run(
    registry: &Registry,
    req: &RunRequest,
    limits: &Limits,
) -> Result<RunResponse, ApiError> {
    let text = match (&req.scenario, &req.counterexample) {
        (Some(t), None) | (None, Some(t)) => t,
        (Some(_), Some(_)) => return Err(ApiError::bad(
            "give `scenario` or `counterexample`, not both (a counterexample is a whole scenario)",
        )),
        (None, None) => return Err(ApiError::bad("missing `scenario` (RON text)")),
    };
    let file = file_name(req);
    let mut v = registry.parse(text, &file).map_err(|e| located(&e, ""))?;
    if let Some(p) = &req.protocol {
        if registry.get(p).is_none() {
            return Err(ApiError::bad(format!(
                "protocol {p:?}: unknown protocol; expected one of: {}",
                registry.names().join(", ")
            )));
        }
        v = registry.with_protocol(&v, p).map_err(|e| located(&e, ""))?;
    }
    let seed = req.seed.unwrap_or(v.scenario().seed);
    let mut s = v.scenario().clone();
    let mut edited = s.seed != seed;
    s.seed = seed;
    let mut applied = Vec::new();
    for (i, f) in req.faults.iter().enumerate() {
        let what = format!("faults[{i}] ({}): ", fault_kind(f));
        let a = add_fault(&mut s, &v, seed, f, limits)
            .map_err(|m| ApiError::bad(format!("{what}{m}")))?;
        v = registry
            .validate_scenario(&s, &file)
            .map_err(|e| ApiError::bad(format!("{what}{}", e.message)))?;
        applied.push(a);
        edited = true;
    }
    check_cost(&s, limits)?;
    let scenario_max_events = s.max_events;
    let mut notes = Vec::new();
    if s.max_events > limits.max_events {
        s.max_events = limits.max_events;
        edited = true;
        notes.push(format!(
            "max_events lowered from {scenario_max_events} to the server's limit, {}",
            limits.max_events
        ));
    }
    if edited {
        v = registry
            .validate_scenario(&s, &file)
            .map_err(|e| ApiError::bad(e.message))?;
    }
    let (outcome, capture) = run_captured(&v, seed, limits.max_shown_events, None);
    let report = outcome.report;
    let names = outcome.names;
    if report.truncated {
        notes.push(format!(
            "the run hit max_events ({}) at {:.1} ms, before its end (truncated): nothing was judged at quiescence",
            s.max_events, report.sim_time_ms
        ));
    }
    let truncated = (capture.lines.len() as u64) < capture.total;
    if truncated {
        notes.push(format!(
            "only the first {} of the run's {} events are shown",
            capture.lines.len(),
            capture.total
        ));
    }
    let (events, links) = events(&capture.lines);
    let trace = tracelog::parse(&capture.lines.join("\n"));
    let spans = diagram::bars(&trace);
    let faults = windows(&s, seed, &names, &links);
    let header = format!(
        "Run in `acidbase serve`: scenario {}, protocol {}, seed {seed}, digest {}.\n`acidbase run FILE` replays this run to the same digest.",
        s.name, s.protocol, report.digest
    );
    let scenario_ron = to_ron(&s, &header);
    Ok(RunResponse {
        digest: report.digest.clone(),
        seed,
        protocol: s.protocol.clone(),
        story: report.story.join("\n"),
        report,
        scenario_ron,
        nodes: names,
        events,
        spans,
        faults,
        applied_faults: applied,
        truncated,
        limits: RunLimits {
            limits: limits.clone(),
            scenario_max_events,
            run_max_events: s.max_events,
            events_total: capture.total,
            events_shown: capture.lines.len(),
            notes,
        },
    })
}

/// The send number (in the events shown) of each message named by (from, to, nth).
type SendNumbers = BTreeMap<(String, String, u64), u64>;

/// The events as JSON: each trace line with `i`, `send`/`nth` numbering and its
/// text; and the send number of each (from, to, nth) shown.
fn events(lines: &[String]) -> (Vec<Value>, SendNumbers) {
    let mut out = Vec::with_capacity(lines.len());
    let mut by_span: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_link: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut links = BTreeMap::new();
    let mut sends = 0;
    for (i, line) in lines.iter().enumerate() {
        let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let kind = m
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let s = |m: &Map<String, Value>, k: &str| {
            m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
        };
        let span = s(&m, "span_id");
        if kind == "send" {
            sends += 1;
            let link = (s(&m, "from"), s(&m, "to"));
            let nth = per_link.entry(link.clone()).or_insert(0);
            *nth += 1;
            links.insert((link.0, link.1, *nth), sends);
            m.insert("send".into(), sends.into());
            m.insert("nth".into(), (*nth).into());
            if !span.is_empty() {
                by_span.insert(span, sends);
            }
        } else if (kind == "deliver" || kind == "lost") && !span.is_empty() {
            if let Some(k) = by_span.get(&span) {
                m.insert("send".into(), (*k).into());
            }
        }
        if let Some(what) = ["msg", "timer", "obs"].iter().find_map(|k| m.get(*k)) {
            let text = tracelog::render(what);
            m.insert("label".into(), short(&text).into());
            m.insert("text".into(), text.into());
        }
        m.insert("i".into(), i.into());
        out.push(Value::Object(m));
    }
    (out, links)
}

/// The run's fault windows ([`fault_plan`]) and scripted message faults.
fn windows(
    s: &Scenario,
    seed: u64,
    names: &[String],
    links: &SendNumbers,
) -> Vec<FaultWindow> {
    let plan = fault_plan(s, seed, names);
    let name = |n: crate::node::NodeId| names.get(n.index()).cloned().unwrap_or_default();
    let set = |set: crate::node::NodeSet| set.iter().map(name).collect::<Vec<_>>();
    let mut out: Vec<FaultWindow> = plan
        .crashes
        .iter()
        .map(|c| FaultWindow::Crash {
            node: name(c.node),
            from_us: c.at_us,
            to_us: c.restart_us,
        })
        .collect();
    out.extend(plan.partitions.iter().map(|w| {
        FaultWindow::Partition {
            cuts: w
                .cuts
                .iter()
                .map(|c| CutNames {
                    from: set(c.from),
                    to: set(c.to),
                })
                .collect(),
            from_us: w.from_us,
            to_us: w.to_us,
        }
    }));
    for m in &s.faults.messages {
        let (fate, delay_ms) = match m.fate {
            MessageFateSpec::Lose => ("lose", None),
            MessageFateSpec::Latency { .. } => continue,
            MessageFateSpec::Delay { delay_ms } => ("delay", Some(delay_ms)),
            MessageFateSpec::Duplicate { delay_ms, .. } => ("duplicate", Some(delay_ms)),
        };
        out.push(FaultWindow::Message {
            fate: fate.into(),
            from: m.from.clone(),
            to: m.to.clone(),
            nth: m.nth,
            send: links.get(&(m.from.clone(), m.to.clone(), m.nth)).copied(),
            delay_ms,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::parse;

    const CRASH: &str = include_str!("../../scenarios/2pc-coordinator-crash.ron");

    fn request(faults: Vec<FaultRequest>) -> RunRequest {
        RunRequest {
            scenario: Some(CRASH.into()),
            name: Some("2pc-coordinator-crash".into()),
            faults,
            ..RunRequest::default()
        }
    }

    fn ok(req: &RunRequest) -> RunResponse {
        run(&Registry::builtin(), req, &Limits::default()).expect("the run is served")
    }

    fn err(req: &RunRequest, limits: &Limits) -> ApiError {
        run(&Registry::builtin(), req, limits).expect_err("refused")
    }

    /// What `acidbase run` does with the text, in the library.
    fn direct(text: &str, file: &str) -> crate::run::Outcome {
        let v = parse(text, file).expect("valid");
        let seed = v.scenario.seed;
        v.run(seed, None)
    }

    #[test]
    fn a_served_run_is_the_run_of_acidbase_run_and_its_ron_replays_it() {
        let r = ok(&request(vec![]));
        let d = direct(CRASH, "2pc-coordinator-crash.ron");
        assert_eq!(r.digest, d.report.digest);
        assert_eq!(
            serde_json::to_value(&r.report).expect("json"),
            serde_json::to_value(&d.report).expect("json")
        );
        assert_eq!(r.story, d.report.story.join("\n"));
        assert_eq!(r.nodes, d.names);
        let replay = direct(&r.scenario_ron, "replay.ron");
        assert_eq!(replay.report.digest, r.digest);
        assert_eq!(replay.report.scenario, "2pc-coordinator-crash");
        // The bars the diagram draws: each RM holds its locks from its vote (10 ms)
        // past the TM's restart (900 ms).
        let locks: Vec<&Bar> = r
            .spans
            .iter()
            .filter(|b| b.kind == diagram::BarKind::Lock && b.txn == Some(0))
            .collect();
        assert_eq!(locks.len(), 3);
        assert!(locks
            .iter()
            .all(|b| b.from_us == 10_000 && b.to_us.is_some_and(|t| t > 900_000)));
        assert!(r.spans.iter().any(|b| b.kind == diagram::BarKind::Down
            && b.node == "tm"
            && b.from_us == 15_000
            && b.to_us == Some(900_000)));
        assert_eq!(
            r.faults,
            vec![FaultWindow::Crash {
                node: "tm".into(),
                from_us: 15_000,
                to_us: Some(900_000)
            }]
        );
    }

    #[test]
    fn events_number_sends_and_tie_deliveries_to_them() {
        let r = ok(&request(vec![]));
        assert_eq!(r.events.len() as u64, r.limits.events_total);
        assert!(r.events.iter().enumerate().all(|(i, e)| e["i"] == i));
        let sends: Vec<&Value> = r.events.iter().filter(|e| e["kind"] == "send").collect();
        assert_eq!(sends.len() as u64, r.report.network.sent);
        assert!(sends.iter().enumerate().all(|(k, e)| e["send"] == k + 1));
        let first = sends[0];
        assert_eq!(
            (&first["from"], &first["to"], &first["nth"], &first["label"]),
            (
                &Value::from("client"),
                &Value::from("tm"),
                &Value::from(1),
                &Value::from("Request")
            )
        );
        let delivered = r
            .events
            .iter()
            .find(|e| e["kind"] == "deliver")
            .expect("a delivery");
        assert_eq!(delivered["send"], 1);
        let lost = r.events.iter().filter(|e| e["kind"] == "lost").count() as u64;
        assert_eq!(lost, r.report.network.dropped);
    }

    #[test]
    fn a_crash_added_changes_the_counts_and_replays() {
        let plain = ok(&request(vec![]));
        let r = ok(&request(vec![FaultRequest::Crash {
            node: "rm1".into(),
            at_ms: 5.0,
            restart_ms: Some(600.0),
        }]));
        assert_ne!(r.digest, plain.digest);
        assert_ne!(r.report.locks.blocked, plain.report.locks.blocked);
        assert_eq!(direct(&r.scenario_ron, "x.ron").report.digest, r.digest);
        assert_eq!(r.faults.len(), 2);
    }

    #[test]
    fn losing_a_send_loses_that_message_and_names_it_by_link() {
        let plain = ok(&request(vec![]));
        // Send 4 is the TM's Prepare to rm3.
        let r = ok(&request(vec![FaultRequest::Lose(MessageRef {
            send: Some(4),
            ..MessageRef::default()
        })]));
        let named = MessageRef {
            from: Some("tm".into()),
            to: Some("rm3".into()),
            nth: Some(1),
            ..MessageRef::default()
        };
        assert_eq!(r.applied_faults, vec![FaultRequest::Lose(named.clone())]);
        assert_ne!(r.digest, plain.digest);
        let fourth = r
            .events
            .iter()
            .find(|e| e["send"] == 4 && e["kind"] == "send");
        assert!(
            fourth.is_some_and(|e| e["fate"] == "dropped: loss"),
            "{fourth:?}"
        );
        assert_eq!(direct(&r.scenario_ron, "x.ron").report.digest, r.digest);
        // Named by link, the same run.
        let again = ok(&request(vec![FaultRequest::Lose(named)]));
        assert_eq!(again.digest, r.digest);
    }

    #[test]
    fn a_delay_holds_a_message_back_by_extra_ms() {
        let r = ok(&request(vec![FaultRequest::Delay(MessageRef {
            send: Some(2),
            extra_ms: Some(50.0),
            ..MessageRef::default()
        })]));
        let send = r
            .events
            .iter()
            .find(|e| e["kind"] == "send" && e["send"] == 2)
            .expect("send 2");
        assert_eq!(send["delay_us"], 55_000);
        assert_eq!(direct(&r.scenario_ron, "x.ron").report.digest, r.digest);
    }

    #[test]
    fn a_counterexample_runs_as_exported_to_its_digest() {
        let src = include_str!("../../scenarios/2pc-unsafe-random-faults.ron");
        let v = parse(src, "2pc-unsafe-random-faults.ron").expect("valid");
        let (outcome, exported) = crate::tools::schedule::run_and_export(&v, 7);
        let r = ok(&RunRequest {
            counterexample: Some(to_ron(&exported, "exported")),
            ..RunRequest::default()
        });
        assert_eq!(r.digest, outcome.report.digest);
        assert_eq!(r.seed, 7);
    }

    #[test]
    fn another_seed_and_protocol_are_those_of_run_seed_and_protocol() {
        let mut req = request(vec![]);
        req.seed = Some(5);
        req.protocol = Some("3pc".into());
        let r = ok(&req);
        let v = parse(CRASH, "2pc-coordinator-crash.ron").expect("valid");
        let v = Registry::builtin()
            .with_protocol(&v, "3pc")
            .expect("3pc takes it");
        assert_eq!(r.digest, v.run(5, None).report.digest);
        assert_eq!((r.seed, r.protocol.as_str()), (5, "3pc"));
        assert_eq!(direct(&r.scenario_ron, "x.ron").report.digest, r.digest);
    }

    #[test]
    fn bad_scenarios_and_faults_are_400_with_a_place_or_a_reason() {
        let l = Limits::default();
        let text = "(\n  rms: \"three\",\n)";
        let e = err(
            &RunRequest {
                scenario: Some(text.into()),
                ..RunRequest::default()
            },
            &l,
        );
        let want = parse(text, "scenario.ron").expect_err("invalid");
        assert_eq!(want.line, 2);
        assert_eq!(
            (e.status, e.line, e.column, e.error.as_str()),
            (400, Some(want.line), Some(want.col), want.message.as_str())
        );
        let unknown_node = err(
            &request(vec![FaultRequest::Crash {
                node: "rm9".into(),
                at_ms: 1.0,
                restart_ms: None,
            }]),
            &l,
        );
        assert_eq!(unknown_node.status, 400);
        assert!(unknown_node.error.starts_with("faults[0] (crash)"));
        assert!(unknown_node.error.contains("rm9"), "{}", unknown_node.error);
        let far = err(
            &request(vec![FaultRequest::Lose(MessageRef {
                send: Some(1_000_000),
                ..MessageRef::default()
            })]),
            &l,
        );
        assert!(
            far.error.contains("only 363 message sends"),
            "{}",
            far.error
        );
        let mut bad_protocol = request(vec![]);
        bad_protocol.protocol = Some("4pc".into());
        assert!(err(&bad_protocol, &l).error.contains("unknown protocol"));
        let both = RunRequest {
            counterexample: Some("()".into()),
            ..request(vec![])
        };
        assert_eq!(err(&both, &l).status, 400);
        assert_eq!(err(&RunRequest::default(), &l).status, 400);
        let half_named = err(
            &request(vec![FaultRequest::Lose(MessageRef {
                from: Some("tm".into()),
                ..MessageRef::default()
            })]),
            &l,
        );
        assert!(half_named.error.contains("`from`, `to` and `nth`"));
    }

    #[test]
    fn a_run_too_large_is_refused_and_one_that_runs_over_is_cut() {
        // The scenario implies ~540 events (27 requests); the run takes 1268.
        let small = Limits {
            max_events: 100,
            ..Limits::default()
        };
        let e = err(&request(vec![]), &small);
        assert_eq!((e.status, e.limit), (422, Some("max_events")));
        assert!(e.error.contains("limit of 100 events"), "{}", e.error);
        // One request, then the TM is down for good: the RMs ask for the outcome
        // every 100 ms for 100 s, far more events than the one request implies.
        let long = RunRequest {
            scenario: Some(
                "(duration_ms: 100000, clients: (load: Closed(sessions: 1, think_ms: 5), max_requests: 1), network: (latency: Constant(ms: 5)), faults: (crashes: [(node: \"tm\", at_ms: 15)]))".into(),
            ),
            ..RunRequest::default()
        };
        let cut = Limits {
            max_events: 1000,
            max_shown_events: 10,
            ..Limits::default()
        };
        let r = run(&Registry::builtin(), &long, &cut).expect("cut, not refused");
        assert!(r.report.truncated);
        assert_eq!(r.limits.run_max_events, 1000);
        assert_eq!(r.limits.scenario_max_events, 50_000_000);
        assert!(r.truncated);
        assert_eq!((r.events.len(), r.limits.events_shown), (10, 10));
        assert!(r.limits.notes.iter().any(|n| n.contains("hit max_events")));
        assert_eq!(direct(&r.scenario_ron, "x.ron").report.digest, r.digest);
    }
}
