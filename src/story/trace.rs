//! A run's events told in order: the faults, and what happened to the transactions a
//! reader follows.
//!
//! Two narratives share it: `acidbase shrink`'s counterexample, read from the trace's
//! JSON lines (`tools::tracelog`), and the harness's failing run (`testing::Run`),
//! from its typed events. Each turns its events into [`Moment`]s; [`tell`] then picks
//! those that concern the followed transactions ([`Focus`]), in order, and words
//! them in the caller's [`Voice`]. What a moment is, which moments a story follows,
//! and the folding of one message sent to several nodes, of a symmetric partition
//! and of repeats are written once here; the words stay two, because each is read
//! as it stands (the book quotes the counterexample's; users' tests and logs hold the
//! harness's).

use crate::checkers::Results;
use crate::node::NodeId;
use crate::observe::Observation;
use crate::report::Report;

/// One event of a run, as a story tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    pub t_us: u64,
    /// The transactions it concerns: none for a fault or a message that names none.
    pub txns: Vec<u64>,
    pub what: Happening,
}

/// What happened at a [`Moment`]. Messages and observations are their debug text.
#[derive(Clone, Debug, PartialEq)]
pub enum Happening {
    Crashed {
        node: String,
    },
    Restarted {
        node: String,
    },
    /// Messages from `from` to `to` began (`active`) or stopped being dropped.
    Cut {
        from: Vec<String>,
        to: Vec<String>,
        active: bool,
    },
    /// A message sent, and its fate (`delivered`, `dropped: loss`, ...).
    Sent {
        from: String,
        to: String,
        msg: String,
        fate: String,
    },
    /// A message the network lost, and why.
    Lost {
        from: String,
        to: String,
        msg: String,
        why: String,
    },
    /// A node observed `fact` (`obs`: the observation in full).
    Observed {
        node: String,
        fact: Fact,
        obs: String,
    },
    /// Anything no story tells (a delivery, a timer, a durable write): it still
    /// parts the sends on either side.
    Other,
}

/// What an observation says, in the words a story needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    Begun {
        participants: Vec<String>,
    },
    VotedYes,
    Decided {
        outcome: String,
    },
    /// Applied or resolved; `in_doubt_us` when it reports a wait in doubt.
    Applied {
        outcome: String,
        in_doubt_us: Option<u64>,
    },
    Answered {
        outcome: String,
    },
    /// In doubt, it took an outcome of its own (the `Applied` that follows says which).
    DecidedAlone,
    Repair,
    Other,
}

impl Fact {
    /// The fact of a typed observation; `names` name the participants.
    pub fn of(obs: &Observation, names: &[String]) -> Fact {
        let outcome = |o: &crate::node::Outcome| format!("{o:?}");
        match obs {
            Observation::TxnBegun { participants, .. } => Fact::Begun {
                participants: participants
                    .iter()
                    .map(|n| names.get(n.index()).map_or("?", String::as_str).to_string())
                    .collect(),
            },
            Observation::Prepared { .. } => Fact::VotedYes,
            Observation::Decided { outcome: o, .. } => Fact::Decided {
                outcome: outcome(o),
            },
            Observation::Applied {
                outcome: o,
                in_doubt_us,
                ..
            } => Fact::Applied {
                outcome: outcome(o),
                in_doubt_us: Some(*in_doubt_us).filter(|&u| u > 0),
            },
            Observation::Resolved { outcome: o, .. } => Fact::Applied {
                outcome: outcome(o),
                in_doubt_us: None,
            },
            Observation::Answered { outcome: o, .. } => Fact::Answered {
                outcome: outcome(o),
            },
            Observation::DecidedAlone { .. } => Fact::DecidedAlone,
            Observation::Repair { .. } => Fact::Repair,
            _ => Fact::Other,
        }
    }

    /// The fact of an observation's debug text (as a trace writes it: node sets as
    /// node indices, which `names` name).
    pub fn read(text: &str, names: &[String]) -> Fact {
        let outcome = || outcome_of(&short(text)).to_string();
        if text.starts_with("TxnBegun") {
            Fact::Begun {
                participants: participants(text, names),
            }
        } else if text.starts_with("Prepared") {
            Fact::VotedYes
        } else if text.starts_with("DecidedAlone") {
            Fact::DecidedAlone
        } else if text.starts_with("Decided") {
            Fact::Decided { outcome: outcome() }
        } else if text.starts_with("Applied") || text.starts_with("Resolved") {
            Fact::Applied {
                outcome: outcome(),
                in_doubt_us: field_u64(text, "in_doubt_us").filter(|&u| u > 0),
            }
        } else if text.starts_with("Answered") {
            Fact::Answered { outcome: outcome() }
        } else if text.starts_with("Repair") {
            Fact::Repair
        } else {
            Fact::Other
        }
    }
}

/// A short form of a message or observation: its variant name, plus its outcome or
/// vote if it has one (`Decision(Commit)`, `Vote(yes)`).
pub fn short(text: &str) -> String {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    let mut tags = Vec::new();
    for (needle, tag) in [
        ("outcome: Commit", "Commit"),
        ("outcome: Abort", "Abort"),
        ("yes: true", "yes"),
        ("yes: false", "no"),
        ("status: Committed", "Committed"),
        ("status: Aborted", "Aborted"),
        ("status: InDoubt", "InDoubt"),
    ] {
        if text.contains(needle) {
            tags.push(tag);
        }
    }
    if tags.is_empty() {
        name
    } else {
        format!("{name}({})", tags.join(", "))
    }
}

/// `Commit` from `Decided(Commit)`.
fn outcome_of(short_name: &str) -> &str {
    short_name
        .split_once('(')
        .map_or("", |(_, rest)| rest.trim_end_matches(')'))
}

fn field_u64(text: &str, field: &str) -> Option<u64> {
    let needle = format!("{field}: ");
    let i = text.find(&needle)? + needle.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The participants in `participants: {1, 2}` (node indices, which `names` name: the
/// debug text) or `participants: [rm1, rm2]` (names: a structured trace's text).
fn participants(text: &str, names: &[String]) -> Vec<String> {
    let Some(i) = text.find("participants: ") else {
        return Vec::new();
    };
    let rest = &text[i + 14..];
    let close = match rest.chars().next() {
        Some('{') => '}',
        Some('[') => ']',
        _ => return Vec::new(),
    };
    let inner = &rest[1..rest.find(close).unwrap_or(1)];
    inner
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .filter_map(|x| match x.parse::<usize>() {
            Ok(i) => names.get(i).cloned(),
            Err(_) => Some(x.to_string()),
        })
        .collect()
}

/// Every transaction a message's debug text names as `txn: N`.
pub fn txns_named(msg: &str) -> Vec<u64> {
    msg.split("txn: ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Which moments a story follows: every fault, and what concerns `txns` (every
/// transaction when empty) — only transactions, or also (`untagged`) messages that
/// name none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Focus {
    pub txns: Vec<u64>,
    pub untagged: bool,
}

impl Focus {
    fn follows(&self, m: &Moment) -> bool {
        match m.what {
            Happening::Crashed { .. } | Happening::Restarted { .. } | Happening::Cut { .. } => true,
            Happening::Other => false,
            _ if m.txns.is_empty() => self.untagged,
            _ => self.txns.is_empty() || m.txns.iter().all(|t| self.txns.contains(t)),
        }
    }
}

/// Whose words a story is told in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voice {
    /// `acidbase shrink`'s counterexample: `t=12.0 ms   ...` in the past tense; a
    /// message to several nodes at once told once, with where it was lost; repeats
    /// folded (`×3`); a symmetric partition told once; a crash with the node's last
    /// message; messages by their short form.
    Counterexample,
    /// The harness's failing run: `  [  12.000 ms] ...` in the present tense; each cut
    /// and each lost message on its own line, messages in full; sends not told.
    Harness,
}

/// One line of a story being told, with what folds repeats into it.
struct Line {
    text: String,
    key: Option<String>,
    count: u32,
    last_us: u64,
}

/// `moments` told in order in `voice`, as far as `focus` follows them: one string
/// per line.
pub fn tell(moments: &[Moment], focus: &Focus, voice: Voice) -> Vec<String> {
    let mut lines: Vec<Line> = Vec::new();
    let mut push = |t_us: u64, text: String, key: Option<String>| {
        if let Some(line) = key
            .as_ref()
            .and_then(|k| lines.iter_mut().find(|l| l.key.as_ref() == Some(k)))
        {
            line.count += 1;
            line.last_us = t_us;
            return;
        }
        let text = match voice {
            Voice::Counterexample => format!("t={:<9} {text}", ms(t_us)),
            Voice::Harness => format!("  [{:>8.3} ms] {text}", t_us as f64 / 1000.0),
        };
        lines.push(Line {
            text,
            key,
            count: 1,
            last_us: t_us,
        });
    };
    // Each node's last message told (what, to whom), for the story of its crash.
    let mut last_sent: Vec<(&str, String, String)> = Vec::new();
    let mut i = 0;
    while i < moments.len() {
        let m = &moments[i];
        if !focus.follows(m) {
            i += 1;
            continue;
        }
        let txn = m.txns.first().copied().unwrap_or(0);
        match (&m.what, voice) {
            (Happening::Crashed { node }, Voice::Counterexample) => {
                let after = last_sent
                    .iter()
                    .find(|(n, what, _)| n == node && !what.is_empty())
                    .map_or_else(String::new, |(_, what, to)| {
                        format!(" (its last message was {what} to {to})")
                    });
                push(m.t_us, format!("{node} crashed{after}"), None);
            }
            (Happening::Crashed { node }, Voice::Harness) => {
                push(m.t_us, format!("{node} crashes"), None);
            }
            (Happening::Restarted { node }, Voice::Counterexample) => push(
                m.t_us,
                format!("{node} restarted and recovered from its log"),
                None,
            ),
            (Happening::Restarted { node }, Voice::Harness) => {
                push(m.t_us, format!("{node} restarts and recovers"), None);
            }
            (Happening::Cut { from, to, active }, Voice::Counterexample) => {
                // A symmetric partition is two cuts at the same time: tell it once.
                let mirrored = moments.get(i + 1).is_some_and(|n| {
                    n.t_us == m.t_us
                        && matches!(&n.what, Happening::Cut { from: f, to: t, active: a }
                            if a == active && f == to && t == from)
                });
                let (a, b) = (from.join(", "), to.join(", "));
                let text = match (active, mirrored) {
                    (true, true) => format!("network partition: {{{a}}} | {{{b}}}"),
                    (true, false) => format!("messages from {{{a}}} to {{{b}}} are dropped"),
                    (false, true) => format!("partition {{{a}}} | {{{b}}} healed"),
                    (false, false) => format!("messages from {{{a}}} to {{{b}}} flow again"),
                };
                push(m.t_us, text, None);
                if mirrored {
                    i += 1;
                }
            }
            (Happening::Cut { from, to, active }, Voice::Harness) => push(
                m.t_us,
                format!(
                    "{} {{{}}} → {{{}}}",
                    if *active {
                        "messages are cut"
                    } else {
                        "the cut heals"
                    },
                    from.join(", "),
                    to.join(", ")
                ),
                None,
            ),
            (Happening::Sent { from, msg, .. }, Voice::Counterexample) => {
                // Fold the sends of one message to several nodes at one instant.
                let what = short(msg);
                let mut group = vec![m];
                while let Some(n) = moments.get(i + 1) {
                    match &n.what {
                        Happening::Sent {
                            from: f, msg: g, ..
                        } if n.t_us == m.t_us
                            && f == from
                            && short(g) == what
                            && n.txns == m.txns =>
                        {
                            group.push(n);
                            i += 1;
                        }
                        _ => break,
                    }
                }
                let mut to: Vec<&str> = Vec::new();
                let mut dropped: Vec<String> = Vec::new();
                for g in &group {
                    if let Happening::Sent { to: t, fate, .. } = &g.what {
                        to.push(t);
                        if fate.starts_with("dropped") {
                            dropped.push(format!("{t} ({})", fate.trim_start_matches("dropped: ")));
                        }
                    }
                }
                let to = to.join(", ");
                match last_sent.iter_mut().find(|(n, _, _)| n == from) {
                    Some(last) => (last.1, last.2) = (what.clone(), to.clone()),
                    None => last_sent.push((from, what.clone(), to.clone())),
                }
                let mut text = format!("{from} sent {what} for txn {txn} to {to}");
                if !dropped.is_empty() {
                    text.push_str(&format!("; lost on the way to {}", dropped.join(", ")));
                }
                let key = format!("send {from} {what} {txn} {to} {dropped:?}");
                push(m.t_us, text, Some(key));
            }
            (Happening::Sent { .. }, Voice::Harness) => {}
            (Happening::Lost { from, to, msg, why }, Voice::Counterexample) => {
                let what = short(msg);
                let key = format!("lost {from} {to} {what}");
                let text = format!("{from}'s {what} for txn {txn} to {to} was lost: {why}");
                push(m.t_us, text, Some(key));
            }
            (Happening::Lost { from, to, msg, why }, Voice::Harness) => {
                push(
                    m.t_us,
                    format!("{from} → {to}: {msg} is lost ({why})"),
                    None,
                );
            }
            (Happening::Observed { node, fact, obs }, voice) => {
                if let Some(text) = observed(node, txn, fact, obs, voice) {
                    push(m.t_us, text, None);
                }
            }
            (Happening::Other, _) => {}
        }
        i += 1;
    }
    lines
        .into_iter()
        .map(|l| {
            if l.count > 1 {
                format!("{} (×{}, the last at {})", l.text, l.count, ms(l.last_us))
            } else {
                l.text
            }
        })
        .collect()
}

/// An observation in `voice` (the counterexample leaves out what it does not know).
fn observed(node: &str, txn: u64, fact: &Fact, obs: &str, voice: Voice) -> Option<String> {
    Some(match (fact, voice) {
        (Fact::Begun { participants }, Voice::Counterexample) => {
            format!("{node} began txn {txn} over {}", participants.join(", "))
        }
        (Fact::Begun { participants }, Voice::Harness) => {
            format!(
                "{node} begins txn {txn} over {{{}}}",
                participants.join(", ")
            )
        }
        (Fact::VotedYes, Voice::Counterexample) => {
            format!("{node} voted yes on txn {txn}: it is in doubt and holds its locks")
        }
        (Fact::VotedYes, Voice::Harness) => format!("{node} votes yes on txn {txn}: in doubt"),
        (Fact::Decided { outcome }, Voice::Counterexample) => {
            format!("{node} decided {outcome} for txn {txn}")
        }
        (Fact::Decided { outcome }, Voice::Harness) => {
            format!("{node} decides {outcome} for txn {txn}")
        }
        (
            Fact::Applied {
                outcome,
                in_doubt_us,
            },
            Voice::Counterexample,
        ) => format!(
            "{node} applied {outcome} for txn {txn}{}",
            in_doubt_us.map_or_else(String::new, |u| format!(" after {} in doubt", ms(u)))
        ),
        (Fact::Applied { outcome, .. }, Voice::Harness) => {
            format!("{node} applies {outcome} for txn {txn}")
        }
        (Fact::Answered { outcome }, Voice::Counterexample) => {
            format!("{node} was told {outcome} for txn {txn}")
        }
        (Fact::DecidedAlone, Voice::Counterexample) => {
            format!("{node} stopped waiting for the outcome of txn {txn} and took one of its own")
        }
        (Fact::DecidedAlone, Voice::Harness) => {
            format!("{node} takes an outcome of its own for txn {txn}")
        }
        (Fact::Repair, Voice::Counterexample) => {
            format!("{node} reported a repair of txn {txn}: {obs}")
        }
        (Fact::Other, Voice::Counterexample) => return None,
        (Fact::Answered { .. } | Fact::Repair | Fact::Other, Voice::Harness) => {
            format!("{node}: {obs}")
        }
    })
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// How a counterexample's run ended, for the violation it shows: the atomicity
/// broken, who is still in doubt, the money not conserved.
pub fn ending(names: &[String], r: &Results, report: &Report) -> Vec<String> {
    let name = |n: NodeId| names.get(n.index()).cloned().unwrap_or_default();
    let join = |v: &[NodeId]| v.iter().map(|n| name(*n)).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    // What the checker saw when it first saw the disagreement, and when: applied
    // outcomes stay, so it holds from then on; a side with no applied outcome yet
    // is the other outcome decided.
    for e in &r.examples {
        let (c, a) = (join(&e.committed), join(&e.aborted));
        let what = match (c.is_empty(), a.is_empty()) {
            (false, false) => format!("is committed at {c} but aborted at {a}"),
            (false, true) => format!("is committed at {c} although Abort was decided"),
            (true, false) => format!("was decided Commit but is aborted at {a}"),
            (true, true) => "was decided both Commit and Abort".to_string(),
        };
        out.push(format!(
            "By {} txn {} {what}: atomicity is broken.",
            ms(e.at_us),
            e.txn
        ));
    }
    for d in &r.in_doubt_at_end {
        out.push(format!(
            "At the end {} is still in doubt about txn {} after {}: blocked.",
            name(d.node),
            d.txn,
            ms(d.for_us)
        ));
    }
    let ids = &report.ids;
    let ids_broken = ids.duplicate_ids + ids.lost_orders;
    if ids_broken > 0 {
        out.push(format!(
            "{} ids were issued twice for different orders, and {} accepted orders are missing from the orders table.",
            ids.duplicate_ids, ids.lost_orders
        ));
    }
    if report.violations.invariant > ids_broken {
        out.push(format!(
            "Money is not conserved: {} at the start, {} at the end ({} in flight).",
            report.money.initial, report.money.final_, report.money.in_doubt
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_us: u64, txns: &[u64], what: Happening) -> Moment {
        Moment {
            t_us,
            txns: txns.to_vec(),
            what,
        }
    }

    fn sent(to: &str, fate: &str) -> Happening {
        Happening::Sent {
            from: "tm".into(),
            to: to.into(),
            msg: "Prepare { txn: 1 }".into(),
            fate: fate.into(),
        }
    }

    fn cut(from: &str, to: &str, active: bool) -> Happening {
        Happening::Cut {
            from: vec![from.into()],
            to: vec![to.into()],
            active,
        }
    }

    fn lost(msg: &str) -> Happening {
        Happening::Lost {
            from: "tm".into(),
            to: "rm1".into(),
            msg: msg.into(),
            why: "Partition".into(),
        }
    }

    #[test]
    fn a_story_follows_its_transactions_and_every_fault() {
        let m = [
            at(0, &[], Happening::Crashed { node: "rm2".into() }),
            at(1, &[1], lost("Vote { txn: 1 }")),
            at(2, &[2], lost("Vote { txn: 2 }")),
            at(3, &[], lost("Ping")),
            at(4, &[], Happening::Other),
        ];
        let follows = |f: Focus| m.iter().filter(|x| f.follows(x)).count();
        assert_eq!(
            follows(Focus {
                txns: vec![1],
                untagged: false
            }),
            2
        );
        assert_eq!(
            follows(Focus {
                txns: vec![1],
                untagged: true
            }),
            3
        );
        assert_eq!(
            follows(Focus {
                txns: vec![],
                untagged: false
            }),
            3
        );
        assert_eq!(
            follows(Focus {
                txns: vec![],
                untagged: true
            }),
            4
        );
        // A message naming another transaction too is not only about this one.
        assert_eq!(txns_named("Batch { txn: 1, then: (txn: 2) }"), vec![1, 2]);
    }

    #[test]
    fn the_counterexample_folds_what_the_harness_tells_line_by_line() {
        let m = vec![
            at(1000, &[1], sent("rm1", "delivered")),
            at(1000, &[1], sent("rm2", "dropped: loss")),
            at(2000, &[], cut("tm", "rm1", true)),
            at(2000, &[], cut("rm1", "tm", true)),
            at(3000, &[1], sent("rm1", "delivered")),
            at(3000, &[1], sent("rm2", "dropped: loss")),
            at(4000, &[], Happening::Crashed { node: "tm".into() }),
        ];
        let all = Focus::default();
        assert_eq!(
            tell(&m, &all, Voice::Counterexample),
            vec![
                "t=1.0 ms    tm sent Prepare for txn 1 to rm1, rm2; lost on the way to rm2 (loss) (×2, the last at 3.0 ms)",
                "t=2.0 ms    network partition: {tm} | {rm1}",
                "t=4.0 ms    tm crashed (its last message was Prepare to rm1, rm2)",
            ]
        );
        assert_eq!(
            tell(&m, &all, Voice::Harness),
            vec![
                "  [   2.000 ms] messages are cut {tm} → {rm1}",
                "  [   2.000 ms] messages are cut {rm1} → {tm}",
                "  [   4.000 ms] tm crashes",
            ]
        );
    }

    #[test]
    fn a_typed_observation_and_its_trace_text_say_the_same() {
        let names: Vec<String> = ["tm", "rm1", "rm2"].map(String::from).to_vec();
        let obs = [
            Observation::TxnBegun {
                txn: 4,
                participants: [NodeId(1), NodeId(2)].into_iter().collect(),
            },
            Observation::Prepared { txn: 4 },
            Observation::Decided {
                txn: 4,
                outcome: crate::node::Outcome::Commit,
            },
            Observation::Applied {
                txn: 4,
                outcome: crate::node::Outcome::Abort,
                in_doubt_us: 1500,
                locks: 1,
                lock_hold_us: 1500,
            },
            Observation::Finished { txn: 4 },
        ];
        for o in &obs {
            assert_eq!(
                Fact::of(o, &names),
                Fact::read(&format!("{o:?}"), &names),
                "{o:?}"
            );
        }
    }
}
