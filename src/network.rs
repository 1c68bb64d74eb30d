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
        }
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

    /// Decides what happens to a message sent now from `from` to `to`.
    pub fn route(&mut self, from: NodeId, to: NodeId) -> Fate {
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
            net.route(NodeId(0), NodeId(1)),
            Fate::Delivered { .. }
        ));
        net.set_cut(0, true);
        assert_eq!(
            net.route(NodeId(0), NodeId(1)),
            Fate::Dropped(DropReason::Partition)
        );
        assert!(matches!(
            net.route(NodeId(1), NodeId(0)),
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
            net.route(NodeId(0), NodeId(3)),
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
            match net.route(NodeId(0), NodeId(1)) {
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
