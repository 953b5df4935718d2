#!/usr/bin/env bash
# Start a real single-node SLURM cluster (Debian's slurmctld + slurmd + munge) on
# localhost, as root, without systemd. Used by .ci/run; undone by .ci/slurm-down.sh.
#
# The node is shaped like a small GPU cluster so that profiles/slurm runs unchanged:
# two partitions named as in the profile (`cpu`, `gpu`), two GPUs as a GRES, and enough
# configured memory for the profile's per-rule mem_mb. The GPU is a placeholder (no
# device file; the CI config runs on CPU) and memory is not enforced (task/none), so
# this checks what SLURM accepts and schedules, not what the jobs use.
#
# Usage: .ci/slurm-up.sh            (prints `sinfo` when the node is idle)
# Env:   SLURM_CI_CPUS (default: nproc), SLURM_CI_MEM_MB (default 256000)
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "slurm-up: needs root" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-up: installing slurmctld slurmd slurm-client munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

# munge authenticates every SLURM RPC; the package normally creates the key.
[ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
install -d -o munge -g munge -m 755 /run/munge
if ! { [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; }; then
    su -s /bin/sh munge -c /usr/sbin/munged
fi
munge -n | unmunge >/dev/null

H=$(hostname -s)
getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts
install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
install -d /etc/slurm

CPUS=${SLURM_CI_CPUS:-$(nproc)}
MEM=${SLURM_CI_MEM_MB:-256000}

# Placeholder GPUs: a GRES on two stand-in device files, so `--gpus=1` / `--gres=gpu:1`
# are accepted and at most two GPU jobs run at once, as on a real two-GPU node (one GPU
# made the CI run wait on SLURM's status polls one GPU job at a time). Without File=,
# slurmd reports 0 GPUs and drains the node.
cat > /etc/slurm/gres.conf <<CONF
NodeName=$H Name=gpu File=/dev/null,/dev/zero Count=2
CONF

# Traps (../shared/notes/slurm-local.md): no slurmdbd, so status must come from squeue,
# which only remembers finished jobs for MinJobAge seconds; it must be >= 3x the
# executor plugin's init_seconds_before_status_checks or the plugin falls back to sacct
# (and hangs). config_overrides: trust this file's CPUs/RealMemory instead of draining
# a node that has less memory than the profile's requests.
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=steerbench-ci
SlurmctldHost=$H
SlurmUser=slurm
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=3600
SchedulerParameters=sched_interval=5
NodeName=$H CPUs=$CPUS RealMemory=$MEM Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$H Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$H MaxTime=INFINITE State=UP
CONF

for d in slurmctld slurmd; do
    pidf=/run/$d.pid
    if [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        echo "slurm-up: $d already running (pid $(cat "$pidf")); reconfiguring"
        continue
    fi
    rm -f "$pidf"
    # -c: start from a clean state, not the jobs and node reasons of an earlier run
    "$d" -c   # daemonises, writes its pid file
done
scontrol reconfigure >/dev/null 2>&1 || true

for _ in $(seq 60); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && break
    sleep 1
done
sinfo
if ! sinfo -h -o %t | grep -qx idle; then
    echo "slurm-up: node never became idle; last log lines:" >&2
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    exit 1
fi
