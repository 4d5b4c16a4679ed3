# sessd.bash: a sessd of its own for a test.  Load after common.bash:
#
#	setup()    { common_setup; }
#	teardown() { sessd_stop; }
#	@test "..." { sessd_start -b 1024; curl "$SESSD_URL/v1/stream/x"; }
#
# sessd listens on a free loopback port (port 0: the kernel picks one and
# sessd prints the URL on its readiness line) and serves the test's store
# ($SESS_DB), with a 500 ms long-poll timeout unless the arguments give
# another -P.  Its stderr goes to $BATS_TEST_TMPDIR/sessd.log, which
# sessd_stop shows when the test failed.

# sessd_start [ARGS...]: starts sessd with ARGS and waits (10 s at most)
# for its readiness line.  Sets SESSD_PID and SESSD_URL.
sessd_start() {
	local ready="$BATS_TEST_TMPDIR/sessd.ready"
	: >"$ready"
	sessd -1 -d "$SESS_DB" -l 127.0.0.1:0 -P 500 "$@" >"$ready" \
		2>>"$BATS_TEST_TMPDIR/sessd.log" 3>&- &
	SESSD_PID=$!
	if ! wait_for 10 grep -q '^sessd: listening on http://' "$ready"; then
		cat "$BATS_TEST_TMPDIR/sessd.log" >&2
		return 1
	fi
	SESSD_URL=$(sed -n 's|^sessd: listening on \(http://.*\)$|\1|p' \
		"$ready")
	export SESSD_URL
}

# sessd_stop: stops the test's sessd with SIGTERM and waits for it (10 s,
# then SIGKILL).  Returns its exit status (0 for a clean stop) and shows
# its log if that is not 0 or the test failed.
sessd_stop() {
	local st=0
	[ -n "${SESSD_PID:-}" ] || return 0
	kill -TERM "$SESSD_PID" 2>/dev/null || :
	if ! timeout 10 tail --pid="$SESSD_PID" -f /dev/null; then
		kill -9 "$SESSD_PID" 2>/dev/null || :
	fi
	wait "$SESSD_PID" || st=$?
	SESSD_PID=
	if { [ "${BATS_TEST_COMPLETED:-}" != 1 ] || [ "$st" -ne 0 ]; } &&
		[ -s "$BATS_TEST_TMPDIR/sessd.log" ]; then
		echo "# sessd's log:"
		sed 's/^/#   /' "$BATS_TEST_TMPDIR/sessd.log"
	fi
	return "$st"
}

# http OUT METHOD PATH [CURL ARGS...]: one request to the test's sessd;
# the body goes to OUT, the status (and nothing else) to stdout.
http() {
	local out=$1 method=$2 path=$3
	shift 3
	curl -s -o "$out" -w '%{http_code}' -X "$method" "$@" \
		"$SESSD_URL$path"
}
