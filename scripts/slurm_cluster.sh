#!/usr/bin/env bash
# A real two-node Slurm cluster on this machine, for runyard's tests and for trying the Slurm target:
# munged and slurmctld on this host, two slurmd (n1, n2) each on a separate network host of its own
# (scripts/hosts.sh: its own address, hostname and /tmp), configured under $RUNYARD_SLURM_DIR.
#   bash scripts/slurm_cluster.sh up     # prints: export SLURM_CONF=...
#   bash scripts/slurm_cluster.sh down
# The nodes share what a cluster shares: the file system (but /tmp, where only $RUNYARD_SLURM_DIR and the folders
# in $RUNYARD_HOSTS_SHARED are seen) and munge's socket. RUNYARD_SLURM_HOSTS=local puts both slurmd on this host's
# 127.0.0.1 instead (where network namespaces cannot be made). Needs slurm-wlm and munge (scripts/setup.sh), root.
set -euo pipefail
dir=${RUNYARD_SLURM_DIR:-/tmp/runyard-slurm}
conf="$dir/slurm.conf"
here=$(cd "$(dirname "$0")" && pwd)
# network hosts named after the controller's port, so two clusters on one machine do not meet
prefix="rys$(( ${RUNYARD_SLURMCTLD_PORT:-16817} % 10000 ))"
mode=${RUNYARD_SLURM_HOSTS:-netns}

down() {
  for pid in "$dir"/slurmd-n1.pid "$dir"/slurmd-n2.pid "$dir"/slurmctld.pid; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "$dir"/slurmd-n1.pid "$dir"/slurmd-n2.pid "$dir"/slurmctld.pid; do
    [ -f "$pid" ] && kill -9 "$(cat "$pid")" 2>/dev/null || true
    rm -f "$pid"
  done
  [ "$mode" = local ] || bash "$here/hosts.sh" down "$prefix"
}

up() {
  down
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  local ctl_addr=127.0.0.1 addr1=127.0.0.1 addr2=127.0.0.1 name1=localhost name2=localhost
  if [ "$mode" != local ]; then
    local made
    made=$(bash "$here/hosts.sh" up "$prefix" 2)
    ctl_addr=$(echo "$made" | sed -n 's/.*bridge=\([^ ]*\).*/\1/p')
    addr1=$(echo "$made" | sed -n 's/.*hosts=\([^,]*\),.*/\1/p')
    addr2=$(echo "$made" | sed -n 's/.*hosts=[^,]*,\([^ ]*\).*/\1/p')
    name1=n1
    name2=n2
  fi
  cat > "$conf" <<CONF
ClusterName=runyard
SlurmctldHost=$(hostname)($ctl_addr)
SlurmctldPort=${RUNYARD_SLURMCTLD_PORT:-16817}
SlurmUser=root
AuthType=auth/munge
# a requeued job waits the credential lifetime before it may start again (120 s by default): short here
AuthInfo=cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# look at the queue every few seconds (a requeued job becomes eligible by time, with no event to wake the scheduler)
SchedulerParameters=sched_interval=3,bf_interval=3
KillWait=5
MinJobAge=600
InactiveLimit=0
EnforcePartLimits=ALL
# a node that stops answering (a partitioned link) is declared down after this long
SlurmdTimeout=20
NodeName=n1 NodeHostname=$name1 NodeAddr=$addr1 Port=17001 CPUs=1 State=UNKNOWN
NodeName=n2 NodeHostname=$name2 NodeAddr=$addr2 Port=17002 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
  # munged, as the munge user, with its run directory
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
    [ -f /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null;
                                     chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
  fi
  SLURM_CONF="$conf" /usr/sbin/slurmctld -f "$conf" -i
  if [ "$mode" = local ]; then
    SLURM_CONF="$conf" /usr/sbin/slurmd -f "$conf" -N n1
    SLURM_CONF="$conf" /usr/sbin/slurmd -f "$conf" -N n2
  else
    for i in 1 2; do
      SLURM_CONF="$conf" RUNYARD_HOSTS_SHARED="$dir:${RUNYARD_HOSTS_SHARED:-}" \
        bash "$here/hosts.sh" run "$prefix" "$i" "n$i" /usr/sbin/slurmd -f "$conf" -N "n$i"
    done
  fi
  for _ in $(seq 1 100); do
    if SLURM_CONF="$conf" sinfo -h -o '%T' 2>/dev/null | grep -q idle; then
      n=$(SLURM_CONF="$conf" sinfo -h -N -o '%N %T' | grep -c idle || true)
      [ "$n" -ge 2 ] && { echo "export SLURM_CONF=$conf"; return 0; }
    fi
    sleep 0.1
  done
  echo "slurm did not come up; see $dir/log" >&2
  SLURM_CONF="$conf" sinfo >&2 || true
  return 1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
