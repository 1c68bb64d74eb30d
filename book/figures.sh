#!/usr/bin/env bash
# Regenerates every figure the book shows: runs each sweep of scenarios/sweeps/
# (release build, all cores) and copies its charts into book/src/figures/.
#
# Usage: book/figures.sh [EXTRA SWEEP FLAGS]
#   book/figures.sh                              # every protocol must be built in
#   book/figures.sh --skip-unknown-protocols     # draw what this build has
#   JOBS=2 book/figures.sh                       # limit parallel runs
# Results land in output/figures/<sweep>/ (runs.csv, summary.csv, ...), not committed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/acidbase
mkdir -p book/src/figures
for f in scenarios/sweeps/*.ron; do
  name=$(basename "$f" .ron)
  out=output/figures/$name
  echo "== $name" >&2
  "$bin" sweep "$f" --out "$out" --force ${JOBS:+--jobs "$JOBS"} "$@"
  cp "$out"/*.svg book/src/figures/
done
echo "figures written to book/src/figures/" >&2
