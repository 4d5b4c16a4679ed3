# store.bash: helpers the sess-pub, sess-sub and sess-replay suites share.

# started_bg IN OUT CMD...: runs CMD in the background with stdin from IN,
# stdout to OUT and stderr to OUT.err; its pid is left in $bg (CMD is
# exec'ed, so it is the program's own pid) and recorded for teardown.
started_bg() {
	local in=$1 out=$2
	shift 2
	(exec "$@" <"$in" >"$out" 2>"$out.err") 3>&- &
	bg=$!
	echo "$bg" >>"$BATS_TEST_TMPDIR/bg.pids"
}

# kill_started: ends what this test started in the background and is still
# running, by pid (and only if it is still one of ours).
kill_started() {
	local p comm
	[ -f "$BATS_TEST_TMPDIR/bg.pids" ] || return 0
	while read -r p; do
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case $comm in
		sess-*|timeout|bash) kill -9 "$p" 2>/dev/null || true ;;
		esac
	done <"$BATS_TEST_TMPDIR/bg.pids"
}

# exited PID STATUS: PID (started with started_bg) ends with STATUS.
exited() {
	local st=0
	wait "$1" || st=$?
	if [ "$st" != "$2" ]; then
		echo "pid $1 exited $st, want $2" >&2
		return 1
	fi
}

# values_are STREAM [VALUE...]: STREAM holds exactly these values, in order.
values_are() {
	local stream=$1 st=0
	shift
	sess-sub -P "$stream" >got.jsonl 2>got.err || st=$?
	if [ "$st" != 0 ]; then
		echo "sess-sub -P $stream exited $st: $(cat got.err)" >&2
		return 1
	fi
	if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi >want.jsonl
	diff -u want.jsonl got.jsonl
}

# consistent STREAM: the integrity check passes, silently.
consistent() {
	local st=0
	sess-replay -k "$1" >k.out 2>k.err || st=$?
	if [ "$st" != 0 ] || [ -s k.err ] || [ -s k.out ]; then
		echo "sess-replay -k $1 exited $st:" >&2
		cat k.err >&2
		return 1
	fi
}

# no_stream [OPTION...] STREAM: there is no such stream (or no store).
no_stream() {
	local st=0
	sess-sub "$@" >ns.out 2>ns.err || st=$?
	if [ "$st" != 1 ] || [ -s ns.out ]; then
		echo "sess-sub $* exited $st (want 1): $(cat ns.err)" >&2
		return 1
	fi
	grep -Eq 'no such (stream|store)' ns.err
}

# under_head SECS CMD...: runs CMD | head -n 1 >first, bounded by SECS,
# and returns CMD's own status (124 if the bound ran out first), so that
# `run -0 under_head 20 sess-sub -f -W 30 ...` shows that a follower
# ended because head went away, neither at -W (1) nor never (124).
under_head() {
	local secs=$1
	shift
	timeout "$secs" bash -c \
	    '"$@" | head -n 1 >first; exit "${PIPESTATUS[0]}"' under_head "$@"
}

# copy_marker_problems STREAM: what -k says of a copy's supersede marker.
# A copy (sess-replay -a, or -i -a of a recording) does not keep which
# producer wrote each event, so nothing in it explains its marker any
# more: -k reports it, as it would a forged one (see sess-replay(1)).
copy_marker_problems() {
	run -1 --separate-stderr sess-replay -k "$1"
	[ -z "$output" ]
	[ "$stderr" = "sess-replay: $1: seq 2: superseded marker: producer 'P' wrote nothing before it
sess-replay: $1: seq 2: superseded marker names message \"draft\", which producer 'P' did not write before epoch 2
sess-replay: $1: seq 2: superseded marker: epoch 2 of producer 'P' never follows it
sess-replay: $1: 3 problems" ]
}
