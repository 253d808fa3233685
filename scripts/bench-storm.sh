#!/usr/bin/env bash
# Measures what a storm of distinct wrong PINs does to everyone else
# (docs/benchmarks.md, measurement 7), and prints one table.
#
# In a temporary folder, on a free loopback port, it starts one bindery with
# a SQLite PIN store of $USERS + $STORM_USERS patrons (imported with {SSHA}
# hashes: a wrong PIN on such a hash still costs a full argon2id, bindery pads
# legacy checks to that cost) and the bind cache on, then:
#   quiet:  bindbench primes the $USERS patrons and measures cached binds
#           ($CONNS connections, $DURATION);
#   storm:  $STORM_CONNS persistent connections, every bind a distinct wrong
#           PIN of a random one of the $STORM_USERS other patrons, for
#           $DURATION + 15 s; 5 s in, the same cached-bind measurement runs
#           beside it ("during");
#   after:  the cached-bind measurement once more, 10 s after the storm.
# the RSS of bindery and its hashing helper is sampled every second (VmRSS,
# summed) and their peaks (VmHWM) read at
# the end.
#
#   scripts/bench-storm.sh
#   DURATION=20s STORM_CONNS=500 STORM_USERS=20000 scripts/bench-storm.sh
#   EXTRA=$'[hashing]\nworkers = 2' scripts/bench-storm.sh   # appended to the config
#   KEEP=1 scripts/bench-storm.sh                            # keep the temp folder
#
# Every process it starts is stopped on exit (trap EXIT), and the folder removed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

USERS=${USERS:-1000}
STORM_USERS=${STORM_USERS:-20000}
CONNS=${CONNS:-16}
STORM_CONNS=${STORM_CONNS:-500}
DURATION=${DURATION:-20s}
EXTRA=${EXTRA:-}
KEEP=${KEEP:-}

# shellcheck source=lib/install-slapd.sh
. scripts/lib/install-slapd.sh
install_slapd_if_missing # ldapwhoami, for the readiness check
# shellcheck source=lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_begin bindery-storm

echo "== building into $work/bin"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/bindery ./cmd/binderyctl ./cmd/bindbench
bb="$work/bin/bindbench"
SUFFIX="dc=library,dc=example,dc=edu"
secs=${DURATION%s}

echo "== generating $((USERS + STORM_USERS)) patrons"
"$bb" gen-users --count $((USERS + STORM_USERS)) --prefix CU \
  --against-base "ou=people,$SUFFIX" --against-out "$work/all.csv" \
  --import "$work/import.csv" --hash ssha --out /dev/null >/dev/null
head -n $((USERS + 1)) "$work/all.csv" >"$work/users.csv"
{ head -n 1 "$work/all.csv"; tail -n +$((USERS + 2)) "$work/all.csv"; } >"$work/storm.csv"

PORT=$(free_port)
URL="ldap://127.0.0.1:$PORT"
cat >"$work/bindery.toml" <<CONF
[server]
listen = "127.0.0.1:$PORT"
suffix = "$SUFFIX"

[log]
level = "warn"

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
ttl = "10m"
CONF
if [ -n "$EXTRA" ]; then
  printf '\n%s\n' "$EXTRA" >>"$work/bindery.toml"
fi
"$work/bin/bindery" --config "$work/bindery.toml" --check >/dev/null

echo "== importing"
"$work/bin/binderyctl" --config "$work/bindery.toml" --operator bench import "$work/import.csv" | tail -n 1

"$work/bin/bindery" --config "$work/bindery.toml" >"$work/bindery.log" 2>&1 &
bpid=$!
pids+=("$bpid")
# The first row: "uid=CU0000001,ou=people,...",Pw-00000001x,CU0000001
first_dn=$(sed -n '2s/^"\([^"]*\)",.*/\1/p' "$work/users.csv")
first_pw=$(sed -n '2s/^"[^"]*",\([^,]*\),.*/\1/p' "$work/users.csv")
for i in $(seq 100); do
  ldapwhoami -x -H "$URL" -D "$first_dn" -w "$first_pw" >/dev/null 2>&1 && break
  [ "$i" -eq 100 ] && { echo "bench: bindery did not answer" >&2; tail "$work/bindery.log" >&2; exit 1; }
  sleep 0.1
done

rss() { proc_kb VmRSS "$bpid"; }
hwm() { proc_kb VmHWM "$bpid"; }
sample_rss() { while kill -0 "$bpid" 2>/dev/null; do rss >>"$work/rss-$1.txt" || true; sleep 1; done; }
measure() { # NAME [extra bindbench flags]
  local name=$1
  shift
  "$bb" --url "$URL" --users "$work/users.csv" --conns "$CONNS" --duration "$DURATION" --warmup 2s \
    --label "$name" "$@" >"$work/$name.txt" 2>"$work/$name.err"
}
row() { awk '$1=="all"{print $3, $7, $9, $6}' "$work/$1.txt"; } # binds/s p50 p99 errors

echo "== quiet (load average $(cut -d' ' -f1-3 /proc/loadavg))"
measure quiet --prime
rss_quiet=$(rss)
echo "== storm: $STORM_CONNS connections of distinct wrong PINs, $((secs + 15)) s"
sample_rss storm &
sampler=$!
"$bb" --url "$URL" --users "$work/storm.csv" --pick random --wrong 1 --conns "$STORM_CONNS" \
  --duration "$((secs + 15))s" --warmup 0s --timeout 10s --max-error-rate 1 --label storm \
  >"$work/storm.txt" 2>"$work/storm.err" &
storm=$!
sleep 5
echo "== during the storm (load average $(cut -d' ' -f1-3 /proc/loadavg))"
measure during
wait "$storm" || true
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sleep 10
echo "== after"
measure after
hwm_kb=$(hwm)
rss_after=$(rss)
rss_peak=$(sort -n "$work/rss-storm.txt" | tail -n 1)

read -r q_bps q_p50 q_p99 q_err <<<"$(row quiet)"
read -r d_bps d_p50 d_p99 d_err <<<"$(row during)"
read -r a_bps a_p50 a_p99 a_err <<<"$(row after)"
storm_line=$(awk '$1=="all"{print "binds/s " $3 ", answered 49: " $5 ", other answers: " $6}' "$work/storm.txt")
storm_codes=$(grep -o 'errors: .*' "$work/storm.txt" | head -n 1 || true)

echo
echo "== results: $(nproc) CPUs, $(go version | cut -d' ' -f3), $USERS measured + $STORM_USERS storm patrons"
[ -n "$EXTRA" ] && echo "config extra: $(echo "$EXTRA" | tr '\n' ' ')"
printf '%-22s %10s %8s %8s %7s\n' "cached binds" "binds/s" "p50 ms" "p99 ms" "errors"
printf '%-22s %10s %8s %8s %7s\n' quiet "$q_bps" "$q_p50" "$q_p99" "$q_err"
printf '%-22s %10s %8s %8s %7s\n' "during the storm" "$d_bps" "$d_p50" "$d_p99" "$d_err"
printf '%-22s %10s %8s %8s %7s\n' "after the storm" "$a_bps" "$a_p50" "$a_p99" "$a_err"
echo "p99 during / quiet: $(awk -v d="$d_p99" -v q="$q_p99" 'BEGIN{printf "%.2f", d/q}')"
echo "storm: $storm_line; $storm_codes"
echo "RSS: quiet $((rss_quiet / 1024)) MB, storm peak (1 s samples) $((rss_peak / 1024)) MB, VmHWM $((hwm_kb / 1024)) MB, after $((rss_after / 1024)) MB"
echo "bindery warnings: $(grep -c 'level=WARN' "$work/bindery.log" || true)"
grep 'level=WARN' "$work/bindery.log" | sed 's/ id=[^ ]*//' | cut -c1-200 | sort | uniq -c | sort -rn | head -n 5 || true
