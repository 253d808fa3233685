#!/usr/bin/env bash
# The first morning of term, measured (docs/benchmarks.md, "Bursts of first
# logins"); prints one table.
#
# In a temporary folder, on free loopback ports, with bindery's defaults
# (argon2id m=19456 KiB, t=2; [hashing] workers = CPUs, max_wait = 10s):
#   bursts: for each N in $BURSTS, a freshly started bindery (cache empty),
#           N connections from 127.0.0.4, N distinct patrons with the right
#           PIN at the same instant (bindbench --burst): the count of each
#           result, the time to the last success, and the target
#           N x (one verification) / workers x 1.3, one verification being
#           bindery_hash_seconds just after start (the fastest of three
#           verifications bindery times at start) and, after the burst, what
#           it measured during the burst;
#   storm:  one bindery; cached binds of $USERS primed patrons measured from
#           127.0.0.3 (quiet); then $STORM_CONNS connections of distinct
#           wrong PINs from 127.0.0.2 ({SSHA} patrons: a wrong PIN still
#           costs a full argon2id); 5 s in, the cached binds again (during),
#           then the same bursts from 127.0.0.4 (other patrons, never bound);
#           after the storm, the cached binds once more. RSS peak (VmHWM).
#
#   scripts/bench-burst.sh
#   BURSTS="100 300" ONLY=bursts scripts/bench-burst.sh       # ONLY=bursts or ONLY=storm
#   EXTRA=$'[hashing]\nworkers = 1' scripts/bench-burst.sh     # appended to the config
#   BINDERY_ENV="GOMAXPROCS=4 GOMEMLIMIT=200MiB" scripts/bench-burst.sh   # bindery's environment
#   KEEP=1 scripts/bench-burst.sh                              # keep the temp folder
#
# The machine's load average is printed with each phase: numbers taken on a
# machine others use are noisy; compare within one run. Every process it
# starts is stopped on exit (trap EXIT), and the folder removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

BURSTS=${BURSTS-100 300 1000}   # BURSTS="" for none
USERS=${USERS:-1000}
STORM_USERS=${STORM_USERS:-20000}
STORM_CONNS=${STORM_CONNS:-500}
CONNS=${CONNS:-16}
DURATION=${DURATION:-20s}
ONLY=${ONLY:-}
EXTRA=${EXTRA:-}
BINDERY_ENV=${BINDERY_ENV:-}
KEEP=${KEEP:-}

# shellcheck source=lib/install-slapd.sh
. scripts/lib/install-slapd.sh
install_slapd_if_missing # ldapwhoami, for the readiness check
# shellcheck source=lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_begin bindery-burst

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "== building into $work/bin"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/bindery ./cmd/binderyctl ./cmd/bindbench
bb="$work/bin/bindbench"
SUFFIX="dc=library,dc=example,dc=edu"
secs=${DURATION%s}

sum=0
for n in $BURSTS; do sum=$((sum + n)); done
total=$((USERS + sum))
echo "== generating $total patrons with argon2id PINs (one verification each; load average $(load))"
"$bb" gen-users --count "$total" --prefix CU --against-base "ou=people,$SUFFIX" --against-out "$work/all.csv" \
  --import "$work/import.csv" --hash argon2id --out /dev/null >/dev/null
head -n $((USERS + 1)) "$work/all.csv" >"$work/users.csv"
echo "== generating $STORM_USERS storm patrons ({SSHA})"
"$bb" gen-users --count "$STORM_USERS" --prefix PU --against-base "ou=people,$SUFFIX" --against-out "$work/storm.csv" \
  --import "$work/storm-import.csv" --hash ssha --out /dev/null >/dev/null

PORT=$(free_port)
HTTP=$(free_port)
URL="ldap://127.0.0.1:$PORT"
cat >"$work/bindery.toml" <<CONF
[server]
listen = "127.0.0.1:$PORT"
suffix = "$SUFFIX"

[log]
level = "warn"

[http]
listen = "127.0.0.1:$HTTP"

[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}\$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "$work/pins.db"

[cache]
ttl = "30m"
CONF
if [ -n "$EXTRA" ]; then
  printf '\n%s\n' "$EXTRA" >>"$work/bindery.toml"
fi
"$work/bin/bindery" --config "$work/bindery.toml" --check >/dev/null
echo "== importing"
"$work/bin/binderyctl" --config "$work/bindery.toml" --operator bench import "$work/import.csv" | tail -n 1
"$work/bin/binderyctl" --config "$work/bindery.toml" --operator bench import "$work/storm-import.csv" | tail -n 1

bpid=
start_bindery() {
  # shellcheck disable=SC2086 # BINDERY_ENV is a list of NAME=value words
  env $BINDERY_ENV "$work/bin/bindery" --config "$work/bindery.toml" >>"$work/bindery.log" 2>&1 &
  bpid=$!
  pids+=("$bpid")
  for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null 2>&1 && return
    [ "$i" -eq 100 ] && { echo "bench: bindery did not start" >&2; tail "$work/bindery.log" >&2; exit 1; }
    sleep 0.1
  done
}
stop_bindery() {
  kill -TERM "$bpid" 2>/dev/null || true
  wait "$bpid" 2>/dev/null || true
}
metric() { curl -sf "http://127.0.0.1:$HTTP/metrics" | awk -v m="$1" '$1==m{print $2}'; }
hwm() { proc_kb VmHWM "$bpid"; }
# burst NAME N OFFSET: one burst from 127.0.0.4, its key=value line into $work/NAME.kv
burst() {
  "$bb" --url "$URL" --users "$work/all.csv" --burst "$2" --burst-offset "$3" --source 127.0.0.4 \
    --label "$1" >"$work/$1.txt" 2>"$work/$1.err" || { cat "$work/$1.err" >&2; return 1; }
  grep '^burst ' "$work/$1.txt" | sed 's/^burst //' >"$work/$1.kv"
}
kv() { tr ' ' '\n' <"$work/$1.kv" | awk -F= -v k="$2" '$1==k{print $2}'; }
# burst_row NAME VERIFY_S WORKERS HWM_KB VERIFY_AFTER_S
burst_row() {
  local n ok c49 c51 last other target
  n=$(kv "$1" n); ok=$(kv "$1" ok); c49=$(kv "$1" wrong_49); c51=$(kv "$1" refused_51); last=$(kv "$1" last_success_s)
  other=$((n - ok - c49 - c51))
  target=$(awk -v n="$n" -v v="$2" -v w="$3" 'BEGIN{printf "%.2f", n*v/w*1.3}')
  printf '%6s %6s %4s %5s %6s %12s %10s %10s %10s %9s\n' "$n" "$ok" "$c49" "$c51" "$other" "$last" "$target" \
    "$(awk -v v="$2" 'BEGIN{printf "%.1f", v*1000}')" "$(awk -v v="$5" 'BEGIN{printf "%.1f", v*1000}')" "$(($4 / 1024))"
}
burst_header() {
  printf '%6s %6s %4s %5s %6s %12s %10s %10s %10s %9s\n' N "0 ok" 49 "51" other "last ok (s)" "target (s)" "verify ms" "in burst" "VmHWM MB"
}

if [ "$ONLY" != storm ]; then
  echo "== bursts, a freshly started bindery each"
  for n in $BURSTS; do
    start_bindery
    echo "-- burst of $n (load average $(load))"
    v0=$(metric bindery_hash_seconds)
    burst "quiet-$n" "$n" "$USERS"
    echo "$v0 $(metric bindery_hash_workers) $(hwm) $(metric bindery_hash_seconds)" >"$work/quiet-$n.m"
    stop_bindery
  done
fi

if [ "$ONLY" != bursts ]; then
  echo "== storm"
  start_bindery
  measure() { # NAME [extra bindbench flags]
    local name=$1
    shift
    "$bb" --url "$URL" --users "$work/users.csv" --conns "$CONNS" --duration "$DURATION" --warmup 2s \
      --source 127.0.0.3 --label "$name" "$@" >"$work/$name.txt" 2>"$work/$name.err"
  }
  echo "-- quiet cached binds (load average $(load))"
  measure quiet --prime
  storm_secs=$((5 + secs + 2 + 20 * $(echo "$BURSTS" | wc -w) + 10))
  echo "-- storm: $STORM_CONNS connections of distinct wrong PINs from 127.0.0.2, ${storm_secs} s"
  "$bb" --url "$URL" --users "$work/storm.csv" --pick random --wrong 1 --conns "$STORM_CONNS" --source 127.0.0.2 \
    --duration "${storm_secs}s" --warmup 0s --timeout 30s --max-error-rate 1 --label storm \
    >"$work/storm.txt" 2>"$work/storm.err" &
  storm=$!
  pids+=("$storm")
  sleep 5
  echo "-- cached binds during the storm (load average $(load))"
  measure during
  off=$USERS
  for n in $BURSTS; do
    echo "-- burst of $n during the storm (load average $(load))"
    v0=$(metric bindery_hash_seconds)
    burst "storm-$n" "$n" "$off"
    echo "$v0 $(metric bindery_hash_workers) $(hwm) $(metric bindery_hash_seconds)" >"$work/storm-$n.m"
    off=$((off + n))
  done
  storm_load=$(load)
  wait "$storm" || true
  sleep 5
  echo "-- after the storm"
  measure after
  storm_hwm=$(hwm)
  storm_refused=$(metric bindery_hash_refused_total)
  stop_bindery
fi

echo
echo "== results: $(nproc) CPUs, $(go version | cut -d' ' -f3); load average now $(load)"
[ -n "$EXTRA" ] && echo "config extra: $(echo "$EXTRA" | tr '\n' ' ')"
[ -n "$BINDERY_ENV" ] && echo "bindery's environment: $BINDERY_ENV"
if [ "$ONLY" != storm ]; then
  echo "bursts, bindery's defaults, a fresh bindery (empty cache) each; N distinct patrons at the same instant"
  echo "(verify ms: one verification timed by bindery at start; in burst: bindery_hash_seconds after it):"
  burst_header
  for n in $BURSTS; do
    read -r v w h va <"$work/quiet-$n.m"
    burst_row "quiet-$n" "$v" "$w" "$h" "$va"
  done
fi
if [ "$ONLY" != bursts ]; then
  row() { awk '$1=="all"{print $3, $7, $9, $6}' "$work/$1.txt"; } # binds/s p50 p99 errors
  read -r q_bps q_p50 q_p99 q_err <<<"$(row quiet)"
  read -r d_bps d_p50 d_p99 d_err <<<"$(row during)"
  read -r a_bps a_p50 a_p99 a_err <<<"$(row after)"
  echo "cached binds ($USERS primed patrons, $CONNS connections from 127.0.0.3):"
  printf '%-22s %10s %8s %8s %7s\n' "" "binds/s" "p50 ms" "p99 ms" "errors"
  printf '%-22s %10s %8s %8s %7s\n' quiet "$q_bps" "$q_p50" "$q_p99" "$q_err"
  printf '%-22s %10s %8s %8s %7s\n' "during the storm" "$d_bps" "$d_p50" "$d_p99" "$d_err"
  printf '%-22s %10s %8s %8s %7s\n' "after the storm" "$a_bps" "$a_p50" "$a_p99" "$a_err"
  echo "p99 during / quiet: $(awk -v d="$d_p99" -v q="$q_p99" 'BEGIN{printf "%.2f", d/q}')"
  echo "bursts from 127.0.0.4 during the storm (load average at its end $storm_load):"
  burst_header
  for n in $BURSTS; do
    read -r v w h va <"$work/storm-$n.m"
    burst_row "storm-$n" "$v" "$w" "$h" "$va"
  done
  echo "storm: $(awk '$1=="all"{print "answered 49: " $5 ", other answers: " $6}' "$work/storm.txt"); $(grep -o 'errors: .*' "$work/storm.txt" | head -n 1 || true)"
  echo "bindery_hash_refused_total at the end: $storm_refused; VmHWM $((storm_hwm / 1024)) MB"
fi
echo "bindery warnings: $(grep -c 'level=WARN' "$work/bindery.log" || true)"
grep 'level=WARN' "$work/bindery.log" | cut -c1-200 | sort | uniq -c | sort -rn | head -n 5 || true
