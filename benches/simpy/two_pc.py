#!/usr/bin/env python3
"""bench-2pc in SimPy, written the way SimPy's documentation teaches.

One TM and N RMs run fault-free two-phase commit. Per transaction the TM sends
Prepare to every RM, each RM answers Vote (yes), the TM then sends Commit to every
RM and each RM answers Ack: 4*N deliveries. C slots in the TM each run
transactions one after another (a closed loop with no think time) until T have
started. Every one-way delay is uniform in [1, 10] ms, drawn in whole
microseconds (the simulation's time unit is 1 us) from random.Random(seed).

The model uses the idioms of SimPy's guides and examples:
- every node is a process (a generator function handed to env.process);
- messages travel through a Cable, as in the "Process Communication" example: a
  simpy.Store for the inbox, and a process per message that waits out the
  delay with env.timeout and then puts the message into the store;
- a TM slot waits for the replies with `yield inbox.get()` on its own inbox.

Usage: two_pc.py [--rms N] [--txns T] [--concurrency C] [--seed S]
(defaults 4, 100000, 1, 42). Prints the lines `acidbase bench` prints and exits 1
unless every transaction completed with exactly 4*N*T deliveries.
"""
import argparse
import random
import sys
import time

import simpy

MIN_DELAY_US, MAX_DELAY_US = 1_000, 10_000


class Cable:
    """A node's inbox: a message put in arrives after a random delay."""

    def __init__(self, env, rng):
        self.env = env
        self.rng = rng
        self.store = simpy.Store(env)

    def latency(self, msg):
        yield self.env.timeout(self.rng.randint(MIN_DELAY_US, MAX_DELAY_US))
        self.store.put(msg)

    def put(self, msg):
        self.env.process(self.latency(msg))

    def get(self):
        return self.store.get()


class Stats:
    def __init__(self):
        self.completed = 0
        self.deliveries = 0


def resource_manager(inbox, stats):
    """An RM votes yes to every Prepare and acknowledges every Commit."""
    while True:
        kind, txn, reply_to = yield inbox.get()
        stats.deliveries += 1
        reply_to.put(("vote" if kind == "prepare" else "ack", txn, inbox))


def tm_slot(env, rng, rm_inboxes, next_txn, txns, stats):
    """One TM slot: runs transactions one after another until T have started."""
    inbox = Cable(env, rng)
    while next_txn[0] < txns:
        txn = next_txn[0]
        next_txn[0] += 1
        for kind, reply in (("prepare", "vote"), ("commit", "ack")):
            for rm in rm_inboxes:
                rm.put((kind, txn, inbox))
            for _ in rm_inboxes:
                got, of_txn, _rm = yield inbox.get()
                stats.deliveries += 1
                assert (got, of_txn) == (reply, txn)
        stats.completed += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rms", type=int, default=4)
    ap.add_argument("--txns", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    for name in ("rms", "txns", "concurrency"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")

    env = simpy.Environment()
    rng = random.Random(args.seed)
    stats = Stats()
    rm_inboxes = [Cable(env, rng) for _ in range(args.rms)]
    for inbox in rm_inboxes:
        env.process(resource_manager(inbox, stats))
    next_txn = [0]
    for _ in range(min(args.concurrency, args.txns)):
        env.process(tm_slot(env, rng, rm_inboxes, next_txn, args.txns, stats))

    start = time.perf_counter()
    env.run()  # until no event is left: the RMs then wait on empty inboxes
    wall_s = time.perf_counter() - start

    expected = 4 * args.rms * args.txns
    print(f"bench-2pc impl=simpy rms={args.rms} txns={args.txns} "
          f"concurrency={args.concurrency} seed={args.seed}")
    print(f"transactions_completed: {stats.completed}")
    print(f"deliveries: {stats.deliveries} (expected {expected})")
    print(f"sim_end_ms: {env.now / 1000:.3f}")
    print(f"wall_s: {wall_s:.4f}")
    print(f"deliveries_per_wall_s: {stats.deliveries / wall_s:.0f}")
    if stats.completed != args.txns or stats.deliveries != expected:
        print(f"two_pc.py: {stats.completed} of {args.txns} transactions completed, "
              f"{stats.deliveries} of {expected} deliveries", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
