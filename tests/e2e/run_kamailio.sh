#!/usr/bin/env bash
# run_kamailio.sh CLOSELOOPD FREEPORT [evapi|http] — end to end with real SIP
# software: Kamailio (the Debian package) running
# plugins/kamailio/closeloop-evapi.cfg (closeloopd joins Kamailio's evapi
# server) or closeloop-http.cfg (Kamailio asks closeloopd's HTTP API),
# closeloopd as the router, SIPp as the callers and as the reseller
# endpoints. Loopback only, free ports, every process stopped by its PID;
# about 10 s.
#
# Phases (each SIPp caller run is bounded in calls and time):
#   1. no engine yet: a caller gets 503 at once;
#   2. territories: 64 callers from four areas (by phone number, or by postal
#      code, which wins) reach north, south or east; east's first partner
#      answers 486, so those calls come back to the engine and go to the
#      second (retry); every endpoint checks that the call was meant for it;
#   3. queue: 6 callers at once for west, which has one seat: 5 wait;
#   4. closed: nobody serves the area; 4 callers hang up while waiting
#      (CANCEL -> abandoned), 2 hold on until the proxy's deadline (480).
# Then the engine's own figures (/v1/stats, /v1/targets, and for evapi the
# totals its Kamailio link logs at shutdown; for http the API's own counters)
# must match what the SIPp instances counted, exactly.
#
# Exit 0 pass, 1 fail, 77 skipped (kamailio, sipp, curl or jq missing).
# KEEP_E2E=1 keeps the work directory (logs, SIPp statistics);
# E2E_SIPP_ARGS adds options to every SIPp caller (e.g. -trace_rtt).
set -u

daemon=$1
freeport=$2
mode=${3:-evapi}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case "$mode" in
evapi | http) script="$root/plugins/kamailio/closeloop-$mode.cfg" ;;
*) echo "usage: run_kamailio.sh CLOSELOOPD FREEPORT [evapi|http]" >&2; exit 2 ;;
esac
scn="$here/scenarios"
data="$here/data"

kamailio=$(command -v kamailio || command -v /usr/sbin/kamailio || true)
sipp=$(command -v sipp || true)
for tool in "$kamailio" "$sipp" "$(command -v curl)" "$(command -v jq)"; do
	if [ -z "$tool" ]; then
		echo "skipped: needs kamailio, sipp (sip-tester), curl and jq" >&2
		exit 77
	fi
done

dir=$(mktemp -d)
pids=()
# Stop what is still running: TERM first (Kamailio's main process takes its
# workers down with it; KILL would orphan them), KILL after 2 s.
cleanup() {
	local p i
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		for i in $(seq 40); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "${KEEP_E2E:-}" ]; then
		echo "work directory kept: $dir" >&2
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	for f in "$dir"/closeloopd.log "$dir"/kamailio.log "$dir"/*_errors.log; do
		[ -s "$f" ] || continue
		echo "---- $(basename "$f") (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
	exit 1
}

# Ports: SIP, evapi, four callers, six endpoints, the engine's HTTP API.
mapfile -t ports < <("$freeport" 13) || fail "no free ports"
[ "${#ports[@]}" -eq 13 ] || fail "no free ports"
p_sip=${ports[0]} p_evapi=${ports[1]} p_http=${ports[12]}
p_c1=${ports[2]} p_c2=${ports[3]} p_c3=${ports[4]} p_c4=${ports[5]}
declare -A ep_port=([north]=${ports[6]} [south]=${ports[7]} [east]=${ports[8]}
	[east-busy]=${ports[9]} [west]=${ports[10]} [closed]=${ports[11]})
wait_ms=2500 # longest wait for a target before the caller gets 480 (CL_WAIT_MS)

# ---- the engine's configuration: one partner per endpoint
cat >"$dir/closeloop.yaml" <<EOF
engine:
  log_level: info
router:
  ring_timeout_ms: 5000
  miss_pause_ms: 400
  max_misses: 1000
  wrapup_ms: 0
auth:
  pbx: e2e-pbx-token
  observer: e2e-observer-token
redis:
  enabled: false
skills: [printers]
territories:
  - {name: de, phone: ["+49"]}
  - {name: north, parent: de, postal: ["1", "2"], phone: ["+493", "+494"]}
  - {name: south, parent: de, postal: ["8", "9"], phone: ["+498", "+499"]}
  - {name: east, parent: de, postal: ["0"], phone: ["+4935", "+4937"]}
  - {name: west, parent: de, postal: ["5"], phone: ["+492"]}
  - {name: closed, parent: de, postal: ["7"], phone: ["+497"]}
default_territory: de
partners:
  - {id: north, territories: [north], skills: [printers], seats: 3, token: e2e-p1,
     sip: "sip:north@127.0.0.1:${ep_port[north]}"}
  - {id: south, territories: [south], skills: [printers], seats: 3, token: e2e-p2,
     sip: "sip:south@127.0.0.1:${ep_port[south]}"}
  - {id: east-busy, territories: [east], skills: [printers], seats: 1, token: e2e-p3,
     sip: "sip:busy@127.0.0.1:${ep_port[east-busy]}"}
  - {id: east, territories: [east], skills: [printers], seats: 2, token: e2e-p4,
     sip: "sip:east@127.0.0.1:${ep_port[east]}"}
  - {id: west, territories: [west], skills: [printers], seats: 1, token: e2e-p5,
     sip: "sip:west@127.0.0.1:${ep_port[west]}"}
  - {id: closed, territories: [closed], skills: [printers], seats: 1, token: e2e-p6,
     auto_ready: false, sip: "sip:closed@127.0.0.1:${ep_port[closed]}"}
plans:
  - name: presales
    steps:
      - {targets: partners, territory: caller, skills: none, strategy: top-down}
kamailio:
  reconnect_min_ms: 50
  reconnect_max_ms: 400
EOF

# Last value of a column of a SIPp -trace_stat file.
stat() {
	awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c { v = $c } END { print (v == "" ? "missing" : v) }' "$1"
}

# run_caller NAME SCENARIO CSV PORT CALLS RATE [sipp options]: a SIPp caller
# in the foreground, bounded in calls and time, run in $dir (where SIPp
# writes its -trace_rtt file); its -trace_stat file is $dir/NAME.csv.
run_caller() {
	local name=$1 sf=$2 csv=$3 port=$4 calls=$5 rate=$6
	shift 6
	(cd "$dir" && "$sipp" -sf "$scn/$sf" -inf "$data/$csv" -i 127.0.0.1 -p "$port" \
		"127.0.0.1:$p_sip" -m "$calls" -r "$rate" -nostdin -timeout 30s -timeout_error \
		-recv_timeout 10s -trace_stat -stf "$dir/$name.csv" -trace_err \
		-error_file "$dir/${name}_errors.log" "$@" ${E2E_SIPP_ARGS:-} >"$dir/$name.out" 2>&1)
}

# check_caller NAME CALLS: every call of that caller run succeeded.
check_caller() {
	local ok bad
	ok=$(stat "$dir/$1.csv" 'SuccessfulCall(C)')
	bad=$(stat "$dir/$1.csv" 'FailedCall(C)')
	[ "$ok" = "$2" ] && [ "$bad" = 0 ] ||
		fail "caller run '$1': $ok successful and $bad failed calls, expected $2 and 0"
}

# Expected answers per endpoint: CSV lines for it x times the file is cycled.
expect_from_csv() {
	awk -F';' -v ep="$2" -v calls="$3" 'NR > 1 { n++; if ($4 == ep) k++ }
		END { print (calls % n ? "bad" : k * calls / n) }' "$data/$1"
}

# GET an HTTP API path; returns non-zero on failure (callers use it in $(...),
# so they check the status themselves).
http_get() {
	curl -sf --noproxy '*' --max-time 5 -H 'Authorization: Bearer e2e-observer-token' \
		"http://$http_addr$1"
}

# ---- Kamailio with the closeloop route script
if [ "$mode" = evapi ]; then
	defines=(-A "CL_EVAPI_BIND=\"127.0.0.1:$p_evapi\"")
else
	# The HTTP lookups: up to 6 calls wait at once (phase 4), each holding
	# an async worker; curl's timeout is whole seconds above the wait.
	defines=(-A "CL_API=\"http://127.0.0.1:$p_http\"" -A "CL_TOKEN=\"e2e-pbx-token\""
		-A "CL_HTTP_TIMEOUT_S=5" -A "CL_ASYNC_WORKERS=12")
fi
"$kamailio" -DD -E -n 2 -m 512 -f "$script" -A "CL_SIP_LISTEN=udp:127.0.0.1:$p_sip" \
	-A "CL_WAIT_MS=$wait_ms" -A "CL_RING_MS=3000" "${defines[@]}" >"$dir/kamailio.log" 2>&1 &
kam_pid=$!
pids+=("$kam_pid")

# ---- endpoints (SIPp UAS), one per partner
declare -A ep_pid
for ep in "${!ep_port[@]}"; do
	if [ "$ep" = east-busy ]; then
		sf="$scn/busy.xml"
	else
		sf="$dir/endpoint-$ep.xml"
		sed "s/@NAME@/$ep/g" "$scn/endpoint.xml" >"$sf"
	fi
	"$sipp" -sf "$sf" -i 127.0.0.1 -p "${ep_port[$ep]}" -nostdin -trace_stat \
		-stf "$dir/ep-$ep.csv" -fd 1 -trace_err -error_file "$dir/ep-${ep}_errors.log" \
		>"$dir/ep-$ep.out" 2>&1 &
	pids+=($!)
	ep_pid[$ep]=$!
done

sleep 0.5
kill -0 "$kam_pid" 2>/dev/null || fail "kamailio did not start"

# ---- phase 1: no engine connected -> 503 at once
run_caller unavailable unavailable.xml unavailable.csv "$p_c1" 1 1
check_caller unavailable 1

# ---- the engine
link=()
[ "$mode" = evapi ] && link=(--kamailio "127.0.0.1:$p_evapi")
"$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 --http "127.0.0.1:$p_http" \
	--ready-file "$dir/ready" "${link[@]}" 2>"$dir/closeloopd.log" &
eng_pid=$!
pids+=("$eng_pid")
for i in $(seq 200); do
	grep -q '^http ' "$dir/ready" 2>/dev/null && break
	kill -0 "$eng_pid" 2>/dev/null || fail "closeloopd exited at start"
	sleep 0.05
done
http_addr=$(sed -n 's/^http //p' "$dir/ready")
[ -n "$http_addr" ] || fail "closeloopd wrote no http address to its ready file"
if [ "$mode" = evapi ]; then
	for i in $(seq 200); do
		grep -q 'closeloop: engine connected' "$dir/kamailio.log" && break
		sleep 0.05
	done
	grep -q 'closeloop: engine connected' "$dir/kamailio.log" ||
		fail "the engine did not connect to evapi"
fi

queued() {
	local s
	s=$(http_get /v1/stats) || return 1
	jq -re .calls.queued <<<"$s"
}

# ---- phase 2: territories and a retry
main_calls=64
run_caller main caller.xml callers.csv "$p_c1" "$main_calls" 40 -d 150 -trace_rtt -rtt_freq 1
check_caller main "$main_calls"
# Every caller was answered quickly: endpoints answer at once, the busy one
# at once with 486, and a call waits at most for a 150 ms call to end. A
# slow path (a retry that waits for a ring timeout) shows here.
slowest=$(awk -F';' '$3 == "pdd" && $2 + 0 > m { m = $2 + 0 } END { print m + 0 }' \
	"$dir"/caller_*_rtt.csv)
[ "$slowest" -lt 1500 ] || fail "the slowest caller waited $slowest ms for the answer"


# ---- phase 3: more callers than seats
q0=$(queued) || fail "GET /v1/stats failed"
run_caller queue caller.xml queue.csv "$p_c2" 6 100 -d 300
check_caller queue 6
q1=$(queued) || fail "GET /v1/stats failed"
[ $((q1 - q0)) -eq 5 ] || fail "queue phase: $((q1 - q0)) calls waited, expected 5"

# ---- phase 4: nobody serves the area: abandon and deadline, side by side
run_caller abandon abandon.xml closed.csv "$p_c3" 4 20 &
ab_pid=$!
pids+=("$ab_pid")
run_caller timeout timeout.xml closed.csv "$p_c4" 2 20
wait "$ab_pid"
check_caller abandon 4
check_caller timeout 2
q2=$(queued) || fail "GET /v1/stats failed"
[ $((q2 - q1)) -eq 6 ] || fail "closed phase: $((q2 - q1)) calls waited, expected 6"

# ---- the endpoints' counts
for ep in "${!ep_pid[@]}"; do
	kill -USR1 "${ep_pid[$ep]}" 2>/dev/null
	wait "${ep_pid[$ep]}" 2>/dev/null
done
declare -A got
for ep in north south east east-busy west closed; do
	got[$ep]=$(stat "$dir/ep-$ep.csv" 'SuccessfulCall(C)')
	bad=$(stat "$dir/ep-$ep.csv" 'FailedCall(C)')
	[ "$bad" = 0 ] || fail "endpoint $ep: $bad failed calls (a misrouted call fails there)"
done
for ep in north south east; do
	want=$(expect_from_csv callers.csv "$ep" "$main_calls")
	[ "${got[$ep]}" = "$want" ] || fail "endpoint $ep answered ${got[$ep]} calls, expected $want"
done
[ "${got[west]}" = 6 ] || fail "endpoint west answered ${got[west]} calls, expected 6"
[ "${got[closed]}" = 0 ] || fail "endpoint closed got ${got[closed]} calls, expected none"
busy=${got[east-busy]}
[ "$busy" -ge 1 ] || fail "the busy east partner was never tried: the retry path was not exercised"

# ---- the engine's figures must agree exactly
answered=$((main_calls + 6))
stats=$(http_get /v1/stats) || fail "GET /v1/stats failed"
targets=$(http_get '/v1/targets?limit=100') || fail "GET /v1/targets failed"
echo "$stats" >"$dir/stats.json"
echo "$targets" >"$dir/targets.json"
js() { jq -r "$1" <<<"$stats"; }
expect_eq() { [ "$2" = "$3" ] || fail "engine $1 = $2, expected $3"; }
expect_eq calls.offered "$(js .calls.offered)" $((answered + 6))
expect_eq calls.completed "$(js .calls.completed)" "$answered"
expect_eq calls.abandoned "$(js .calls.abandoned)" 6
expect_eq calls.rejected "$(js .calls.rejected)" 0
expect_eq calls.owner_lost "$(js .calls.owner_lost)" 0
expect_eq calls.live "$(js .calls.live)" 0
expect_eq calls.waiting "$(js .calls.waiting)" 0
expect_eq router.no_answers "$(js .router.no_answers)" "$busy"
for ep in north south east east-busy west closed; do
	a=$(jq -r --arg id "$ep" '.targets[] | select(.id == $id) | .answered' <<<"$targets")
	o=$(jq -r --arg id "$ep" '.targets[] | select(.id == $id) | .offered' <<<"$targets")
	if [ "$ep" = east-busy ]; then
		expect_eq "targets[$ep].offered" "$o" "$busy"
		expect_eq "targets[$ep].answered" "$a" 0
	else
		expect_eq "targets[$ep].answered" "$a" "${got[$ep]}"
		expect_eq "targets[$ep].offered" "$o" "${got[$ep]}"
	fi
done

if [ "$mode" = http ]; then
	expect_eq http.offers "$(js .http.offers)" $((answered + 6))
	expect_eq http.calls "$(js .http.calls)" 0
	expect_eq http.held "$(js .http.held)" 0
fi

# ---- clean stop; the evapi client's own totals
kill -TERM "$eng_pid"
wait "$eng_pid"
rc=$?
[ "$rc" -eq 0 ] || fail "closeloopd exited with $rc after SIGTERM"
if [ "$mode" = http ]; then
	kill -TERM "$kam_pid"
	wait "$kam_pid" 2>/dev/null
	echo "e2e kamailio (http): ok — endpoints north=${got[north]} south=${got[south]}" \
		"east=${got[east]} (busy tried ${busy}x) west=${got[west]}; engine offered" \
		"$(js .calls.offered) completed $(js .calls.completed) abandoned" \
		"$(js .calls.abandoned) (4 cancels, 2 queue timeouts); slowest answer $slowest ms"
	exit 0
fi
totals=$(grep -o 'kamailio: totals .*' "$dir/closeloopd.log" | tail -n 1)
[ -n "$totals" ] || fail "no kamailio totals in the engine's log"
total() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$totals"; }
expect_eq kamailio.invites "$(total invites)" $((answered + 6))
expect_eq kamailio.routes "$(total routes)" $((answered + busy))
expect_eq kamailio.retries "$(total retries)" "$busy"
expect_eq kamailio.answered "$(total answered)" "$answered"
expect_eq kamailio.ended "$(total ended)" "$answered"
expect_eq kamailio.abandoned "$(total abandoned)" 4
expect_eq kamailio.timeouts "$(total timeouts)" 2
expect_eq kamailio.rejects "$(total rejects)" 0
expect_eq kamailio.stale "$(total stale)" 0
expect_eq kamailio.bad_events "$(total bad_events)" 0

kill -TERM "$kam_pid"
wait "$kam_pid" 2>/dev/null

echo "e2e kamailio (evapi): ok — endpoints north=${got[north]} south=${got[south]}" \
	"east=${got[east]} (busy tried ${busy}x) west=${got[west]}; engine offered" \
	"$(js .calls.offered) completed $(js .calls.completed) abandoned $(js .calls.abandoned)" \
	"(4 cancels, 2 deadlines); slowest answer $slowest ms"
