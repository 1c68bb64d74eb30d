//! The fault plan: a concrete, time-ordered list of crashes, restarts and partition
//! windows, fixed before the run starts.
//!
//! Scripted faults come straight from the scenario. Random ones are drawn here from
//! streams named after *node names* and scenario entries (`faults/0/tm` for the first
//! `random_crashes` entry's crashes of the TM; `faults/partitions` for partition times,
//! with each node's side hashed from its name), never from the workload's or the
//! network's stream: the same seed therefore gives the same schedule for every
//! protocol that has nodes of those names. Because the plan is
//! concrete it can be printed, exported and replayed without any randomness.

use crate::network::Cut;
use crate::node::{NodeId, NodeSet};
use crate::rng::{self, StreamRng};

/// One thing the fault plan does at a given time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FaultAction {
    Crash(NodeId),
    Restart(NodeId),
    /// Cut number `.0` (see [`FaultPlan::actions`]) starts dropping messages.
    CutStart(usize),
    CutEnd(usize),
    /// The node's wall clock steps by `step_us` (negative: backward), as NTP steps
    /// `CLOCK_REALTIME`; its timers, on the monotonic clock, are not moved.
    ClockStep {
        node: NodeId,
        step_us: i64,
    },
}

/// A crash/restart pair for one node.
#[derive(Clone, Debug, PartialEq)]
pub struct CrashWindow {
    pub node: NodeId,
    pub at_us: u64,
    /// `None`: the node stays down for the rest of the run.
    pub restart_us: Option<u64>,
}

/// A partition window over one or more directed cuts.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionWindow {
    pub cuts: Vec<Cut>,
    pub from_us: u64,
    pub to_us: u64,
}

/// Random crashes of one node: a Poisson process of crashes with exponential downtimes.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomCrashes {
    pub node: NodeId,
    pub name: String,
    /// Which scenario entry asked for these crashes: two entries naming the same node
    /// draw independently.
    pub entry: usize,
    pub rate_per_s: f64,
    pub mean_downtime_us: f64,
}

/// Random symmetric partitions among `nodes`: a Poisson process of windows with
/// exponential durations; each node's side is drawn by its name.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomPartitions {
    pub nodes: Vec<(NodeId, String)>,
    pub rate_per_s: f64,
    pub mean_duration_us: f64,
}

/// A step of one node's wall clock at virtual time `at_us` (NTP's step: the clock
/// jumps by `step_us`, backward when negative).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockStep {
    pub node: NodeId,
    pub at_us: u64,
    pub step_us: i64,
}

/// The concrete plan for one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    pub crashes: Vec<CrashWindow>,
    pub partitions: Vec<PartitionWindow>,
    /// Wall-clock steps (empty unless the scenario lists `faults.clock_steps`).
    pub clock_steps: Vec<ClockStep>,
}

impl FaultPlan {
    /// Adds random faults drawn in `[0, until_us)`; every window heals by `until_us`.
    pub fn draw_random(
        &mut self,
        seed: u64,
        crashes: &[RandomCrashes],
        partitions: Option<&RandomPartitions>,
        until_us: u64,
    ) {
        for spec in crashes {
            let mut rng = rng::stream(seed, &format!("faults/{}/{}", spec.entry, spec.name));
            let mut t = 0u64;
            loop {
                t = t.saturating_add(next_gap_us(&mut rng, spec.rate_per_s));
                if t >= until_us {
                    break;
                }
                let down = rng::exponential_us(&mut rng, spec.mean_downtime_us).max(1);
                let restart = (t + down).min(until_us);
                self.crashes.push(CrashWindow {
                    node: spec.node,
                    at_us: t,
                    restart_us: Some(restart),
                });
                t = restart;
            }
        }
        if let Some(spec) = partitions {
            let mut rng = rng::stream(seed, "faults/partitions");
            let mut t = 0u64;
            let mut k = 0u64;
            loop {
                t = t.saturating_add(next_gap_us(&mut rng, spec.rate_per_s));
                if t >= until_us {
                    break;
                }
                let len = rng::exponential_us(&mut rng, spec.mean_duration_us).max(1);
                let (mut a, mut b) = (NodeSet::new(), NodeSet::new());
                for (id, name) in &spec.nodes {
                    let side = rng::mix64(seed ^ rng::fnv1a(name.as_bytes()) ^ rng::mix64(k));
                    if side & 1 == 0 {
                        a.insert(*id);
                    } else {
                        b.insert(*id);
                    }
                }
                k += 1;
                if !a.is_empty() && !b.is_empty() {
                    self.partitions.push(PartitionWindow {
                        cuts: vec![Cut { from: a, to: b }, Cut { from: b, to: a }],
                        from_us: t,
                        to_us: (t + len).min(until_us),
                    });
                }
            }
        }
    }

    /// When the last fault heals (0 if none; `None` if a node never restarts).
    pub fn last_heal_us(&self) -> Option<u64> {
        let mut last = 0;
        for c in &self.crashes {
            last = last.max(c.restart_us?);
        }
        for p in &self.partitions {
            last = last.max(p.to_us);
        }
        for c in &self.clock_steps {
            last = last.max(c.at_us);
        }
        Some(last)
    }

    /// The cuts, numbered as `FaultAction::CutStart` refers to them, and the
    /// time-ordered actions. Equal times keep plan order (crashes, then partitions,
    /// then clock steps).
    pub fn actions(&self) -> (Vec<Cut>, Vec<(u64, FaultAction)>) {
        let mut cuts = Vec::new();
        let mut actions = Vec::new();
        for c in &self.crashes {
            actions.push((c.at_us, FaultAction::Crash(c.node)));
            if let Some(r) = c.restart_us {
                actions.push((r, FaultAction::Restart(c.node)));
            }
        }
        for p in &self.partitions {
            for cut in &p.cuts {
                let i = cuts.len();
                cuts.push(cut.clone());
                actions.push((p.from_us, FaultAction::CutStart(i)));
                actions.push((p.to_us, FaultAction::CutEnd(i)));
            }
        }
        for c in &self.clock_steps {
            let (node, step_us) = (c.node, c.step_us);
            actions.push((c.at_us, FaultAction::ClockStep { node, step_us }));
        }
        actions.sort_by_key(|(t, _)| *t);
        (cuts, actions)
    }
}

fn next_gap_us(rng: &mut StreamRng, rate_per_s: f64) -> u64 {
    if rate_per_s <= 0.0 {
        return u64::MAX;
    }
    rng::exponential_us(rng, 1e6 / rate_per_s).max(1)
}

/// Clock drift of one node in parts per million, drawn uniformly in
/// `[-max_ppm, max_ppm]` from the node's own stream.
pub fn draw_drift_ppm(seed: u64, name: &str, max_ppm: u32) -> i32 {
    if max_ppm == 0 {
        return 0;
    }
    let mut rng = rng::stream(seed, &format!("drift/{name}"));
    let span = 2 * u64::from(max_ppm);
    rng::uniform_us(&mut rng, 0, span) as i32 - max_ppm as i32
}

/// A node's clock: it runs `ppm` parts per million fast (`ppm > 0`) or slow
/// (`ppm < 0`) against virtual time, so its reading at virtual time `t` is
/// `t + floor(t · ppm / 10⁶)`. Nodes read only their own clock and set timers in it,
/// which is how clock skew between nodes shows (DESIGN §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Clock {
    pub ppm: i32,
}

impl Clock {
    /// The clock's reading at virtual time `t_us`.
    pub fn local(self, t_us: u64) -> u64 {
        if self.ppm == 0 {
            return t_us;
        }
        let skew = (i128::from(t_us) * i128::from(self.ppm)).div_euclid(1_000_000);
        (i128::from(t_us) + skew).max(0) as u64
    }

    /// The first virtual time at which the clock, read at virtual `now_us`, has
    /// advanced by `after_us`: when a timer set for `after_us` fires. Never earlier
    /// than the clock says, so a handler that re-checks a deadline against its own
    /// clock always finds it due.
    pub fn fire_at(self, now_us: u64, after_us: u64) -> u64 {
        if self.ppm == 0 {
            return now_us + after_us;
        }
        let target = self.local(now_us) + after_us;
        let rate = 1_000_000 + i128::from(self.ppm);
        let mut t = (i128::from(target) * 1_000_000 / rate).max(i128::from(now_us)) as u64;
        while self.local(t) < target {
            t += 1;
        }
        while t > now_us && self.local(t - 1) >= target {
            t -= 1;
        }
        t
    }
}

/// A node's wall-clock reading: its drifting clock `local_us` moved by the steps
/// applied so far (`offset_us`, their sum), never below 0. Timers do not read it.
pub fn wall_us(local_us: u64, offset_us: i64) -> u64 {
    (i128::from(local_us) + i128::from(offset_us)).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash_spec(name: &str, id: u32) -> RandomCrashes {
        RandomCrashes {
            node: NodeId(id),
            name: name.into(),
            entry: 0,
            rate_per_s: 2.0,
            mean_downtime_us: 100_000.0,
        }
    }

    #[test]
    fn random_crashes_depend_on_name_not_on_position() {
        let mut a = FaultPlan::default();
        a.draw_random(9, &[crash_spec("tm", 0)], None, 10_000_000);
        let mut b = FaultPlan::default();
        b.draw_random(
            9,
            &[crash_spec("client", 0), crash_spec("tm", 5)],
            None,
            10_000_000,
        );
        let times = |p: &FaultPlan, id| {
            p.crashes
                .iter()
                .filter(|c| c.node == NodeId(id))
                .map(|c| (c.at_us, c.restart_us))
                .collect::<Vec<_>>()
        };
        assert!(!times(&a, 0).is_empty());
        assert_eq!(times(&a, 0), times(&b, 5));
    }

    #[test]
    fn windows_heal_by_the_horizon_and_do_not_overlap() {
        let mut p = FaultPlan::default();
        p.draw_random(3, &[crash_spec("rm1", 1)], None, 2_000_000);
        let mut last_restart = 0;
        for c in &p.crashes {
            let r = c.restart_us.expect("random crashes restart");
            assert!(c.at_us >= last_restart && r <= 2_000_000 && r >= c.at_us);
            last_restart = r;
        }
        assert!(p.last_heal_us().expect("heals") <= 2_000_000);
    }

    #[test]
    fn random_partitions_split_named_nodes_in_two() {
        let nodes: Vec<_> = (0..5).map(|i| (NodeId(i), format!("n{i}"))).collect();
        let spec = RandomPartitions {
            nodes,
            rate_per_s: 5.0,
            mean_duration_us: 50_000.0,
        };
        let mut p = FaultPlan::default();
        p.draw_random(4, &[], Some(&spec), 5_000_000);
        assert!(!p.partitions.is_empty());
        for w in &p.partitions {
            let [ab, ba] = &w.cuts[..] else {
                panic!("two cuts")
            };
            assert_eq!(ab.from, ba.to);
            assert_eq!(ab.from.len() + ab.to.len(), 5);
            assert!(w.from_us < w.to_us || w.to_us == 5_000_000);
        }
    }

    #[test]
    fn drifting_clocks_fire_timers_exactly_when_they_read_the_deadline() {
        for ppm in [0, 1, -1, 500, -500, 250_000, -500_000, 999_999, -999_999] {
            let c = Clock { ppm };
            for now in [0u64, 1, 7, 999_999, 123_456_789] {
                for after in [0u64, 1, 2, 10, 1000, 60_000_000] {
                    let t = c.fire_at(now, after);
                    assert!(t >= now);
                    assert!(
                        c.local(t) >= c.local(now) + after,
                        "ppm {ppm} now {now} after {after}"
                    );
                    assert!(
                        t == now || c.local(t - 1) < c.local(now) + after,
                        "earliest: ppm {ppm}"
                    );
                }
            }
        }
        // A fast clock fires timers early in virtual time, a slow one late.
        assert!(Clock { ppm: 100_000 }.fire_at(0, 1_000_000) < 1_000_000);
        assert!(Clock { ppm: -100_000 }.fire_at(0, 1_000_000) > 1_000_000);
        let d = draw_drift_ppm(1, "tm", 500);
        assert!((-500..=500).contains(&d));
        assert_eq!(d, draw_drift_ppm(1, "tm", 500));
    }

    #[test]
    fn a_clock_step_moves_the_wall_clock_and_is_an_action_at_its_time() {
        // The wall clock is the drifting clock moved by the steps so far, never
        // below 0; timers (fire_at) read the drifting clock alone.
        assert_eq!(wall_us(1_000, -300), 700);
        assert_eq!(wall_us(1_000, 2_500), 3_500);
        assert_eq!(wall_us(100, -300), 0);
        let plan = FaultPlan {
            crashes: vec![CrashWindow {
                node: NodeId(1),
                at_us: 50,
                restart_us: Some(80),
            }],
            clock_steps: vec![ClockStep {
                node: NodeId(2),
                at_us: 50,
                step_us: -7_000,
            }],
            ..FaultPlan::default()
        };
        let (_, actions) = plan.actions();
        let step = FaultAction::ClockStep {
            node: NodeId(2),
            step_us: -7_000,
        };
        assert_eq!(
            actions,
            vec![
                (50, FaultAction::Crash(NodeId(1))),
                (50, step),
                (80, FaultAction::Restart(NodeId(1)))
            ]
        );
        assert_eq!(plan.last_heal_us(), Some(80));
    }
}
