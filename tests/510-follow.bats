#!/usr/bin/env bats
# 510-follow: sess-sub -f learns of other processes' appends at once and
# prints each event once, whoever appended it and however many follow.

load common
load helpers/proc
load helpers/store

setup() {
	common_setup
	pids=()
}

teardown() {
	kill_all
}

# now_ms: wall-clock milliseconds.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

@test "sess-sub -f sees 50 appends by other processes one by one, well inside the 1 s backstop" {
	run -0 sess-pub -q s '{"n":0}'
	sess-sub -f -P s >out 2>err 3>&- &
	pids+=($!)
	wait_for 5 has_lines 1 out

	t0=$(now_ms)
	for num in $(seq 1 50); do
		run -0 sess-pub -q s "{\"n\":$num}"
		wait_for 5 has_lines $((num + 1)) out
	done
	elapsed=$(($(now_ms) - t0))
	echo "# 50 appends followed in ${elapsed} ms" >&3
	# Woken by the 1 s backstop alone, this takes some 25 s.
	[ "$elapsed" -lt 10000 ]

	seq 0 50 | sed 's/.*/{"n":&}/' >want
	diff want out
}

@test "sess-sub -f -o now prints only the events appended after it started" {
	run -0 sess-pub -q s '{"n":1}' '{"n":2}' '{"n":3}'
	sess-sub -f -o now s >out 2>err 3>&- &
	sub=$!
	pids+=($sub)
	wait_for 5 watching "$sub"

	run -0 sess-pub -q s '{"n":4}'
	run -0 sess-pub -q s '{"n":5}' '{"n":6}'
	wait_for 5 has_lines 3 out
	seq 4 6 >want
	seqs_of out >got
	diff want got
	printf '{"n":%d}\n' 4 5 6 >want
	data_of out >got
	diff want got
}

@test "sess-sub -f on a stream that does not exist yet waits and prints it once created" {
	run -0 sess-pub -q other '{"other":1}'
	sess-sub -f new >out 2>err 3>&- &
	sub=$!
	pids+=($sub)
	wait_for 5 watching "$sub"
	[ "$(lines out)" -eq 0 ]

	run -0 sess-pub -q new '{"x":1}'
	wait_for 5 has_lines 1 out
	run -0 sess-pub -q new '{"x":2}'
	wait_for 5 has_lines 2 out
	run -0 cat out
	[[ "${lines[0]}" == '{"stream":"new","offset":"0000000000000001","seq":1,"time":"'*'","data":{"x":1}}' ]]
	[[ "${lines[1]}" == '{"stream":"new","offset":"0000000000000002","seq":2,"time":"'*'","data":{"x":2}}' ]]
	[ "${#lines[@]}" -eq 2 ]
	[ ! -s err ]
}

@test "sess-sub -f -C 3 exits 0 once 3 events have come, live or not" {
	run -0 sess-pub -q s '{"n":1}'
	timeout 10 sess-sub -f -C 3 -P s >out 2>err 3>&- &
	sub=$!
	pids+=($sub)
	wait_for 5 has_lines 1 out
	run -0 sess-pub -q s '{"n":2}'
	wait_for 5 has_lines 2 out
	run -0 sess-pub -q s '{"n":3}' '{"n":4}' '{"n":5}'
	st=0
	wait "$sub" || st=$?
	[ "$st" -eq 0 ]
	printf '{"n":%d}\n' 1 2 3 >want
	diff want out
}

@test "sess-sub -f -W 1 on an idle stream exits 1 after about a second" {
	run -0 sess-pub -q s '{"n":1}'
	t0=$(now_ms)
	run -1 timeout 10 sess-sub -f -W 1 -P s
	elapsed=$(($(now_ms) - t0))
	[ "$output" = '{"n":1}' ]
	[ "$elapsed" -ge 900 ]
	[ "$elapsed" -lt 5000 ]

	# With -C, events that come in time make it 0; too few, 1.
	timeout 10 sess-sub -f -W 5 -C 2 -P s >out 2>err 3>&- &
	sub=$!
	pids+=($sub)
	wait_for 5 has_lines 1 out
	run -0 sess-pub -q s '{"n":2}'
	st=0
	wait "$sub" || st=$?
	[ "$st" -eq 0 ]
	run -1 timeout 10 sess-sub -f -W 1 -C 3 -P s
	[ "${#lines[@]}" -eq 2 ]
}

@test "sess-sub -f -t control prints only the control events another process appends among others" {
	run -0 sess-pub -q s '{"type":"token","t":"a"}' \
	    '{"type":"control","action":"pause"}'
	sess-sub -f -t control s >out 2>err 3>&- &
	pids+=($!)
	wait_for 5 has_lines 1 out

	run -0 sess-pub -q s '{"type":"token","t":"b"}' '{"n":1}'
	run -0 sess-pub -q -t control s '{"action":"stop"}'
	run -0 sess-pub -q s '{"type":"progress","p":50}' \
	    '{"type":"controls","action":"no"}' \
	    '{"type":"control","action":"approve"}' '{"type":"token","t":"c"}'
	wait_for 5 has_lines 3 out
	# One more of each, so that a stray line would have arrived by now.
	run -0 sess-pub -q s '{"type":"token","t":"d"}' \
	    '{"type":"control","action":"end"}'
	wait_for 5 has_lines 4 out

	run -0 cat out
	[ "${#lines[@]}" -eq 4 ]
	printf '%s\n' 2 5 8 11 >want
	seqs_of out >got
	diff want got
	cat >want <<-'EOF'
	{"type":"control","action":"pause"}
	{"action":"stop","type":"control"}
	{"type":"control","action":"approve"}
	{"type":"control","action":"end"}
	EOF
	data_of out >got
	diff want got
}

@test "ten followers started on a store with no events all get the same 200 events exactly once" {
	# A store with no stream and no event in it: a follower creates it.
	run -1 sess-sub -f -W 0 s
	[ -f "$SESS_DB" ]
	for f in $(seq 1 10); do
		sess-sub -f s >"out$f" 2>"err$f" 3>&- &
		sub=$!
		pids+=($sub)
		wait_for 5 watching "$sub"
	done

	# 50 commits by 50 processes, 4 events each.
	for num in $(seq 0 49); do
		run -0 sess-pub -q s "{\"i\":$((4 * num + 1))}" \
		    "{\"i\":$((4 * num + 2))}" "{\"i\":$((4 * num + 3))}" \
		    "{\"i\":$((4 * num + 4))}"
	done
	# A last one: a duplicate of any earlier event would be before it.
	run -0 sess-pub -q s '{"i":201}'
	seq 1 201 >want.seqs
	seq 1 201 | sed 's/.*/{"i":&}/' >want.data
	for f in $(seq 1 10); do
		wait_for 10 has_lines 201 "out$f"
		seqs_of "out$f" >got
		diff want.seqs got
		data_of "out$f" >got
		diff want.data got
		[ ! -s "err$f" ]
	done
}

@test "sess-sub -f | head -1: the follower ends with 0 once head has gone, long before -W" {
	run -0 sess-pub -q s1 '{"n":1}'
	# -W 30 would be status 1, and a follower that waits for the next
	# event hits the 20 s bound (124): only noticing head's going is 0.
	run -0 --separate-stderr under_head 20 sess-sub -f -W 30 -P s1
	[ -z "$stderr" ]
	[ "$(cat first)" = '{"n":1}' ]
	# Without -W it would wait forever.
	run -0 --separate-stderr under_head 20 sess-sub -f s1
	[ -z "$stderr" ]
	seqs_of first >got
	[ "$(cat got)" = 1 ]
}

@test "an approval wait, sess-sub -f -t approval.response | head -1, returns once its answer is there" {
	run -0 sess-pub -q run '{"type":"approval.request","id":1}'
	(under_head 20 sess-sub -f -W 30 -P -t approval.response run
	    echo $? >st) 3>&- &
	pids+=($!)
	run -0 sess-pub -q run '{"type":"token","t":"x"}'
	run -0 sess-pub -q run '{"type":"approval.response","ok":true}'
	wait_for 25 test -s st
	[ "$(cat st)" = 0 ]
	[ "$(cat first)" = '{"type":"approval.response","ok":true}' ]
}

@test "a follower whose stdout is a file, /dev/null or a terminal follows on until -W" {
	run -0 sess-pub -q s1 '{"n":1}'
	run -1 to_file out timeout 20 sess-sub -f -W 1 -P s1
	[ "$(cat out)" = '{"n":1}' ]
	run -1 timeout 20 bash -c 'exec sess-sub -f -W 1 -P s1 >/dev/null'
	command -v script >/dev/null || skip "no script(1) for a terminal"
	run -1 timeout 20 script -qec "sess-sub -f -W 1 -P s1" /dev/null
	[ "${output%$'\r'}" = '{"n":1}' ]
}

@test "sess-sub -f with several -t prints the events of any of them, history and live" {
	run -0 sess-pub -q s '{"type":"a","n":1}' '{"type":"b","n":2}' \
	    '{"type":"c","n":3}' '{"n":4}'
	sess-sub -f -P -t a -t c -C 4 s >out 2>err 3>&- &
	sub=$!
	pids+=($sub)
	wait_for 5 has_lines 2 out
	run -0 sess-pub -q s '{"type":"b","n":5}' '{"type":"c","n":6}' \
	    '{"type":"ab","n":7}' '{"type":"a","n":8}'
	st=0
	wait "$sub" || st=$?
	[ "$st" -eq 0 ]
	printf '%s\n' '{"type":"a","n":1}' '{"type":"c","n":3}' \
	    '{"type":"c","n":6}' '{"type":"a","n":8}' >want
	diff want out
	[ ! -s err ]
}
