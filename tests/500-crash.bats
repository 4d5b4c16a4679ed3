#!/usr/bin/env bats
# 500-crash: kill -9 at any moment loses nothing acknowledged, and a rerun
# with the same producer (or cursor) duplicates nothing; concurrent writers
# and a busy store.

load common
load helpers/proc

setup() {
	common_setup
	pids=()
}

teardown() {
	kill_all
}

# ack_seqs FILE: the seq of each sess-pub acknowledgement line of FILE.
ack_seqs() {
	sed 's/^{"offset":"[0-9]\{16\}","seq":\([0-9]*\)\(,"duplicate":true\)\{0,1\}}$/\1/' "$1"
}

# acked_prefix FILE: the whole lines of FILE, the acknowledgements of a
# killed sess-pub -p that started at seq 1, are for seqs 1, 2, ... k.
acked_prefix() {
	local k
	k=$(lines "$1")
	head -n "$k" "$1" >"$1.whole"
	ack_seqs "$1.whole" >"$1.seqs"
	seq 1 "$k" >"$1.want"
	diff "$1.want" "$1.seqs"
}

# data_at SEQS DATA: for each seq in file SEQS, line SEQ of file DATA.
data_at() {
	awk 'NR == FNR { d[FNR] = $0; next } { print d[$1] }' "$2" "$1"
}

@test "sess-pub -p killed with -9 mid-input, twice: the rerun appends exactly what is missing" {
	seq 1 2000 | sed 's/.*/{"line":&,"text":"line &"}/' >input
	mkfifo in1 in2

	trickle 20 0.02 <input >in1 3>&- &
	pids+=($!)
	sess-pub -p P s <in1 >run1.out 2>run1.err 3>&- &
	pub=$!
	pids+=($pub)
	wait_for 20 has_events 300 s
	kill9 "$pub"
	n1=$(events_in s)
	[ "$n1" -ge 300 ]
	[ "$n1" -lt 2000 ]
	# What it acknowledged is there: seqs 1..k, k <= what the store holds.
	acked_prefix run1.out
	[ "$(lines run1.out)" -le "$n1" ]

	# The second run dies too, after adding some of its own.
	trickle 20 0.02 <input >in2 3>&- &
	pids+=($!)
	sess-pub -p P s <in2 >run2.out 2>run2.err 3>&- &
	pub=$!
	pids+=($pub)
	wait_for 20 has_events $((n1 + 300)) s
	kill9 "$pub"
	n2=$(events_in s)
	[ "$n2" -lt 2000 ]
	acked_prefix run2.out
	[ "$(lines run2.out)" -le "$n2" ]
	[ ! -s run1.err ]
	[ ! -s run2.err ]

	run -0 to_file run3.out timeout 60 sess-pub -p P s <input
	# The rerun acknowledges every line, the ones already there as
	# duplicates with their original seqs.
	[ "$(lines run3.out)" -eq 2000 ]
	ack_seqs run3.out >acks
	seq 1 2000 >want
	diff want acks
	run -0 grep -c '"duplicate":true}$' run3.out
	[ "$output" -eq "$n2" ]
	head -n "$n2" run3.out >dups
	run -0 grep -c '"duplicate":true}$' dups
	[ "$output" -eq "$n2" ]

	run -0 to_file got sess-sub -P s
	diff input got
	run -0 sess-replay -k s
}

@test "sess-pub -T killed with -9 mid-text, twice: the message holds the text exactly once" {
	for num in $(seq 1 1500); do
		printf 'line %d: héllo wörld ✓ 日本語 🎉 "quoted" \\ tab\tend\n' "$num"
	done >text
	mkfifo in1 in2

	trickle 10 0.02 <text >in1 3>&- &
	pids+=($!)
	sess-pub -p P -T -m M s <in1 >run1.out 2>run1.err 3>&- &
	pub=$!
	pids+=($pub)
	wait_for 20 has_events 20 s
	kill9 "$pub"
	n1=$(events_in s)

	trickle 10 0.02 <text >in2 3>&- &
	pids+=($!)
	sess-pub -p P -T -m M s <in2 >run2.out 2>run2.err 3>&- &
	pub=$!
	pids+=($pub)
	wait_for 20 has_events $((n1 + 20)) s
	kill9 "$pub"

	run -0 to_file run3.out timeout 60 sess-pub -p P -T -m M s <text
	# The create op was written by the first run.
	run -0 head -n 1 run3.out
	[ "$output" = '{"offset":"0000000000000001","seq":1,"duplicate":true}' ]

	# The materialized message: the whole text, once, complete.
	run -0 to_file state sess-replay -s s
	[ "$(lines state)" -eq 1 ]
	run -0 grep -c '"msg":"M",.*"status":"complete"' state
	json_get state '$.text' msgtext
	cmp text msgtext

	# The log itself: one create, one finish, and appends that add up
	# to the text, each byte once.
	run -0 to_file events sess-sub -P s
	run -0 grep -c '"op":"create"' events
	[ "$output" -eq 1 ]
	run -0 grep -c '"op":"finish"' events
	[ "$output" -eq 1 ]
	texts_of events logtext
	cmp text logtext
	run -0 sess-replay -k s
}

@test "sess-sub -f -c killed with -9 five times while events flow: out holds each event once" {
	seq 1 2000 | sed 's/.*/{"i":&}/' >input
	mkfifo w
	trickle 20 0.02 <input >w 3>&- &
	pids+=($!)
	timeout 60 sess-pub -q s <w 2>pub.err 3>&- &
	pub=$!
	pids+=($pub)
	wait_for 10 has_events 1 s

	at=0
	for round in 1 2 3 4 5; do
		sess-sub -f -c cur s >>out 2>>sub.err 3>&- &
		sub=$!
		pids+=($sub)
		at=$((at + 50 + RANDOM % 200))
		wait_for 20 has_lines "$at" out
		kill9 "$sub"
	done
	st=0
	wait "$pub" || st=$?
	[ "$st" -eq 0 ]

	seen=$(cursor_seq cur)
	[ "$seen" -ge 50 ]
	[ "$seen" -lt 2000 ]
	run -0 to_file out timeout 30 sess-sub -f -c cur -C $((2000 - seen)) s
	[ ! -s sub.err ]
	[ ! -s pub.err ]
	seq 1 2000 >want
	seqs_of out >got
	diff want got
	data_of out >data
	diff input data
}

@test "sess-sub -c killed with -9 five times catching up 20,000 events: out holds each once" {
	seq 1 20000 | sed 's/.*/{"i":&}/' >input
	run -0 sess-pub -q s <input

	at=0
	for round in 1 2 3 4 5; do
		sess-sub -c cur s >>out 2>>sub.err 3>&- &
		sub=$!
		pids+=($sub)
		at=$((at + 500 + RANDOM % 2000))
		wait_for 30 has_lines "$at" out
		# Still running: killed in the middle of the backlog.
		kill9 "$sub"
	done
	run -0 to_file out timeout 60 sess-sub -c cur s
	[ ! -s sub.err ]
	seq 1 20000 >want
	seqs_of out >got
	diff want got
	data_of out >data
	diff input data
}

# The random kills above rarely land between writing an event out and
# recording it in the cursor; strace lands them there on purpose.
@test "sess-sub -c killed between writing an event and recording it (strace): no duplicate" {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
	seq 1 100 | sed 's/.*/{"i":&}/' >input
	run -0 sess-pub -q s <input

	# Kill at the cursor's rename for the 1st event, then (in the next
	# runs) the 3rd and the 50th event written by that run.
	for k in 1 3 50; do
		run -137 to_file out timeout 30 strace -o /dev/null \
		    -e trace=/^rename -e inject=/^rename:signal=KILL:when=$k \
		    sess-sub -c cur s
	done
	run -0 to_file out timeout 30 sess-sub -c cur s
	seq 1 100 >want
	seqs_of out >got
	diff want got
}

@test "sess-pub -p killed after its commit, before acknowledging (strace): rerun acks duplicates" {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
	seq 1 10 | sed 's/.*/{"i":&}/' >input

	# The first write(2) is the acknowledgement on stdout; the store is
	# written with pwrite(2).
	run -137 to_file run1.out timeout 30 strace -o /dev/null \
	    -e trace=write -e inject=write:signal=KILL:when=1 \
	    sess-pub -p P s <input
	[ "$(lines run1.out)" -eq 0 ]
	[ "$(events_in s)" -eq 10 ]

	run -0 to_file run2.out timeout 30 sess-pub -p P s <input
	for num in $(seq 1 10); do
		printf '{"offset":"%016d","seq":%d,"duplicate":true}\n' "$num" "$num"
	done >want
	diff want run2.out
	run -0 to_file got sess-sub -P s
	diff input got
}

@test "two writers at once on one file: 4,000 events, each writer's in order, seqs contiguous" {
	run -0 sess-pub -q setup '{"setup":true}'
	seq 1 2000 | sed 's/.*/{"w":1,"i":&}/' >in1
	seq 1 2000 | sed 's/.*/{"w":2,"i":&}/' >in2
	mkfifo f1 f2
	trickle 20 0.01 <in1 >f1 3>&- &
	pids+=($!)
	trickle 20 0.01 <in2 >f2 3>&- &
	pids+=($!)
	timeout 60 sess-pub s <f1 >a.out 2>a.err 3>&- &
	a=$!
	pids+=($a)
	timeout 60 sess-pub s <f2 >b.out 2>b.err 3>&- &
	b=$!
	pids+=($b)
	st=0
	wait "$a" || st=$?
	[ "$st" -eq 0 ]
	wait "$b" || st=$?
	[ "$st" -eq 0 ]

	run -0 to_file all sess-sub s
	seq 1 4000 >want
	seqs_of all >got
	diff want got
	data_of all >data
	# Each writer's events, whole and in its order.
	grep '^{"w":1,' data >d1 || :
	grep '^{"w":2,' data >d2 || :
	diff in1 d1
	diff in2 d2
	# Each acknowledgement names the event that holds that line.
	ack_seqs a.out >a.seqs
	ack_seqs b.out >b.seqs
	data_at a.seqs data >a.data
	data_at b.seqs data >b.data
	diff in1 a.data
	diff in2 b.data
	# The commits really did interleave.
	run -0 awk -F'[:,]' '$2 != prev { n++; prev = $2 } END { print n }' data
	[ "$output" -ge 3 ]
	run -0 sess-replay -k s
}

@test "two producers at once on one file: all lines once; concurrent reruns are all duplicates" {
	run -0 sess-pub -q setup '{"setup":true}'
	seq 1 2000 | sed 's/.*/{"w":1,"i":&}/' >in1
	seq 1 2000 | sed 's/.*/{"w":2,"i":&}/' >in2
	mkfifo f1 f2
	trickle 20 0.01 <in1 >f1 3>&- &
	pids+=($!)
	trickle 20 0.01 <in2 >f2 3>&- &
	pids+=($!)
	timeout 60 sess-pub -p A s <f1 >a.out 2>a.err 3>&- &
	a=$!
	pids+=($a)
	timeout 60 sess-pub -p B s <f2 >b.out 2>b.err 3>&- &
	b=$!
	pids+=($b)
	st=0
	wait "$a" || st=$?
	[ "$st" -eq 0 ]
	wait "$b" || st=$?
	[ "$st" -eq 0 ]

	# Both again, at once, on the whole input.
	timeout 60 sess-pub -p A s <in1 >a2.out 2>a2.err 3>&- &
	a=$!
	pids+=($a)
	timeout 60 sess-pub -p B s <in2 >b2.out 2>b2.err 3>&- &
	b=$!
	pids+=($b)
	wait "$a" || st=$?
	[ "$st" -eq 0 ]
	wait "$b" || st=$?
	[ "$st" -eq 0 ]
	sed 's/}$/,"duplicate":true}/' a.out >want
	diff want a2.out
	sed 's/}$/,"duplicate":true}/' b.out >want
	diff want b2.out

	run -0 to_file all sess-sub s
	seq 1 4000 >want
	seqs_of all >got
	diff want got
	data_of all >data
	grep '^{"w":1,' data >d1 || :
	grep '^{"w":2,' data >d2 || :
	diff in1 d1
	diff in2 d2
	ack_seqs a.out >a.seqs
	data_at a.seqs data >a.data
	diff in1 a.data
	run -0 awk -F'[:,]' '$2 != prev { n++; prev = $2 } END { print n }' data
	[ "$output" -ge 3 ]
	run -0 sess-replay -k s
}

@test "three writers creating a new store at once all succeed (50 times)" {
	for num in $(seq 1 50); do
		for w in 1 2 3; do
			timeout 30 sess-pub -q -d "new$num.db" s "{\"w\":$w}" \
			    2>>err 3>&- &
			pids+=($!)
		done
		for p in "${pids[@]: -3}"; do
			st=0
			wait "$p" || st=$?
			if [ "$st" -ne 0 ]; then
				echo "store new$num.db: a writer exited $st" >&2
				cat err >&2
				return 1
			fi
		done
		run -0 sess-sub -d "new$num.db" -P s
		[ "${#lines[@]}" -eq 3 ]
	done
	[ ! -s err ]
}

@test "busy store: sess-pub waits for another process's write lock and succeeds once it is released" {
	run -0 sess-pub -q setup '{"setup":true}'
	mkfifo sql
	timeout 60 sqlite3 "$SESS_DB" <sql >sql.out 2>sql.err 3>&- &
	sq=$!
	pids+=($sq)
	exec {lock}>sql
	echo "BEGIN IMMEDIATE; SELECT 'locked';" >&"$lock"
	wait_for 10 grep -qx locked sql.out

	timeout 30 sess-pub s '{"n":1}' >pub.out 2>pub.err 3>&- &
	pub=$!
	pids+=($pub)
	# It waits for the lock instead of failing, and writes nothing yet.
	still_running "$pub" 1
	run -1 sess-sub s

	echo "COMMIT;" >&"$lock"
	exec {lock}>&-
	st=0
	wait "$pub" || st=$?
	[ "$st" -eq 0 ]
	run -0 cat pub.out
	[ "$output" = '{"offset":"0000000000000001","seq":1}' ]
	run -0 to_file got sess-sub -P s
	[ "$(cat got)" = '{"n":1}' ]
	wait "$sq" || st=$?
	[ "$st" -eq 0 ]
}

@test "busy store: sess-pub exits 111 after the 10 s busy timeout and writes nothing" {
	run -0 sess-pub -q setup '{"setup":true}'
	mkfifo sql
	timeout 60 sqlite3 "$SESS_DB" <sql >sql.out 2>sql.err 3>&- &
	sq=$!
	pids+=($sq)
	exec {lock}>sql
	echo "BEGIN IMMEDIATE; SELECT 'locked';" >&"$lock"
	wait_for 10 grep -qx locked sql.out

	t0=$SECONDS
	run -111 timeout 30 sess-pub s '{"n":1}' '{"n":2}'
	[ $((SECONDS - t0)) -ge 9 ]
	[[ "$output" == *busy* ]]
	[ "${#lines[@]}" -eq 1 ]

	echo "COMMIT;" >&"$lock"
	exec {lock}>&-
	st=0
	wait "$sq" || st=$?
	[ "$st" -eq 0 ]
	run -1 sess-sub s
	[[ "$output" == *"no such stream"* ]]
	run -0 sess-pub s '{"n":3}'
	[ "$output" = '{"offset":"0000000000000001","seq":1}' ]
}
