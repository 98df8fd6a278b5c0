#!/bin/sh
# run_engine.sh CLOSELOOPD TEST — start a real closeloopd on a free loopback
# port with a test configuration, run TEST against it (TEST PORT PID; the
# test's last case sends the daemon SIGTERM with sessions open), then require
# a clean exit (under ASan that includes no leaks). The daemon's log is shown
# when anything fails.
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

cat >"$dir/closeloop.yaml" <<'EOF'
engine:
  listen: "127.0.0.1:7400"
  log_level: warn
limits:
  max_sessions: 64
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
redis:
  enabled: false
# One skill per scenario keeps the scenarios apart inside one daemon.
skills: [s-life, s-queue, s-noans, s-aband, s-decl, s-esc, s-seat, s-conc]
territories:
  - name: de
    phone: ["+49"]
  - name: de-south
    parent: de
    postal: ["8"]
    phone: ["+498"]
  - name: de-north
    parent: de
    phone: ["+493"]
default_territory: de
reps:
  - {id: rep-life, territories: [de], skills: [s-life], sip: "sip:life@pbx.test", wrapup_ms: 300}
  - {id: rep-q, territories: [de], skills: [s-queue], sip: "sip:q@pbx.test"}
  - {id: rep-na1, territories: [de], skills: [s-noans], sip: "sip:na1@pbx.test"}
  - {id: rep-na2, territories: [de], skills: [s-noans], sip: "sip:na2@pbx.test"}
  - {id: rep-ab, territories: [de], skills: [s-aband], sip: "sip:ab@pbx.test"}
  - {id: rep-d1, territories: [de], skills: [s-decl], sip: "sip:d1@pbx.test", needs_accept: true}
  - {id: rep-d2, territories: [de], skills: [s-decl], sip: "sip:d2@pbx.test", needs_accept: true}
  - {id: rep-esc, territories: [de-north], skills: [s-esc], sip: "sip:esc@pbx.test"}
  - {id: rep-c1, territories: [de], skills: [s-conc], sip: "sip:c1@pbx.test"}
  - {id: rep-c2, territories: [de], skills: [s-conc], sip: "sip:c2@pbx.test"}
  - {id: rep-c3, territories: [de], skills: [s-conc], sip: "sip:c3@pbx.test"}
partners:
  - id: p-esc
    token: it-partner-esc
    territories: [de-south]
    skills: [s-esc]
    seats: 2
    sip: "sip:sales@p-esc.test"
    auto_ready: false
  - id: p-seat
    token: it-partner-seat
    territories: [de-south]
    skills: [s-seat]
    seats: 2
    sip: "sip:sales@p-seat.test"
plans:
  - name: escalate
    match: {skills: [s-esc]}
    steps:
      - {targets: partners, territory: caller, skills: all, strategy: longest-idle, timeout_ms: 300}
      - {targets: reps, territory: any, skills: all, strategy: longest-idle}
  - name: seats
    match: {skills: [s-seat]}
    steps:
      - {targets: partners, territory: caller, skills: all, strategy: fewest-calls}
  - name: default
    steps:
      - {targets: reps, territory: any, skills: all, strategy: longest-idle}
EOF

"$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 \
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
port=$(sed -n 's/^listen .*:\([0-9][0-9]*\)$/\1/p' "$dir/ready")
if [ -z "$port" ]; then
	echo "ready file without a listen line:" >&2
	cat "$dir/ready" >&2
	exit 1
fi

"$test_bin" "$port" "$pid"
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
