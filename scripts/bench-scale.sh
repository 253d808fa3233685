#!/usr/bin/env bash
# Measures bindery behind HAProxy with one and with two instances sharing one
# PostgreSQL, on this machine, and prints one table (docs/scaling.md).
#
# In a temporary folder, on free loopback ports, it starts:
#   - PostgreSQL: a new cluster (initdb; as the postgres user when run as
#     root), postgres in the foreground, trust authentication on 127.0.0.1;
#   - bindery instances "c1", "c2" (cache on, [cache] ttl = "5m") and "n1",
#     "n2" (cache off, ttl = "0s"), all on the same database, $USERS JULAC
#     patrons imported with binderyctl ({SSHA} hashes, rehashed to argon2id at
#     the priming bind);
#   - HAProxy (mode tcp, balance roundrobin) frontends: one with c1 only,
#     one with c1 + c2, one with n1 only, one with n1 + n2;
# then runs bindbench (A and B alternately, $ROUNDS rounds):
#   1. cached binds:   HAProxy -> 1 instance  vs  HAProxy -> 2 instances
#   2. uncached binds: HAProxy -> 1 instance  vs  HAProxy -> 2 instances
#   3. cached binds:   one instance directly  vs  HAProxy -> that instance
#
#   scripts/bench-scale.sh
#   USERS=1000 CONNS=16 DURATION=5s ROUNDS=3 WARMUP=2s scripts/bench-scale.sh
#   KEEP=1 scripts/bench-scale.sh      # keep the temp folder
#   ONLY=2 CONNS_UNCACHED=8 scripts/bench-scale.sh   # some comparisons only
#
# Every process it starts is stopped on exit (trap EXIT), and the folder removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

USERS=${USERS:-1000}
CONNS=${CONNS:-16}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
KEEP=${KEEP:-}
ONLY=${ONLY:-1,2,3}
# Uncached binds are argon2id-bound: fewer connections than the hashing
# pool's queue takes, so the comparison measures work, not load shedding (51).
CONNS_UNCACHED=${CONNS_UNCACHED:-4}

# shellcheck source=lib/install-slapd.sh
. scripts/lib/install-slapd.sh
install_slapd_if_missing # ldapwhoami, for readiness checks
# shellcheck source=lib/install-postgres.sh
. scripts/lib/install-postgres.sh
install_postgres_if_missing
# shellcheck source=lib/install-haproxy.sh
. scripts/lib/install-haproxy.sh
install_haproxy_if_missing
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

STOP_SIGNAL=INT # postgres stops at once on SIGINT (fast shutdown)
# shellcheck source=lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_begin bindery-scale
chmod 755 "$work"

# as_pg CMD...: runs CMD as the postgres user when this script runs as root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups "$@"
  else
    "$@"
  fi
}

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
SUFFIX="dc=library,dc=example,dc=edu"

echo "== PostgreSQL ($pgbin)"
PG_PORT=$(free_port)
mkdir -m 700 "$work/pg" "$work/pgsock"
[ "$(id -u)" -ne 0 ] || chown postgres: "$work/pg" "$work/pgsock"
as_pg "$pgbin/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --locale=C >"$work/initdb.log" 2>&1
# Started without a function or subshell in between, so that $! is
# postgres itself (setpriv execs it) and the cleanup's SIGINT reaches it.
pg_args=("$pgbin/postgres" -D "$work/pg" -p "$PG_PORT" -k "$work/pgsock" -c listen_addresses=127.0.0.1 -c max_connections=200)
if [ "$(id -u)" -eq 0 ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups "${pg_args[@]}" >"$work/postgres.log" 2>&1 &
else
  "${pg_args[@]}" >"$work/postgres.log" 2>&1 &
fi
pids+=($!)
for i in $(seq 101); do
  "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
  [ "$i" -le 100 ] || { echo "bench: postgres did not start:" >&2; cat "$work/postgres.log" >&2; exit 1; }
  sleep 0.1
done
"$pgbin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bindery
DSN="postgres://postgres@127.0.0.1:$PG_PORT/bindery?sslmode=disable"

echo "== generating $USERS JULAC patrons"
"$bb" gen-users --count "$USERS" --prefix CU --pin-format 'Pw-%08dx' \
  --base "ou=people,$SUFFIX" --out "$work/users.csv" --import "$work/import.csv" --hash ssha >/dev/null

SVC_PW="bench-svc-$RANDOM$RANDOM"
svc_hash=$(slappasswd -h '{SSHA}' -s "$SVC_PW")
# write_config NAME PORT TTL
write_config() {
  cat >"$work/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$2"
suffix = "$SUFFIX"

[log]
level = "warn"

[[service_account]]
name = "bench"
password_hash = "$svc_hash"
can_search = true

[[route]]
name = "julac"
match = '^(CITYU|BU|UST|LU|CU|EDU|PU)[0-9]{4,12}\$'
case = "upper"
backend = "pins"

[backend.pins]
type = "pinstore"
driver = "postgres"
dsn = "$DSN"

[cache]
ttl = "$3"
EOF
}
declare -A port
for n in c1 c2 n1 n2; do port[$n]=$(free_port); done
write_config c1 "${port[c1]}" 5m
write_config c2 "${port[c2]}" 5m
write_config n1 "${port[n1]}" 0s
write_config n2 "${port[n2]}" 0s

echo "== importing $USERS patrons into PostgreSQL"
"$work/bin/binderyctl" --config "$work/c1.toml" --operator bench import "$work/import.csv" | tail -n 3

echo "== bindery c1 c2 (cache on), n1 n2 (cache off)"
for n in c1 c2 n1 n2; do
  "$work/bin/bindery" --config "$work/$n.toml" >"$work/$n.log" 2>&1 &
  pids+=($!)
done
for n in c1 c2 n1 n2; do
  wait_bind "ldap://127.0.0.1:${port[$n]}" "cn=bench,ou=services,$SUFFIX" "$SVC_PW" "$n"
done

# haproxy_for VAR SERVER...: starts a round-robin TCP frontend for the
# servers and sets VAR to its port (no command substitution: the pid must be
# recorded in this shell for the cleanup).
haproxy_for() {
  local name=$1 p s
  shift
  p=$(free_port)
  {
    printf 'global\n\tmaxconn 4000\n\ndefaults\n\tmode tcp\n\ttimeout connect 2s\n\ttimeout client 60s\n\ttimeout server 60s\n\n'
    printf 'frontend ldap\n\tbind 127.0.0.1:%s\n\tdefault_backend bindery\n\nbackend bindery\n\tbalance roundrobin\n' "$p"
    for s in "$@"; do printf '\tserver %s 127.0.0.1:%s check inter 2s\n' "$s" "${port[$s]}"; done
  } >"$work/$name.cfg"
  haproxy -f "$work/$name.cfg" -db >"$work/$name.log" 2>&1 &
  pids+=($!)
  printf -v "$name" '%s' "$p"
}
haproxy_for LB_C1 c1
haproxy_for LB_C12 c1 c2
haproxy_for LB_N1 n1
haproxy_for LB_N12 n1 n2
for p in "$LB_C1" "$LB_C12" "$LB_N1" "$LB_N12"; do
  wait_bind "ldap://127.0.0.1:$p" "cn=bench,ou=services,$SUFFIX" "$SVC_PW" haproxy
done

common=(--duration "$DURATION" --warmup "$WARMUP" --rounds "$ROUNDS" --json --users "$work/users.csv")
reports=()
failed=0
compare() {
  local n=$1 label=$2
  shift 2
  case ",$ONLY," in *",$n,"*) ;; *) return 0 ;; esac
  echo "== $n. $label"
  local rc=0
  "$bb" --label "$n. $label" "${common[@]}" "$@" >"$work/cmp$n.json" 2>"$work/cmp$n.err" || rc=$?
  cat "$work/cmp$n.err"
  [ ! -s "$work/cmp$n.json" ] || reports+=("$work/cmp$n.json")
  [ "$rc" -lt 128 ] || exit "$rc"
  if [ "$rc" -ne 0 ]; then
    echo "bench: comparison $n failed (exit $rc)" >&2
    failed=1
  fi
}
compare 1 "cached binds: HAProxy->1 instance vs HAProxy->2 instances" --prime --conns "$CONNS" \
  --url "ldap://127.0.0.1:$LB_C1" --against "ldap://127.0.0.1:$LB_C12"
compare 2 "uncached binds (argon2id + PostgreSQL): HAProxy->1 vs HAProxy->2" --prime --conns "$CONNS_UNCACHED" \
  --url "ldap://127.0.0.1:$LB_N1" --against "ldap://127.0.0.1:$LB_N12"
compare 3 "cached binds: c1 directly vs HAProxy->c1" --prime --conns "$CONNS" \
  --url "ldap://127.0.0.1:${port[c1]}" --against "ldap://127.0.0.1:$LB_C1"

echo
echo "== results: $USERS users, $CONNS connections ($CONNS_UNCACHED for uncached binds), $DURATION x $ROUNDS rounds per side (warm-up $WARMUP)"
echo "$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(go version | cut -d' ' -f3), PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}'), $(haproxy -v | head -n 1 | awk '{print $1, $3}')"
echo "every process (PostgreSQL, 4 bindery, 4 haproxy, bindbench) shares these CPUs"
if [ ${#reports[@]} -gt 0 ]; then
  "$bb" summary "${reports[@]}"
fi
exit "$failed"
