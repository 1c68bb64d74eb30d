#!/usr/bin/env bash
# Takes the screenshots book/src/serve.md shows: the browser test
# (tests/browser/serve.test.mjs) drives `acidbase serve` in headless Chromium and
# screenshots each step; three of them are copied into book/src/figures/, reduced
# to 96 colours when Python's PIL is at hand (a third of the size). Needs what
# .ci/run installs (chromium, `npm ci --prefix tests/browser`).
#
# Usage: book/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/acidbase
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ACIDBASE_BIN="$bin" ACIDBASE_SCREENSHOTS="$dir" node tests/browser/serve.test.mjs >/dev/null
while read -r step out; do
  [ -z "$step" ] && continue
  if python3 -c 'import PIL' 2>/dev/null; then
    python3 -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT,
    dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)' "$dir/$step.png" "book/src/figures/$out"
  else
    cp "$dir/$step.png" "book/src/figures/$out"
  fi
done <<'LIST'
01-run-2pc-coordinator-crash serve-after-run.png
02-crash-added serve-crash-added.png
04-side-by-side-2pc-3pc serve-side-by-side.png
LIST
echo "screenshots written to book/src/figures/" >&2
