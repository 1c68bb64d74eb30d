#!/bin/bash
# Runs the book's Slurm array scripts (benches/slurm/*.sbatch, shown in
# book/src/sweeps.md) for real on a single-node Slurm cluster, then checks that
# what `acidbase merge` makes of the shards is byte for byte what one machine
# running everything makes:
#   1. sweep.sbatch: scenarios/sweeps/cap.ron in 4 shards, merged by a dependent
#      job; the merged directory must equal `acidbase sweep cap.ron` (every file).
#   2. explore.sbatch: an explore of 300 seeds in 3 shards, merged (text and JSON);
#      must equal `acidbase explore` of the same seeds.
#   3. explore.sbatch --swarm: two built-in configurations and a scenario file's
#      swarm in 3 shards, merged; must equal the one-machine swarm, including the
#      failing worlds written to --out (bar the one wall-clock figure the swarm
#      prints, "runs in X s" / "seconds": the merge gives the shards' sum).
#
# Sets up Slurm if it is missing (Debian's slurm-wlm and munge, as root): munged,
# slurmctld and slurmd started by hand, this host the controller and the only
# compute node (CPUs=2), no cgroups (proctrack/linuxproc, task/none), so it works
# in a container without systemd. A slurm.conf this script did not write is left
# alone, daemons and all: the jobs go to that cluster. Exits non-zero on any
# difference.
#
# Usage: benches/slurm/run.sh [path/to/acidbase]   (default: target/release/acidbase)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$repo/target}/release/acidbase}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "run.sh: no acidbase binary at $bin (cargo build --release)" >&2; exit 2; }
start=$(date +%s)

say() { echo "slurm/run.sh: $*" >&2; }

# --- Slurm, once -----------------------------------------------------------
if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] || { say "Slurm is not installed and this is not root: apt-get install slurm-wlm munge"; exit 2; }
    say "installing slurm-wlm and munge (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
host=$(hostname -s)
conf=/etc/slurm/slurm.conf
if [ -e "$conf" ] && ! grep -q "acidbase single-node" "$conf"; then
    # Someone's real cluster: leave its configuration and daemons alone, submit.
    say "using the Slurm configured in $conf (not written by this script)"
    own=no
else
    own=yes
fi
if [ $own = yes ] && [ ! -e "$conf" ]; then
    [ "$(id -u)" = 0 ] || { say "no single-node $conf and this is not root"; exit 2; }
    say "writing $conf (single node $host, CPUs=2)"
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$conf" <<EOF
# acidbase single-node cluster (benches/slurm/run.sh): this host is the controller
# and the only compute node; no cgroups, no systemd.
ClusterName=acidbase
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
DependencyParameters=kill_invalid_depend
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
fi
if [ $own = yes ]; then
if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
if ! pgrep -x slurmctld >/dev/null; then
    say "starting slurmctld"
    slurmctld -c
fi
if ! pgrep -x slurmd >/dev/null; then
    say "starting slurmd"
    slurmd
fi
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) break ;; esac
    sleep 1
done
case "$state" in
    idle*|mixed*|allocated*) ;;
    down*|drain*) scontrol update nodename="$host" state=resume; sleep 2 ;;
    *) say "the node is not up (sinfo: '$state'); see /var/log/slurm/"; exit 2 ;;
esac
fi
setup=$(date +%s)
say "Slurm up ($(sinfo -h -o '%P %D %T %c') CPUs) in $((setup - start)) s"

# --- the runs --------------------------------------------------------------
work=$(mktemp -d /tmp/acidbase-slurm.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$repo"/benches/slurm/*.sbatch "$work"/
ln -s "$repo/scenarios" "$work/scenarios"
cd "$work"
mkdir -p one
export PATH=$(dirname "$bin"):$PATH
# Every array task takes one CPU (the book's scripts ask for 4: this node has 2).
cpus=--cpus-per-task=1
fail=0
differ() { say "DIFFERENT: $*"; fail=1; }

# The one wall-clock figure of a swarm's summary, masked.
mask() { sed -E 's/ runs in [0-9.]+ s$/ runs in X s/; s/"seconds": [0-9.e+-]+/"seconds": X/' "$1"; }

# Submits an array job ($@) and a merge job ($merge, a shell command) that runs
# once every task succeeded (a failed task cancels it: kill_invalid_depend).
merges=()
array_then_merge() {
    local jid
    jid=$(sbatch --parsable "$@") || { differ "sbatch $*"; return; }
    merges+=("$(sbatch --parsable --dependency=afterok:$jid --wrap "$merge")")
}

# Everything is submitted first; the one-machine runs go while Slurm works.
# 1. The sweep: 4 shards and the book's dependent merge.
merge='acidbase merge results/cap/shard-*-of-4 --out results/cap/merged; echo $? > results/cap/rc'
array_then_merge --array=0-3 $cpus sweep.sbatch
# 2. An explore: 3 shards, merged as text and as JSON (with the exit codes).
explore=(scenarios/2pc-unsafe-random-faults.ron --seeds 1..=300 --ignore-expect)
r=results/explore
merge="acidbase merge $r/part-*-of-3.json > $r/summary.txt; echo \$? > $r/rc; acidbase merge $r/part-*-of-3.json --format json > $r/summary.json; echo \$? >> $r/rc"
OUT=$r array_then_merge --array=0-2 $cpus explore.sbatch "${explore[@]}"
# 3. The swarm: built-in rows, and a scenario file's (its failures are written).
swarm_args() {
    if [ "$1" = builtins ]; then
        swarm=(--swarm --config 2pc,2pc-unsafe-timeout --seeds 1..=60)
    else
        swarm=(scenarios/2pc-unsafe-timeout.ron --swarm --seeds 1..=60)
    fi
}
for run in builtins file; do
    swarm_args $run
    r=results/swarm-$run
    merge="acidbase merge $r/part-*-of-3.json > $r/summary.txt; echo \$? > $r/rc"
    OUT=$r array_then_merge --array=0-2 $cpus explore.sbatch "${swarm[@]}" --out $r/failures
done
submitted=$(date +%s)

set +e
acidbase sweep scenarios/sweeps/cap.ron --out one/cap --quiet >/dev/null
acidbase explore "${explore[@]}" >one/explore.txt; echo $? >one/explore.rc
acidbase explore "${explore[@]}" --format json >one/explore.json; echo $? >>one/explore.rc
for run in builtins file; do
    swarm_args $run
    acidbase explore "${swarm[@]}" --out one/$run-failures >one/swarm-$run.txt; echo $? >one/swarm-$run.rc
done
set -e
ones=$(date +%s)

# Wait for the merges (a cancelled one leaves no rc file: the checks say so).
for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$(IFS=,; echo "${merges[*]}")" 2>/dev/null)" ] && break
    sleep 0.5
done
waited=$(date +%s)

# 1. The sweep: every file of the directory.
[ "$(cat results/cap/rc 2>/dev/null)" = 0 ] || differ "sweep: the merge job failed or did not run"
diff -r one/cap results/cap/merged >/dev/null || differ "sweep: merged shards vs one machine"
say "sweep: $(ls results/cap/merged 2>/dev/null | wc -l) files merged and compared"
# 2. The explore.
r=results/explore
cmp one/explore.txt $r/summary.txt || differ "explore text"
cmp one/explore.json $r/summary.json || differ "explore JSON"
cmp one/explore.rc $r/rc || differ "explore exit codes"
say "explore: $(head -1 one/explore.txt) (exit $(head -1 one/explore.rc))"
# 3. The swarms.
for run in builtins file; do
    r=results/swarm-$run
    cmp one/swarm-$run.rc $r/rc || differ "swarm ($run) exit codes"
    # The one machine wrote its failing worlds to one/$run-failures/: the same
    # files under another directory name, which the summary and each file's
    # header name.
    diff <(mask one/swarm-$run.txt | sed "s#one/$run-failures/#$r/failures/#g") \
        <(mask $r/summary.txt) || differ "swarm ($run) summary"
    one=$(ls one/$run-failures 2>/dev/null || true)
    merged=$(ls $r/failures 2>/dev/null || true)
    [ "$one" = "$merged" ] || differ "swarm ($run): the failing worlds written"
    for f in $one; do
        cmp <(sed "s#one/$run-failures/#$r/failures/#g" one/$run-failures/$f) $r/failures/$f \
            || differ "swarm ($run): $f"
    done
    say "swarm ($run): $(head -1 one/swarm-$run.txt | sed -E 's/ in [0-9.]+ s$//'), $(echo $one | wc -w) failing world(s) written (exit $(head -1 one/swarm-$run.rc))"
done
say "submitting $((submitted - setup)) s, one-machine runs $((ones - submitted)) s, waiting for Slurm $((waited - ones)) s more"

end=$(date +%s)
say "setup $((setup - start)) s, runs and checks $((end - setup)) s"
if [ $fail = 0 ]; then
    say "OK: every merged result is byte-identical to the one-machine run"
fi
exit $fail
