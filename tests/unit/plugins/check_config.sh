#!/bin/sh
# check_config.sh CLOSELOOPD EXAMPLE_SO FIXTURE_DIR — strategy plugins on the
# command line: --check-config loads them (exit 0 and a line per plugin, or
# exit 1 and the reason naming plugin and path), and the daemon refuses to
# start on a bad plugin and starts with a good one.
set -u

bin=$1
example=$2
fixtures=$3
dir=$(mktemp -d)
pid=
fails=0

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# conf FILE PLUGINS-YAML STRATEGY: a small configuration using them.
conf() {
	cat >"$1" <<YAML
auth: {pbx: [p]}
skills: [printers]
territories:
  - {name: de, phone: ['+49']}
  - {name: munich, parent: de, postal: ['80']}
reps:
  - {id: r1, territories: [munich], skills: [printers]}
$2
plans:
  - name: p
    steps: [{targets: reps, strategy: $3}]
YAML
}

# expect NAME STATUS GOT PATTERN FILE
expect() {
	if [ "$3" -ne "$2" ]; then
		echo "FAIL $1: exit $3, expected $2" >&2
		sed 's/^/  | /' "$dir/out" "$dir/err" >&2
		fails=$((fails + 1))
	elif ! grep -q -F -- "$4" "$dir/$5"; then
		echo "FAIL $1: $5 lacks \"$4\"" >&2
		sed 's/^/  | /' "$dir/$5" >&2
		fails=$((fails + 1))
	fi
}

check() {
	"$bin" --check-config "$1" >"$dir/out" 2>"$dir/err"
}

conf "$dir/good.yaml" "plugins: [{name: affinity, path: '$example', options: {level_penalty_ms: 5000}}]" affinity
check "$dir/good.yaml"
expect good 0 $? "plugin affinity: territory-affinity 1.0.0 (ABI 1) from $example" out
expect good-summary 0 0 "good.yaml: ok (2 territories, 1 reps, 0 partners, 1 plans)" out

conf "$dir/abi.yaml" "plugins: [{name: old, path: '$fixtures/tp_bad_abi.so'}]" old
check "$dir/abi.yaml"
expect wrong-abi 1 $? "plugin \"old\" ($fixtures/tp_bad_abi.so): built for plugin ABI 2" err

conf "$dir/small.yaml" "plugins: [{name: s, path: '$fixtures/tp_small.so'}]" s
check "$dir/small.yaml"
expect too-small 1 $? "plugin \"s\" ($fixtures/tp_small.so): its ops table declares 24 bytes" err

conf "$dir/nokey.yaml" "plugins: [{name: k, path: '$fixtures/tp_null_key.so'}]" k
check "$dir/nokey.yaml"
expect null-key 1 $? "its key callback is NULL" err

conf "$dir/nosym.yaml" "plugins: [{name: n, path: '$fixtures/tp_no_entry.so'}]" n
check "$dir/nosym.yaml"
expect no-symbol 1 $? "no symbol cl_plugin_entry" err

conf "$dir/missing.yaml" "plugins: [{name: m, path: missing.so}]" m
check "$dir/missing.yaml"
expect missing-file 1 $? "plugin \"m\" ($dir/missing.so): cannot load" err

conf "$dir/opt.yaml" "plugins: [{name: a, path: '$example', options: {level_penalty_ms: x}}]" a
check "$dir/opt.yaml"
expect bad-option 1 $? "level_penalty_ms \"x\": expected 0..86400000" err

conf "$dir/dup.yaml" "plugins: [{name: a, path: '$example'}, {name: a, path: '$example'}]" a
check "$dir/dup.yaml"
expect duplicate 1 $? "duplicate plugin name \"a\"" err

conf "$dir/unknown.yaml" "plugins: [{name: affinity, path: '$example'}]" afinity
check "$dir/unknown.yaml"
expect unknown-strategy 1 $? "\"afinity\" is not one of: longest-idle" err

# The daemon refuses to start on a bad plugin ...
timeout 10 "$bin" --config "$dir/abi.yaml" --listen 127.0.0.1:0 >"$dir/out" 2>"$dir/err"
expect refuse-start 1 $? "built for plugin ABI 2" err

# ... and starts with a good one.
"$bin" --config "$dir/good.yaml" --listen 127.0.0.1:0 --ready-file "$dir/ready" \
	>"$dir/out" 2>"$dir/err" &
pid=$!
n=0
while [ ! -s "$dir/ready" ] && [ $n -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
	sleep 0.05
	n=$((n + 1))
done
if [ -s "$dir/ready" ]; then
	kill -TERM "$pid"
	wait "$pid"
	expect start-with-plugin 0 $? "plugin affinity: territory-affinity 1.0.0 loaded from" err
else
	echo "FAIL start-with-plugin: no ready file" >&2
	sed 's/^/  | /' "$dir/err" >&2
	fails=$((fails + 1))
fi
pid=

[ $fails -eq 0 ] && echo "plugin cli: all passed"
exit $((fails != 0))
