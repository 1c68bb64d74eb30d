#!/usr/bin/env bash
# Every figure of the performance page (book/src/performance.md), from one command:
#
#   benches/performance.sh [--quick] [--out DIR] [--no-simpy] [--no-stateright]
#                          [--no-valgrind] [--no-table-instructions] [--no-memory]
#
# It builds acidbase (release), the bench target that times the exhaustive checker's
# TwoPhase port, and the peers of benches/ (heap-loop, stateright-2pc: build output
# under the target directory, in peers/), then runs, interleaved, the same workload
# on each (benches/README.md) and writes DIR/figures.md (default
# output/performance/figures.md) with the tables the page quotes, and DIR/raw.log
# with every line every run printed. At the end it prints figures.md.
#
# - acidbase bench vs heap-loop, N = 4, T = 1,000,000, C = 1 and 64, REPS runs each,
#   alternating (a, h, a, h, ...): median and min-max of each, and of the ratio of
#   each adjacent pair;
# - instructions per delivery (valgrind --tool=cachegrind --cache-sim=no): the
#   difference between two run lengths, so start-up cancels; deterministic;
# - acidbase vs SimPy (benches/simpy/two_pc.py) at T = 100,000;
# - sim_end_ms against the analytical T/C x 29.6366 ms (N = 4);
# - the cost table: ns per delivery of both and their ratio for N in 2..64 and C in
#   1..1024 (T such that each run makes about 4 M deliveries and each slot runs at
#   least 8 transactions), and instructions per delivery at a smaller T;
# - sweeps: runs/s of benches/sweep-speed.ron at --jobs 1 and 2, alternating;
# - the exhaustive checker: acidbase's TwoPhase port vs stateright at N = 7;
# - memory: max RSS of acidbase bench at T and 10 T (GNU time), and
#   benches/memory.sh at 10^5 and 10^6 transactions per protocol.
#
# --quick makes every run tiny (seconds in all once built): to test the script, not
# to quote. The SimPy rows need python3 with simpy==4.1.2
# (pip install -r benches/simpy/requirements.txt) and are left out without it; the
# instruction counts need valgrind. Wall-clock figures are only as good as the
# machine is quiet: the header records the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=false simpy=auto stateright=true valgrind=auto table_instr=true memory=auto
out=output/performance
while (($#)); do
  case $1 in
    --quick) quick=true ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --no-simpy) simpy=false ;;
    --no-stateright) stateright=false ;;
    --no-valgrind) valgrind=false ;;
    --no-table-instructions) table_instr=false ;;
    --no-memory) memory=false ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "performance.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if $quick; then
  main_txns=20000 simpy_txns=1000 reps=2 simpy_reps=1
  vg_txns=500 table_deliveries=20000 table_reps=1 table_vg_deliveries=4000
  table_rms=(2 4) table_conc=(1 16)
  ex_rms=5 ex_reps=1 sweep_seeds=5 sweep_reps=1 memory_sizes="2000 20000"
else
  main_txns=1000000 simpy_txns=100000 reps=5 simpy_reps=3
  vg_txns=25000 table_deliveries=4000000 table_reps=3 table_vg_deliveries=40000
  table_rms=(2 4 8 16 32 64) table_conc=(1 4 16 64 256 1024)
  ex_rms=7 ex_reps=3 sweep_seeds=100 sweep_reps=3 memory_sizes="100000 1000000"
fi
seed=42

mkdir -p "$out"
figures=$out/figures.md
raw=$out/raw.log
: >"$raw"
note() { echo "performance.sh: $*" >&2; }

# --- Tools -------------------------------------------------------------------------
if [[ $simpy == auto ]]; then
  if python3 -c 'import simpy' 2>/dev/null; then simpy=true; else
    simpy=false
    note "python3 cannot import simpy: the SimPy rows are left out (pip install -r benches/simpy/requirements.txt)"
  fi
fi
if [[ $valgrind == auto ]]; then
  if command -v valgrind >/dev/null 2>&1; then valgrind=true; else
    valgrind=false
    note "no valgrind: the instruction counts are left out"
  fi
fi
$valgrind || table_instr=false
if [[ $memory == auto ]]; then
  if [[ -x /usr/bin/time ]]; then memory=true; else
    memory=false
    note "no GNU time (/usr/bin/time): the memory figures are left out"
  fi
fi

# --- Build -------------------------------------------------------------------------
target=${CARGO_TARGET_DIR:-$root/target}
note "building acidbase and the TwoPhase port bench (release)"
exes=$(cargo build --release --quiet --bin acidbase --bench two-phase-port --message-format=json |
  grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//')
acidbase=$(grep '/acidbase$' <<<"$exes")
port=$(grep 'two_phase_port' <<<"$exes")
note "building benches/heap-loop"
cargo build --release --quiet --manifest-path benches/heap-loop/Cargo.toml --target-dir "$target/peers"
heap=$target/peers/release/heap-loop
if $stateright; then
  note "building benches/stateright-2pc (stateright from crates.io; slow the first time)"
  if cargo build --release --quiet --manifest-path benches/stateright-2pc/Cargo.toml --target-dir "$target/peers"; then
    sr=$target/peers/release/stateright-2pc
  else
    note "stateright-2pc did not build: its rows are left out"
    stateright=false
  fi
fi

# --- Helpers -----------------------------------------------------------------------
# field NAME: the value of "NAME: value" in stdin.
field() { awk -v k="$1:" '$1 == k { print $2; exit }'; }
# stats: "median min max" of the numbers on stdin (median of an even count: the mean
# of the two middle values).
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "- - -"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}
# fmt KIND "median min max": a table cell, e.g. "9.41 M (9.02–9.60)".
fmt() {
  awk -v k="$1" -v s="$2" 'function f(x) {
      if (k == "rate") return sprintf("%.2f", x / 1e6)
      if (k == "ratio") return sprintf("%.3f", x)
      if (k == "times") return sprintf("%.0f", x)
      if (k == "ns") return sprintf("%.1f", x)
      if (k == "s") return sprintf("%.3f", x)
      return sprintf("%.1f", x) }
    BEGIN { split(s, a, " "); if (a[1] == "-") { print "–"; exit }
      u = (k == "rate") ? " M" : (k == "times") ? "×" : ""
      if (a[2] == a[3]) printf "%s%s\n", f(a[1]), u
      else printf "%s%s (%s–%s)\n", f(a[1]), u, f(a[2]), f(a[3]) }'
}
# bench IMPL N T C: one run; prints its stdout (also to raw.log); fails unless every
# transaction completed with 4·N·T deliveries.
bench() {
  local impl=$1 n=$2 t=$3 c=$4 cmd
  case $impl in
    acidbase) cmd=("$acidbase" bench) ;;
    heap) cmd=("$heap") ;;
    simpy) cmd=(python3 benches/simpy/two_pc.py) ;;
  esac
  local o
  if ! o=$("${cmd[@]}" --rms "$n" --txns "$t" --concurrency "$c" --seed "$seed" 2>&1); then
    echo "$o" >>"$raw"
    return 1
  fi
  echo "$o" >>"$raw"
  echo "$o"
}
# instr IMPL N T C: instructions of one run under cachegrind (deterministic).
instr() {
  local impl=$1 n=$2 t=$3 c=$4 cmd
  case $impl in
    acidbase) cmd=("$acidbase" bench) ;;
    heap) cmd=("$heap") ;;
  esac
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "${cmd[@]}" --rms "$n" --txns "$t" --concurrency "$c" --seed "$seed" 2>&1 >/dev/null |
    awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
}
# per_delivery IMPL N T C: instructions per delivery between T and 2T transactions
# (4·N·T more deliveries), so start-up and set-up cancel out.
per_delivery() {
  local a b
  a=$(instr "$1" "$2" "$3" "$4") || return 1
  b=$(instr "$1" "$2" $((2 * $3)) "$4") || return 1
  [[ -n $a && -n $b ]] || return 1
  echo "$a $b" | awk -v d=$((4 * $2 * $3)) '{ printf "%.1f\n", ($2 - $1) / d }'
}
# group NUMBER: thousands separated by commas (the integer part; printf's %' needs a locale).
group() { sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", a / b }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

load_start=$(loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo "?")
overrides=$(env | grep '^CARGO_PROFILE_RELEASE_' | sort | paste -sd' ' || true)

body=$(mktemp)
trap 'rm -f "$body"' EXIT
md() { printf '%s\n' "$@" >>"$body"; }

# --- 1. acidbase bench vs heap-loop, vs SimPy ---------------------------------------
# alternate PEER T C REPS: REPS rounds of acidbase then PEER at N = 4; sets ra and rp
# (deliveries/s of each), rr (the ratio of each adjacent pair) and end_a / end_p
# (their sim_end_ms, the same every run).
alternate() {
  local i oa op a p
  ra=() rp=() rr=()
  for ((i = 0; i < $4; i++)); do
    oa=$(bench acidbase 4 "$2" "$3")
    op=$(bench "$1" 4 "$2" "$3")
    a=$(field deliveries_per_wall_s <<<"$oa") p=$(field deliveries_per_wall_s <<<"$op")
    ra+=("$a") rp+=("$p") rr+=("$(ratio "$a" "$p")")
  done
  end_a=$(field sim_end_ms <<<"$oa") end_p=$(field sim_end_ms <<<"$op")
}
declare -A end_ms
md "## acidbase bench and the heap loop (N = 4, T = $(group "$main_txns"))" ""
md "deliveries/s, median (min–max) of $reps runs each, acidbase and heap-loop alternating;" \
  "the ratio is taken per adjacent pair." ""
md "| C | acidbase | heap-loop | acidbase / heap-loop |" "|---:|---:|---:|---:|"
for c in 1 64; do
  note "acidbase vs heap-loop, C = $c, $reps runs each"
  alternate heap "$main_txns" "$c" "$reps"
  end_ms[acidbase,$main_txns,$c]=$end_a
  end_ms[heap,$main_txns,$c]=$end_p
  md "| $c | $(fmt rate "$(printf '%s\n' "${ra[@]}" | stats)") | $(fmt rate "$(printf '%s\n' "${rp[@]}" | stats)") | $(fmt ratio "$(printf '%s\n' "${rr[@]}" | stats)") |"
done
md ""

if $valgrind; then
  md "## Instructions per delivery (valgrind, deterministic)" ""
  md "\`valgrind --tool=cachegrind --cache-sim=no\`, N = 4: (instructions at 2T − instructions at T) /" \
    "(4·N·T) with T = $(group "$vg_txns"), so start-up cancels out." ""
  md "| C | acidbase | heap-loop | acidbase / heap-loop |" "|---:|---:|---:|---:|"
  for c in 1 64; do
    note "instructions per delivery, C = $c"
    ia=$(per_delivery acidbase 4 "$vg_txns" "$c") ih=$(per_delivery heap 4 "$vg_txns" "$c")
    md "| $c | $(group "$ia") | $(group "$ih") | $(awk -v a="$ia" -v b="$ih" 'BEGIN { printf "%.2f", a / b }') |"
  done
  md ""
fi

if $simpy; then
  md "## acidbase bench and SimPy (N = 4, T = $(group "$simpy_txns"))" ""
  md "deliveries/s, median (min–max) of $simpy_reps runs each, alternating; the ratio per adjacent pair." ""
  md "| C | acidbase | SimPy | acidbase / SimPy |" "|---:|---:|---:|---:|"
  for c in 1 64; do
    note "acidbase vs SimPy, C = $c, $simpy_reps runs each"
    alternate simpy "$simpy_txns" "$c" "$simpy_reps"
    end_ms[simpy,$simpy_txns,$c]=$end_p
    md "| $c | $(fmt rate "$(printf '%s\n' "${ra[@]}" | stats)") | $(awk -v s="$(printf '%s\n' "${rp[@]}" | stats)" 'BEGIN { split(s, a, " "); if (a[2] == a[3]) printf "%.0f k\n", a[1] / 1e3; else printf "%.0f k (%.0f–%.0f)\n", a[1] / 1e3, a[2] / 1e3, a[3] / 1e3 }') | $(fmt times "$(printf '%s\n' "${rr[@]}" | stats)") |"
  done
  md ""
fi

md "## Simulated time against the analysis (N = 4)" ""
md "At N = 4 a transaction takes 2 · E[max over 4 RMs of (d_out + d_back)] = 29.6366 ms on" \
  "average, so a run should end near T / C × 29.6366 ms (at C = 64 the last slots add a" \
  "fraction of a transaction). Each program draws from its own stream: the statistics" \
  "agree, not the digits. Deterministic: every run of a line prints the same value." ""
md "| program | T | C | sim_end_ms | T / C × 29.6366 | difference |" "|---|---:|---:|---:|---:|---:|"
for key in $(printf '%s\n' "${!end_ms[@]}" | sort -t, -k1,1 -k3,3n); do
  IFS=, read -r impl t c <<<"$key"
  label=${impl/heap/heap-loop}
  label=${label/simpy/SimPy}
  md "$(awk -v i="$label" -v t="$t" -v c="$c" -v e="${end_ms[$key]}" 'BEGIN {
    x = t / c * 29.6366; printf "| %s | %d | %d | %.3f | %.1f | %+.3f %% |", i, t, c, e, x, (e - x) / x * 100 }' | sed -E ':a; s/([| ][0-9]+)([0-9]{3})([ .|,])/\1,\2\3/; ta')"
done
md ""

# --- 2. The cost table ----------------------------------------------------------------
declare -A ns_a ns_h ns_r ins_a ins_h
for n in "${table_rms[@]}"; do
  for c in "${table_conc[@]}"; do
    t=$((table_deliveries / (4 * n)))
    ((t >= 8 * c)) || t=$((8 * c))
    note "cost table N = $n, C = $c, T = $t"
    ra=() rh=() rr=() refused=false
    for ((i = 0; i < table_reps; i++)); do
      oh=$(bench heap "$n" "$t" "$c")
      h=$(field deliveries_per_wall_s <<<"$oh")
      rh+=("$(awk -v r="$h" 'BEGIN { printf "%.2f\n", 1e9 / r }')")
      $refused && continue
      if oa=$(bench acidbase "$n" "$t" "$c"); then
        a=$(field deliveries_per_wall_s <<<"$oa")
        ra+=("$(awk -v r="$a" 'BEGIN { printf "%.2f\n", 1e9 / r }')")
        rr+=("$(ratio "$a" "$h")")
      elif tail -n 2 "$raw" | grep -q 'no valid bench scenario'; then
        refused=true
      else
        note "acidbase bench --rms $n --txns $t --concurrency $c failed (the end of $raw says why)"
        exit 1
      fi
    done
    ns_h[$n,$c]=$(fmt ns "$(printf '%s\n' "${rh[@]}" | stats)")
    if $refused; then
      ns_a[$n,$c]="refused" ns_r[$n,$c]="–"
    else
      ns_a[$n,$c]=$(fmt ns "$(printf '%s\n' "${ra[@]}" | stats)")
      ns_r[$n,$c]=$(fmt ratio "$(printf '%s\n' "${rr[@]}" | stats)")
    fi
    if $table_instr; then
      tv=$((table_vg_deliveries / (4 * n)))
      ((tv >= 2 * c)) || tv=$((2 * c))
      ins_h[$n,$c]=$(per_delivery heap "$n" "$tv" "$c")
      if $refused; then ins_a[$n,$c]="refused"; else ins_a[$n,$c]=$(per_delivery acidbase "$n" "$tv" "$c"); fi
    fi
  done
done
# table TITLE ARRAY: one N × C table of ARRAY's cells.
table() {
  local -n cells=$2
  md "$1" "" "| N \\ C |$(printf ' %s |' "${table_conc[@]}")" "|---:|$(printf -- '---:|%.0s' "${table_conc[@]}")"
  for n in "${table_rms[@]}"; do
    local row="| $n |"
    for c in "${table_conc[@]}"; do row+=" ${cells[$n,$c]} |"; done
    md "$row"
  done
  md ""
}
md "## Cost by N and C" ""
md "Each run makes about $(group "$table_deliveries") deliveries (T = that / 4N, and at least 8 per slot);" \
  "median (min–max) of $table_reps runs, heap-loop and acidbase alternating." \
  "*refused*: \`acidbase bench\` rejected that N and C as no valid bench scenario" \
  "(none since issue 16 shares the balance bound among the N × C accounts)." ""
table "### ns per delivery, acidbase" ns_a
table "### ns per delivery, heap-loop" ns_h
table "### acidbase / heap-loop (deliveries per second; per adjacent pair)" ns_r
if $table_instr; then
  declare -A ins_r
  for n in "${table_rms[@]}"; do
    for c in "${table_conc[@]}"; do
      if [[ ${ins_a[$n,$c]} == refused ]]; then ins_r[$n,$c]="–"; else
        ins_r[$n,$c]=$(awk -v a="${ins_a[$n,$c]}" -v b="${ins_h[$n,$c]}" 'BEGIN { printf "%.2f", a / b }')
      fi
    done
  done
  md "Instructions per delivery (valgrind; between T and 2T with T = $(group "$table_vg_deliveries") / 4N, at least 2 per slot):" ""
  table "### instructions per delivery, acidbase" ins_a
  table "### instructions per delivery, heap-loop" ins_h
  table "### instructions per delivery, acidbase / heap-loop" ins_r
fi

# --- 3. Sweeps ----------------------------------------------------------------------
sweep_file=benches/sweep-speed.ron
scratch=$(mktemp -d)
trap 'rm -f "$body"; rm -rf "$scratch"' EXIT
if $quick; then
  sed "s/seeds: 100/seeds: $sweep_seeds/" "$sweep_file" >"$scratch/sweep-speed.ron"
  sweep_file=$scratch/sweep-speed.ron
fi
declare -A sw
sj1=() sj2=() sjr=()
for ((i = 0; i < sweep_reps; i++)); do
  for j in 1 2; do
    note "sweep --jobs $j"
    o=$("$acidbase" sweep "$sweep_file" --jobs "$j" --out "$scratch/sweep-$j" --force --quiet)
    echo "$o" >>"$raw"
    sw[$j]=$(grep -o '([0-9.]* runs/s' <<<"$o" | tr -d '(' | awk '{ print $1 }')
    runs=$(grep -o '[0-9]* runs in this sweep' <<<"$o" | awk '{ print $1 }')
    cmp -s "$scratch/sweep-1/runs.csv" "$scratch/sweep-$j/runs.csv" || { note "runs.csv differs between --jobs 1 and --jobs $j"; exit 1; }
  done
  sj1+=("${sw[1]}") sj2+=("${sw[2]}") sjr+=("$(ratio "${sw[2]}" "${sw[1]}")")
done
md "## Sweeps: runs per second" ""
md "\`acidbase sweep benches/sweep-speed.ron --jobs J --force --quiet\` ($runs runs), --jobs 1 and 2" \
  "alternating, $sweep_reps times; the runs/s the sweep prints. runs.csv is byte-identical at both." ""
md "| --jobs 1 | --jobs 2 | jobs 2 / jobs 1 |" "|---:|---:|---:|"
md "| $(fmt x "$(printf '%s\n' "${sj1[@]}" | stats)") | $(fmt x "$(printf '%s\n' "${sj2[@]}" | stats)") | $(fmt ratio "$(printf '%s\n' "${sjr[@]}" | stats)") |" ""

# --- 4. The exhaustive checker ----------------------------------------------------------
md "## Exhaustive checking: Lamport's TwoPhase, N = $ex_rms" ""
md "acidbase's port (\`cargo bench --bench two-phase-port\`, breadth-first) and" \
  "benches/stateright-2pc; seconds, median (min–max) of $ex_reps runs, alternating; states/s" \
  "is unique states / median seconds." ""
md "| checker | threads | search | unique states | seconds | states/s |" "|---|---:|---|---:|---:|---:|"
ex_row() { # LABEL THREADS SEARCH CMD...: one row (or "n/a" if the command refuses).
  local label=$1 threads=$2 search=$3 secs=() o states=""
  shift 3
  for ((i = 0; i < ex_reps; i++)); do
    if ! o=$("$@" 2>&1); then
      echo "$o" >>"$raw"
      md "| $label | $threads | $search | – | not supported by this build | – |"
      return 0
    fi
    echo "$o" >>"$raw"
    secs+=("$(field seconds <<<"$o")")
    states=$(field unique_states <<<"$o")
  done
  local s
  s=$(printf '%s\n' "${secs[@]}" | stats)
  md "| $label | $threads | $search | $(group "$states") | $(fmt s "$s") | $(group "$(awk -v n="$states" -v s="$s" 'BEGIN { split(s, a, " "); printf "%.0f", n / a[1] }')") |"
}
for threads in 1 2; do
  note "exhaustive TwoPhase N = $ex_rms, $threads thread(s)"
  ex_row "acidbase port" "$threads" bfs "$port" --rms "$ex_rms" --threads "$threads"
  if $stateright; then
    ex_row stateright "$threads" bfs "$sr" --rms "$ex_rms" --threads "$threads" --search bfs
    ex_row stateright "$threads" dfs "$sr" --rms "$ex_rms" --threads "$threads" --search dfs
  fi
done
md ""

# --- 5. Memory --------------------------------------------------------------------------
if $memory; then
  md "## Memory" "" "Max RSS (GNU time's %M) of \`acidbase bench --rms 4 --concurrency 64 --txns T\`, one run each:" ""
  md "| T | max RSS | deliveries/s in that run |" "|---:|---:|---:|"
  for t in "$main_txns" $((10 * main_txns)); do
    note "max RSS of acidbase bench, T = $t"
    o=$( { /usr/bin/time -f 'maxrss_kb: %M' "$acidbase" bench --rms 4 --concurrency 64 --txns "$t" --seed "$seed"; } 2>&1)
    echo "$o" >>"$raw"
    md "| $(group "$t") | $(group "$(field maxrss_kb <<<"$o")") KiB | $(fmt rate "$(field deliveries_per_wall_s <<<"$o") - -") |"
  done
  md "" "\`benches/memory.sh $memory_sizes\` (max RSS by transactions begun, per protocol; one run each):" ""
  note "benches/memory.sh $memory_sizes"
  # shellcheck disable=SC2086
  mem_table=$(benches/memory.sh $memory_sizes)
  echo "$mem_table" >>"$raw"
  md "$mem_table" ""
fi

# --- The file --------------------------------------------------------------------------
{
  echo "# Performance figures"
  echo
  echo "Written by \`benches/performance.sh$($quick && echo ' --quick')\`$($quick && echo ' (quick: tiny runs to test the script; not figures to quote)')."
  echo
  echo "- Started $started_at; commit $commit."
  echo "- Machine: $(nproc) cores, $cpu, $mem; load average (1, 5, 15 min) $load_start at the start, $(loadavg) at the end."
  echo "- $(rustc --version 2>/dev/null || echo rustc ?); $(python3 --version 2>&1 || echo no python3)$($simpy && python3 -c 'import simpy; print(", SimPy", simpy.__version__)' 2>/dev/null | tr -d '\n'); $($valgrind && valgrind --version || echo no valgrind)."
  if [[ -n $overrides ]]; then echo "- Release profile overridden from the environment: \`$overrides\` (the figures are then not those of the shipped profile)."; fi
  echo
  cat "$body"
} >"$figures"
cat "$figures"
note "wrote $figures and $raw"
