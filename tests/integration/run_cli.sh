#!/bin/sh
# run_cli.sh CLOSELOOPD — the command line: exit codes and outputs of
# --help, --version, --check-config, --coverage, bad arguments, a listener
# that cannot bind, and SIGINT.
set -u

bin=$1
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

# expect NAME STATUS [GREP-PATTERN FILE]: the last command's status and output.
expect() {
	name=$1 want=$2 got=$3
	if [ "$got" -ne "$want" ]; then
		echo "FAIL $name: exit $got, expected $want" >&2
		sed 's/^/  | /' "$dir/out" "$dir/err" >&2
		fails=$((fails + 1))
		return
	fi
	if [ $# -ge 5 ] && ! grep -q -- "$4" "$dir/$5"; then
		echo "FAIL $name: $5 lacks \"$4\"" >&2
		sed 's/^/  | /' "$dir/$5" >&2
		fails=$((fails + 1))
		return
	fi
	echo "ok   $name"
}

run() {
	"$bin" "$@" >"$dir/out" 2>"$dir/err"
}

cat >"$dir/good.yaml" <<'EOF'
engine:
  listen: "127.0.0.1:7400"
auth:
  pbx: cli-pbx-token
redis:
  enabled: false
skills: [printers]
territories:
  - {name: de, phone: ["+49"], postal: ["0", "1"]}
  - {name: de-south, parent: de, phone: ["+498"], postal: ["8"]}
  - {name: de-munich, parent: de-south, phone: ["+4989"], postal: ["80"]}
reps:
  - {id: rep-1, territories: [de], skills: [printers]}
  - {id: rep-2, territories: [de-south], skills: [printers]}
partners:
  - {id: p-1, token: cli-partner-token, territories: [de-south], skills: [printers], seats: 2,
     sip: "sip:sales@p-1.test"}
plans:
  - name: default
    steps:
      - {targets: any, territory: caller, skills: all, strategy: longest-idle}
EOF
printf 'engine:\n  listen: "127.0.0.1:7400"\nauth:\n  pbx: t\nskills: [a, a]\n' >"$dir/bad.yaml"

run --version
expect version 0 $? "^closeloopd [0-9]" out
run --help
expect help 0 $? "--check-config" out
run --bogus
expect unknown-option 2 $? "usage:" err
run
expect no-config 2 $? "--config is required" err
run --config
expect missing-argument 2 $? "needs an argument" err
run --config "$dir/good.yaml" extra
expect extra-argument 2 $? "unexpected argument" err
run --config "$dir/good.yaml" --listen nope
expect bad-listen 2 $? "bad --listen" err
run --config "$dir/good.yaml" --log-level loud
expect bad-log-level 2 $? "bad --log-level" err
run --check-config "$dir/good.yaml" --listen 127.0.0.1:1
expect check-with-listen 2 $? "usage:" err

run --check-config "$dir/good.yaml"
expect check-ok 0 $? "good.yaml: ok (3 territories, 2 reps, 1 partners, 1 plans)" out
run --check-config "$dir/bad.yaml"
expect check-bad 1 $? "bad.yaml:[0-9]*:" err
run --check-config "$dir/missing.yaml"
expect check-missing 1 $? "missing.yaml" err

printf '# universe\npostal:80331\nphone:+4989123\n\npostal:12345\n' >"$dir/u-clean"
run --config "$dir/good.yaml" --coverage "$dir/u-clean"
expect coverage-clean 0 $? "checked 3: 0 gaps" out
printf 'postal:99999\nphone:+33123\nphone:+4989\n' >"$dir/u-findings"
run --config "$dir/good.yaml" --coverage "$dir/u-findings"
expect coverage-findings 1 $? "gap phone:+33123" out
printf 'nonsense\n' >"$dir/u-bad"
run --config "$dir/good.yaml" --coverage "$dir/u-bad"
expect coverage-malformed 2 $?
run --config "$dir/good.yaml" --coverage "$dir/u-none"
expect coverage-unreadable 2 $? "u-none" err
"$bin" --config "$dir/good.yaml" --coverage - <"$dir/u-clean" >"$dir/out" 2>"$dir/err"
expect coverage-stdin 0 $? "checked 3" out

# A daemon on a free port; a second one on the same port cannot bind; SIGINT
# stops the first cleanly.
"$bin" --config "$dir/good.yaml" --listen 127.0.0.1:0 --ready-file "$dir/ready" \
	--log-level info 2>"$dir/daemon.log" &
pid=$!
i=0
while [ ! -s "$dir/ready" ] && [ "$i" -lt 200 ] && kill -0 "$pid" 2>/dev/null; do
	i=$((i + 1))
	sleep 0.05
done
addr=$(sed -n 's/^listen //p' "$dir/ready" 2>/dev/null)
case "$addr" in
127.0.0.1:[1-9]*) echo "ok   ready-file ($addr)" ;;
*)
	echo "FAIL ready-file: \"$addr\"" >&2
	cat "$dir/daemon.log" >&2
	fails=$((fails + 1))
	;;
esac
run --config "$dir/good.yaml" --listen "$addr"
expect bind-in-use 1 $? "listen $addr" err
kill -INT "$pid"
wait "$pid"
expect sigint 0 $? "engine: stopped" daemon.log
pid=

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed" >&2
	exit 1
fi
