# proc.bash: helpers for the crash and follow suites, which run our
# programs in the background, kill them and check what they left behind.
# Load after common.bash.
#
# Beware: in bats 1.8.2, `run -N` sets a global i (bats_version_lt loops
# with it), so a test's loop around run must not use i as its variable.

# trickle N SECS: copy stdin to stdout, N lines at a time with a pause
# of SECS between groups, so that a reader gets its input over a while.
# This paces a writer; it never stands in for waiting on a condition.
trickle() {
	local n=$1 pause=$2 i=0 line
	while IFS= read -r line || [ -n "$line" ]; do
		printf '%s\n' "$line" || return 1
		if ((++i % n == 0)); then
			sleep "$pause"
		fi
	done
}

# events_in STREAM: the number of events in STREAM (0 if it does not
# exist yet), counted by reading it with sess-sub.  Any other failure of
# sess-sub is reported and fails, with nothing on stdout.
events_in() {
	local f="$BATS_TEST_TMPDIR/.events_in" st=0
	sess-sub -P "$1" >"$f" 2>"$f.err" || st=$?
	case $st in
	0) lines "$f" ;;
	1) echo 0 ;;
	*)
		echo "events_in: sess-sub -P $1 exited $st" >&2
		cat "$f.err" >&2
		return 1
		;;
	esac
}

# has_events N STREAM: STREAM holds at least N events.
has_events() {
	[ "$(events_in "$2")" -ge "$1" ]
}

# seqs_of FILE: the seq of each sess-sub event line of FILE, one a line.
# A line that is not a whole event line is copied as it is, so that a
# comparison shows it.
seqs_of() {
	sed 's/^{"stream":"[^"]*","offset":"[0-9]\{16\}","seq":\([0-9]*\),"time":"[^"]*","data":.*}$/\1/' "$1"
}

# data_of FILE: the data of each sess-sub event line of FILE.
data_of() {
	sed 's/^{"stream":"[^"]*","offset":"[0-9]\{16\}","seq":[0-9]*,"time":"[^"]*","data":\(.*\)}$/\1/' "$1"
}

# cursor_seq FILE: the seq recorded in a sess-sub cursor file.
cursor_seq() {
	sed -n 's/^{"stream":"[^"]*","offset":"[0-9]*","seq":\([0-9]*\)[,}].*/\1/p' "$1"
}

# json_get FILE PATH OUT: writes the string at JSON PATH ($.text) of the
# single JSON text in FILE to OUT, byte for byte (decoded by sqlite3).
json_get() {
	sqlite3 :memory: "SELECT writefile('$3', json_extract(CAST(readfile('$1') AS TEXT), '$2'))" >/dev/null
}

# texts_of FILE OUT: writes to OUT the concatenated "text" of the JSON
# values (one a line, as sess-sub -P prints them) in FILE whose "op" is
# "append", in order.
texts_of() {
	sqlite3 :memory: "SELECT writefile('$2', (SELECT coalesce(group_concat(t, ''), '') FROM (SELECT json_extract(value, '\$.text') AS t FROM json_each('[' || rtrim(replace(CAST(readfile('$1') AS TEXT), char(10), ','), ',') || ']') WHERE json_extract(value, '\$.op') = 'append' ORDER BY key)))" >/dev/null
}

# watching PID: process PID holds an inotify descriptor, that is, a
# follower has set up its change watch and is past computing its start.
watching() {
	[ -n "$(find "/proc/$1/fd" -lname 'anon_inode:inotify' 2>/dev/null)" ]
}

# still_running PID SECS: PID has not exited after SECS seconds.  For the
# rare check that something does NOT happen, where time has to pass.
still_running() {
	local st=0
	timeout "$2" tail --pid="$1" -f /dev/null || st=$?
	[ "$st" -eq 124 ]
}

# kill9 PID: kills PID with SIGKILL and reaps it; fails unless PID was
# still running (so the kill really landed mid-run).
kill9() {
	local st=0
	kill -9 "$1"
	wait "$1" || st=$?
	if [ "$st" -ne 137 ]; then
		echo "process $1 had already exited with status $st" >&2
		return 1
	fi
}

# to_file FILE CMD...: runs CMD with stdout appended to FILE, so that
# `run -N to_file out sess-sub ...` checks the status of a program whose
# output goes to a file.
to_file() {
	local f=$1
	shift
	"$@" >>"$f"
}

# kill_all: teardown for tests that keep background PIDs in $pids.  The
# children of each (the program a `timeout` or a subshell runs) go first.
kill_all() {
	local p
	for p in "${pids[@]}"; do
		pkill -9 -P "$p" 2>/dev/null || :
		kill -9 "$p" 2>/dev/null || :
	done
	wait 2>/dev/null || :
}
