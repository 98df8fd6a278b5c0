#!/bin/sh
# run_reload.sh CLOSELOOPD TEST — start closeloopd on a free port with
# live.yaml, run TEST (which swaps the file and sends SIGHUP), then stop the
# daemon with SIGTERM and require a clean exit. The log is shown on failure.
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

common='engine: {listen: "127.0.0.1:7400", log_level: info}
auth: {pbx: rl-pbx, agent: rl-agent}
redis: {enabled: false}
skills: [printers]
territories: [{name: de, phone: ["+49"]}]
plans: [{name: all, steps: [{targets: reps}]}]'
printf '%s\nreps:\n  - {id: rep-a, territories: [de], skills: [printers]}\n' "$common" >"$dir/live.yaml"
printf '%s\nreps:\n  - {id: rep-a, territories: [de], skills: [printers]}\n  - {id: rep-b, territories: [de], skills: [printers]}\n' \
	"$common" >"$dir/v2.yaml"
printf '%s\nreps:\n  - {id: rep-a, territories: [nowhere], skills: [printers]}\n' "$common" >"$dir/bad.yaml"

"$daemon" --config "$dir/live.yaml" --listen 127.0.0.1:0 --ready-file "$dir/ready" 2>"$dir/log" &
pid=$!
i=0
while [ ! -s "$dir/ready" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "closeloopd did not start"; cat "$dir/log"; exit 1
	fi
	sleep 0.05
done
port=$(sed -n 's/^listen .*:\([0-9]*\)$/\1/p' "$dir/ready")

"$test_bin" "$dir" "$port" "$pid"
rc=$?
kill -TERM "$pid"
wait "$pid"
drc=$?
pid=
if [ $rc -ne 0 ] || [ $drc -ne 0 ]; then
	echo "test exit $rc, closeloopd exit $drc; log:"; cat "$dir/log"; exit 1
fi
grep -q 'reload refused' "$dir/log" || { echo "the broken file was not reported"; cat "$dir/log"; exit 1; }
exit 0
