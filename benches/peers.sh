#!/usr/bin/env bash
# Runs `acidbase bench` side by side with the peers of ../shared/bench-peers (a bare
# Rust heap loop and a SimPy model of the same workload), in one session, and prints
# the median of 3 runs per (implementation, T, C) and the ratios.
#
# Usage: benches/peers.sh [RUST_TXNS] [SIMPY_TXNS]     (defaults 1000000 100000)
# Needs: python3 with simpy==4.1.2 (pip install simpy==4.1.2) for the SimPy rows.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS:-../shared/bench-peers}
rust_txns=${1:-1000000}
simpy_txns=${2:-100000}
target=${TMPDIR:-/tmp}/acidbase-heap-baseline
cargo build --release --quiet
CARGO_TARGET_DIR="$target" cargo build --release --quiet --manifest-path "$peers/heap_baseline/Cargo.toml"
heap="$target/release/heap_baseline"
ours=${CARGO_TARGET_DIR:-target}/release/acidbase

rate() { awk '/^deliveries_per_wall_s:/ {print $2}'; }
median() { sort -g | sed -n 2p; }

declare -A med
for c in 1 64; do
  for impl in acidbase heap; do
    for t in "$rust_txns"; do
      rates=()
      for run in 1 2 3; do
        if [[ $impl == acidbase ]]; then out=$("$ours" bench --rms 4 --txns "$t" --concurrency "$c" --seed 42)
        else out=$("$heap" --rms 4 --txns "$t" --concurrency "$c" --seed 42); fi
        rates+=("$(rate <<<"$out")")
      done
      med[$impl,$t,$c]=$(printf '%s\n' "${rates[@]}" | median)
      printf '%-9s T=%-8s C=%-3s median %12.0f deliveries/s\n' "$impl" "$t" "$c" "${med[$impl,$t,$c]}"
    done
  done
  if python3 -c 'import simpy' 2>/dev/null; then
    for impl in acidbase simpy; do
      rates=()
      for run in 1 2 3; do
        if [[ $impl == acidbase ]]; then out=$("$ours" bench --rms 4 --txns "$simpy_txns" --concurrency "$c" --seed 42)
        else out=$(python3 "$peers/simpy_2pc.py" --rms 4 --txns "$simpy_txns" --concurrency "$c" --seed 42); fi
        rates+=("$(rate <<<"$out")")
      done
      med[$impl,$simpy_txns,$c]=$(printf '%s\n' "${rates[@]}" | median)
      printf '%-9s T=%-8s C=%-3s median %12.0f deliveries/s\n' "$impl" "$simpy_txns" "$c" "${med[$impl,$simpy_txns,$c]}"
    done
  fi
done
echo
for c in 1 64; do
  awk -v a="${med[acidbase,$rust_txns,$c]}" -v h="${med[heap,$rust_txns,$c]}" -v c="$c" -v t="$rust_txns" \
    'BEGIN { printf "C=%-3s T=%s: acidbase / heap_baseline = %.3f (target >= 0.333)\n", c, t, a / h }'
  if [[ -n "${med[simpy,$simpy_txns,$c]:-}" ]]; then
    awk -v a="${med[acidbase,$simpy_txns,$c]}" -v s="${med[simpy,$simpy_txns,$c]}" -v c="$c" -v t="$simpy_txns" \
      'BEGIN { printf "C=%-3s T=%s: acidbase / simpy = %.0fx (target >= 50x)\n", c, t, a / s }'
  fi
done
