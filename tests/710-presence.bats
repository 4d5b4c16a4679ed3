#!/usr/bin/env bats
# 710-presence: presence (sess-presence, embedded and through sessd's
# HTTP paths), read cursors (sess-sub -M/-U, /v1/cursors) and run leases
# (sessd closes abandoned runs).  Waits are bounded; no assertion is
# about how long something took.
load common
load sessd
load helpers/store
load helpers/proc

setup() {
	common_setup
	# The store exists before anyone lists or predicates on it.
	sess-pub -q chat '{"n":1}'
}

teardown() {
	kill_started
	sessd_stop
}

# present STREAM [ARGS...]: someone is present (sess-presence -n).
present() {
	local s=$1
	shift
	sess-presence "$@" -n "$s"
}

# same WANT GOT: GOT is WANT, else both are shown.
same() {
	if [ "$1" != "$2" ]; then
		printf 'want: %s\n got: %s\n' "$1" "$2"
		return 1
	fi
}

# transitions FILE: the "event/reason/first/last" of each line of FILE.
transitions() {
	sed 's/.*"event":"\([a-z]*\)".*"reason":\([a-z"]*\),"first":\([a-z]*\),"last":\([a-z]*\)}$/\1 \2 \3 \4/' "$1"
}

@test "an empty set: no lines, -n says nobody (1), -a -W gives up (1)" {
	run -0 --separate-stderr sess-presence chat
	[ -z "$output" ]
	run -1 --separate-stderr sess-presence -n chat
	[ -z "$output" ]
	[ -z "$stderr" ]
	run -1 --separate-stderr sess-presence -a -W 1 chat
	[ -z "$output" ]
	# Nobody is present on a stream that does not exist either.
	run -1 sess-presence -n no/such/stream
}

@test "-e holds presence; SIGTERM leaves at once, and a watcher sees enter then leave/explicit" {
	# From the first transition: the watcher may start after the holder.
	started_bg /dev/null watch.jsonl sess-presence -w -o -1 -C 2 -W 30 chat
	watcher=$bg
	started_bg /dev/null hold.out sess-presence -e alice -D '{"device":"phone"}' chat
	holder=$bg
	wait_for 10 present chat
	run -0 sess-presence chat
	[ "${#lines[@]}" = 1 ]
	[[ $output == '{"member":"alice","since":"'*'","data":{"device":"phone"},"conns":[{"conn":"cli-'*'","since":"'*'","data":{"device":"phone"}}]}' ]]
	run -1 sess-presence -n -e alice chat
	run -0 sess-presence -n -e bob chat
	kill -TERM "$holder"
	exited "$holder" 0
	# The leave is in the store when the holder has exited.
	run -1 sess-presence -n chat
	exited "$watcher" 0
	run -0 transitions watch.jsonl
	[ "$output" = $'enter null true false\nleave "explicit" false true' ]
	run -0 grep -c '"member":"alice"' watch.jsonl
	[ "$output" = 2 ]
}

@test "kill -9 of an embedded holder: leave/timeout after its grace (-g 1)" {
	started_bg /dev/null hold.out sess-presence -e carol -g 1 chat
	holder=$bg
	wait_for 10 present chat
	kill -9 "$holder"
	exited "$holder" 137
	# A watcher sweeps the expired lease into a leave, within its grace.
	run -0 timeout 30 sess-presence -w -o -1 -C 2 -W 20 chat
	[ "${#lines[@]}" = 2 ]
	[[ ${lines[1]} == *'"event":"leave","member":"carol",'*'"reason":"timeout","first":false,"last":true}' ]]
	run -1 sess-presence -n chat
}

@test "-a waits until someone else is present; the caller does not count" {
	started_bg /dev/null await.out sess-presence -a -e agent -W 30 chat
	waiter=$bg
	# The waiter is present itself while it waits, and that is not enough.
	wait_for 10 present chat
	run -1 sess-presence -n -e agent chat
	started_bg /dev/null hold.out sess-presence -e alice chat
	holder=$bg
	exited "$waiter" 0
	# It left as it exited; alice stays.
	run -0 sess-presence chat
	[ "${#lines[@]}" = 1 ]
	[[ $output == '{"member":"alice",'* ]]
	run -0 sess-presence -a -W 1 chat
	kill -TERM "$holder"
	exited "$holder" 0
}

@test "two connections of one member count as one member" {
	started_bg /dev/null h1.out sess-presence -e alice -D '{"tab":1}' chat
	h1=$bg
	wait_for 10 present chat
	started_bg /dev/null h2.out sess-presence -e alice -D '{"tab":2}' chat
	h2=$bg
	wait_for 10 bash -c '[[ $(sess-presence chat) == *"\"tab\":2"* ]]'
	run -0 sess-presence chat
	[ "${#lines[@]}" = 1 ]
	run -0 grep -o '"conn":"cli-' <<<"$output"
	[ "${#lines[@]}" = 2 ]
	run -1 sess-presence -n -e alice chat
	kill -TERM "$h1"
	exited "$h1" 0
	run -0 sess-presence -n chat
	kill -TERM "$h2"
	exited "$h2" 0
	# Only the first enter made alice present, only the last leave absent.
	run -0 sess-presence -w -o -1 -W 1 -C 4 chat
	transitions <(printf '%s\n' "$output") >t
	run -0 cat t
	[ "$output" = $'enter null true false\nenter null false false\nleave "explicit" false false\nleave "explicit" false true' ]
}

@test "transitions are durable and read in order from any seq" {
	for who in a b c; do
		started_bg /dev/null "$who.out" sess-presence -e "$who" chat
		pid=$bg
		wait_for 10 present chat
		kill -TERM "$pid"
		exited "$pid" 0
	done
	run -0 sess-presence -w -o -1 -C 6 -W 5 chat
	[ "${#lines[@]}" = 6 ]
	run -0 sed 's/.*"seq":\([0-9]*\),.*"member":"\([a-z]\)".*/\1 \2/' <<<"$output"
	[ "$output" = $'1 a\n2 a\n3 b\n4 b\n5 c\n6 c' ]
	run -0 sess-presence -w -o 4 -C 2 -W 5 chat
	[[ ${lines[0]} == '{"seq":5,"stream":"chat","event":"enter","member":"c",'* ]]
	# Nothing after the last: -W expires, exit 1.
	run -1 sess-presence -w -o 6 -W 1 chat
	[ -z "$output" ]
}

@test "sess-presence: bad input, each with its status and message" {
	run -2 --separate-stderr sess-presence -e '' chat
	[ "$stderr" = "sess-presence: -e: member must be 1 to 256 bytes" ]
	run -2 --separate-stderr sess-presence -e "$(printf 'a\tb')" chat
	[ "$stderr" = "sess-presence: -e: member has a control character" ]
	run -2 --separate-stderr sess-presence -e a -D '[1]' chat
	[ "$stderr" = "sess-presence: -D: data is not a JSON object" ]
	run -2 --separate-stderr sess-presence -e a -D '{"a":' chat
	[[ $stderr == "sess-presence: -D: data is not JSON: "* ]]
	run -2 --separate-stderr sess-presence -D '{}' chat
	[ "$stderr" = "sess-presence: -D goes with -e MEMBER" ]
	run -2 --separate-stderr sess-presence -a -n chat
	[ "$stderr" = "sess-presence: -a, -n and -w are alternatives: give one" ]
	run -2 --separate-stderr sess-presence -C 1 chat
	[ "$stderr" = "sess-presence: -C and -o go with -w" ]
	run -2 --separate-stderr sess-presence -w -o x chat
	[ "$stderr" = "sess-presence: -o: 'x' is not a transition seq (or -1)" ]
	run -2 --separate-stderr sess-presence -e a -g 0 chat
	[ "$stderr" = "sess-presence: -g: '0' is not seconds from 1 to 86400" ]
	run -2 --separate-stderr sess-presence 'bad//name'
	[[ $stderr == "sess-presence: "*"bad//name"* ]]
	run -2 --separate-stderr sess-presence -e a
	[[ $stderr == "usage: sess-presence "* ]]
	# Nothing was entered by any of them.
	run -1 sess-presence -n chat
	run -1 sess-presence -w -o -1 -W 1 chat
	[ -z "$output" ]
}

@test "sessd: the set over HTTP, POST transitions, the log, bad requests" {
	sessd_start
	run -0 http body GET /v1/presence/chat
	[ "$output" = 200 ]
	[ "$(cat body)" = '[]' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"alice","conn":"c1","data":{"k":1}}'
	[ "$output" = 200 ]
	[ "$(cat body)" = '{"stream":"chat","member":"alice","conn":"c1","event":"enter","grace":15}' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"alice","conn":"c2"}'
	run -0 http body POST /v1/presence/chat -d '{"event":"update","member":"alice","conn":"c2","data":{"k":2}}'
	run -0 http body GET /v1/presence/chat
	[ "$output" = 200 ]
	[[ $(cat body) == '[{"member":"alice","since":"'*'","data":{"k":2},"conns":[{"conn":"c1","since":"'*'","data":{"k":1}},{"conn":"c2","since":"'*'","data":{"k":2}}]}]' ]]
	# The embedded tool sees what sessd wrote, and the other way round.
	run -0 sess-presence -n chat
	run -0 http body POST /v1/presence/chat -d '{"event":"leave","member":"alice","conn":"c1"}'
	run -0 http body POST /v1/presence/chat -d '{"event":"leave","member":"alice","conn":"c2"}'
	run -0 http body GET '/v1/presence/chat?log=1&after=-1'
	[ "$output" = 200 ]
	transitions body >t
	run -0 cat t
	[ "$output" = $'enter null true false\nenter null false false\nupdate null false false\nleave "explicit" false false\nleave "explicit" false true' ]
	run -0 http body GET '/v1/presence/chat?log=1&after=3'
	[ "$(wc -l <body)" = 2 ]
	[[ $(head -1 body) == '{"seq":4,'* ]]
	# Bad requests: exact statuses and messages.
	run -0 http body POST /v1/presence/chat -d '{"event":"stay","member":"a","conn":"c"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"'"'stay'"': not a presence event (enter, update, leave or renew)"}}' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"","conn":"c"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"member must be 1 to 256 bytes"}}' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"a","conn":"c","data":[1]}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"data is not a JSON object"}}' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter"'
	[ "$output" = 400 ]
	[[ $(cat body) == '{"error":{"code":"BAD_REQUEST","message":"body is not JSON: '* ]]
	run -0 http body POST /v1/presence/chat -d '{"event":"enter"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"expected {\"event\",\"member\",\"conn\"[,\"data\"]}"}}' ]
	run -0 http body POST /v1/presence/chat -d '{"event":"renew","member":"a","conn":"gone"}'
	[ "$output" = 404 ]
	[ "$(cat body)" = '{"error":{"code":"NOT_FOUND","message":"gone: a is not present on chat"}}' ]
	run -0 http body GET '/v1/presence/chat?log=1&after=x'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"after: '"'x'"' is not a transition seq, -1 or now"}}' ]
	run -0 http body GET '/v1/presence/chat?live=long-poll'
	[ "$output" = 400 ]
	run -0 http body DELETE /v1/presence/chat
	[ "$output" = 405 ]
	run -0 http body GET '/v1/presence/bad%2F%2Fname'
	[ "$output" = 400 ]
	[[ $(cat body) == '{"error":{"code":"BAD_STREAM_NAME",'* ]]
	# Nobody entered through any of them.
	run -0 http body GET /v1/presence/chat
	[ "$(cat body)" = '[]' ]
}

@test "sessd: transitions are the store's own; events cannot forge them, nor clients their reason" {
	sessd_start
	# An event shaped like a transition is an event: nobody is present.
	run -0 sess-pub -q chat '{"type":"presence","event":"enter","member":"mallory","conn":"m"}'
	run -0 http body POST /v1/stream/chat -H 'Content-Type: application/json' \
	    -d '{"type":"enter","member":"mallory","conn":"m","first":true}'
	[ "$output" = 204 ]
	run -1 sess-presence -n chat
	run -0 http body GET /v1/presence/chat
	[ "$(cat body)" = '[]' ]
	run -0 http body GET '/v1/presence/chat?log=1&after=-1'
	[ "$output" = 200 ]
	[ ! -s body ]
	# A client names the transition; the store says why and whether it
	# was the first or the last, whatever the request claims.
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"alice","conn":"c1","reason":"timeout","first":false,"last":true}'
	[ "$output" = 200 ]
	run -0 http body POST /v1/presence/chat -d '{"event":"leave","member":"alice","conn":"c1","reason":"timeout","first":true,"last":false}'
	[ "$output" = 200 ]
	run -0 http body GET '/v1/presence/chat?log=1&after=-1'
	transitions body >t
	run -0 cat t
	[ "$output" = $'enter null true false\nleave "explicit" false true' ]
	run -0 sess-presence -w -o -1 -C 2 -W 10 chat
	[[ ${lines[1]} == *'"event":"leave","member":"alice","conn":"c1",'*'"reason":"explicit","first":false,"last":true}' ]]
}

@test "sessd: the live SSE form sends the set, then each transition" {
	sessd_start
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"bob","conn":"b1"}'
	started_bg /dev/null sse.txt curl -sN -D sse.head "$SESSD_URL/v1/presence/chat?live=sse"
	wait_for 10 grep -q '^event: members' sse.txt
	run -0 http body POST /v1/presence/chat -d '{"event":"enter","member":"alice","conn":"a1"}'
	run -0 http body POST /v1/presence/chat -d '{"event":"leave","member":"alice","conn":"a1"}'
	wait_for 10 test "$(grep -c '^event: presence' sse.txt)" = 2
	run -0 grep '^data: ' sse.txt
	[[ ${lines[0]} == 'data: [{"member":"bob",'* ]]
	[[ ${lines[1]} == 'data: {"seq":2,"stream":"chat","event":"enter","member":"alice",'* ]]
	[[ ${lines[2]} == 'data: {"seq":3,"stream":"chat","event":"leave","member":"alice",'*'"reason":"explicit","first":false,"last":true}' ]]
	run -0 grep -ci '^content-type: text/event-stream' sse.head
	run -0 grep -ci '^cache-control: no-cache' sse.head
}

@test "sessd: remote holders and watchers; SIGTERM leaves at once" {
	sessd_start
	started_bg /dev/null watch.jsonl sess-presence -u "$SESSD_URL" -w -o -1 -C 2 -W 30 chat
	watcher=$bg
	started_bg /dev/null hold.out sess-presence -u "$SESSD_URL" -e alice -D '{"a":1}' chat
	holder=$bg
	wait_for 10 present chat -u "$SESSD_URL"
	run -0 sess-presence -u "$SESSD_URL" chat
	[[ $output == '{"member":"alice","since":"'*'","data":{"a":1},"conns":[{"conn":"cli-'* ]]
	run -1 sess-presence -u "$SESSD_URL" -n -e alice chat
	run -0 sess-presence -u "$SESSD_URL" -a -W 5 chat
	kill -TERM "$holder"
	exited "$holder" 0
	run -1 sess-presence -u "$SESSD_URL" -n chat
	exited "$watcher" 0
	run -0 transitions watch.jsonl
	[ "$output" = $'enter null true false\nleave "explicit" false true' ]
	run -1 sess-presence -u "$SESSD_URL" -a -W 1 chat
	run -2 --separate-stderr sess-presence -u "$SESSD_URL" -e a -D '[]' chat
	[ "$stderr" = "sess-presence: -D: data is not a JSON object" ]
}

@test "sessd -g 1: kill -9 of a remote holder becomes leave/timeout after the grace" {
	sessd_start -g 1
	started_bg /dev/null hold.out sess-presence -u "$SESSD_URL" -e dave chat
	holder=$bg
	wait_for 10 present chat -u "$SESSD_URL"
	kill -9 "$holder"
	exited "$holder" 137
	run -0 timeout 30 sess-presence -u "$SESSD_URL" -w -o -1 -C 2 -W 20 chat
	[[ ${lines[1]} == *'"event":"leave","member":"dave",'*'"reason":"timeout","first":false,"last":true}' ]]
	run -1 sess-presence -u "$SESSD_URL" -n chat
}

@test "sessd -g: bad values are usage errors" {
	run -2 --separate-stderr sessd -g 0
	[ "$stderr" = "sessd: -g 0: not seconds from 1 to 3600" ]
	run -2 --separate-stderr sessd -g 3601
	[ "$stderr" = "sessd: -g 3601: not seconds from 1 to 3600" ]
}

@test "read cursors: sess-sub -M sets them as it prints, -U counts unread, forward only" {
	sess-pub -q chat 2 3
	run -0 sess-sub -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000000","unread":3}' ]
	run -0 sess-sub -M alice -C 2 -P chat
	[ "$output" = $'{"n":1}\n2' ]
	run -0 sess-sub -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000002","unread":1}' ]
	# Without -o, a member reads on from its cursor.
	run -0 sess-sub -M alice -P chat
	[ "$output" = 3 ]
	# Reading again from the start does not move the cursor back.
	run -0 sess-sub -M alice -o -1 -C 1 -P chat
	run -0 sess-sub -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000003","unread":0}' ]
	sess-pub -q chat 4
	run -0 sess-sub -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000003","unread":1}' ]
	# Other members have their own.
	run -0 sess-sub -U -M bob chat
	[ "$output" = '{"stream":"chat","member":"bob","offset":"0000000000000000","unread":4}' ]
	# The same through sessd.
	sessd_start
	run -0 sess-sub -u "$SESSD_URL" -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000003","unread":1}' ]
	run -0 sess-sub -u "$SESSD_URL" -M alice -P chat
	[ "$output" = 4 ]
	run -0 sess-sub -u "$SESSD_URL" -U -M alice chat
	[ "$output" = '{"stream":"chat","member":"alice","offset":"0000000000000004","unread":0}' ]
	run -0 http body GET /v1/cursors/chat
	[ "$output" = 200 ]
	[[ $(cat body) == '[{"member":"alice","offset":"0000000000000004","unread":0,"time":"'*'"}]' ]]
	run -0 http body PUT '/v1/cursors/chat?member=bob' -d '{"offset":"0000000000000002"}'
	[ "$output" = 200 ]
	[ "$(cat body)" = '{"member":"bob","offset":"0000000000000002","unread":2}' ]
	run -0 http body PUT '/v1/cursors/chat?member=bob' -d '{"offset":"1"}'
	[ "$(cat body)" = '{"member":"bob","offset":"0000000000000002","unread":2}' ]
	run -0 http body GET '/v1/cursors/chat?member=carol'
	[[ $(cat body) == '[{"member":"carol","offset":"0000000000000000","unread":4,"time":null}]' ]]
	run -0 sess-sub -U -M bob chat
	[ "$output" = '{"stream":"chat","member":"bob","offset":"0000000000000002","unread":2}' ]
}

@test "read cursors: bad input, each with its status and message" {
	run -2 --separate-stderr sess-sub -M alice -o 5 chat
	[ "$stderr" = "sess-sub: offset 5 is beyond the tail of chat (1)" ]
	run -2 --separate-stderr sess-sub -U chat
	[ "$stderr" = "sess-sub: -U goes with -M MEMBER" ]
	run -2 --separate-stderr sess-sub -U -M '' chat
	[ "$stderr" = "sess-sub: -M: member must be 1 to 256 bytes" ]
	run -1 --separate-stderr sess-sub -U -M alice nope
	[ "$stderr" = "sess-sub: nope: no such stream" ]
	sessd_start
	run -0 http body PUT '/v1/cursors/chat?member=alice' -d '{"offset":"0000000000000009"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"offset 0000000000000009 is beyond the tail of chat (0000000000000001)"}}' ]
	run -0 http body PUT '/v1/cursors/chat?member=alice' -d '{"offset":"x1"}'
	[ "$output" = 400 ]
	[[ $(cat body) == '{"error":{"code":"BAD_REQUEST","message":'* ]]
	run -0 http body PUT '/v1/cursors/chat?member=alice' -d '{"offset":3}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"expected {\"offset\":OFFSET}"}}' ]
	run -0 http body PUT '/v1/cursors/chat' -d '{"offset":"1"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"member: a ?member= is required"}}' ]
	run -0 http body PUT '/v1/cursors/nope?member=alice' -d '{"offset":"0"}'
	[ "$output" = 404 ]
	[ "$(cat body)" = '{"error":{"code":"NOT_FOUND","message":"nope: no such stream"}}' ]
	run -0 http body GET '/v1/cursors/nope'
	[ "$output" = 404 ]
	run -0 http body GET '/v1/cursors/chat?member='
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"BAD_REQUEST","message":"member must be 1 to 256 bytes"}}' ]
	run -1 --separate-stderr sess-sub -u "$SESSD_URL" -U -M alice nope
	[[ $stderr == *"HTTP 404: nope: no such stream" ]]
	# Nothing moved.
	run -0 http body GET /v1/cursors/chat
	[ "$(cat body)" = '[]' ]
}

@test "run leases: an abandoned run is closed by sessd, and readers see it" {
	sessd_start
	started_bg /dev/null tail.jsonl sess-sub -u "$SESSD_URL" -f -t run.end -C 1 -W 30 -P job
	tailer=$bg
	run -0 sess-pub -q -u "$SESSD_URL" job '{"type":"run.start","run":"r1","lease":1}'
	exited "$tailer" 0
	[ "$(cat tail.jsonl)" = '{"type":"run.end","run":"r1","reason":"abandoned"}' ]
	# So is one started by a plain Durable Streams append.
	run -0 http body PUT /v1/stream/ds -H 'Content-Type: application/json'
	[ "$output" = 201 ]
	run -0 http body POST /v1/stream/ds -H 'Content-Type: application/json' \
	    -d '{"type":"run.start","run":"d1","lease":1}'
	[ "$output" = 204 ]
	run -0 timeout 30 sess-sub -u "$SESSD_URL" -f -t run.end -C 1 -W 20 -P ds
	[ "$output" = '{"type":"run.end","run":"d1","reason":"abandoned"}' ]
	# An embedded writer's run is closed the same way.
	sess-pub -q job '{"type":"run.start","run":"r2","lease":1}'
	run -0 timeout 30 sess-sub -f -t run.end -o 2 -C 1 -W 20 -P job
	[ "$output" = '{"type":"run.end","run":"r2","reason":"abandoned"}' ]
}

@test "run leases: a writer cannot say a run was abandoned; sessd still does, once" {
	sessd_start
	run -0 sess-pub -q -u "$SESSD_URL" job '{"type":"run.start","run":"r1","lease":1}'
	run -2 --separate-stderr sess-pub -u "$SESSD_URL" job \
	    '{"type":"run.end","run":"r1","reason":"abandoned"}'
	[ "$stderr" = "sess-pub: argument 1: type \"run.end\" with reason \"abandoned\" is the store's own: writers cannot append it" ]
	run -0 http body POST /v1/stream/job -H 'Content-Type: application/json' \
	    -d '{"type":"run.end","run":"r1","reason":"abandoned"}'
	[ "$output" = 400 ]
	[ "$(cat body)" = '{"error":{"code":"RESERVED_TYPE","message":"type \"run.end\" with reason \"abandoned\" is the store'"'"'s own: writers cannot append it"}}' ]
	# The refused ones did not end the lease: sessd closes the run.
	run -0 timeout 30 sess-sub -u "$SESSD_URL" -f -t run.end -C 1 -W 20 -P job
	[ "$output" = '{"type":"run.end","run":"r1","reason":"abandoned"}' ]
	run -0 sess-sub -P job
	[ "$output" = $'{"type":"run.start","run":"r1","lease":1}\n{"type":"run.end","run":"r1","reason":"abandoned"}' ]
	consistent job
}

@test "run leases: appends carrying the run renew it; run.end ends it" {
	sessd_start
	# Lease 3 s, renewed well within it: no run.end comes in between.
	sess-pub -q -u "$SESSD_URL" job '{"type":"run.start","run":"r1","lease":3}'
	for k in 1 2 3 4 5; do
		sess-pub -q -u "$SESSD_URL" job '{"type":"token","run":"r1","k":'"$k"'}'
		sleep 0.2 # paces the writer; no assertion rests on it
	done
	run -0 timeout 30 sess-sub -u "$SESSD_URL" -f -t run.end -C 1 -W 20 -P job
	[ "$output" = '{"type":"run.end","run":"r1","reason":"abandoned"}' ]
	run -0 sess-sub -P job
	[ "${#lines[@]}" = 7 ]
	[ "${lines[6]}" = '{"type":"run.end","run":"r1","reason":"abandoned"}' ]
	# A run that ends is not abandoned: r2 ends, r3 does not.
	sess-pub -q -u "$SESSD_URL" job2 '{"type":"run.start","run":"r2","lease":1}' \
	    '{"type":"run.end","run":"r2"}' '{"type":"run.start","run":"r3","lease":1}'
	run -0 timeout 30 sess-sub -u "$SESSD_URL" -f -t run.end -o 2 -C 1 -W 20 -P job2
	[ "$output" = '{"type":"run.end","run":"r3","reason":"abandoned"}' ]
	run -0 sess-sub -P -t run.end job2
	[ "$output" = $'{"type":"run.end","run":"r2"}\n{"type":"run.end","run":"r3","reason":"abandoned"}' ]
	# A lease that is no positive number of seconds makes no lease.
	sess-pub -q -u "$SESSD_URL" job3 '{"type":"run.start","run":"r4","lease":0}' \
	    '{"type":"run.start","run":"r5","lease":"1"}' '{"type":"run.start","run":"r6","lease":1}'
	run -0 timeout 30 sess-sub -u "$SESSD_URL" -f -t run.end -C 1 -W 20 -P job3
	[ "$output" = '{"type":"run.end","run":"r6","reason":"abandoned"}' ]
	run -0 sess-sub -P -t run.end job3
	[ "${#lines[@]}" = 1 ]
}

@test "presence sse: a reader that stops reading is cut off, resumes with Last-Event-ID, and gets each of 10,000 transitions once" {
	sessd_start
	started_bg /dev/null sse.json timeout 600 python3 \
		"$top/tests/helpers/presence-sse.py" "${SESSD_URL#http://}" \
		room "$PWD/ready" "$PWD/go" "$PWD/seqs"
	local rd=$bg
	wait_for 30 test -e ready
	# 10,000 transitions of about 1 kB while the reader reads nothing:
	# far more than sessd queues for one reader and the sockets hold.
	timeout 600 python3 - "${SESSD_URL#http://}" <<'PY'
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
h = http.client.HTTPConnection(host, int(port), timeout=60)
pad = "x" * 1000
for i in range(10000):
    body = json.dumps({"event": "enter" if i % 2 == 0 else "leave",
                       "member": "m", "conn": "c", "data": {"i": i, "pad": pad}})
    h.request("POST", "/v1/presence/room", body,
              {"Content-Type": "application/json"})
    r = h.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("POST %d: %d" % (i, r.status))
PY
	# What the log holds for the stream, in pieces of at most 1,000.
	local after=0 n
	: >want
	while :; do
		curl -sf --max-time 30 "$SESSD_URL/v1/presence/room?log=1&after=$after" |
			jq -r .seq >page
		n=$(wc -l <page)
		[ "$n" -gt 0 ] || break
		cat page >>want
		after=$(tail -n 1 page)
	done
	[ "$(wc -l <want)" -ge 10000 ]
	tail -n 1 want >go.tmp
	mv go.tmp go
	exited "$rd" 0
	cat sse.json
	# Every transition once, in order, though it was cut off on the way.
	same "$(cat want)" "$(cat seqs)"
	[ "$(jq .reconnects sse.json)" -ge 1 ]
}

@test "presence sse: after= and Last-Event-ID resume after that transition; a bad one is 400" {
	sessd_start
	local i
	for i in 1 2 3; do
		run -0 http body POST /v1/presence/room \
			-d "{\"event\":\"enter\",\"member\":\"m$i\",\"conn\":\"c$i\"}"
		[ "$output" = 200 ]
	done
	curl -sf --max-time 10 "$SESSD_URL/v1/presence/room?log=1&after=0" |
		jq -r .seq >all
	[ "$(wc -l <all)" = 3 ]
	# A reader that had the first gets the other two, and no members.
	# (curl ends them after 2 s, with 28.)
	run -28 curl -sN --max-time 2 -o a.sse \
		"$SESSD_URL/v1/presence/room?live=sse&after=$(sed -n 1p all)"
	same "$(sed -n '2,3p' all)" "$(sed -n 's/^id: //p' a.sse)"
	same 2 "$(grep -c '^event: presence' a.sse)"
	same 0 "$(grep -c '^event: members' a.sse)"
	run -28 curl -sN --max-time 2 -o b.sse \
		-H "Last-Event-ID: $(sed -n 2p all)" \
		"$SESSD_URL/v1/presence/room?live=sse"
	same "$(sed -n 3p all)" "$(sed -n 's/^id: //p' b.sse)"
	# A new reader's members event names the transition it is as of.
	run -28 curl -sN --max-time 2 -o c.sse \
		"$SESSD_URL/v1/presence/room?live=sse"
	same "id: $(sed -n 3p all)" "$(sed -n 1p c.sse)"
	same "event: members" "$(sed -n 2p c.sse)"
	run -0 http body GET '/v1/presence/room?live=sse&after=x'
	[ "$output" = 400 ]
	same '{"error":{"code":"BAD_REQUEST","message":"'"'x'"' is not a transition seq to resume after"}}' "$(cat body)"
}

@test "sess-presence -w | head -1 ends with 0 once head has gone, long before -W, embedded and remote" {
	started_bg /dev/null hold.out sess-presence -e alice chat
	holder=$bg
	wait_for 10 present chat
	# -W 30 would be 1, and a watcher waiting for the next transition
	# hits the 20 s bound (124): only noticing head's going is 0.
	run -0 --separate-stderr under_head 20 sess-presence -w -o -1 -W 30 chat
	[ -z "$stderr" ]
	run -0 transitions first
	[ "$output" = 'enter null true false' ]
	run -0 --separate-stderr under_head 20 sess-presence -w -o -1 chat
	[ -z "$stderr" ]
	sessd_start
	run -0 --separate-stderr under_head 20 sess-presence -u "$SESSD_URL" -w -o -1 -W 30 chat
	[ -z "$stderr" ]
	run -0 transitions first
	[ "$output" = 'enter null true false' ]
	# A watcher that also holds presence leaves as it ends.
	run -0 --separate-stderr under_head 20 sess-presence -u "$SESSD_URL" -e bob -w -W 30 chat
	[ -z "$stderr" ]
	run -0 sess-presence -w -o -1 -C 3 -W 10 chat
	run -0 transitions <(printf '%s\n' "${lines[@]}")
	[ "$output" = $'enter null true false\nenter null true false\nleave "explicit" false true' ]
	kill -TERM "$holder"
	exited "$holder" 0
}

@test "sess-presence -w to a file or a terminal watches on until -W" {
	run -1 to_file out timeout 20 sess-presence -w -W 1 chat
	[ ! -s out ]
	sessd_start
	run -1 to_file out timeout 20 sess-presence -u "$SESSD_URL" -w -W 1 chat
	[ ! -s out ]
	command -v script >/dev/null || skip "no script(1) for a terminal"
	run -1 timeout 20 script -qec "sess-presence -w -W 1 chat" /dev/null
	run -1 timeout 20 script -qec "sess-presence -u $SESSD_URL -w -W 1 chat" /dev/null
}
