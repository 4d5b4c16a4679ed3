#!/usr/bin/env bats
# 600-sessd: sessd serves the Durable Streams protocol: the official
# conformance suite passes, bad input gets the exact status and a JSON
# error body, slow or idle clients hold nothing but memory, an embedded
# writer's appends reach live readers, and signals stop it cleanly.

load common
load sessd

setup() {
	common_setup
	SESSD_PID=
}

# A daemon that does not stop cleanly (a crash, a sanitizer report)
# fails the test.
teardown() {
	sessd_stop
}

# waiting N: N readers wait for events (sessd's metrics say so).
waiting() {
	[ "$(curl -s "$SESSD_URL/v1/metrics" | sed -n \
		's/.*"waiting":\([0-9]*\).*/\1/p')" = "$1" ]
}

# is STATUS BODY: the last http call answered STATUS, with BODY exactly.
is() {
	[ "$status" -eq 0 ]
	if [ "$output" != "$1" ] || [ "$(cat body)" != "$2" ]; then
		echo "got $output $(cat body)"
		echo "want $1 $2"
		return 1
	fi
}

@test "the Durable Streams conformance suite passes, subscriptions included" {
	tool=$top/../shared/tools/ds-conformance
	[ -x "$tool" ] || skip "no $tool"
	command -v node >/dev/null || skip "node is not installed"
	sessd_start -P 500
	run timeout 900 env LONGPOLL_MS=500 SUBSCRIPTIONS=1 \
		JSON_OUT="$BATS_TEST_TMPDIR/report.json" "$tool" "$SESSD_URL"
	if [ "$status" -ne 0 ]; then
		grep -E 'FAIL|Tests ' <<<"$output" | head -40
		return 1
	fi
	run -0 node -e '
		const r = require(process.argv[1]);
		console.log(r.numPassedTests + "/" + r.numTotalTests);
		process.exit(r.numFailedTests === 0 ? 0 : 1);
	' "$BATS_TEST_TMPDIR/report.json"
	echo "# conformance: $output" >&3
}

@test "stream names that escape the namespace are refused with 400" {
	sessd_start
	run http body GET /v1/stream/a%2F..%2F..%2Fetc
	is 400 '{"error":{"code":"BAD_STREAM_NAME","message":"stream name '"'"'a/../../etc'"'"' has a '"'"'.'"'"' or '"'"'..'"'"' segment"}}'
	run http body GET /v1/stream/a/../../etc/passwd --path-as-is
	is 400 '{"error":{"code":"BAD_STREAM_NAME","message":"stream name '"'"'a/../../etc/passwd'"'"' has a '"'"'.'"'"' or '"'"'..'"'"' segment"}}'
	run http body PUT /v1/stream/a%00b
	is 400 '{"error":{"code":"BAD_STREAM_NAME","message":"stream name has a control character at byte 2"}}'
	run http body PUT /v1/stream/a%1bb
	is 400 '{"error":{"code":"BAD_STREAM_NAME","message":"stream name has a control character at byte 2"}}'
	run http body PUT /v1/stream/a%zz
	is 400 '{"error":{"code":"BAD_STREAM_NAME","message":"stream name is too long or has a bad %-escape"}}'
	# Nothing was created on the way.
	run -0 sqlite3 "$SESS_DB" 'SELECT count(*) FROM streams'
	[ "$output" = 0 ]
}

@test "a percent-encoded slash inside the namespace names the same stream" {
	sessd_start
	run http body PUT /v1/stream/chat%2Fa -H 'Content-Type: text/plain' \
		--data-binary hello
	is 201 ''
	run http body GET /v1/stream/chat/a
	is 200 hello
}

@test "appends: unknown stream 404, content type 409, bad JSON 400, [] 400" {
	sessd_start
	run http body POST /v1/stream/nosuch -H 'Content-Type: text/plain' \
		-d x
	is 404 '{"error":{"code":"NOT_FOUND","message":"nosuch: no such stream"}}'
	run http body PUT /v1/stream/j -H 'Content-Type: application/json'
	is 201 ''
	run http body POST /v1/stream/j -H 'Content-Type: text/plain' -d x
	is 409 '{"error":{"code":"CONFLICT","message":"j holds application/json, not text/plain"}}'
	run http body POST /v1/stream/j -H 'Content-Type: application/json' \
		-d '{"a":'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"body is not JSON: column 6: unexpected end of input"}}'
	run http body POST /v1/stream/j -H 'Content-Type: application/json' \
		-d '[]'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"an empty JSON array appends nothing"}}'
	run http body POST /v1/stream/j -H 'Content-Type: application/json'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"empty body (only a close with Stream-Closed: true may have none)"}}'
	run http body GET /v1/stream/j
	is 200 '[]'
}

@test "a body over the size cap is refused with 413" {
	sessd_start -b 1024
	run http body PUT /v1/stream/b -H 'Content-Type: text/plain'
	is 201 ''
	head -c 2000 /dev/zero | tr '\0' x >big
	run http body POST /v1/stream/b -H 'Content-Type: text/plain' \
		--data-binary @big
	is 413 '{"error":{"code":"PAYLOAD_TOO_LARGE","message":"body larger than the limit of 1024 bytes (sessd -b raises it)"}}'
	head -c 1024 /dev/zero | tr '\0' x >fits
	run http body POST /v1/stream/b -H 'Content-Type: text/plain' \
		--data-binary @fits
	is 204 ''
}

@test "Expect: 100-continue is answered at once, so the body follows" {
	sessd_start
	run http body PUT /v1/stream/e -H 'Content-Type: text/plain'
	is 201 ''
	head -c 2000000 /dev/zero | tr '\0' x >big
	# curl waits up to 15 s for the 100 before sending the body; sessd
	# cuts a body that does not start within its timeout (10 s).
	run http body POST /v1/stream/e -H 'Content-Type: text/plain' \
		-H 'Expect: 100-continue' --expect100-timeout 15 -m 20 \
		--data-binary @big
	is 204 ''
	run http body HEAD /v1/stream/e
	is 200 ''
}

@test "producers: stale epoch 403, sequence gap 409 with the expected seq" {
	sessd_start
	run http body PUT /v1/stream/p -H 'Content-Type: application/json'
	is 201 ''
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 1' -H 'Producer-Seq: 0' \
		-d '{"n":1}'
	is 200 ''
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 0' -H 'Producer-Seq: 1' \
		-d '{"n":2}' -D headers
	is 403 '{"error":{"code":"PRODUCER_STALE_EPOCH","message":"producer '"'"'w'"'"': stale epoch 0 (current epoch is 1)"}}'
	run -0 grep -qx 'Producer-Epoch: 1.' headers
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 1' -H 'Producer-Seq: 3' \
		-d '{"n":3}' -D headers
	is 409 '{"error":{"code":"PRODUCER_SEQ_GAP","message":"producer '"'"'w'"'"': sequence gap: expected 1, got 3"}}'
	run -0 grep -qx 'Producer-Expected-Seq: 1.' headers
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 1' -d '{"n":4}'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"Producer-Id, Producer-Epoch and Producer-Seq go together"}}'
}

@test "a new producer epoch not at seq 0 is 400 on both append routes" {
	sessd_start
	run http body PUT /v1/stream/p -H 'Content-Type: application/json'
	is 201 ''
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 1' -H 'Producer-Seq: 0' \
		-d '{"n":1}'
	is 200 ''
	local want='{"error":{"code":"BAD_REQUEST","message":"producer '"'"'w'"'"': new epoch 2 must start at sequence 0, not 1"}}'
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 2' -H 'Producer-Seq: 1' \
		-d '{"n":2}'
	is 400 "$want"
	# The tools' route (sess_append()) says the same of the same case.
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Sess-Append: 1' -H 'Producer-Id: w' -H 'Producer-Epoch: 2' \
		-H 'Producer-Seq: 1' -d '[{"n":2}]'
	is 400 "$want"
	# A producer never seen, not at 0: a gap from 0, 409 on both.
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: v' -H 'Producer-Epoch: 0' -H 'Producer-Seq: 2' \
		-d '{"n":3}' -D headers
	is 409 '{"error":{"code":"PRODUCER_SEQ_GAP","message":"producer '"'"'v'"'"': sequence gap: expected 0, got 2"}}'
	run -0 grep -qx 'Producer-Expected-Seq: 0.' headers
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Sess-Append: 1' -H 'Producer-Id: v' -H 'Producer-Epoch: 0' \
		-H 'Producer-Seq: 2' -d '[{"n":3}]'
	# The same answer on both: one error table.
	is 409 '{"error":{"code":"PRODUCER_SEQ_GAP","message":"producer '"'"'v'"'"': sequence gap: expected 0, got 2"}}'
	run http body GET /v1/stream/p
	is 200 '[{"n":1}]'
}

@test "a forged supersede marker is 400 RESERVED_TYPE; others' messages stay" {
	sessd_start
	run http body PUT /v1/stream/room -H 'Content-Type: application/json' \
		-d '[{"msg":"m1","op":"create","text":"important"},{"msg":"m1","op":"finish"}]'
	is 201 ''
	local own="is the store's own: writers cannot append it" v
	local marker='{"type":"superseded","producer":"x","epoch":0,"by":1,"msgs":["m1"]}'
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-d "$marker"
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"superseded\\\" $own\"}}"
	# In a batch the value is named, and nothing of the batch is written.
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-d "[\"fine\",$marker]"
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"value 2: type \\\"superseded\\\" $own\"}}"
	# A marker that breaks the conventions is not kept as a plain value.
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-d '{"type":"superseded","msg":5,"msgs":["m1"]}'
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"superseded\\\" $own\"}}"
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-d '{"type":"supersede\u0064","msgs":["m1"]}'
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"superseded\\\" $own\"}}"
	for v in notify.sent notify.failed notify.skipped; do
		run http body POST /v1/stream/room \
			-H 'Content-Type: application/json' \
			-d "{\"type\":\"$v\",\"member\":\"bob\"}"
		is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"$v\\\" $own\"}}"
	done
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-d '{"type":"run.end","run":"r1","reason":"abandoned"}'
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"run.end\\\" with reason \\\"abandoned\\\" $own\"}}"
	# The tools' route (Sess-Append) refuses it the same way.
	run http body POST /v1/stream/room -H 'Content-Type: application/json' \
		-H 'Sess-Append: 1' -d "[$marker]"
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"superseded\\\" $own\"}}"
	# A create whose first content carries one creates nothing.
	run http body PUT /v1/stream/other -H 'Content-Type: application/json' \
		-d "[$marker]"
	is 400 "{\"error\":{\"code\":\"RESERVED_TYPE\",\"message\":\"type \\\"superseded\\\" $own\"}}"
	run http body GET /v1/stream/other
	is 404 '{"error":{"code":"NOT_FOUND","message":"other: no such stream"}}'
	# The stream and its message are as they were.
	run http body GET /v1/stream/room
	is 200 '[{"msg":"m1","op":"create","text":"important"},{"msg":"m1","op":"finish"}]'
	run http body GET /v1/messages/room
	is 200 '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}'
	run -0 sess-replay -s room
	[ "$output" = '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}' ]
	run -0 sess-replay -k room
	[ -z "$output" ]
}

@test "TTL with Expires-At, and bad or repeated offsets, are 400" {
	sessd_start
	run http body PUT /v1/stream/t -H 'Stream-TTL: 60' \
		-H 'Stream-Expires-At: 2030-01-01T00:00:00Z'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"Stream-TTL and Stream-Expires-At exclude each other"}}'
	run http body PUT /v1/stream/t -H 'Stream-TTL: 060'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"Stream-TTL '"'"'060'"'"' is not a number of seconds"}}'
	run http body PUT /v1/stream/t -H 'Content-Type: text/plain'
	is 201 ''
	run http body GET '/v1/stream/t?offset=1&offset=2'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"more than one offset parameter"}}'
	run http body GET '/v1/stream/t?offset=0,1'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"offset '"'"'0,1'"'"' is not -1, now or an offset"}}'
	run http body GET '/v1/stream/t?offset=5%00'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"offset '"'"''"'"' is not -1, now or an offset"}}'
	run http body GET '/v1/stream/t?live=sse'
	is 400 '{"error":{"code":"BAD_REQUEST","message":"live reads need an offset"}}'
}

@test "a request line or headers over the limit: 414 and 431" {
	sessd_start
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	run http body GET "/v1/stream/$long"
	is 414 '{"error":{"code":"URI_TOO_LONG","message":"request target too long"}}'
	big=$(head -c 20000 /dev/zero | tr '\0' a)
	run http body GET /v1/stream/x -H "X-Big: $big"
	is 431 '{"error":{"code":"HEADERS_TOO_LARGE","message":"request headers too large"}}'
	# The daemon still serves.
	run http body GET /v1/stream/x
	is 404 '{"error":{"code":"NOT_FOUND","message":"x: no such stream"}}'
}

@test "a slowloris client is cut off; others are served meanwhile" {
	sessd_start -t 1
	port=${SESSD_URL##*:}
	# One byte every 0.2 s: the head would take 8 s to arrive.
	python3 - "$port" >slow.out 2>&1 3>&- <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.time()
try:
    for b in b"GET /v1/stream/x HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n\r\n":
        s.send(bytes([b]))
        time.sleep(0.2)
    print("served", s.recv(20))
except OSError:
    print("cut after %.0f s" % (time.time() - t0))
EOF
	slow=$!
	run http body GET /v1/stream/x
	is 404 '{"error":{"code":"NOT_FOUND","message":"x: no such stream"}}'
	run -0 timeout 10 tail --pid="$slow" -f /dev/null
	wait "$slow"
	run -0 cat slow.out
	[[ $output == "cut after "[12]" s" ]]
}

@test "many long-polls that never read hold the daemon up" {
	sessd_start -P 2000
	run http body PUT /v1/stream/lp -H 'Content-Type: text/plain'
	is 201 ''
	port=${SESSD_URL##*:}
	python3 - "$port" >idle.out 2>&1 3>&- <<'EOF' &
import signal, socket, sys
socks = []
for i in range(500):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.send(b"GET /v1/stream/lp?offset=now&live=long-poll HTTP/1.1\r\n"
           b"Host: a\r\n\r\n")
    socks.append(s)
print("open", len(socks), flush=True)
signal.pause()
EOF
	idle=$!
	wait_for 10 grep -q '^open 500$' idle.out
	wait_for 10 waiting 500
	run http body POST /v1/stream/lp -H 'Content-Type: text/plain' -d hi
	is 204 ''
	run http body GET /v1/stream/lp
	is 200 hi
	kill "$idle"
	wait "$idle" || :
	wait_for 10 waiting 0
}

@test "an embedded writer's appends reach long-poll and SSE readers" {
	run -0 sess-pub -q s '{"n":1}'
	sessd_start -P 10000
	curl -sN "$SESSD_URL/v1/stream/s?offset=0000000000000001&live=sse" \
		>sse.out 3>&- &
	sse=$!
	wait_for 5 grep -q upToDate sse.out
	curl -s -o lp.out -w '%{http_code}' \
		"$SESSD_URL/v1/stream/s?offset=0000000000000001&live=long-poll" \
		>lp.status 3>&- &
	lp=$!
	run -0 sess-pub -q s '{"n":2}'
	run -0 timeout 5 tail --pid="$lp" -f /dev/null
	wait "$lp"
	[ "$(cat lp.status)" = 200 ]
	[ "$(cat lp.out)" = '[{"n":2}]' ]
	wait_for 5 grep -q '^data:\[{"n":2}\]$' sse.out
	kill "$sse"
	wait "$sse" || :
}

@test "SIGHUP changes nothing; SIGTERM answers waiting readers and exits 0" {
	sessd_start -P 60000
	run http body PUT /v1/stream/q -H 'Content-Type: text/plain'
	is 201 ''
	curl -s -o /dev/null -w '%{http_code}' \
		"$SESSD_URL/v1/stream/q?offset=now&live=long-poll" >lp.status 3>&- &
	lp=$!
	kill -HUP "$SESSD_PID"
	run http body GET /v1/stream/q
	is 200 ''
	wait_for 5 waiting 1
	st=0
	sessd_stop || st=$?
	[ "$st" -eq 0 ]
	run -0 timeout 5 tail --pid="$lp" -f /dev/null
	wait "$lp"
	[ "$(cat lp.status)" = 204 ]
}
