//! `--trace FILE`: every event of a run as one JSON object per line.
//!
//! Lines have `t_us` (virtual time), `kind` and the fields of that kind; messages,
//! timers and observations are written with their Rust debug form under `msg`,
//! `timer` and `obs` (node sets inside them print as node indices), and a message or
//! observation about a transaction has its id under `txn` (from the protocol's
//! [`Node::msg_txn`] and the observation's own). Node fields hold
//! node names; `cut_start`/`cut_end` lines name the nodes whose messages to the `to`
//! nodes are dropped.

use crate::engine::{TraceEvent, TraceSink};
use crate::faults::FaultAction;
use crate::network::Fate;
use crate::node::{Node, NodeId};
use serde_json::json;
use std::io::Write;

pub struct JsonLines {
    out: std::io::BufWriter<Box<dyn Write>>,
    names: Vec<String>,
    failed: bool,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write>, names: Vec<String>) -> Self {
        JsonLines {
            out: std::io::BufWriter::new(out),
            names,
            failed: false,
        }
    }

    fn name(&self, n: NodeId) -> &str {
        self.names.get(n.index()).map_or("?", String::as_str)
    }
}

/// A message's line with its transaction (`txn`), when the protocol names one
/// ([`Node::msg_txn`]).
fn with_txn(mut line: serde_json::Value, txn: Option<crate::node::TxnId>) -> serde_json::Value {
    if let (Some(t), Some(map)) = (txn, line.as_object_mut()) {
        map.insert("txn".into(), t.into());
    }
    line
}

impl<N: Node> TraceSink<N> for JsonLines {
    fn record(&mut self, at_us: u64, event: TraceEvent<'_, N>) {
        if self.failed {
            return;
        }
        let v = match event {
            TraceEvent::Send {
                from,
                to,
                msg,
                fate,
            } => {
                let (fate, delay) = match fate {
                    Fate::Dropped(r) => (format!("dropped: {}", r.as_str()), None),
                    Fate::Delivered {
                        delay_us,
                        duplicate_delay_us,
                    } => (
                        if duplicate_delay_us.is_some() {
                            "delivered twice".to_string()
                        } else {
                            "delivered".to_string()
                        },
                        Some(delay_us),
                    ),
                };
                with_txn(
                    json!({"t_us": at_us, "kind": "send", "from": self.name(from), "to": self.name(to), "msg": format!("{msg:?}"), "fate": fate, "delay_us": delay}),
                    N::msg_txn(msg),
                )
            }
            TraceEvent::Deliver { from, to, msg } => with_txn(
                json!({"t_us": at_us, "kind": "deliver", "from": self.name(from), "to": self.name(to), "msg": format!("{msg:?}")}),
                N::msg_txn(msg),
            ),
            TraceEvent::Lost {
                from,
                to,
                msg,
                reason,
            } => with_txn(
                json!({"t_us": at_us, "kind": "lost", "from": self.name(from), "to": self.name(to), "msg": format!("{msg:?}"), "reason": reason.as_str()}),
                N::msg_txn(msg),
            ),
            TraceEvent::Timer { node, timer } => {
                json!({"t_us": at_us, "kind": "timer", "node": self.name(node), "timer": format!("{timer:?}")})
            }
            TraceEvent::Fault(a) => match a {
                FaultAction::Crash(n) => {
                    json!({"t_us": at_us, "kind": "crash", "node": self.name(*n)})
                }
                FaultAction::Restart(n) => {
                    json!({"t_us": at_us, "kind": "restart", "node": self.name(*n)})
                }
                // The engine reports cuts as `TraceEvent::Cut` (with their nodes); a
                // sink fed by other means still writes the documented kinds.
                FaultAction::CutStart(c) => json!({"t_us": at_us, "kind": "cut_start", "cut": c}),
                FaultAction::CutEnd(c) => json!({"t_us": at_us, "kind": "cut_end", "cut": c}),
                FaultAction::ClockStep { node, step_us } => {
                    json!({"t_us": at_us, "kind": "clock_step", "node": self.name(*node), "step_us": step_us})
                }
            },
            TraceEvent::Cut { index, cut, active } => {
                let names = |set: crate::node::NodeSet| {
                    set.iter()
                        .map(|n| self.name(n).to_string())
                        .collect::<Vec<_>>()
                };
                json!({"t_us": at_us, "kind": if active { "cut_start" } else { "cut_end" }, "cut": index, "from": names(cut.from), "to": names(cut.to)})
            }
            TraceEvent::Observe { node, obs } => {
                json!({"t_us": at_us, "kind": "observe", "node": self.name(node), "obs": format!("{obs:?}"), "txn": obs.txn()})
            }
            TraceEvent::Persist { node, writes } => {
                json!({"t_us": at_us, "kind": "persist", "node": self.name(node), "writes": writes})
            }
        };
        if writeln!(self.out, "{v}").is_err() {
            self.failed = true;
        }
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
