#!/usr/bin/env bash
# Benchmarks bindery against a real OpenLDAP slapd on this machine and prints
# one table (docs/benchmarks.md explains each line).
#
# In a temporary folder, on free loopback ports, it starts:
#   - slapd with $USERS JULAC users (CU0000001…) and $USERS campus users
#     (u0000001…), loaded with slapadd, {SSHA} passwords;
#   - bindery "cache on" ([cache] ttl = "5m"): the same CU users in its PIN
#     store (binderyctl import, {SSHA} hashes that bindery rehashes to argon2id
#     at the first successful bind) and a campus route to that slapd;
#   - bindery "cache off" ([cache] ttl = "0s"), same config otherwise;
# then runs bindbench (A = bindery, B = slapd, alternately, $ROUNDS rounds),
# which also reads each server's CPU time (/proc/PID/stat) around every round
# and prints CPU µs per bind for both sides; for campus binds through bindery,
# the slapd behind it is counted apart ("+behind"):
#   0. sanity: slapd vs the same slapd (the ratio shows the run-to-run noise)
#   1. cached PIN-store binds through bindery  vs  binds on slapd
#   2. campus binds through bindery, cache off  vs  binds on slapd
#   3. campus binds through bindery, cache on   vs  binds on slapd
#   4. search-then-bind flow, PIN store, cached vs  the same flow on slapd
# and, only when ONLY names them, the floor that issue 17's targets are set
# against (`bindbench floor`, cmd/bindbench/README.md):
#   5. a Go server that answers every bind without looking  vs  slapd
#   6. a Go relay (a connection upstream per client, frames verbatim) in
#      front of the same slapd  vs  slapd direct; the slapd behind counted
#      apart ("+behind")
#
#   scripts/bench.sh
#   USERS=1000 CONNS=16 DURATION=10s ROUNDS=3 WARMUP=2s scripts/bench.sh
#   ONLY=2,3 scripts/bench.sh          # some comparisons only (default 0,1,2,3,4)
#   ONLY=0,1,2,5,6 scripts/bench.sh    # bindery beside the floor of a Go server and relay
#   KEEP=1 scripts/bench.sh            # keep the temp folder (configs, logs, JSON)
#   EXTRA=$'[hashing]\nnice = 0' scripts/bench.sh   # appended to both bindery configs
#   AGAINST_REF=main ONLY=1,2,3 scripts/bench.sh
#       side B is not slapd but bindery built from that git ref (same configs,
#       its own copy of the PIN store): this tree's bindery against an older
#       one, alternately in one run (before/after numbers of a change)
#   CACHE_TTL=1h scripts/bench.sh      # cache on's ttl (default 5m): comparisons longer
#                                      # than the ttl see entries expire mid-run (argon2id)
#   LOG_LEVEL=warn scripts/bench.sh    # bindery's [log] level (default info, the
#                                      # default of bindery: a line per bind, to a file)
#   BENCH_NO_CACHE_TABLE=1 scripts/bench.sh
#       leaves the [cache] tables out of the configs, for a bindery that does
#       not know them yet (it rejects unknown keys): "cache on" and "cache off"
#       are then the same uncached server, and the table says so.
#
# Every process it starts is stopped on exit (trap EXIT), and the folder removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

USERS=${USERS:-1000}
CONNS=${CONNS:-16}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
ONLY=${ONLY:-0,1,2,3,4}
KEEP=${KEEP:-}
BENCH_NO_CACHE_TABLE=${BENCH_NO_CACHE_TABLE:-}
EXTRA=${EXTRA:-}
LOG_LEVEL=${LOG_LEVEL:-info}
CACHE_TTL=${CACHE_TTL:-5m}
AGAINST_REF=${AGAINST_REF:-}

# shellcheck source=lib/install-slapd.sh
. scripts/lib/install-slapd.sh
install_slapd_if_missing
for f in /usr/lib/ldap/back_mdb.so /etc/ldap/schema/inetorgperson.schema; do
  [ -e "$f" ] || { echo "bench: $f is missing (is slapd installed?)" >&2; exit 1; }
done

# shellcheck source=lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_begin bindery-bench

# wait_bind URL DN PASSWORD NAME: polls a real bind until it works (10 s).
wait_bind() {
  local i
  for i in $(seq 100); do
    if ldapwhoami -x -H "$1" -D "$2" -w "$3" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench: $4 did not answer a bind at $1 within 10 s; its log:" >&2
  tail -n 30 "$work/$4.log" >&2 || true
  exit 1
}

echo "== building into $work/bin"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/bindery ./cmd/binderyctl ./cmd/bindbench
bb="$work/bin/bindbench"
if [ -n "$AGAINST_REF" ]; then
  REF_COMMIT=$(git rev-parse --short "$AGAINST_REF^{commit}")
  echo "== building bindery at $AGAINST_REF ($REF_COMMIT) into $work/ref-bin"
  mkdir -p "$work/ref-src" "$work/ref-bin"
  git archive "$REF_COMMIT" | tar -x -C "$work/ref-src"
  (cd "$work/ref-src" && go build -o "$work/ref-bin/" ./cmd/bindery ./cmd/binderyctl)
fi

SUFFIX="dc=library,dc=example,dc=edu"
SLAPD_BASE="dc=example,dc=org"
SLAPD_PEOPLE="ou=people,$SLAPD_BASE"
SLAPD_ADMIN="cn=admin,$SLAPD_BASE"
SLAPD_ADMIN_PW="bench-admin-$RANDOM$RANDOM"
SVC_PW="bench-svc-$RANDOM$RANDOM"

echo "== generating $USERS JULAC and $USERS campus users"
"$bb" gen-users --count "$USERS" --prefix CU --pin-format 'Pw-%08dx' \
  --base "$SLAPD_PEOPLE" --out "$work/pin-slapd.csv" \
  --against-base "ou=people,$SUFFIX" --against-out "$work/pin-bindery.csv" \
  --ldif "$work/pin.ldif" --import "$work/import.csv" --hash ssha >/dev/null
"$bb" gen-users --count "$USERS" --prefix u --pin-format 'Campus-%08d' \
  --base "$SLAPD_PEOPLE" --out "$work/campus-slapd.csv" \
  --against-base "ou=people,$SUFFIX" --against-out "$work/campus-bindery.csv" \
  --ldif "$work/campus.ldif" --ldif-ou=false >/dev/null

echo "== slapd"
SLAPD_PORT=$(free_port)
SLAPD_URL="ldap://127.0.0.1:$SLAPD_PORT"
mkdir -p "$work/slapd/db"
# The same slapd.conf as internal/slapdtest/config.go writes.
{
  for s in core cosine nis inetorgperson; do echo "include /etc/ldap/schema/$s.schema"; done
  echo "pidfile \"$work/slapd/slapd.pid\""
  echo "argsfile \"$work/slapd/slapd.args\""
  echo "modulepath /usr/lib/ldap"
  echo "moduleload back_mdb"
  echo "loglevel none"
  echo
  echo "database mdb"
  echo "maxsize 1073741824"
  echo "suffix \"$SLAPD_BASE\""
  echo "rootdn \"$SLAPD_ADMIN\""
  echo "rootpw $(slappasswd -h '{SSHA}' -s "$SLAPD_ADMIN_PW")"
  echo "directory \"$work/slapd/db\""
  echo "index objectClass,uid eq"
  echo "access to attrs=userPassword by self write by anonymous auth by * none"
  echo "access to * by * read"
} >"$work/slapd/slapd.conf"
{
  printf 'dn: %s\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n' "$SLAPD_BASE"
  cat "$work/pin.ldif" "$work/campus.ldif"
} >"$work/slapd/data.ldif"
slapadd -q -f "$work/slapd/slapd.conf" -l "$work/slapd/data.ldif"
# -d 0: foreground, so that this script owns the process.
slapd -f "$work/slapd/slapd.conf" -h "$SLAPD_URL/" -d 0 >"$work/slapd.log" 2>&1 &
pids+=($!)
SLAPD_PID=$!
wait_bind "$SLAPD_URL" "$SLAPD_ADMIN" "$SLAPD_ADMIN_PW" slapd
echo "slapd $(slapd -VV 2>&1 | sed -n 's/.*slapd \([0-9.]*\).*/\1/p' | head -n 1) at $SLAPD_URL"

# write_config NAME PORT TTL [DB]: a bindery config; TTL "" leaves out [cache];
# DB is the PIN store's file name (default pins.db).
# The service account's hash is {SSHA}, like slapd's rootpw, so that the
# search-bind flow pays the same service-bind cost on both sides.
svc_hash=$(slappasswd -h '{SSHA}' -s "$SVC_PW")
write_config() {
  cat >"$work/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$2"
suffix = "$SUFFIX"

[log]
level = "$LOG_LEVEL"

[[service_account]]
name = "bench"
password_hash = "$svc_hash"
can_search = true

[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}\$'
case = "upper"
backend = "pins"

[[route]]
name = "campus"
match = '^[a-z][a-z0-9]{1,15}\$'
case = "lower"
backend = "campus"

[backend.campus]
type = "ldap"
urls = ["$SLAPD_URL"]
bind_dn = "$SLAPD_ADMIN"
bind_password = "$SLAPD_ADMIN_PW"
base_dn = "$SLAPD_PEOPLE"
user_filter = "(uid={id})"
timeout = "5s"
pool_size = $CONNS

[backend.pins]
type = "pinstore"
driver = "sqlite"
dsn = "$work/${4:-pins.db}"
EOF
  if [ -n "$3" ]; then
    printf '\n[cache]\nttl = "%s"\n' "$3" >>"$work/$1.toml"
  fi
  if [ -n "$EXTRA" ]; then
    printf '\n%s\n' "$EXTRA" >>"$work/$1.toml"
  fi
}

if [ -n "$BENCH_NO_CACHE_TABLE" ]; then
  ttl_on="" ttl_off=""
  cache_note="BENCH_NO_CACHE_TABLE set: no [cache] table, both bindery servers run without a cache"
else
  ttl_on="$CACHE_TTL" ttl_off="0s"
  cache_note="cache on: [cache] ttl = \"$CACHE_TTL\"; cache off: [cache] ttl = \"0s\""
fi
ON_PORT=$(free_port)
OFF_PORT=$(free_port)
write_config bindery-cache "$ON_PORT" "$ttl_on"
write_config bindery-nocache "$OFF_PORT" "$ttl_off"
configs=(bindery-cache bindery-nocache)
if [ -n "$AGAINST_REF" ]; then
  REF_ON_PORT=$(free_port)
  REF_OFF_PORT=$(free_port)
  write_config ref-cache "$REF_ON_PORT" "$ttl_on" pins-ref.db
  write_config ref-nocache "$REF_OFF_PORT" "$ttl_off" pins-ref.db
fi
for c in "${configs[@]}"; do
  if ! out=$("$work/bin/bindery" --config "$work/$c.toml" --check 2>&1); then
    echo "$out" >&2
    case "$out" in
      *"cache: unknown key"*)
        echo "bench: this bindery does not know [cache] yet; BENCH_NO_CACHE_TABLE=1 scripts/bench.sh runs without it" >&2 ;;
    esac
    exit 1
  fi
done

echo "== importing $USERS patrons into the PIN store"
"$work/bin/binderyctl" --config "$work/bindery-cache.toml" --operator bench import "$work/import.csv" | tail -n 3

echo "== bindery (cache on, then cache off)"
# Its log (a line per bind at level info) goes to a file, as under systemd
# with a file or journald, never to a terminal.
# start_bindery BINDIR NAME PORT: that build of bindery with $work/NAME.toml.
start_bindery() {
  "$1/bindery" --config "$work/$2.toml" >"$work/$2.log" 2>&1 &
  pids+=($!)
  wait_bind "ldap://127.0.0.1:$3" "cn=bench,ou=services,$SUFFIX" "$SVC_PW" "$2"
}
start_bindery "$work/bin" bindery-cache "$ON_PORT"
ON_PID=$!
start_bindery "$work/bin" bindery-nocache "$OFF_PORT"
OFF_PID=$!
if [ -n "$AGAINST_REF" ]; then
  "$work/ref-bin/binderyctl" --config "$work/ref-cache.toml" --operator bench import "$work/import.csv" | tail -n 1
  start_bindery "$work/ref-bin" ref-cache "$REF_ON_PORT"
  REF_ON_PID=$!
  start_bindery "$work/ref-bin" ref-nocache "$REF_OFF_PORT"
  REF_OFF_PID=$!
fi
ON_URL="ldap://127.0.0.1:$ON_PORT"
OFF_URL="ldap://127.0.0.1:$OFF_PORT"

# start_floor NAME PORT [FLOOR-ARGS...]: bindbench floor, ready once it has
# printed "listening on".
start_floor() {
  local name=$1 port=$2 i
  shift 2
  "$bb" floor --listen "127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for i in $(seq 100); do
    if grep -q '^listening on' "$work/$name.log"; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench: $name did not start within 10 s; its log:" >&2
  tail -n 30 "$work/$name.log" >&2 || true
  exit 1
}
if [ -z "$AGAINST_REF" ]; then
  case ",$ONLY," in
    *,5,* | *,6,*)
      echo "== bindbench floor (a responder, and a relay to slapd)"
      FLOOR_PORT=$(free_port)
      RELAY_PORT=$(free_port)
      start_floor floor "$FLOOR_PORT"
      FLOOR_PID=$!
      start_floor floor-relay "$RELAY_PORT" --upstream "$SLAPD_URL"
      RELAY_PID=$!
      ;;
  esac
fi

common=(--conns "$CONNS" --duration "$DURATION" --warmup "$WARMUP" --rounds "$ROUNDS" --json)
reports=()
failed=0
# compare N LABEL BINDBENCH-ARGS...: A = bindery (except for 0), B = slapd.
compare() {
  local n=$1 label=$2
  shift 2
  case ",$ONLY," in *",$n,"*) ;; *) return 0 ;; esac
  echo "== $n. $label ($(uptime | sed 's/.*load/load/'))"
  local rc=0
  "$bb" --label "$n. $label" "${common[@]}" "$@" >"$work/cmp$n.json" 2>"$work/cmp$n.err" || rc=$?
  cat "$work/cmp$n.err"
  if [ -s "$work/cmp$n.json" ]; then
    reports+=("$work/cmp$n.json")
  fi
  if [ "$rc" -ge 128 ]; then
    exit "$rc" # interrupted (bindbench caught the signal, so bash did not see it)
  fi
  if [ "$rc" -ne 0 ]; then
    echo "bench: comparison $n failed (exit $rc)" >&2
    failed=1
  fi
}

if [ -n "$AGAINST_REF" ]; then
  ab=(--against-also-pid "$SLAPD_PID")
  compare 1 "cached PIN-store binds: bindery vs bindery@$REF_COMMIT" --prime --pid "$ON_PID" --against-pid "$REF_ON_PID" \
    --url "$ON_URL" --users "$work/pin-bindery.csv" --against "ldap://127.0.0.1:$REF_ON_PORT"
  compare 2 "campus binds, cache off: bindery vs bindery@$REF_COMMIT" --pid "$OFF_PID" --also-pid "$SLAPD_PID" --against-pid "$REF_OFF_PID" "${ab[@]}" \
    --url "$OFF_URL" --users "$work/campus-bindery.csv" --against "ldap://127.0.0.1:$REF_OFF_PORT"
  compare 3 "campus binds, cache on: bindery vs bindery@$REF_COMMIT" --prime --pid "$ON_PID" --also-pid "$SLAPD_PID" --against-pid "$REF_ON_PID" "${ab[@]}" \
    --url "$ON_URL" --users "$work/campus-bindery.csv" --against "ldap://127.0.0.1:$REF_ON_PORT"
  ONLY=none # the comparisons with slapd below are skipped
fi
compare 0 "sanity: slapd vs the same slapd" --pid "$SLAPD_PID" --against-pid "$SLAPD_PID" \
  --url "$SLAPD_URL" --users "$work/pin-slapd.csv" \
  --against "$SLAPD_URL" --against-users "$work/pin-slapd.csv"
compare 1 "cached PIN-store binds: bindery vs slapd" --prime --pid "$ON_PID" --against-pid "$SLAPD_PID" \
  --url "$ON_URL" --users "$work/pin-bindery.csv" \
  --against "$SLAPD_URL" --against-users "$work/pin-slapd.csv"
compare 2 "campus binds, cache off: bindery vs slapd" --pid "$OFF_PID" --also-pid "$SLAPD_PID" --against-pid "$SLAPD_PID" \
  --url "$OFF_URL" --users "$work/campus-bindery.csv" \
  --against "$SLAPD_URL" --against-users "$work/campus-slapd.csv"
compare 3 "campus binds, cache on: bindery vs slapd" --prime --pid "$ON_PID" --also-pid "$SLAPD_PID" --against-pid "$SLAPD_PID" \
  --url "$ON_URL" --users "$work/campus-bindery.csv" \
  --against "$SLAPD_URL" --against-users "$work/campus-slapd.csv"
compare 4 "search-then-bind, PIN store cached: bindery vs slapd" --prime --mode search-bind --pid "$ON_PID" --against-pid "$SLAPD_PID" \
  --url "$ON_URL" --users "$work/pin-bindery.csv" \
  --service-dn "cn=bench,ou=services,$SUFFIX" --service-password "$SVC_PW" --base "ou=people,$SUFFIX" \
  --filter '(&(objectClass=person)(uid=%s))' \
  --against "$SLAPD_URL" --against-users "$work/pin-slapd.csv" \
  --against-service-dn "$SLAPD_ADMIN" --against-service-password "$SLAPD_ADMIN_PW" --against-base "$SLAPD_PEOPLE"
compare 5 "floor: a Go server that answers every bind without looking vs slapd" --pid "${FLOOR_PID:-}" --against-pid "$SLAPD_PID" \
  --url "ldap://127.0.0.1:${FLOOR_PORT:-}" --users "$work/pin-slapd.csv" \
  --against "$SLAPD_URL" --against-users "$work/pin-slapd.csv"
compare 6 "floor relay: a Go relay to slapd vs slapd" --pid "${RELAY_PID:-}" --also-pid "$SLAPD_PID" --against-pid "$SLAPD_PID" \
  --url "ldap://127.0.0.1:${RELAY_PORT:-}" --users "$work/pin-slapd.csv" \
  --against "$SLAPD_URL" --against-users "$work/pin-slapd.csv"

echo
b_is="slapd"
[ -z "$AGAINST_REF" ] || b_is="bindery at $AGAINST_REF ($REF_COMMIT)"
echo "== results: A = bindery (0: slapd; 5, 6: bindbench floor), B = $b_is; $USERS users, $CONNS connections, $DURATION x $ROUNDS rounds per side (warm-up $WARMUP)"
echo "$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(go version | cut -d' ' -f3)"
echo "$cache_note; bindery [log] level = \"$LOG_LEVEL\", written to a file"
echo "server CPU: utime+stime of each server process (/proc/PID/stat) over the measured time, µs per op; +behind: the slapd behind bindery (6: behind the relay); $(uptime | sed 's/.*load/load/') at the end"
[ -z "$EXTRA" ] || echo "config extra: $(echo "$EXTRA" | tr '\n' ' ')"
if [ ${#reports[@]} -gt 0 ]; then
  "$bb" summary "${reports[@]}"
fi
exit "$failed"
