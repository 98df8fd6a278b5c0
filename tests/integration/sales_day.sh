#!/bin/sh
# sales_day.sh CLOSELOOPD CLOSELOOP_SIM
#
# A day of calls through the whole sales loop: a real redis-server, closeloopd
# with deploy/closeloop.yaml, and closeloop-sim playing deploy/scenario.yaml
# (a 6-hour morning in 30 s of scenario time, run at --speed 2) with its sales
# loop on: every answered call gets a Disposition from the desk that took it,
# closed calls an OrderPlaced whose status then moves allocated -> shipped ->
# delivered (or cancelled), some calls a Lead. The simulator's JSON report says
# exactly what it sent; once the engine has answered every request and its
# publisher has drained, the engine's figures in Redis must equal it, per
# target and overall:
#   answered, closed (= orders: one order per ORDERED call), orders, cancelled,
#   revenue (net of cancellations), commission, leads, qualified leads, lead
#   fees (cl:kpi:<dim>:<name>:* summed over the 15-minute buckets), and the
#   open backlog by state (cl:backlog:<dim>:<name>, cl:orders).
# Partners' commission is also computed from deploy/closeloop.yaml itself:
# contract.commission_pct x revenue + lead_fee x qualified leads (a lead is
# qualified, as the engine decides, when the customer agreed to be contacted,
# named a product and left a phone or an email). Order amounts are whole
# multiples of 2 EUR here, so the percentage of the total is exact.
#
# State hashes (KPIs, backlog) reach Redis up to redis.state_flush_ms after a
# change (the configuration's default, kept here), so the figures are polled
# until they all agree, with a deadline. The event stream (batched: entries of
# n events as JSON) is read with the stream_dump tool named by CL_STREAM_DUMP,
# which checks its format: the sales events must each be alone in an entry
# and their numbers must match what the simulator sent.
#
# Every process is killed by PID from the trap; loopback only.
set -u
daemon=$1
sim=$2
dump=${CL_STREAM_DUMP:-}
[ -n "$dump" ] && [ -x "$dump" ] || { echo "$0: set CL_STREAM_DUMP to the stream_dump tool" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
ctl="$here/pub_run.sh --ctl"
root=$(cd "$here/../.." && pwd)
config="$root/deploy/closeloop.yaml"
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-salesday.XXXXXX") || exit 1
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
trap 'exit 1' INT TERM HUP PIPE
fail() {
	echo "FAIL: $*"
	[ -s "$dir/sim.out" ] && { echo "--- closeloop-sim"; tail -n 40 "$dir/sim.out"; }
	echo "--- closeloopd log (tail)"; tail -n 30 "$dir/engine.log"
	exit 1
}
command -v jq >/dev/null 2>&1 || { echo "$0: jq not found" >&2; exit 1; }

port=$($ctl start-free "$dir" -) || fail "no redis-server could start"
rcli() { redis-cli -h 127.0.0.1 -p "$port" --raw "$@"; }

"$daemon" --config "$config" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
	--redis "127.0.0.1:$port" --ready-file "$dir/ready" --log-level info 2>"$dir/engine.log" &
epid=$!
i=0
while [ ! -s "$dir/ready" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "closeloopd did not start"
	kill -0 "$epid" 2>/dev/null || fail "closeloopd exited at start"
	sleep 0.05
done

# The example scenario with the sales loop tuned for the check: orders in
# 2 EUR steps, slow status changes so that the day ends with open orders.
cp "$root/deploy/scenario.yaml" "$dir/scenario.yaml"
cat >>"$dir/scenario.yaml" <<'EOF'
sales:
  enabled: true
  order_mean_minor: 40000
  amount_step_minor: 200
  lead_rate: 0.4
  cancel_rate: 0.15
  status_ms: 6000
EOF

t0=$(date +%s)
"$sim" scenario --ready-file "$dir/ready" --config "$config" --scenario "$dir/scenario.yaml" \
	--speed 2 --quiet --json "$dir/sim.json" >"$dir/sim.out" 2>&1 &
spid=$!
# Bounded: the run takes about 22 s (15 s of traffic, up to 6 s of grace).
i=0
while kill -0 "$spid" 2>/dev/null; do
	i=$((i + 1))
	[ $i -gt 600 ] && fail "closeloop-sim still running after 60 s"
	sleep 0.1
done
wait "$spid"
src=$?
spid=
t1=$(date +%s)
[ $src -eq 0 ] || fail "closeloop-sim exited $src"
[ -s "$dir/sim.json" ] || fail "no JSON report"

J() { jq -r "$1" "$dir/sim.json"; }
[ "$(J .sales.enabled)" = true ] || fail "the sales loop was off"
[ "$(J .errors.unexpected)" = 0 ] || fail "unexpected errors: $(J .errors)"
[ "$(J .sales.errors)" = 0 ] || fail "sales error replies: $(J .sales.errors)"
[ "$(J .sales.unanswered)" = 0 ] || fail "sales requests unanswered: $(J .sales.unanswered)"
[ "$(J .sales.overall.orders)" -gt 0 ] || fail "no orders were placed"
[ "$(J .sales.overall.leads)" -gt 0 ] || fail "no leads were captured"
[ "$(J .sales.overall.answered)" = "$(J .overall.answered)" ] ||
	fail "sales answered $(J .sales.overall.answered), calls answered $(J .overall.answered)"

# The simulator had every reply, so the engine has processed everything; now
# let the publisher's event backlog drain. (Its health hash's state_pending is
# no drain signal: the snapshot that writes it refreshes every queue hash.)
i=0
while :; do
	b=$(rcli hget cl:pub backlog)
	[ "$b" = 0 ] && break
	i=$((i + 1))
	[ $i -gt 100 ] && fail "publisher did not drain (backlog=$b)"
	sleep 0.1
done
[ "$(rcli hget cl:pub dropped)" = 0 ] || fail "publisher dropped events: $(rcli hgetall cl:pub)"

# "field value" lines: the integer KPI fields of cl:kpi:DIM:NAME:* summed.
kpi_sum() {
	rcli --scan --pattern "cl:kpi:$1:$2:*" | while read -r key; do
		rcli hgetall "$key"
	done | awk 'NR % 2 == 1 { k = $0; next }
		k != "bucket_ms" && k != "ts_ms" && $0 ~ /^-?[0-9]+$/ { s[k] += $0 }
		END { for (k in s) printf "%s %.0f\n", k, s[k] }' >"$dir/kpi"
}
kpi() { v=$(awk -v k="$1" '$1 == k { print $2 }' "$dir/kpi"); echo "${v:-0}"; }
bl() { v=$(rcli hget "cl:backlog:$1:$2" "$3"); echo "${v:-0}"; }

# contract.commission_pct and contract.lead_fee of a partner, from the YAML.
contract() { # ID FIELD
	awk -v id="$1" -v f="$2" '
		/^[a-z_]+:/ { inp = ($1 == "partners:") }
		inp && /^  - id:/ { cur = $3 }
		inp && cur == id && match($0, f ": *[0-9.]+") {
			s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); print s; exit }' "$config"
}

checked=0
report=""
mismatch=
cmp() { # WHAT ENGINE SIM: the first mismatch of a pass is kept in $mismatch
	if [ "$2" != "$3" ]; then
		[ -n "$mismatch" ] || mismatch="$1: engine $2, simulator $3"
		return 0
	fi
	checked=$((checked + 1))
}
check_series() { # DIM NAME JQ_PATH
	kpi_sum "$1" "$2"
	p=$3
	answered=$(J "$p.answered"); orders=$(J "$p.orders")
	cmp "$1 $2 answered" "$(kpi answered)" "$answered"
	cmp "$1 $2 closed" "$(kpi closed)" "$orders"
	cmp "$1 $2 orders" "$(kpi orders)" "$orders"
	cmp "$1 $2 cancelled" "$(kpi cancelled)" "$(J "$p.cancelled")"
	cmp "$1 $2 revenue_minor" "$(kpi revenue_minor)" "$(J "$p.revenue_minor")"
	cmp "$1 $2 commission_minor" "$(kpi commission_minor)" "$(J "$p.commission_minor")"
	cmp "$1 $2 leads" "$(kpi leads)" "$(J "$p.leads")"
	cmp "$1 $2 qualified_leads" "$(kpi qualified_leads)" "$(J "$p.qualified_leads")"
	cmp "$1 $2 lead_fees_minor" "$(kpi lead_fees_minor)" "$(J "$p.lead_fees_minor")"
	# closure rate: closed / answered, the same two integers on both sides
	if [ "$answered" -gt 0 ]; then
		er=$(awk -v a="$(kpi closed)" -v b="$(kpi answered)" 'BEGIN { printf "%.6f", a / b }')
		sr=$(J "$p.closure_rate" | awk '{ printf "%.6f", $1 }')
		cmp "$1 $2 closure rate" "$er" "$sr"
	fi
	if [ "$1" != rep ]; then
		bd=$1
		for st in open placed allocated shipped; do
			cmp "$1 $2 backlog $st" "$(bl "$bd" "$2" "$st")" "$(J "$p.backlog.$st")"
		done
		cmp "$1 $2 backlog backordered" "$(bl "$bd" "$2" backordered)" 0
	fi
	report="$report
$(printf '%-20s %4s answered %4s orders (%s) %3s cancelled revenue %9s commission %7s leads %3s/%-3s fees %5s open %s/%s/%s' \
		"$2" "$answered" "$orders" "$(J "$p.closure_rate" | awk '{ printf "%.3f", $1 }')" \
		"$(J "$p.cancelled")" "$(J "$p.revenue_minor")" "$(J "$p.commission_minor")" \
		"$(J "$p.leads")" "$(J "$p.qualified_leads")" "$(J "$p.lead_fees_minor")" \
		"$(J "$p.backlog.placed")" "$(J "$p.backlog.allocated")" "$(J "$p.backlog.shipped")")"
}

# One pass over every figure; true when all agree.
check_all() {
	checked=0
	report=""
	mismatch=
	for id in $(J '.sales.targets | keys[]'); do
		kind=$(J ".sales.targets[\"$id\"].kind")
		check_series "$kind" "$id" ".sales.targets[\"$id\"]"
		[ "$kind" = partner ] || continue
		# The contract, read from the configuration file itself.
		pct=$(contract "$id" commission_pct)
		fee=$(contract "$id" lead_fee)
		[ -n "$pct" ] && [ -n "$fee" ] || fail "no contract for $id in $config"
		rev=$(J ".sales.targets[\"$id\"].revenue_minor")
		q=$(J ".sales.targets[\"$id\"].qualified_leads")
		want=$(awk -v r="$rev" -v p="$pct" -v f="$fee" -v q="$q" 'BEGIN {
			c = r * p / 100; if (c != int(c)) { print "fraction"; exit }
			printf "%.0f %.0f", c, f * 100 * q }')
		[ "$want" != fraction ] || fail "$id: $pct % of $rev is not a whole minor unit"
		kpi_sum partner "$id"
		cmp "partner $id commission from the contract" "$(kpi commission_minor) $(kpi lead_fees_minor)" "$want"
		cmp "partner $id earnings" "$(($(kpi commission_minor) + $(kpi lead_fees_minor)))" \
			"$(echo "$want" | awk '{ print $1 + $2 }')"
	done
	check_series all all .sales.overall
	cmp "open orders (cl:orders)" "$(rcli scard cl:orders)" "$(J .sales.overall.backlog.open)"
	[ -z "$mismatch" ]
}
# The hashes land within state_flush_ms (and the KPI writer's own delay):
# poll until every figure agrees, at most 5 s.
i=0
until check_all; do
	i=$((i + 1))
	[ $i -gt 25 ] && fail "$mismatch"
	sleep 0.2
done

# The event stream: one line per event; the format is checked by the tool
# (a sales event sharing an entry fails it). The sales events, counted, equal
# what the simulator sent; each sits alone in its entry (@n = 1).
"$dump" -p "$port" -k cl:events type order state lead @n >"$dir/events" 2>"$dir/dump.err" ||
	fail "event stream: $(cat "$dir/dump.err")"
ev() { awk -v t="$1" -v s="${2:-}" '$1 == t && (s == "" || $3 == s)' "$dir/events" | wc -l; }
cmp "order.placed events" "$(ev order.placed)" "$(J .sales.overall.orders)"
cmp "cancelled orders (order.status events)" "$(ev order.status cancelled)" "$(J .sales.overall.cancelled)"
cmp "lead.captured events" "$(ev lead.captured)" "$(J .sales.overall.leads)"
shared=$(awk '$1 !~ /^(call|target)\./ && $5 != 1' "$dir/events" | wc -l)
cmp "sales events sharing an entry" "$shared" 0
[ -z "$mismatch" ] || fail "$mismatch"

kill -TERM "$epid"
wait "$epid"
erc=$?
epid=
[ $erc -eq 0 ] || fail "closeloopd exited $erc"
echo "sales day: $(J .overall.offered) calls offered, simulator ran $((t1 - t0)) s; $checked figures equal"
echo "per series (money in minor units; open = placed/allocated/shipped):$report"
echo "ok"
