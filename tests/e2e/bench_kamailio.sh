#!/usr/bin/env bash
# bench_kamailio.sh CLOSELOOPD FREEPORT [RATES] [SECONDS] [LATENCY_RATE]
#
# Benchmark of the SIP path (not part of ctest): SIPp callers -> Kamailio ->
# SIPp endpoint, with tests/e2e/static-route.cfg (MODES "static": the proxy
# relays every INVITE to the endpoint by itself), with
# plugins/kamailio/closeloop-evapi.cfg ("closeloop": the proxy asks
# closeloopd over evapi) and with plugins/kamailio/closeloop-http.cfg
# ("http": the proxy asks closeloopd's HTTP API). For each it reports:
#   - throughput: for each rate in RATES (calls/s, default "1000 1500"),
#     SECONDS (default 10) of calls at that rate; successful and failed calls
#     and INVITE retransmissions (a clean run has 0 failed, 0 retransmitted);
#   - post-dial delay at LATENCY_RATE calls/s (default 500) for 5 s: the
#     time from the caller's INVITE to the endpoint's 200 OK as the caller
#     sees it, from SIPp's message log (microsecond timestamps), p50/p90/p99.
# The difference between the two configurations is what closeloop adds.
#
# Calls are short (INVITE, 200, ACK, BYE, 200) and answered at once; the
# endpoint has room for all of them. Loopback only; every process is stopped
# by its PID. Kamailio runs with KAM_CHILDREN UDP workers (default 4) and
# 512 MB of shared memory. MODES (default "static closeloop") picks the runs;
# KEEP_BENCH=1 keeps the work directory.
set -u

daemon=$1
freeport=$2
rates=${3:-1000 1500}
seconds=${4:-10}
lat_rate=${5:-500}
children=${KAM_CHILDREN:-4}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
kamailio=$(command -v kamailio || command -v /usr/sbin/kamailio || true)
sipp=$(command -v sipp || true)
[ -n "$kamailio" ] && [ -n "$sipp" ] || { echo "needs kamailio and sipp" >&2; exit 2; }

dir=$(mktemp -d)
pids=()
cleanup() { # TERM first: KILL would orphan Kamailio's workers
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
	[ -n "${KEEP_BENCH:-}" ] && echo "kept: $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mapfile -t ports < <("$freeport" 5)
p_sip=${ports[0]} p_evapi=${ports[1]} p_ep=${ports[2]} p_uac=${ports[3]} p_http=${ports[4]}
sed "s/@NAME@/bench/g" "$here/scenarios/endpoint.xml" >"$dir/endpoint.xml"
printf 'SEQUENTIAL\n+493012340001;800100;10115;bench\n' >"$dir/callers.csv"
# The caller without the hold: calls end as soon as they are set up.
sed 's|  <pause/>||' "$here/scenarios/caller.xml" >"$dir/caller.xml"

cat >"$dir/closeloop.yaml" <<EOF
engine:
  log_level: warn
limits:
  max_calls: 1000000
router:
  wrapup_ms: 0
auth:
  pbx: bench-pbx-token
redis:
  enabled: false
skills: [printers]
territories:
  - {name: de, phone: ["+49"]}
  - {name: north, parent: de, postal: ["1"], phone: ["+493"]}
default_territory: de
partners:
  - {id: bench, territories: [north], skills: [printers], seats: 10000, token: bench-p,
     sip: "sip:bench@127.0.0.1:$p_ep"}
plans:
  - name: all
    steps:
      - {targets: partners, territory: caller, skills: none, strategy: longest-idle}
EOF

start_bg() { # LOGFILE CMD...: start in the background, remember the PID
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	pids+=($!)
	last_pid=$!
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# p50 p90 p99 mean (ms) of INVITE -> 200 OK per call from a SIPp message log.
pdd() {
	awk '
	{ sub(/\r$/, "") }
	/^--------------------+ [0-9-]+ [0-9:.]+$/ { split($3, t, ":"); ts = t[1] * 3600 + t[2] * 60 + t[3]; dir = ""; first = ""; cid = ""; cseq = ""; next }
	/message sent/ { dir = "out"; next }
	/message received/ { dir = "in"; next }
	first == "" && NF { first = $0; next }
	/^Call-ID:/ { cid = $2 }
	/^CSeq:/ { cseq = $3 }
	cid != "" && cseq != "" {
		if (dir == "out" && first ~ /^INVITE / && !(cid in inv)) inv[cid] = ts
		else if (dir == "in" && first ~ /^SIP\/2.0 200/ && cseq == "INVITE" && (cid in inv) && !(cid in done)) {
			printf "%.6f\n", (ts - inv[cid]) * 1000; done[cid] = 1
		}
		cid = ""; cseq = "x"
	}' "$1" | sort -n | awk '
	{ d[++n] = $1; s += $1 }
	END {
		if (!n) { print "no calls"; exit }
		printf "n=%d p50=%.3f ms p90=%.3f ms p99=%.3f ms max=%.3f ms mean=%.3f ms\n", n, d[int(n * 0.50) + 1], d[int(n * 0.90) + 1], d[int(n * 0.99) + 1], d[n], s / n
	}'
}

field() {
	awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c { v = $c } END { print v }' "$1"
}

run_mode() {
	local mode=$1 cfg eng_pid=
	if [ "$mode" = static ]; then
		start_bg "$dir/kam-$mode.log" "$kamailio" -DD -E -n "$children" -m 512 \
			-f "$here/static-route.cfg" -A "CL_SIP_LISTEN=udp:127.0.0.1:$p_sip" \
			-A "CL_STATIC_URI=\"sip:bench@127.0.0.1:$p_ep\""
	elif [ "$mode" = http ]; then
		start_bg "$dir/kam-$mode.log" "$kamailio" -DD -E -n "$children" -m 512 \
			-f "$root/plugins/kamailio/closeloop-http.cfg" \
			-A "CL_SIP_LISTEN=udp:127.0.0.1:$p_sip" \
			-A "CL_API=\"http://127.0.0.1:$p_http\"" -A "CL_TOKEN=\"bench-pbx-token\"" \
			-A "CL_ASYNC_WORKERS=${ASYNC_WORKERS:-8}"
	else
		start_bg "$dir/kam-$mode.log" "$kamailio" -DD -E -n "$children" -m 512 \
			-f "$root/plugins/kamailio/closeloop-evapi.cfg" \
			-A "CL_SIP_LISTEN=udp:127.0.0.1:$p_sip" -A "CL_EVAPI_BIND=\"127.0.0.1:$p_evapi\""
	fi
	local kam_pid=$last_pid
	sleep 1
	if [ "$mode" = http ]; then
		start_bg "$dir/eng.log" "$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 \
			--http "127.0.0.1:$p_http"
		eng_pid=$last_pid
		sleep 0.5
	elif [ "$mode" = closeloop ]; then
		start_bg "$dir/eng.log" "$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 \
			--kamailio "127.0.0.1:$p_evapi"
		eng_pid=$last_pid
		for i in $(seq 100); do
			grep -q 'engine connected' "$dir/kam-$mode.log" && break
			sleep 0.05
		done
		grep -q 'engine connected' "$dir/kam-$mode.log" ||
			{ echo "closeloopd did not connect:" >&2; cat "$dir/eng.log" >&2; exit 1; }
	fi
	start_bg "$dir/ep-$mode.log" "$sipp" -sf "$dir/endpoint.xml" -i 127.0.0.1 -p "$p_ep" -nostdin
	local ep_pid=$last_pid
	sleep 0.3

	# Post-dial delay at a moderate rate, with the message log on.
	"$sipp" -sf "$dir/caller.xml" -inf "$dir/callers.csv" -i 127.0.0.1 -p "$p_uac" \
		"127.0.0.1:$p_sip" -m $((lat_rate * 5)) -r "$lat_rate" -nostdin -timeout 60s -recv_timeout 10s \
		-trace_msg -message_file "$dir/msg-$mode.log" >/dev/null 2>&1
	echo "$mode: post-dial delay at $lat_rate calls/s: $(pdd "$dir/msg-$mode.log")"

	for r in $rates; do
		local stf="$dir/tp-$mode-$r.csv"
		"$sipp" -sf "$dir/caller.xml" -inf "$dir/callers.csv" -i 127.0.0.1 -p "$p_uac" \
			"127.0.0.1:$p_sip" -m $((r * seconds)) -r "$r" -nostdin -timeout 120s -recv_timeout 10s \
			-trace_stat -stf "$stf" >"$dir/tp-$mode-$r.out" 2>&1
		local retrans
		retrans=$(awk '$1 == "INVITE" && $2 == "---------->" { print ($3 ~ /^[0-9]+$/ ? $4 : $5); exit }' \
			"$dir/tp-$mode-$r.out")
		echo "$mode: $r calls/s for $seconds s: successful $(field "$stf" 'SuccessfulCall(C)')," \
			"failed $(field "$stf" 'FailedCall(C)'), INVITE retransmissions $retrans," \
			"elapsed $(field "$stf" 'ElapsedTime(C)')"
	done

	stop_pid "$ep_pid"
	[ -n "$eng_pid" ] && stop_pid "$eng_pid"
	stop_pid "$kam_pid"
	sleep 0.5
}

for m in ${MODES:-static closeloop}; do
	run_mode "$m"
done
