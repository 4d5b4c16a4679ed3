#!/usr/bin/env bats
# 620-remote: the tools in remote mode (-u URL) against a real sessd give
# the same output and exit statuses as in embedded mode.
load common
load sessd
load helpers/store
load helpers/proc

setup() {
	common_setup
	sessd_start
}

teardown() {
	kill_started
	sessd_stop
}

@test "sess-pub -u acknowledges like embedded mode and sess-sub -u reads it" {
	run -0 sess-pub -u "$SESSD_URL" chat/a '{"n":1}' '"x"' 42
	[ "${lines[0]}" = '{"offset":"0000000000000001","seq":1}' ]
	[ "${lines[2]}" = '{"offset":"0000000000000003","seq":3}' ]
	printf '%s\n' '{"n":2}' '{"a": 1.50}' >in
	run -0 sess-pub -u "$SESSD_URL" chat/a <in
	[ "${lines[1]}" = '{"offset":"0000000000000005","seq":5}' ]
	# Remote and embedded reads of the same store print the same lines.
	sess-sub -u "$SESSD_URL" chat/a >remote.jsonl
	sess-sub -d "$SESS_DB" chat/a >local.jsonl
	run -0 diff local.jsonl remote.jsonl
	run -0 wc -l <remote.jsonl
	[ "$output" -eq 5 ]
	run -0 sess-sub -u "$SESSD_URL" -P -o 3 chat/a
	[ "$output" = $'{"n":2}\n{"a":1.50}' ]
	run -0 sess-sub -u "$SESSD_URL" -o now chat/a
	[ -z "$output" ]
	consistent chat/a
}

@test "SESS_URL selects remote mode; -d wins over it; both flags: exit 2" {
	SESS_URL=$SESSD_URL run -0 sess-pub -q s 1
	SESS_URL=http://127.0.0.1:1 run -0 sess-sub -d "$SESS_DB" -P s
	[ "$output" = 1 ]
	run -2 --separate-stderr sess-sub -d "$SESS_DB" -u "$SESSD_URL" s
	[[ $stderr == *"alternatives"* ]]
}

@test "a remote producer rerun writes only what is missing" {
	seq 1 100 >in100
	seq 1 150 >in150
	run -0 sess-pub -u "$SESSD_URL" -q -p job -e 1 s <in100
	run -0 sess-pub -u "$SESSD_URL" -p job -e 1 s <in150
	run -0 grep -c duplicate <<<"$output"
	[ "$output" = 100 ]
	values_are s $(seq 1 150)
	# The acks of duplicates name the original events.
	run -0 sess-pub -u "$SESSD_URL" -p job -e 1 s 1
	[ "$output" = '{"offset":"0000000000000001","seq":1,"duplicate":true}' ]
	# An older epoch is fenced: exit 2 and the current epoch named.
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" -p job -e 0 s 1
	[[ $stderr == *"403"* ]]
	values_are s $(seq 1 150)
}

@test "remote text mode: the same text rerun adds nothing; supersede works" {
	printf 'hello, wörld\nsecond line\n' >text
	run -0 sess-pub -u "$SESSD_URL" -q -p a -e 1 -T -m answer s <text
	run -0 sess-pub -u "$SESSD_URL" -p a -e 1 -T -m answer s <text
	run -0 grep -c duplicate <<<"$output"
	[ "$output" -ge 3 ]
	printf 'another answer' | sess-pub -u "$SESSD_URL" -q -p a -e 2 -T -m answer s
	run -0 sess-replay -u "$SESSD_URL" -s s
	[[ $output == *'"text":"another answer","status":"complete","attempt":2'* ]]
	consistent s
}

@test "remote text mode: -F leaves the message streaming; bad input keeps the text before it" {
	printf 'one two ' >text
	run -0 sess-pub -u "$SESSD_URL" -q -p a -e 1 -F -T -m m s <text
	printf 'one two three' >text
	run -0 sess-pub -u "$SESSD_URL" -q -p a -e 1 -F -T -m m s <text
	run -0 sess-pub -u "$SESSD_URL" -q -p f -m m s '{"op":"finish"}'
	values_are s '{"msg":"m","op":"create"}' \
	    '{"msg":"m","op":"append","text":"one two "}' \
	    '{"msg":"m","op":"append","text":"three"}' '{"op":"finish","msg":"m"}'
	printf 'ab\xffcd' >bad
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" -p b -T -m m2 s <bad
	[ "$stderr" = "sess-pub: <stdin>: byte 3: invalid UTF-8" ]
	run -0 sess-replay -u "$SESSD_URL" -s s
	[ "${lines[1]}" = '{"msg":"m2","text":"ab","status":"streaming","attempt":0,"first":"0000000000000005","last":"0000000000000006","producer":"b"}' ]
	consistent s
}

@test "remote errors: bad line, unknown stream, -N, -k, unreachable daemon" {
	printf '%s\n' 1 2 '{bad' 4 >in
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" s <in
	[[ $stderr == "sess-pub: <stdin>:3: column "* ]]
	values_are s 1 2
	run -1 --separate-stderr sess-sub -u "$SESSD_URL" nope
	[[ $stderr == *"404"* || $stderr == *"no such stream"* ]]
	run -1 sess-pub -u "$SESSD_URL" -N nope 1
	no_stream nope
	run -2 --separate-stderr sess-replay -u "$SESSD_URL" -k s
	[[ $stderr == *"-k"* ]]
	run -111 --separate-stderr sess-pub -u http://127.0.0.1:1 s 1
	[[ $stderr == "sess-pub: http://127.0.0.1:1: "* ]]
	run -111 sess-sub -u http://127.0.0.1:1 s
	run -2 sess-pub -u ftp://x s 1
}

@test "remote: the store's own events are refused as in embedded mode" {
	run -0 sess-pub -u "$SESSD_URL" -q room \
	    '{"msg":"m1","op":"create","text":"important"}' '{"msg":"m1","op":"finish"}'
	local own="is the store's own: writers cannot append it"
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" room '"fine"' \
	    '{"type":"superseded","producer":"x","epoch":0,"by":1,"msgs":["m1"]}'
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: argument 2: type \"superseded\" $own" ]
	printf '%s\n' 1 '{"type":"notify.sent","member":"bob"}' >in
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" room <in
	[ "$output" = '{"offset":"0000000000000003","seq":3}' ]
	[ "$stderr" = "sess-pub: <stdin>:2: type \"notify.sent\" $own" ]
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" room \
	    '{"type":"run.end","run":"r","reason":"abandoned"}'
	[ "$stderr" = "sess-pub: argument 1: type \"run.end\" with reason \"abandoned\" $own" ]
	values_are room '{"msg":"m1","op":"create","text":"important"}' \
	    '{"msg":"m1","op":"finish"}' 1
	run -0 sess-replay -u "$SESSD_URL" -s room
	[ "$output" = '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}' ]
	run -0 curl -sf "$SESSD_URL/v1/messages/room"
	[ "$output" = '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}' ]
	consistent room
}

@test "sess-sub -u -f sees embedded and remote appends, -C and -W bound it" {
	started_bg /dev/null out sess-sub -u "$SESSD_URL" -f -C 4 -W 20 s
	follower=$bg
	sess-pub -q -d "$SESS_DB" s '{"from":"file"}'
	wait_for 5 has_lines 1 out
	sess-pub -q -u "$SESSD_URL" s '{"from":"http"}' '{"n":3}' '{"n":4}'
	exited "$follower" 0
	run -0 sess-sub -d "$SESS_DB" s
	diff <(printf '%s\n' "${lines[@]}") out
	run -1 timeout 10 sess-sub -u "$SESSD_URL" -f -o now -W 1 s
}

@test "sess-sub -u -f across a sessd restart: nothing lost, nothing twice" {
	port=${SESSD_URL##*:}
	started_bg /dev/null out sess-sub -u "$SESSD_URL" -f -C 30 -W 60 s
	follower=$bg
	for n in $(seq 1 10); do sess-pub -q -u "$SESSD_URL" s "$n"; done
	wait_for 5 has_lines 10 out
	kill -9 "$SESSD_PID"
	wait "$SESSD_PID" || :
	SESSD_PID=
	# Written to the file while the daemon is down.
	for n in $(seq 11 20); do sess-pub -q -d "$SESS_DB" s "$n"; done
	sessd_start -l "127.0.0.1:$port"
	for n in $(seq 21 30); do sess-pub -q -u "$SESSD_URL" s "$n"; done
	exited "$follower" 0
	run -0 sess-sub -d "$SESS_DB" s
	diff <(printf '%s\n' "${lines[@]}") out
}

@test "sess-replay -u replays, copies and reads messages remotely" {
	sess-pub -q s '{"msg":"m","op":"create","text":"a"}' \
	    '{"msg":"m","op":"append","text":"b"}' '{"msg":"m","op":"finish"}'
	sess-replay -d "$SESS_DB" s >local
	run -0 sess-replay -u "$SESSD_URL" s
	diff local <(printf '%s\n' "${lines[@]}")
	run -0 sess-replay -u "$SESSD_URL" -s s
	[[ $output == *'"msg":"m","text":"ab","status":"complete"'* ]]
	run -0 sess-replay -u "$SESSD_URL" -a copy s
	values_are copy '{"msg":"m","op":"create","text":"a"}' \
	    '{"msg":"m","op":"append","text":"b"}' '{"msg":"m","op":"finish"}'
	consistent copy
}

@test "sess-sub -u -f | head -1: the follower ends with 0 once head has gone, long before -W" {
	sess-pub -q -u "$SESSD_URL" s '{"n":1}'
	# -W 30 would be 1, and a follower left in its 20 s long-polls hits
	# the bound (124): only noticing head's going is 0.
	run -0 --separate-stderr under_head 20 sess-sub -u "$SESSD_URL" -f -W 30 -P s
	[ -z "$stderr" ]
	[ "$(cat first)" = '{"n":1}' ]
	run -0 --separate-stderr under_head 20 sess-sub -u "$SESSD_URL" -f s
	[ -z "$stderr" ]
	# The approval wait: the answer comes while it long-polls.
	(under_head 20 sess-sub -u "$SESSD_URL" -f -W 30 -P \
	    -t approval.response run
	    echo $? >st) 3>&- &
	echo "$!" >>"$BATS_TEST_TMPDIR/bg.pids"
	sess-pub -q -u "$SESSD_URL" run '{"type":"approval.request"}'
	sess-pub -q -u "$SESSD_URL" run '{"type":"approval.response","ok":1}'
	wait_for 25 test -s st
	[ "$(cat st)" = 0 ]
	[ "$(cat first)" = '{"type":"approval.response","ok":1}' ]
}

@test "sess-sub -u -f to a file or a terminal follows on until -W" {
	sess-pub -q -u "$SESSD_URL" s '{"n":1}'
	run -1 to_file out timeout 20 sess-sub -u "$SESSD_URL" -f -W 1 -P s
	[ "$(cat out)" = '{"n":1}' ]
	command -v script >/dev/null || skip "no script(1) for a terminal"
	run -1 timeout 20 script -qec "sess-sub -u $SESSD_URL -f -W 1 -P s" /dev/null
	[ "${output%$'\r'}" = '{"n":1}' ]
}

@test "sess-sub -u with several -t: any of the types, history and live; sessd reads every type=" {
	sess-pub -q s '{"type":"a","n":1}' '{"type":"b","n":2}' \
	    '{"type":"c","n":3}' '{"n":4}'
	run -0 sess-sub -u "$SESSD_URL" -P -t c -t a s
	[ "$output" = $'{"type":"a","n":1}\n{"type":"c","n":3}' ]
	run -0 sess-sub -u "$SESSD_URL" -P -t b s
	[ "$output" = '{"type":"b","n":2}' ]
	started_bg /dev/null out sess-sub -u "$SESSD_URL" -f -P -t a -t c -C 4 -W 30 s
	follower=$bg
	wait_for 5 has_lines 2 out
	sess-pub -q -u "$SESSD_URL" s '{"type":"b","n":5}' '{"type":"c","n":6}' \
	    '{"type":"ab","n":7}' '{"type":"a","n":8}'
	exited "$follower" 0
	printf '%s\n' '{"type":"a","n":1}' '{"type":"c","n":3}' \
	    '{"type":"c","n":6}' '{"type":"a","n":8}' >want
	diff want out
	[ ! -s out.err ]
	# The protocol itself: each type= counts; a bad one is a 400.
	run -0 http body GET '/v1/events/s?offset=-1&type=b&type=c'
	[ "$output" = 200 ]
	run -0 data_of body
	[ "$output" = $'{"type":"b","n":2}\n{"type":"c","n":3}\n{"type":"b","n":5}\n{"type":"c","n":6}' ]
	run -0 http body GET '/v1/events/s?offset=-1&type=%zz'
	[ "$output" = 400 ]
	run -0 grep -c '"BAD_REQUEST"' body
}

# looked_for N: sessd -v has answered 404 to N reads of stream "new".
looked_for() {
	[ "$(grep -c '"GET /v1/events/new?[^"]*" 404' \
	    "$BATS_TEST_TMPDIR/sessd.log")" -ge "$1" ]
}

@test "sess-sub -u -f on a stream that does not exist yet waits silently, then prints it" {
	sessd_stop
	sessd_start -v
	started_bg /dev/null out sess-sub -u "$SESSD_URL" -f -C 2 -W 30 -P new
	follower=$bg
	# It has looked for the stream, and found none, more than once.
	wait_for 10 looked_for 3
	sess-pub -q -u "$SESSD_URL" new '{"x":1}'
	wait_for 10 has_lines 1 out
	sess-pub -q -u "$SESSD_URL" new '{"x":2}'
	exited "$follower" 0
	[ "$(cat out)" = $'{"x":1}\n{"x":2}' ]
	[ ! -s out.err ]
}
