#!/usr/bin/env bash
# Draws the sequence diagram each protocol chapter shows, into book/src/figures/.
# One line per figure below: the scenario, the transaction it follows, the file.
# tests/suite/book.rs checks every figure equals what its command draws now, so
# rerun this after changing the diagram or a protocol, and commit the result.
#
# Usage: book/diagrams.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/acidbase
while read -r scenario txn out; do
  [ -z "$scenario" ] && continue
  "$bin" run "scenarios/$scenario.ron" --txn "$txn" --diagram "book/src/figures/$out" >/dev/null
done <<'LIST'
2pc-coordinator-crash 0 seq-2pc-coordinator-crash.svg
3pc-coordinator-crash 0 seq-3pc-coordinator-crash.svg
paxos-commit-coordinator-crash 0 seq-paxos-commit-coordinator-crash.svg
tcc-hanging 10 seq-tcc-hanging.svg
saga-transfer-crash 47 seq-saga-transfer-crash.svg
publish-then-commit 24 seq-publish-then-commit.svg
sync-timeout-compensation 24 seq-sync-timeout-compensation.svg
cache-aside-stale-set-race 142 seq-cache-aside-stale-set-race.svg
local-cache-switch-broadcast-lost 67 seq-local-cache-switch-broadcast-lost.svg
ids-snowflake-clock-step-back 1660 seq-ids-snowflake-clock-step-back.svg
LIST
echo "diagrams written to book/src/figures/" >&2
