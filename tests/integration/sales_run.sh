#!/bin/sh
# sales_run.sh CLOSELOOPD TEST — the sales loop against a real closeloopd and a
# real redis-server: starts Redis (pub_run.sh --ctl) on a free loopback port in
# a mktemp -d directory, closeloopd with a configuration of short deadlines
# publishing to it, runs TEST ENGINE_PORT REDIS_PORT, then stops closeloopd
# with SIGTERM and requires a clean exit (under ASan: no leaks). Everything it
# started is killed by PID from the trap. Logs are shown when anything fails.
set -u

daemon=$1
test_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
ctl="$here/pub_run.sh --ctl"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-sales.XXXXXX") || exit 1
epid=

cleanup() {
	if [ -n "$epid" ]; then
		kill -KILL "$epid" 2>/dev/null
		wait "$epid" 2>/dev/null
	fi
	$ctl kill "$dir" 0 >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*" >&2
	echo "--- closeloopd log (tail)" >&2
	tail -n 40 "$dir/engine.log" >&2 2>/dev/null
	exit 1
}

port=$($ctl start-free "$dir" -) || fail "no redis-server could start"

cat >"$dir/closeloop.yaml" <<'EOF'
engine:
  listen: "127.0.0.1:7400"
  log_level: warn
limits:
  read_timeout_ms: 60000
router:
  ring_timeout_ms: 5000
  max_misses: 3
  miss_pause_ms: 100
  wrapup_ms: 0
auth:
  pbx: it-pbx-token
  agent: it-agent-token
  admin: it-admin-token
  observer: it-observer-token
redis:
  snapshot_ms: 200
# One skill per scenario keeps the scenarios apart inside one daemon.
skills: [s-sale, s-sla, s-fu, s-cmp, s-und, s-gdpr, s-wait]
territories:
  - name: de
    phone: ["+49"]
  - name: de-south
    parent: de
    phone: ["+498"]
  - name: de-north
    parent: de
    phone: ["+493"]
default_territory: de
sales:
  disposition_timeout_s: 1
  service_level_ms: 20000
  currency: EUR
  rep_commission_pct: 2
  max_amount_minor: 100000000
  followup: {delay_ms: 1000, retry_ms: 400, max_attempts: 3, preferred_ms: 5000,
             priority: 60, attempt_timeout_ms: 10000}
  sla: {window_calls: 10, window_ms: 3600000, min_calls: 3, min_scores: 1, penalty: 0.5}
  complaints:
    - {level: rep, deadline_ms: 300}
    - {level: supervisor, deadline_ms: 300}
    - {level: manager, deadline_ms: 300}
reps:
  - {id: rep-a, territories: [de], skills: [s-sale, s-fu, s-cmp, s-und], sip: "sip:a@pbx.test",
     commission_pct: 2.5}
  - {id: rep-b, territories: [de], skills: [s-fu], sip: "sip:b@pbx.test"}
  - {id: rep-w, territories: [de], skills: [s-wait], sip: "sip:w@pbx.test"}
partners:
  - id: p-south
    token: it-partner-south
    territories: [de-south]
    skills: [s-sale, s-sla]
    seats: 4
    sip: "sip:sales@p-south.test"
    contract: {answer_ms: 60000, min_closure: 0.5, commission_pct: 10, lead_fee: 5}
plans:
  - name: sla
    match: {skills: [s-sla]}
    steps:
      - {targets: partners, territory: caller, skills: all, strategy: longest-idle}
  - name: sales
    match: {skills: [s-sale]}
    steps:
      - {targets: partners, territory: caller, skills: all, strategy: longest-idle, timeout_ms: 300}
      - {targets: reps, territory: any, skills: all, strategy: longest-idle}
  - name: default
    steps:
      - {targets: reps, territory: any, skills: all, strategy: longest-idle}
EOF

"$daemon" --config "$dir/closeloop.yaml" --listen 127.0.0.1:0 --redis "127.0.0.1:$port" \
	--ready-file "$dir/ready" 2>"$dir/engine.log" &
epid=$!
i=0
while [ ! -s "$dir/ready" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "closeloopd not ready after 10 s"
	kill -0 "$epid" 2>/dev/null || { epid=; fail "closeloopd exited at start"; }
	sleep 0.05
done
eport=$(sed -n 's/^listen .*:\([0-9][0-9]*\)$/\1/p' "$dir/ready")
[ -n "$eport" ] || fail "ready file without a listen line"

"$test_bin" "$eport" "$port"
rc=$?

kill -TERM "$epid" 2>/dev/null
wait "$epid"
drc=$?
epid=
if [ "$drc" -ne 0 ]; then
	echo "closeloopd exited with $drc after SIGTERM" >&2
	rc=1
fi
[ "$rc" -eq 0 ] || fail "the test failed (rc $rc)"
exit 0
