#!/usr/bin/env bash
# Max RSS by transactions begun, per protocol (book/src/performance.md, "Memory by
# transactions"): an open loop of 1,000 requests/s over 3 RMs, transfers over 1,000
# accounts per shard (across two shards; one debit and one credit for messaging and
# calls), no faults; each
# size N runs N ms of virtual time, so N transactions. Memory must be flat in N.
#
# Usage: benches/memory.sh [N...]          (defaults 100000 1000000 10000000)
#        PROTOCOLS="2pc tcc" benches/memory.sh 100000
# Needs GNU time (/usr/bin/time). Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-100000 1000000 10000000}
protocols=${PROTOCOLS:-2pc 3pc tcc saga messaging calls}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/acidbase
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '| protocol |'; for n in $sizes; do printf ' %s |' "$n"; done; printf '\n|---|'
for _ in $sizes; do printf -- '---|'; done; printf '\n'
for p in $protocols; do
  fan_out=2
  case $p in messaging|calls) fan_out=1 ;; esac
  printf '| %s |' "$p"
  for n in $sizes; do
    f="$dir/$p-$n.ron"
    cat > "$f" <<RON
(protocol: "$p", rms: 3, duration_ms: $n, drain_ms: 2000, max_events: 1000000000,
 workload: Transfer(accounts_per_shard: 1000, initial_balance: 1000000, amount_min: 1, amount_max: 10, fan_out: $fan_out),
 clients: (load: Open(rate_per_s: 1000), deadline_ms: 1000),
 network: (latency: Uniform(min_ms: 1, max_ms: 5)))
RON
    kb=$( { /usr/bin/time -f '%M' "$bin" run "$f" --format json >/dev/null; } 2>&1 | tail -1 )
    awk -v kb="$kb" 'BEGIN { printf " %.1f MB |", kb / 1024 }'
  done
  printf '\n'
done
