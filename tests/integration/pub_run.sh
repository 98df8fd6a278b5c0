#!/bin/sh
# pub_run.sh TEST_BINARY [ARGS...]
#   Runs the Redis publisher's integration test against a throw-away
#   redis-server: a fresh mktemp -d directory, a free loopback port, a unix
#   socket in that directory, AOF with appendfsync always (so what Redis
#   acknowledged survives a SIGKILL). The server is killed by PID from a trap.
#   The test binary gets: PORT DIR THIS_SCRIPT.
#
# pub_run.sh --ctl start|kill|stop|cont DIR PORT
#   Used by the test itself to kill redis-server mid-run and start it again
#   on the same port and directory, or to stall it (SIGSTOP) and let it go
#   on (SIGCONT). The PID is kept in DIR/redis.pid, so the trap of the outer
#   run kills whichever server is current.
# pub_run.sh --ctl start-free DIR -
#   Start one on a free port and print the port: tried from a start that
#   differs per run, so that a test which kills its server and starts it
#   again on the same port does not find a concurrent test's there.
set -u

redis_alive() {
	# A killed server that nobody has reaped yet is a zombie: count it dead.
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
		! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

redis_start() { # DIR PORT -> 0 when it answers PING
	dir=$1 port=$2
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
		--unixsocket "$dir/redis.sock" --unixsocketperm 700 \
		--appendonly yes --appendfsync always --save '' \
		--daemonize no --logfile "$dir/redis.log" >/dev/null 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/redis.pid"
	i=0
	while [ $i -lt 100 ]; do
		# PONG, and from this server (not another one on the same port).
		if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG &&
			redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
			tr -d '\r' | grep -qx "process_id:$pid"; then
			return 0
		fi
		if ! redis_alive "$pid"; then
			rm -f "$dir/redis.pid"
			return 1 # e.g. the port is taken
		fi
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null
	rm -f "$dir/redis.pid"
	return 1
}

redis_start_free() { # DIR -> prints the port; 0 when one started
	port=$((20000 + $$ % 9000))
	tries=0
	until redis_start "$1" "$port"; do
		tries=$((tries + 1))
		[ $tries -lt 20 ] || return 1
		port=$((port + 37 * tries))
		[ $port -lt 30000 ] || port=$((port - 10000))
	done
	echo "$port"
}

redis_kill() { # DIR
	pid=$(cat "$1/redis.pid" 2>/dev/null) || return 0
	kill -KILL "$pid" 2>/dev/null
	i=0
	while redis_alive "$pid" && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	rm -f "$1/redis.pid"
}

if [ "${1:-}" = "--ctl" ]; then
	[ $# -eq 4 ] || { echo "usage: $0 --ctl start|start-free|kill|stop|cont DIR PORT" >&2; exit 2; }
	case $2 in
	start) redis_start "$3" "$4" ;;
	start-free) redis_start_free "$3" ;;
	kill) redis_kill "$3" ;;
	stop) kill -STOP "$(cat "$3/redis.pid")" ;;
	cont) kill -CONT "$(cat "$3/redis.pid")" ;;
	*) echo "$0: unknown control command $2" >&2; exit 2 ;;
	esac
	exit $?
fi

[ $# -ge 1 ] || { echo "usage: $0 TEST_BINARY [ARGS...]" >&2; exit 2; }
for tool in redis-server redis-cli; do
	command -v $tool >/dev/null 2>&1 ||
		{ echo "$0: $tool not found (install redis-server)" >&2; exit 1; }
done
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-pub.XXXXXX") || exit 1
cleanup() {
	redis_kill "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
# Killed, or its output pipe closed: still clean up (the EXIT trap runs).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

if ! port=$(redis_start_free "$dir"); then
	echo "$0: could not start redis-server" >&2
	cat "$dir/redis.log" >&2 2>/dev/null
	exit 1
fi

test_bin=$1
shift
"$test_bin" "$port" "$dir" "$self" "$@"
rc=$?
[ $rc -eq 0 ] || { echo "--- redis.log" >&2; tail -20 "$dir/redis.log" >&2; }
exit $rc
