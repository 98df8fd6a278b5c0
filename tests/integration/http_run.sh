#!/bin/sh
# http_run.sh CLOSELOOPD TEST — start a real closeloopd with its HTTP API on
# free loopback ports (Redis publishing off), run TEST against it
# (TEST HTTP_PORT PROTO_PORT PID CONFIG; the test's last case sends the
# daemon SIGTERM with a request held), then require a clean exit (under
# ASan that includes no leaks). The daemon's log is shown when anything
# fails.
set -u

daemon=$1
test_bin=$2
dir=$(mktemp -d)
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cat >"$dir/closeloop.yaml" <<'YAML'
engine:
  listen: "127.0.0.1:7400"
  log_level: warn
limits:
  max_sessions: 64
  max_frame: 4096
  max_calls: 6
  read_timeout_ms: 30000
router:
  ring_timeout_ms: 10000
  max_misses: 3
  miss_pause_ms: 5000
  wrapup_ms: 0
auth:
  pbx: it-pbx-token
  agent: it-agent-token
  admin: it-admin-token
  observer: it-observer-token
redis:
  enabled: false
# One skill per scenario keeps the scenarios apart inside one daemon.
skills: [s-now, s-hold, s-tmo, s-gone, s-aband, s-prog, s-proto, s-drain, s-bye, s-acc, s-acc2]
territories:
  - name: de
    phone: ["+49"]
default_territory: de
reps:
  - {id: rep-hold, territories: [de], skills: [s-hold], sip: "sip:hold@pbx.test"}
  - {id: rep-p1, territories: [de], skills: [s-prog], sip: "sip:p1@pbx.test"}
  - {id: rep-p2, territories: [de], skills: [s-prog], sip: "sip:p2@pbx.test"}
  - {id: rep-never, territories: [de], skills: [s-tmo, s-gone, s-aband, s-bye], sip: "sip:never@pbx.test"}
  - {id: rep-proto, territories: [de], skills: [s-proto], sip: "sip:proto@pbx.test"}
  - {id: rep-acc, territories: [de], skills: [s-acc], sip: "sip:acc@pbx.test", needs_accept: true}
  - {id: rep-acc2, territories: [de], skills: [s-acc2], sip: "sip:acc2@pbx.test", needs_accept: true}
partners:
  - id: p-now
    token: it-partner-now
    territories: [de]
    skills: [s-now]
    seats: 50
    sip: "sip:sales@p-now.test"
  - id: p-drain
    token: it-partner-drain
    territories: [de]
    skills: [s-drain]
    seats: 5
    sip: "sip:sales@p-drain.test"
plans:
  - name: default
    steps:
      - {targets: any, territory: any, skills: all, strategy: longest-idle}
YAML

"$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
	--ready-file "$dir/ready" 2>"$dir/daemon.log" &
pid=$!

i=0
while [ ! -s "$dir/ready" ]; do
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "closeloopd exited before it was ready:" >&2
		cat "$dir/daemon.log" >&2
		pid=
		exit 1
	fi
	i=$((i + 1))
	if [ "$i" -gt 200 ]; then
		echo "closeloopd not ready after 10 s" >&2
		cat "$dir/daemon.log" >&2
		exit 1
	fi
	sleep 0.05
done
proto=$(sed -n 's/^listen .*:\([0-9][0-9]*\)$/\1/p' "$dir/ready")
http=$(sed -n 's/^http .*:\([0-9][0-9]*\)$/\1/p' "$dir/ready")
if [ -z "$proto" ] || [ -z "$http" ]; then
	echo "ready file without listen and http lines:" >&2
	cat "$dir/ready" >&2
	exit 1
fi

"$test_bin" "$http" "$proto" "$pid" "$dir/closeloop.yaml"
rc=$?

# Clean shutdown: SIGTERM drains and exits 0 (ASan: and leaks nothing). The
# test normally stopped it already; a second SIGTERM would end the drain.
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
	i=$((i + 1))
	sleep 0.05
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
drc=$?
pid=
if [ "$drc" -ne 0 ]; then
	echo "closeloopd exited with $drc after SIGTERM" >&2
	rc=1
fi
if [ "$rc" -ne 0 ]; then
	echo "---- closeloopd log ----" >&2
	cat "$dir/daemon.log" >&2
fi
exit "$rc"
