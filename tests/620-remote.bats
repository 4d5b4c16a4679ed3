#!/usr/bin/env bats
# 620-remote: the tools in remote mode (-u URL) against a real sessd give
# the same output and exit statuses as in embedded mode.
load common
load sessd
load helpers/store

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
