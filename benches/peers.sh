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

# One implementation's command line for T transactions at concurrency C.
cmd() {
  case $1 in
    acidbase) echo "$ours bench" ;;
    heap) echo "$heap" ;;
    simpy) echo "python3 $peers/simpy_2pc.py" ;;
  esac
}

declare -A med
# Runs implementation $1 three times at T=$2, C=$3 and records the median rate.
measure() {
  local rates=() run out
  for run in 1 2 3; do
    out=$($(cmd "$1") --rms 4 --txns "$2" --concurrency "$3" --seed 42)
    rates+=("$(rate <<<"$out")")
  done
  med[$1,$2,$3]=$(printf '%s\n' "${rates[@]}" | sort -g | sed -n 2p)
  printf '%-9s T=%-8s C=%-3s median %12.0f deliveries/s\n' "$1" "$2" "$3" "${med[$1,$2,$3]}"
}

for c in 1 64; do
  measure acidbase "$rust_txns" "$c"
  measure heap "$rust_txns" "$c"
  if python3 -c 'import simpy' 2>/dev/null; then
    measure acidbase "$simpy_txns" "$c"
    measure simpy "$simpy_txns" "$c"
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
