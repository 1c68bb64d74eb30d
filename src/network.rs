//! The network: latency models, loss, duplication, reordering and partitions.
//!
//! It decides only the *fate* of each message (dropped, or delivered after a delay,
//! possibly twice); it never decides anything a node should decide. Its draws come from
//! its own stream, so they never disturb the fault plan or the workload.

use crate::node::{NodeId, NodeSet};
use crate::rng::{self, StreamRng};

/// One-way delay of a message, in µs.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    Constant {
        us: u64,
    },
    Uniform {
        min_us: u64,
        max_us: u64,
    },
    /// `floor_us` plus an exponential tail with mean `mean_extra_us`.
    Exponential {
        floor_us: u64,
        mean_extra_us: f64,
    },
}

impl Latency {
    pub fn draw(&self, rng: &mut StreamRng) -> u64 {
        match *self {
            Latency::Constant { us } => us,
            Latency::Uniform { min_us, max_us } => rng::uniform_us(rng, min_us, max_us),
            Latency::Exponential {
                floor_us,
                mean_extra_us,
            } => floor_us + rng::exponential_us(rng, mean_extra_us),
        }
    }
}

/// Everything the network needs to know, resolved from a scenario.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub latency: Latency,
    pub loss_probability: f64,
    pub duplicate_probability: f64,
    /// With this probability a message is held back by an extra uniform delay in
    /// `[0, reorder_delay_max_us]`, so later messages can overtake it.
    pub reorder_probability: f64,
    pub reorder_delay_max_us: u64,
    /// Loss, duplication and reordering apply to messages sent before this time only.
    pub message_faults_until_us: Option<u64>,
    /// Nodes on the same site share a machine: messages between them take no time
    /// and suffer no fault (e.g. a client library inside the TM's process).
    pub site_of: Vec<u32>,
}

/// A directed cut: messages from any node in `from` to any node in `to` are dropped.
/// A symmetric partition is two cuts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cut {
    pub from: NodeSet,
    pub to: NodeSet,
}

impl Cut {
    pub fn blocks(&self, from: NodeId, to: NodeId) -> bool {
        self.from.contains(from) && self.to.contains(to)
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    Loss,
    Partition,
    /// The receiver was down when the message arrived.
    ReceiverDown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::ReceiverDown => "receiver down",
        }
    }
}

/// The fate of one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Dropped(DropReason),
    Delivered {
        delay_us: u64,
        duplicate_delay_us: Option<u64>,
    },
}

pub struct Network {
    config: NetworkConfig,
    cuts: Vec<Cut>,
    /// How many times each cut is currently active (windows may overlap).
    active: Vec<u32>,
    active_total: u32,
    rng: StreamRng,
    /// How many delays the reorder draw lengthened (to tell a held-back message).
    reordered: u64,
    /// Scripted fates and the fate record (`None` unless a run asks for them, so the
    /// plain hot path pays nothing).
    links: Option<Box<Links>>,
}

/// What a script says happens to one message, in place of the loss, duplication and
/// reordering draws. Delays are whole delays (latency included), in µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptedFate {
    /// Lost in the network.
    Lose,
    /// Delivered once after `delay_us`: not a fault, a pinned latency.
    Latency { delay_us: u64 },
    /// Held back: delivered once after `delay_us`, so later messages may overtake it.
    Delay { delay_us: u64 },
    /// Delivered twice, after `delay_us` and after `again_us`.
    Duplicate { delay_us: u64, again_us: u64 },
}

impl ScriptedFate {
    /// Is this a fault (as opposed to a pinned latency)?
    pub fn is_fault(self) -> bool {
        !matches!(self, ScriptedFate::Latency { .. })
    }
}

/// One message, named so that it survives changes elsewhere in a run: the `nth`
/// (1-based) message sent on the directed link `from → to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkMessage {
    pub from: NodeId,
    pub to: NodeId,
    pub nth: u64,
}

/// A message's fate as the network decided it, for export (see `crate::tools::schedule`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedFate {
    pub message: LinkMessage,
    pub fate: ScriptedFate,
}

/// Per-link send counters, the script, and the record.
struct Links {
    nodes: usize,
    sent: Vec<u64>,
    script: std::collections::BTreeMap<LinkMessage, ScriptedFate>,
    /// `Some` while recording; with `pin_latencies`, plain deliveries are recorded too.
    record: Option<Vec<RecordedFate>>,
    pin_latencies: bool,
}

impl Network {
    pub fn new(config: NetworkConfig, cuts: Vec<Cut>, rng: StreamRng) -> Self {
        let n = cuts.len();
        Network {
            config,
            cuts,
            active: vec![0; n],
            active_total: 0,
            rng,
            reordered: 0,
            links: None,
        }
    }

    fn links(&mut self) -> &mut Links {
        let nodes = self.config.site_of.len();
        self.links.get_or_insert_with(|| {
            Box::new(Links {
                nodes,
                sent: vec![0; nodes * nodes],
                script: std::collections::BTreeMap::new(),
                record: None,
                pin_latencies: false,
            })
        })
    }

    /// Scripted fates: a listed message's fate comes from the script instead of the
    /// loss, duplication and reordering draws (and draws nothing from the stream);
    /// other messages go the usual way.
    pub fn set_script(&mut self, script: impl IntoIterator<Item = (LinkMessage, ScriptedFate)>) {
        let links = self.links();
        links.script.extend(script);
    }

    /// Records every message that was lost, duplicated or held back (and, with
    /// `pin_latencies`, every other delivered message's delay).
    pub fn record_fates(&mut self, pin_latencies: bool) {
        let links = self.links();
        links.record = Some(Vec::new());
        links.pin_latencies = pin_latencies;
    }

    /// The fates recorded so far (empty unless [`Network::record_fates`] was called).
    pub fn take_record(&mut self) -> Vec<RecordedFate> {
        self.links
            .as_mut()
            .and_then(|l| l.record.as_mut())
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn set_cut(&mut self, cut: usize, on: bool) {
        if on {
            self.active[cut] += 1;
            self.active_total += 1;
        } else if self.active[cut] > 0 {
            self.active[cut] -= 1;
            self.active_total -= 1;
        }
    }

    pub fn cut(&self, index: usize) -> &Cut {
        &self.cuts[index]
    }

    fn same_site(&self, a: NodeId, b: NodeId) -> bool {
        match (
            self.config.site_of.get(a.index()),
            self.config.site_of.get(b.index()),
        ) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    /// Is the link `from → to` cut right now?
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.active_total > 0
            && !self.same_site(from, to)
            && self
                .cuts
                .iter()
                .zip(&self.active)
                .any(|(c, &n)| n > 0 && c.blocks(from, to))
    }

    /// Decides what happens to a message sent at `now_us` from `from` to `to`.
    pub fn route(&mut self, from: NodeId, to: NodeId, now_us: u64) -> Fate {
        if self
            .config
            .message_faults_until_us
            .is_some_and(|until| now_us >= until)
        {
            self.heal_message_faults();
        }
        if self.links.is_some() {
            return self.route_linked(from, to);
        }
        self.route_drawn(from, to)
    }

    /// From now on, messages see only the latency: no loss, duplication, reordering.
    fn heal_message_faults(&mut self) {
        let c = &mut self.config;
        c.loss_probability = 0.0;
        c.duplicate_probability = 0.0;
        c.reorder_probability = 0.0;
        c.message_faults_until_us = None;
    }

    /// `route` with per-link counting: the script decides listed messages, and drawn
    /// fates are recorded when asked.
    fn route_linked(&mut self, from: NodeId, to: NodeId) -> Fate {
        let links = self.links.as_mut().expect("links are set");
        let i = from.index() * links.nodes + to.index();
        let nth = match links.sent.get_mut(i) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => 0,
        };
        let message = LinkMessage { from, to, nth };
        let scripted = links.script.get(&message).copied();
        if self.same_site(from, to) {
            return self.route_drawn(from, to);
        }
        if let Some(fate) = scripted {
            if self.is_cut(from, to) {
                return Fate::Dropped(DropReason::Partition);
            }
            return match fate {
                ScriptedFate::Lose => Fate::Dropped(DropReason::Loss),
                ScriptedFate::Latency { delay_us } | ScriptedFate::Delay { delay_us } => {
                    Fate::Delivered {
                        delay_us,
                        duplicate_delay_us: None,
                    }
                }
                ScriptedFate::Duplicate { delay_us, again_us } => Fate::Delivered {
                    delay_us,
                    duplicate_delay_us: Some(again_us),
                },
            };
        }
        let before = self.reordered;
        let fate = self.route_drawn(from, to);
        let links = self.links.as_mut().expect("links are set");
        if let Some(record) = links.record.as_mut() {
            let reordered = self.reordered != before;
            let recorded = match fate {
                Fate::Dropped(DropReason::Loss) => Some(ScriptedFate::Lose),
                Fate::Dropped(_) => None,
                Fate::Delivered {
                    delay_us,
                    duplicate_delay_us: Some(again_us),
                } => Some(ScriptedFate::Duplicate { delay_us, again_us }),
                Fate::Delivered { delay_us, .. } if reordered => {
                    Some(ScriptedFate::Delay { delay_us })
                }
                Fate::Delivered { delay_us, .. } => links
                    .pin_latencies
                    .then_some(ScriptedFate::Latency { delay_us }),
            };
            if let Some(fate) = recorded {
                record.push(RecordedFate { message, fate });
            }
        }
        fate
    }

    fn route_drawn(&mut self, from: NodeId, to: NodeId) -> Fate {
        if self.same_site(from, to) {
            return Fate::Delivered {
                delay_us: 0,
                duplicate_delay_us: None,
            };
        }
        if self.is_cut(from, to) {
            return Fate::Dropped(DropReason::Partition);
        }
        let c = &self.config;
        if rng::chance(&mut self.rng, c.loss_probability) {
            return Fate::Dropped(DropReason::Loss);
        }
        let delay_us = self.delay();
        let duplicate_delay_us = if rng::chance(&mut self.rng, self.config.duplicate_probability) {
            Some(self.delay())
        } else {
            None
        };
        Fate::Delivered {
            delay_us,
            duplicate_delay_us,
        }
    }

    fn delay(&mut self) -> u64 {
        let mut d = self.config.latency.draw(&mut self.rng);
        if rng::chance(&mut self.rng, self.config.reorder_probability) {
            d += rng::uniform_us(&mut self.rng, 0, self.config.reorder_delay_max_us);
            self.reordered = self.reordered.wrapping_add(1);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig {
            latency: Latency::Uniform {
                min_us: 1000,
                max_us: 2000,
            },
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            reorder_probability: 0.0,
            reorder_delay_max_us: 0,
            message_faults_until_us: None,
            site_of: vec![0, 1, 2, 0],
        }
    }

    #[test]
    fn one_way_cut_blocks_one_direction_only() {
        let cut = Cut {
            from: [NodeId(0)].into_iter().collect(),
            to: [NodeId(1)].into_iter().collect(),
        };
        let mut net = Network::new(config(), vec![cut], rng::stream(1, "network"));
        assert!(matches!(
            net.route(NodeId(0), NodeId(1), 0),
            Fate::Delivered { .. }
        ));
        net.set_cut(0, true);
        assert_eq!(
            net.route(NodeId(0), NodeId(1), 0),
            Fate::Dropped(DropReason::Partition)
        );
        assert!(matches!(
            net.route(NodeId(1), NodeId(0), 0),
            Fate::Delivered { .. }
        ));
        net.set_cut(0, false);
        assert!(!net.is_cut(NodeId(0), NodeId(1)));
    }

    #[test]
    fn same_site_is_instant_and_never_cut() {
        let cut = Cut {
            from: [NodeId(0)].into_iter().collect(),
            to: [NodeId(3)].into_iter().collect(),
        };
        let mut net = Network::new(config(), vec![cut], rng::stream(1, "network"));
        net.set_cut(0, true);
        assert_eq!(
            net.route(NodeId(0), NodeId(3), 0),
            Fate::Delivered {
                delay_us: 0,
                duplicate_delay_us: None
            }
        );
    }

    #[test]
    fn loss_and_duplication_rates_are_respected() {
        let mut c = config();
        c.loss_probability = 0.25;
        c.duplicate_probability = 0.5;
        let mut net = Network::new(c, vec![], rng::stream(2, "network"));
        let (mut lost, mut dup) = (0, 0);
        for _ in 0..10_000 {
            match net.route(NodeId(0), NodeId(1), 0) {
                Fate::Dropped(_) => lost += 1,
                Fate::Delivered {
                    delay_us,
                    duplicate_delay_us,
                } => {
                    assert!((1000..=2000).contains(&delay_us));
                    dup += duplicate_delay_us.is_some() as u32;
                }
            }
        }
        assert!((2300..2700).contains(&lost), "lost {lost}");
        assert!((3500..4000).contains(&dup), "dup {dup}");
    }
}
