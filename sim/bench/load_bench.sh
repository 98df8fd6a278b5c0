#!/usr/bin/env bash
# load_bench.sh — closeloopd's throughput and routing latency over loopback,
# next to the transport ceiling, in one run of the same load generator.
#
# usage: load_bench.sh BUILD_DIR [--reps N] [--window N] [--pbx N]
#                      [--duration-ms MS] [--json FILE] [--trunks]
#                      [--redis HOST:PORT | --redis-unix PATH] [--flush-ms MS]
#                      [--rate R [--tick-us US]] [--cpu]
#   --redis HOST:PORT, --redis-unix PATH: publish to that Redis (default:
#   publishing off), over TCP or its Unix socket; --flush-ms MS: the
#   engine's redis.state_flush_ms (default: the engine's default)
#   --rate R: open loop instead: Poisson arrivals at R calls/s with 1 ms mean
#   talk time (closeloop-sim scenario), engine only; the latency to compare
#   with a latency target at a given load; --tick-us US: the simulator's
#   timers on a US-microsecond grid (closeloop-sim --tick-us)
#   --cpu: also print the CPU each process used (closeloopd, closeloop-sim
#   and, with --redis, the redis-server answering there) over the middle
#   40 % of the run, from /proc/PID/stat, in % of one core
#   --trunks: N partners answered on their SIP trunks (no desk connections)
#   instead of N reps at desks: the engine then sees the PBX's traffic alone.
#   BUILD_DIR holds engine/closeloopd, sim/closeloop-sim and
#   tests/bench/bare_server (all three built from this tree).
#
# Writes a configuration with N reps in one territory (no wrap-up, one
# longest-idle step, Redis off), starts closeloopd and bare_server on free
# loopback ports in a mktemp -d directory, runs
#   closeloop-sim load --window W --bare ...
# and stops both (by PID, from a trap). docs/sim.md quotes its results.
set -euo pipefail

build=${1:?usage: $0 BUILD_DIR [--reps N] [--window N] [--pbx N] [--duration-ms MS] [--json FILE]}
shift
reps=200 window=256 pbx=1 duration=5000 json= trunks=0 redis= redis_unix= rate= tick= flush= cpu=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--window) window=$2; shift 2 ;;
	--pbx) pbx=$2; shift 2 ;;
	--duration-ms) duration=$2; shift 2 ;;
	--json) json=$2; shift 2 ;;
	--trunks) trunks=1; shift ;;
	--redis) redis=$2; shift 2 ;;
	--redis-unix) redis_unix=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--tick-us) tick=$2; shift 2 ;;
	--flush-ms) flush=$2; shift 2 ;;
	--cpu) cpu=1; shift ;;
	*) echo "$0: unknown option $1" >&2; exit 2 ;;
	esac
done
engine=$build/engine/closeloopd
sim=$build/sim/closeloop-sim
bare=$build/tests/bench/bare_server
for exe in "$engine" "$sim" "$bare"; do
	[[ -x $exe ]] || { echo "$0: $exe not built" >&2; exit 2; }
done

redis_extra=
[[ -n $flush ]] && redis_extra=", state_flush_ms: $flush"
redis_yaml="{enabled: false$redis_extra}"
[[ -n $redis_unix ]] && redis_yaml="{enabled: true, unix: \"$redis_unix\"$redis_extra}"

dir=$(mktemp -d "${TMPDIR:-/tmp}/load_bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT

{
	cat <<YAML
engine: {listen: "127.0.0.1:0", log_level: error}
limits: {max_sessions: $((reps + 64))}
router: {wrapup_ms: 0, random_seed: 1}
auth: {pbx: bench-pbx, agent: bench-agent}
redis: $redis_yaml
skills: [sales]
territories:
  - {name: land, phone: ["+1"]}
default_territory: land
YAML
	if ((trunks)); then
		# Partners answered on their SIP trunks: no desk connections, so the
		# engine's traffic is the PBX's alone, as the bare server's is.
		echo "partners:"
		for ((i = 1; i <= reps; i++)); do
			printf '  - {id: ptr-%05d, token: t-%05d, sip: "sip:p%d@trunk.test", territories: [land], skills: [sales]}\n' \
				"$i" "$i" "$i"
		done
	else
		echo "reps:"
		for ((i = 1; i <= reps; i++)); do
			printf '  - {id: rep-%05d, territories: [land], skills: [sales]}\n' "$i"
		done
	fi
	cat <<YAML
plans:
  - name: all
    steps:
      - {targets: any, territory: caller, skills: all, strategy: longest-idle}
YAML
} >"$dir/load.yaml"

wait_ready() {
	for ((i = 0; i < 100; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.1
	done
	echo "$0: $2 did not start" >&2
	exit 1
}
eargs=(--config "$dir/load.yaml" --listen 127.0.0.1:0 --ready-file "$dir/engine.ready")
[[ -n $redis ]] && eargs+=(--redis "$redis")
"$engine" "${eargs[@]}" >"$dir/engine.log" 2>&1 &
pids+=($!)
engine_pid=$!
"$bare" --listen 127.0.0.1:0 --ready-file "$dir/bare.ready" 2>"$dir/bare.log" &
pids+=($!)
wait_ready "$dir/engine.ready" closeloopd
wait_ready "$dir/bare.ready" bare_server
bare_addr=$(sed -n 's/^listen //p' "$dir/bare.ready")

if [[ -n $rate ]]; then
	args=(scenario --ready-file "$dir/engine.ready" --config "$dir/load.yaml" --rate "$rate"
		--handle-ms 1 --pbx "$pbx" --duration-ms "$duration" --quiet)
	[[ -n $tick ]] && args+=(--tick-us "$tick")
else
	args=(load --ready-file "$dir/engine.ready" --config "$dir/load.yaml" --window "$window"
		--pbx "$pbx" --duration-ms "$duration" --bare "$bare_addr" --quiet)
fi
[[ -n $json ]] && args+=(--json "$json")
((trunks)) && args+=(--trunk-partners)
if ((!cpu)); then
	"$sim" "${args[@]}"
	exit
fi

# CPU ticks (user + system) of a process so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
"$sim" "${args[@]}" &
sim_pid=$!
pids+=("$sim_pid")
procs=("closeloopd $engine_pid" "closeloop-sim $sim_pid")
if [[ -n $redis ]]; then
	rpid=$(redis-cli -h "${redis%:*}" -p "${redis##*:}" info server 2>/dev/null |
		tr -d '\r' | sed -n 's/^process_id://p' || true)
	[[ -n $rpid ]] && procs+=("redis-server $rpid")
fi
# Traffic starts after the log-ins (well under a second here): sample from
# 30 % to 70 % of the run's duration, past the start.
sleep "$(awk -v d="$duration" 'BEGIN {print 0.5 + d * 0.3 / 1000}')"
declare -A t0
for p in "${procs[@]}"; do t0[$p]=$(ticks "${p#* }"); done
span=$(awk -v d="$duration" 'BEGIN {print d * 0.4 / 1000}')
sleep "$span"
line="cpu (% of one core, over ${span} s):"
hz=$(getconf CLK_TCK)
for p in "${procs[@]}"; do
	t1=$(ticks "${p#* }")
	line+=" ${p% *} $(awk -v a="${t0[$p]}" -v b="$t1" -v s="$span" -v hz="$hz" \
		'BEGIN {printf "%.0f %%", (b - a) * 100 / hz / s}')"
done
rc=0
wait "$sim_pid" || rc=$?
echo "$line"
exit $rc
