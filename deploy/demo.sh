#!/usr/bin/env bash
# demo.sh — closeloop in one command: install what is missing, build, start a
# throw-away Redis and closeloopd with the example configuration, play a
# compressed weekday morning of presales calls against it with closeloop-sim,
# and print the contact centre's figures.
#
#   deploy/demo.sh [--speed S] [--keep]
#     --speed S   run the scenario S times faster (default 1: about 30 s)
#     --keep      keep the work directory (logs, the JSON report)
#
# Works from any directory. Everything it starts (redis-server, closeloopd)
# runs on free loopback ports in a mktemp -d directory and is stopped by PID
# when the script ends, however it ends. The build goes to build-demo/ in the
# source tree (CMake, Release).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
speed=1
keep=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--speed) speed=${2:?--speed needs a factor}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown option $1 (--speed S, --keep)" >&2; exit 2 ;;
	esac
done

say() { printf '\n== %s\n' "$*"; }

say "packages"
"$root/deploy/install-deps.sh"

say "build (Release) in $root/build-demo"
build="$root/build-demo"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target closeloopd closeloop-sim -j"$(nproc 2>/dev/null || echo 2)" \
	>"$build/demo-build.log" 2>&1 || { tail -30 "$build/demo-build.log"; exit 1; }
engine="$build/engine/closeloopd"
sim="$build/sim/closeloop-sim"

work="$(mktemp -d "${TMPDIR:-/tmp}/closeloop-demo.XXXXXX")"
redis_pid=
engine_pid=
stop_all() {
	local rc=$?
	for pid in $engine_pid $redis_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ $keep == 1 ]]; then
		echo "work directory kept: $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

say "redis-server on a free loopback port"
redis_port=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	port=$((20000 + RANDOM % 40000))
	redis-server --bind 127.0.0.1 --port "$port" --dir "$work" --save '' --appendonly no \
		--daemonize no --logfile "$work/redis.log" &
	redis_pid=$!
	for _ in $(seq 50); do
		if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
			redis_port=$port
			break
		fi
		kill -0 "$redis_pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $redis_port ]] && break
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	redis_pid=
done
if [[ -z $redis_port ]]; then
	echo "demo.sh: could not start redis-server (see $work/redis.log); going on without it" >&2
	redis_port=1 # nothing listens there: the engine keeps routing and buffers
fi
echo "redis-server 127.0.0.1:$redis_port"

say "closeloopd with deploy/closeloop.yaml"
"$engine" --config "$root/deploy/closeloop.yaml" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
	--redis "127.0.0.1:$redis_port" --log-level warn --ready-file "$work/ready" \
	>"$work/closeloopd.log" 2>&1 &
engine_pid=$!
for _ in $(seq 100); do
	grep -q '^listen ' "$work/ready" 2>/dev/null && break
	if ! kill -0 "$engine_pid" 2>/dev/null; then
		cat "$work/closeloopd.log" >&2
		echo "demo.sh: closeloopd did not start" >&2
		exit 1
	fi
	sleep 0.1
done
grep -q '^listen ' "$work/ready" || { echo "demo.sh: closeloopd is not ready" >&2; exit 1; }
sed 's/^/closeloopd /' "$work/ready"

say "closeloop-sim: a weekday morning, 08:00-14:00 compressed into 30 s"
status=0
"$sim" scenario --ready-file "$work/ready" --config "$root/deploy/closeloop.yaml" \
	--scenario "$root/deploy/scenario.yaml" --speed "$speed" --json "$work/demo.json" || status=$?

if [[ $redis_port != 1 ]]; then
	say "what other services see in Redis"
	echo "keys: $(redis-cli -h 127.0.0.1 -p "$redis_port" dbsize 2>/dev/null || echo '?')"
	redis-cli -h 127.0.0.1 -p "$redis_port" --scan --pattern 'cl:*' 2>/dev/null |
		sed 's/:[^:]*$/:*/' | sort | uniq -c | sort -rn | head -8 || true
fi
if ! kill -0 "$engine_pid" 2>/dev/null; then
	echo "demo.sh: closeloopd stopped during the demo:" >&2
	tail -20 "$work/closeloopd.log" >&2
	status=1
elif grep -qE ' (ERROR|WARN) ' "$work/closeloopd.log"; then
	say "closeloopd warnings (last 5)"
	grep -E ' (ERROR|WARN) ' "$work/closeloopd.log" | tail -5
fi
if [[ $keep == 1 ]]; then
	say "JSON report: $work/demo.json"
else
	say "done (--keep keeps the JSON report and the logs)"
fi
exit "$status"
