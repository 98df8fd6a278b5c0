#!/bin/sh
# run_engine_redis.sh CLOSELOOPD CLOSELOOP_SIM [fault]
#
# Real call lifecycles through a real closeloopd publishing to a real
# redis-server, driven by closeloop-sim over the protocol; then the Redis
# side is checked against itself and against the calls offered:
#   - the stream has exactly one call.offered and one call.ended per call,
#     and each call's offered comes before its ended;
#   - cl:totals agrees with the stream (offered, completed, abandoned);
#   - every target hash has the state the engine reports (the sim's reps
#     logged out when it left; partners stay ready), and no call is live.
# With "fault", redis-server is SIGKILLed in the middle of the run and
# started again on the same port 1 s later (AOF, appendfsync always): every
# event must still be in the stream exactly once and in order.
# The event stream is batched (entries of n events as JSON); it is read with
# the stream_dump tool named by CL_STREAM_DUMP, which checks its format
# (n, ids increasing within and across entries, entry ID = last event's id,
# other than call.* / target.* events alone) and prints one line per event.
set -u
daemon=$1
sim=$2
mode=${3:-normal}
dump=${CL_STREAM_DUMP:-}
[ -n "$dump" ] && [ -x "$dump" ] || { echo "$0: set CL_STREAM_DUMP to the stream_dump tool" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
ctl="$here/pub_run.sh --ctl"
root=$(cd "$here/../.." && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-engredis.XXXXXX") || exit 1
epid=
spid=
cleanup() {
	for p in $spid $epid; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	$ctl kill "$dir" 0 >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
	echo "FAIL: $*"
	echo "--- closeloopd log (tail)"; tail -n 30 "$dir/engine.log"
	exit 1
}

port=$($ctl start-free "$dir" -) || fail "no redis-server could start"
rcli() { redis-cli -h 127.0.0.1 -p "$port" --raw "$@"; }

calls=400
"$daemon" --config "$root/deploy/closeloop.yaml" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
	--redis "127.0.0.1:$port" --ready-file "$dir/ready" --log-level info 2>"$dir/engine.log" &
epid=$!
i=0
while [ ! -s "$dir/ready" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "closeloopd did not start"
	kill -0 "$epid" 2>/dev/null || fail "closeloopd exited at start"
	sleep 0.05
done

# The fault run also has the simulator's timers on a 500 µs grid (--tick-us):
# the same exact counts must come out.
tick=0
[ "$mode" = fault ] && tick=500
"$sim" scenario --ready-file "$dir/ready" --config "$root/deploy/closeloop.yaml" \
	--calls $calls --rate 80 --handle-ms 150 --patience-ms 4000 --seed 7 --quiet \
	--grace-ms 20000 --tick-us $tick >"$dir/sim.out" 2>&1 &
spid=$!
if [ "$mode" = fault ]; then
	sleep 2
	$ctl kill "$dir" "$port"
	sleep 1
	$ctl start "$dir" "$port" || fail "redis-server did not restart"
fi
wait "$spid"
src=$?
spid=
[ $src -eq 0 ] || { cat "$dir/sim.out"; fail "closeloop-sim exited $src"; }

# Let the publisher catch up (backlog 0 in its health hash) and one more
# snapshot land, then stop the engine cleanly.
i=0
while :; do
	b=$(rcli hget cl:pub backlog)
	c=$(rcli hget cl:pub connected)
	[ "$b" = 0 ] && [ "$c" = 1 ] && break
	i=$((i + 1))
	[ $i -gt 150 ] && fail "publisher backlog did not drain (backlog=$b connected=$c)"
	sleep 0.1
done
# Wrap-ups (up to 5 s in the example configuration) finish before the check.
i=0
while [ "$(rcli hget cl:totals targets_wrap_up)" != 0 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "targets still in wrap-up"
	sleep 0.1
done
sleep 1.2
replayed=$(rcli hget cl:pub replayed)
reconnects=$(rcli hget cl:pub reconnects)
if [ "$mode" = fault ] && [ "${reconnects:-0}" -lt 1 ]; then
	fail "the publisher never reconnected: the fault did not hit"
fi
kill -TERM "$epid"
wait "$epid"
erc=$?
epid=
[ $erc -eq 0 ] || fail "closeloopd exited $erc"

# Stream: "id type call_id end entry_id" lines, one per event, in stream order.
"$dump" -p "$port" -k cl:events id type call end @entry >"$dir/events" 2>"$dir/dump.err" ||
	fail "event stream: $(cat "$dir/dump.err")"
[ -s "$dir/events" ] || fail "the event stream is empty"
# XLEN counts entries: as many as the events name, each holding one or more.
entries=$(awk '{ print $5 }' "$dir/events" | uniq | wc -l)
[ "$(rcli xlen cl:events)" = "$entries" ] ||
	fail "XLEN $(rcli xlen cl:events), entries named by the events $entries"

# Strictly increasing IDs (no duplicate, no reordering).
awk '{ split($1, a, "-"); ms = a[1] + 0; sq = a[2] + 0
	if (NR > 1 && (ms < pms || (ms == pms && sq <= psq))) { print "out of order at " $1; bad = 1 }
	pms = ms; psq = sq } END { exit bad }' "$dir/events" || fail "stream IDs not increasing"

offered=$(awk '$2 == "call.offered"' "$dir/events" | wc -l)
[ "$offered" -eq $calls ] || fail "call.offered events: $offered, calls: $calls"
dup=$(awk '$2 == "call.offered" || $2 == "call.ended" { n[$2 " " $3]++ }
	END { for (k in n) if (n[k] != 1) print k, n[k] }' "$dir/events")
[ -z "$dup" ] || fail "events not exactly once: $dup"
ended=$(awk '$2 == "call.ended"' "$dir/events" | wc -l)
[ "$ended" -eq $calls ] || fail "call.ended events: $ended, calls: $calls"
order=$(awk '$2 == "call.offered" { seen[$3] = 1 }
	$2 == "call.ended" && !seen[$3] { print $3 }' "$dir/events")
[ -z "$order" ] || fail "ended before offered: $order"

completed=$(awk '$2 == "call.ended" && $4 == "completed"' "$dir/events" | wc -l)
abandoned=$(awk '$2 == "call.ended" && $4 == "abandoned"' "$dir/events" | wc -l)
[ "$(rcli hget cl:totals offered)" = "$calls" ] || fail "totals.offered $(rcli hget cl:totals offered)"
[ "$(rcli hget cl:totals completed)" = "$completed" ] ||
	fail "totals.completed $(rcli hget cl:totals completed), stream $completed"
[ "$(rcli hget cl:totals abandoned)" = "$abandoned" ] ||
	fail "totals.abandoned $(rcli hget cl:totals abandoned), stream $abandoned"
[ "$(rcli hget cl:totals live_calls)" = 0 ] || fail "live calls left: $(rcli hget cl:totals live_calls)"
[ "$(rcli scard cl:calls)" = 0 ] || fail "live-call set not empty"

# Targets: reps logged out with the sim gone, partners (auto-ready) ready.
for key in $(rcli smembers cl:targets); do
	kind=$(rcli hget "cl:target:$key" kind)
	state=$(rcli hget "cl:target:$key" state)
	if [ "$kind" = rep ]; then want=logged_out; else want=ready; fi
	[ "$state" = "$want" ] || fail "target $key ($kind): state $state, want $want"
done
n_targets=$(rcli scard cl:targets)
[ "$n_targets" -gt 0 ] || fail "no target hashes"
echo "ok: $calls calls, $(wc -l <"$dir/events") events in $entries entries, $completed completed, $abandoned abandoned, $n_targets targets ($mode: $reconnects reconnects, $replayed events replayed)"
