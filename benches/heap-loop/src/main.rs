//! bench-2pc on a bare binary-heap discrete-event loop (see benches/README.md).
//!
//! One TM and N RMs run fault-free two-phase commit: per transaction the TM sends
//! Prepare to every RM, each RM answers Vote (yes), the TM then sends Commit to every
//! RM and each answers Ack: 4·N deliveries. C slots in the TM each run transactions
//! one after another (a closed loop with no think time) until T have started. Every
//! one-way delay is uniform in [1, 10] ms, drawn in whole microseconds from a ChaCha8
//! stream seeded with the seed. There is nothing else: no checkers, no digest, no
//! durable writes, no timers. This is the practical speed limit of a heap-based
//! simulator of this workload, the figure `acidbase bench` is measured against.
//!
//! Usage: heap-loop [--rms N] [--txns T] [--concurrency C] [--seed S]
//! (defaults 4, 100000, 1, 42). Prints the lines `acidbase bench` prints and exits 1
//! unless every transaction completed with exactly 4·N·T deliveries.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Prepare,
    Vote,
    Commit,
    Ack,
}

/// A message in flight between the TM's slot `slot` and RM `rm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Msg {
    kind: Kind,
    rm: u32,
    slot: u32,
    txn: u32,
}

/// The event queue: a min-heap on (delivery time in µs, send sequence number). The
/// sequence number is unique, so equal times pop in send order and `Msg` never
/// decides the order.
struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64, Msg)>>,
    sent: u64,
}

struct Sim {
    now_us: u64,
    queue: Queue,
    rng: ChaCha8Rng,
    rms: u32,
}

impl Sim {
    /// Sends `msg`: it is delivered after a delay drawn uniformly from [1, 10] ms.
    fn send(&mut self, msg: Msg) {
        let delay_us = u64::from(self.rng.random_range(1_000..=10_000u32));
        self.queue.sent += 1;
        self.queue
            .heap
            .push(Reverse((self.now_us + delay_us, self.queue.sent, msg)));
    }

    /// The TM sends `kind` for transaction `txn` of slot `slot` to every RM.
    fn send_to_every_rm(&mut self, kind: Kind, slot: u32, txn: u32) {
        for rm in 0..self.rms {
            self.send(Msg {
                kind,
                rm,
                slot,
                txn,
            });
        }
    }
}

/// One TM slot: the transaction it runs and the replies it still waits for.
struct Slot {
    txn: u32,
    awaiting: u32,
}

struct Args {
    rms: u32,
    txns: u32,
    concurrency: u32,
    seed: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!("heap-loop: {msg}");
    eprintln!("usage: heap-loop [--rms N] [--txns T] [--concurrency C] [--seed S]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        rms: 4,
        txns: 100_000,
        concurrency: 1,
        seed: 42,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let positive = || {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or_else(|| usage(&format!("{flag} {value}: not an integer in 1..=2^32-1")))
        };
        match flag.as_str() {
            "--rms" => a.rms = positive(),
            "--txns" => a.txns = positive(),
            "--concurrency" => a.concurrency = positive(),
            "--seed" => {
                a.seed = value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--seed {value}: not a u64")))
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    let start = Instant::now();
    let mut sim = Sim {
        now_us: 0,
        queue: Queue {
            heap: BinaryHeap::new(),
            sent: 0,
        },
        rng: ChaCha8Rng::seed_from_u64(args.seed),
        rms: args.rms,
    };
    let mut slots: Vec<Slot> = Vec::new();
    let mut started = 0u32;
    while started < args.concurrency.min(args.txns) {
        slots.push(Slot {
            txn: started,
            awaiting: args.rms,
        });
        sim.send_to_every_rm(Kind::Prepare, started, started);
        started += 1;
    }

    let (mut completed, mut deliveries) = (0u64, 0u64);
    while let Some(Reverse((at_us, _, msg))) = sim.queue.heap.pop() {
        sim.now_us = at_us;
        deliveries += 1;
        match msg.kind {
            // An RM votes yes to every Prepare and acknowledges every Commit.
            Kind::Prepare => sim.send(Msg {
                kind: Kind::Vote,
                ..msg
            }),
            Kind::Commit => sim.send(Msg {
                kind: Kind::Ack,
                ..msg
            }),
            // The TM counts the replies of a slot and moves on at the N-th.
            Kind::Vote | Kind::Ack => {
                let slot = &mut slots[msg.slot as usize];
                debug_assert_eq!(slot.txn, msg.txn);
                slot.awaiting -= 1;
                if slot.awaiting > 0 {
                    continue;
                }
                slot.awaiting = args.rms;
                if msg.kind == Kind::Vote {
                    sim.send_to_every_rm(Kind::Commit, msg.slot, msg.txn);
                    continue;
                }
                completed += 1;
                if started < args.txns {
                    slot.txn = started;
                    sim.send_to_every_rm(Kind::Prepare, msg.slot, started);
                    started += 1;
                }
            }
        }
    }
    let wall_s = start.elapsed().as_secs_f64();

    let expected = 4 * u64::from(args.rms) * u64::from(args.txns);
    println!(
        "bench-2pc impl=heap-loop rms={} txns={} concurrency={} seed={}",
        args.rms, args.txns, args.concurrency, args.seed
    );
    println!("transactions_completed: {completed}");
    println!("deliveries: {deliveries} (expected {expected})");
    println!("sim_end_ms: {:.3}", sim.now_us as f64 / 1000.0);
    println!("wall_s: {wall_s:.4}");
    println!(
        "deliveries_per_wall_s: {:.0}",
        deliveries as f64 / wall_s.max(1e-9)
    );
    if completed != u64::from(args.txns) || deliveries != expected {
        eprintln!("heap-loop: {completed} of {} transactions completed, {deliveries} of {expected} deliveries", args.txns);
        std::process::exit(1);
    }
}
