# common.bash: setup shared by the bats suites.  Each test gets its own
# store in $BATS_TEST_TMPDIR and runs there.
bats_require_minimum_version 1.5.0

top=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH="$top/${BUILD:-build}/bin:$PATH"

common_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	export SESS_DB="$BATS_TEST_TMPDIR/sess.db"
	unset SESS_PRODUCER SESS_EPOCH SESS_SYNC SESS_URL
}

# wait_for SECS CMD...: run CMD every 20 ms until it succeeds; fail after
# SECS seconds, so a hang is a failure and never a stuck run.
wait_for() {
	local secs=$1 i n
	shift
	n=$((secs * 50))
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	echo "timed out after ${secs}s waiting for: $*" >&2
	return 1
}

# lines FILE: the number of lines in FILE (0 if it does not exist).
lines() {
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# has_lines N FILE: FILE has at least N lines.
has_lines() {
	[ "$(lines "$2")" -ge "$1" ]
}
