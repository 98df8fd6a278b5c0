#!/bin/sh
# sim_cli.sh CLOSELOOP_SIM — closeloop-sim refuses bad option values with
# exit code 2 and a message naming the option, before it connects anywhere.
set -u
sim=${1:?usage: $0 CLOSELOOP_SIM}
fail() { echo "FAIL: $*" >&2; exit 1; }

# bad ARGS... EXPECTED-MESSAGE-FRAGMENT (the last argument)
bad() {
	want=$(eval echo "\${$#}")
	n=$(($# - 1))
	args=""
	i=1
	for a in "$@"; do
		[ $i -le $n ] && args="$args $a"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	out=$("$sim" $args 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 2 ] || fail "closeloop-sim$args: exit $rc, want 2 ($out)"
	case $out in
	*"$want"*) ;;
	*) fail "closeloop-sim$args: '$out' does not say '$want'" ;;
	esac
}

erl="erlang --rate 1 --handle-ms 1000 --agents 2"
bad $erl --tick-us 5x "--tick-us: '5x' is not 0..100000 microseconds"
bad $erl --tick-us 200000 "--tick-us: '200000' is not 0..100000 microseconds"
bad $erl --tick-us -1 "--tick-us: '-1' is not 0..100000 microseconds"
bad $erl --speed 0 "--speed: '0' is not a factor"
bad $erl --seed 1.5 "--seed: '1.5' is not a whole number"
# A good value is taken.
"$sim" $erl --tick-us 500 >/dev/null 2>&1 || fail "--tick-us 500 refused"
echo "sim_cli: ok"
