# shellcheck shell=bash
# Sourced by the scripts/bench*.sh scripts: a temp folder, the
# processes a script starts (all stopped on exit) and free loopback ports.
#
#   bench_begin NAME   makes $work (kept on exit when $KEEP is set), empties
#                      $pids and sets the traps; append each child: pids+=($!)
#   free_port          prints a loopback port below the ephemeral range that
#                      nothing listens on and this script has not handed out
#   proc_kb FIELD PID  prints FIELD of /proc/PID/status (VmRSS, VmHWM), in
#                      kB, summed over PID and its children (bindery and
#                      its hashing helper, [hashing] nice)
# $STOP_SIGNAL (default TERM) is what the children get first; after 5 s,
# SIGKILL.

bench_begin() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local pid i
  for pid in "${pids[@]}"; do
    kill -"${STOP_SIGNAL:-TERM}" "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP:-}" ]; then
    echo "bench: kept $work"
  else
    rm -rf "$work"
  fi
}

used_ports=" "
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$ephemeral_low" -gt 11000 ] 2>/dev/null || ephemeral_low=32768
free_port() {
  local p
  while :; do
    # Below the ephemeral range: a port there may be the source port of
    # a connection (bindbench's, bindery's to slapd), and a listener
    # then fails with "address already in use".
    p=$((10000 + RANDOM % (ephemeral_low - 10000)))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports="$used_ports$p "
      echo "$p"
      return
    fi
  done
}

proc_kb() {
  local p
  for p in "$2" $(pgrep -P "$2" || true); do
    sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$p/status" 2>/dev/null
  done | awk '{s += $1} END {print s + 0}'
}
