#!/usr/bin/env bats
# 605-http: sessd's HTTP/1.1 framing (lib/http.c) on the wire: a request
# smuggled behind a malformed chunk size is never run, each kind of bad
# chunked body or ambiguous head is one 400 and a closed connection with
# the store unchanged, and real chunked uploads (curl from a pipe, Node's
# fetch with a streaming body) and pipelined requests work.

load common
load sessd

setup() {
	common_setup
	SESSD_PID=
}

teardown() {
	sessd_stop
}

# raw FILE: FILE's bytes on one connection to the test's sessd; the
# answers, one "STATUS BODY" line each, then "closed" (tests/helpers).
raw() {
	timeout 20 python3 "$top/tests/helpers/http-raw.py" \
		"${SESSD_URL#http://}" "$1"
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

# json_stream NAME: creates the JSON stream NAME.
json_stream() {
	run http body PUT "/v1/stream/$1" -H 'Content-Type: application/json'
	is 201 ''
}

# bad_chunked BODY MESSAGE: a chunked POST to stream s whose body is BODY
# (printf escapes) and then a request that must never run is refused
# with one 400 saying MESSAGE, the connection closed; s keeps its event.
bad_chunked() {
	sessd_start
	json_stream s
	run http body POST /v1/stream/s -H 'Content-Type: application/json' \
		-d '{"n":1}'
	is 204 ''
	json_stream other
	printf 'POST /v1/stream/s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'"$1"'POST /v1/stream/other HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n[{"smuggled":1}]' >req
	run -0 raw req
	[ "$output" = '400 {"error":{"code":"BAD_REQUEST","message":"'"$2"'"}}
closed' ]
	run http body GET '/v1/stream/s?offset=-1'
	is 200 '[{"n":1}]'
	run http body GET '/v1/stream/other?offset=-1'
	is 200 '[]'
}

@test "a request smuggled behind chunk size 0x76 is never run" {
	sessd_start
	json_stream junk
	json_stream admin-only
	printf 'POST /v1/stream/junk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0x76\r\n\r\nPOST /v1/stream/admin-only HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n[{"smuggled":1}]\r\n0\r\n\r\n' >req
	run -0 raw req
	[ "$output" = '400 {"error":{"code":"BAD_REQUEST","message":"malformed chunk size line: unexpected '"'x'"'"}}
closed' ]
	run http body GET '/v1/stream/admin-only?offset=-1'
	is 200 '[]'
	run http body GET '/v1/stream/junk?offset=-1'
	is 200 '[]'
}

@test "chunk size 0x: 400, closed" {
	bad_chunked '0x\r\n\r\n' "malformed chunk size line: unexpected 'x'"
}

@test "chunk size +5: 400, closed" {
	bad_chunked '+5\r\n[{}]\r\n\r\n0\r\n\r\n' \
		"malformed chunk size line: unexpected '+'"
}

@test "chunk size with a space before it: 400, closed" {
	bad_chunked ' 5\r\n[{}]\r\n\r\n0\r\n\r\n' \
		'malformed chunk size line: unexpected byte 0x20'
}

@test "chunk size 5 junk: 400, closed" {
	bad_chunked '5 junk\r\n[{}]\r\n\r\n0\r\n\r\n' \
		"malformed chunk size line: unexpected 'j'"
}

@test "an overlong chunk size: 400, closed" {
	bad_chunked '10000000000000004\r\n[{}]\r\n0\r\n\r\n' \
		'chunk size too large'
}

@test "a negative chunk size: 400, closed" {
	bad_chunked '-5\r\n[{}]\r\n\r\n0\r\n\r\n' \
		"malformed chunk size line: unexpected '-'"
}

@test "a bad trailer line: 400, closed" {
	bad_chunked '4\r\n[{}]\r\n0\r\nnot a field\r\n\r\n' \
		'malformed chunked trailer field: unexpected byte 0x20'
}

@test "chunk data longer than its size: 400, closed" {
	bad_chunked '3\r\n[{}]\r\n0\r\n\r\n' \
		'chunk data not followed by CRLF'
}

# bad_head FIELDS MESSAGE: a POST to stream s with FIELDS (printf
# escapes) in its head, then a request that must never run: one 400
# saying MESSAGE, closed, both streams unchanged.
bad_head() {
	sessd_start
	json_stream s
	json_stream other
	printf 'POST /v1/stream/s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'"$1"'\r\n[{"a":1}]POST /v1/stream/other HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n[{"smuggled":1}]' >req
	run -0 raw req
	[ "$output" = '400 {"error":{"code":"BAD_REQUEST","message":"'"$2"'"}}
closed' ]
	run http body GET '/v1/stream/s?offset=-1'
	is 200 '[]'
	run http body GET '/v1/stream/other?offset=-1'
	is 200 '[]'
}

@test "Content-Length with Transfer-Encoding: 400, closed" {
	bad_head 'Content-Length: 9\r\nTransfer-Encoding: chunked\r\n' \
		'both Content-Length and Transfer-Encoding'
}

@test "two differing Content-Lengths: 400, closed" {
	bad_head 'Content-Length: 9\r\nContent-Length: 0\r\n' \
		'differing Content-Lengths'
}

@test "a bare LF in the head: 400, closed" {
	bad_head 'Content-Length: 9\n' 'LF without CR in the request head'
}

@test "obs-fold in the head: 400, closed" {
	bad_head 'Content-Length: 9\r\nX-A: 1\r\n 2\r\n' \
		'obsolete line folding in the request head'
}

@test "two equal Content-Lengths are one" {
	sessd_start
	json_stream s
	printf 'POST /v1/stream/s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nContent-Length: 9\r\nConnection: close\r\n\r\n[{"a":1}]' >req
	run -0 raw req
	[ "$output" = '204 
closed' ]
	run http body GET '/v1/stream/s?offset=-1'
	is 200 '[{"a":1}]'
}

@test "an absolute-form target is served, its authority the Host" {
	sessd_start
	printf 'PUT http://example.com:99/v1/stream/abs HTTP/1.1\r\nHost: other\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\nGET http://example.com/v1/stream/abs?offset=-1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n' >req
	run -0 raw req
	[ "$output" = '201 
200 []
closed' ]
	run http body PUT /v1/stream/abs2 -H 'Content-Type: text/plain' \
		--request-target 'http://example.com:99/v1/stream/abs2' -D headers
	is 201 ''
	run -0 grep -qx 'Location: http://example.com:99/v1/stream/abs2.' \
		headers
}

@test "HTTP/1.0 keep-alive holds the connection, then closes it" {
	sessd_start
	json_stream s
	printf 'GET /v1/stream/s?offset=-1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /v1/stream/s?offset=-1 HTTP/1.0\r\n\r\nGET /v1/stream/never HTTP/1.0\r\n\r\n' >req
	run -0 raw req
	[ "$output" = '200 []
200 []
closed' ]
}

@test "a chunked upload from curl, its data from a pipe" {
	sessd_start
	json_stream c
	printf '[{"a":1},' >part1
	printf '{"b":2}]' >part2
	run -0 bash -c 'cat part1 part2 | curl -s -o body -w "%{http_code}" \
		-X POST -H "Transfer-Encoding: chunked" \
		-H "Content-Type: application/json" --data-binary @- \
		"$SESSD_URL/v1/stream/c"'
	[ "$output" = 204 ]
	run http body GET '/v1/stream/c?offset=-1'
	is 200 '[{"a":1},{"b":2}]'
}

@test "a chunked upload from Node's fetch with a streaming body" {
	command -v node >/dev/null || skip "node is not installed"
	sessd_start
	json_stream n
	run -0 timeout 20 node "$top/tests/helpers/fetch-stream.mjs" \
		"$SESSD_URL/v1/stream/n" application/json '[{"x":' '1},' \
		'{"y":2}]'
	[ "$output" = '204 ' ]
	run http body GET '/v1/stream/n?offset=-1'
	is 200 '[{"x":1},{"y":2}]'
}

@test "pipelined requests on one connection, chunked among them" {
	sessd_start
	printf 'PUT /v1/stream/p HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\nPOST /v1/stream/p HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n[{"a":1}]POST /v1/stream/p HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n[{"b\r\n5\r\n":2}]\r\n0\r\nX-Trailer: ok\r\n\r\nGET /v1/stream/p?offset=-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >req
	run -0 raw req
	[ "$output" = '201 
204 
204 
200 [{"a":1},{"b":2}]
closed' ]
}

@test "a chunked body over the cap: 413 with the limit and -b" {
	sessd_start -b 1024
	json_stream b
	{
		printf '[{"x":"'
		head -c 2000 /dev/zero | tr '\0' x
		printf '"}]'
	} >big
	run -0 bash -c 'curl -s -o body -w "%{http_code}" -X POST \
		-H "Transfer-Encoding: chunked" \
		-H "Content-Type: application/json" --data-binary @- \
		"$SESSD_URL/v1/stream/b" <big'
	[ "$output" = 413 ]
	run -0 cat body
	[ "$output" = '{"error":{"code":"PAYLOAD_TOO_LARGE","message":"body larger than the limit of 1024 bytes (sessd -b raises it)"}}' ]
	run http body GET '/v1/stream/b?offset=-1'
	is 200 '[]'
}
