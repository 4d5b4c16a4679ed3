# lib.sh: what the bench scripts share (sourced, not run).
# shellcheck shell=sh
#
# Each script runs from the repository top with the build in $BUILD
# (default build), keeps everything in a temporary directory removed at
# exit, prints progress on stderr and one JSON object on stdout.

set -eu
export LC_ALL=C

BUILD=${BUILD:-build}
# shellcheck disable=SC2034 # used by the scripts
BIN=$BUILD/bin
BENCH_TMP=
BENCH_PIDS=

bench_log() {
	printf '%s: %s\n' "${0##*/}" "$*" >&2
}

bench_die() {
	bench_log "$*"
	exit 1
}

# Fails unless every named file exists and is executable.
bench_need() {
	for f in "$@"; do
		[ -x "$f" ] || bench_die "$f: not built (make $f)"
	done
}

bench_cleanup() {
	for p in $BENCH_PIDS; do
		kill "$p" 2>/dev/null || :
	done
	for p in $BENCH_PIDS; do
		wait "$p" 2>/dev/null || :
	done
	if [ -n "$BENCH_TMP" ]; then
		rm -rf "$BENCH_TMP"
	fi
}

# Makes $BENCH_TMP, removed (and background jobs killed) at exit.
bench_tmp() {
	BENCH_TMP=$(mktemp -d /tmp/sess-bench.XXXXXX)
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Remembers a background process to kill at exit.
bench_bg() {
	BENCH_PIDS="$BENCH_PIDS $1"
}

# Nanoseconds on a monotonic-enough clock.
bench_ns() {
	date +%s%N
}

# bench_rate COUNT NS: COUNT per second over NS nanoseconds.
bench_rate() {
	awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.0f", n / (ns / 1e9) }'
}

# bench_div A B [FMT]
bench_div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" \
	    'BEGIN { printf f, (b > 0 ? a / b : 0) }'
}

# bench_gen N FILE: N JSON lines of about 100 bytes each, the same every
# run (a fixed Park-Miller generator, not awk's rand()), with a little
# variety: 8 to 12 words, a few non-ASCII and escaped characters.
bench_gen() {
	awk -v n="$1" 'BEGIN {
		nw = split("the of stream token session durable reply model " \
		    "answer retry commit offset reader writer naïve café " \
		    "\\\"quoted\\\" tab\\tsep a an is it on to latency", w, " ")
		x = 42
		for (i = 0; i < n; i++) {
			x = (x * 16807) % 2147483647
			k = 8 + x % 5
			t = ""
			for (j = 0; j < k; j++) {
				x = (x * 16807) % 2147483647
				t = t (j ? " " : "") w[1 + x % nw]
			}
			printf "{\"type\":\"token\",\"i\":%d,\"text\":\"%s\"}\n", i, t
		}
	}' > "$2"
}
