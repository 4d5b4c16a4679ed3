#!/usr/bin/env bats
# 700-ws: sessd's WebSocket protocol at /v1/ws (sess-ws(7)), driven by a
# scripted client on the `ws` npm package (tests/node/ws-client.mjs)
# against a real sessd: attach, detach, events with offsets, publish with
# client message ids, many streams on one socket, resuming without gap or
# duplicate, flow control for a reader that stops reading, control
# messages reaching sess-sub, and every kind of bad input with its error
# frame or close code.

load common
load sessd

node_dir="$BATS_TEST_DIRNAME/node"

setup_file() {
	command -v node >/dev/null || {
		echo "node is not installed" >&2
		return 1
	}
	(cd "$node_dir" && timeout 300 npm ci --no-audit --no-fund \
		--loglevel=error) || {
		echo "npm ci in tests/node failed" >&2
		return 1
	}
}

setup() {
	common_setup
	SESSD_PID=
	BG=
}

# Background helpers first (they may hold a socket), then the daemon: one
# that does not stop cleanly (a crash, a sanitizer report) fails the test.
teardown() {
	local p
	for p in $BG; do
		kill "$p" 2>/dev/null || :
		wait "$p" 2>/dev/null || :
	done
	sessd_stop
}

# wsurl [QUERY]: the test's sessd's WebSocket URL.
wsurl() {
	echo "ws://${SESSD_URL#http://}/v1/ws${1:-}"
}

# wsc [CLIENT OPTIONS...]: runs the client against $(wsurl "$WSQ") with
# the script on stdin; 30 s for the whole script unless WST says more.
wsc() {
	timeout $((${WST:-30} + 10)) node "$node_dir/ws-client.mjs" \
		-t "${WST:-30}" "$@" "$(wsurl "${WSQ:-}")"
}

# wsc_bg [CLIENT OPTIONS...]: wsc for "wsc_bg ... &": the background job
# becomes the client's timeout(1), so that killing $! ends the client.
wsc_bg() {
	exec timeout $((${WST:-30} + 10)) node "$node_dir/ws-client.mjs" \
		-t "${WST:-30}" "$@" "$(wsurl "${WSQ:-}")"
}

# only FILTER: the frames of $output that FILTER (a jq condition)
# selects, with sorted keys, one a line.
only() {
	jq -cS "select($1)" <<<"$output"
}

# same WANT GOT: GOT is exactly WANT, or both are shown.
same() {
	if [ "$1" != "$2" ]; then
		printf 'want: %s\n got: %s\n' "$1" "$2"
		return 1
	fi
}

# EV: a jq filter for the one-event lines of the client's -e.
EV='select(has("offset") and has("data") and (has("op") | not))'

# sorted JSON: JSON with sorted keys, compact.
sorted() {
	jq -cS . <<<"$1"
}

# events STREAM: how many events STREAM has in the store.
events() {
	sqlite3 "$SESS_DB" "SELECT count(*) FROM events e JOIN streams s \
		ON e.stream = s.id WHERE s.name = '$1'"
}

# off N: N as a 16-digit offset.
off() {
	printf '%016d' "$1"
}

# anon: sessd's anonymous resident memory in KiB (the store is mapped, and
# its pages count in VmRSS, so that is no measure of what sessd holds).
anon() {
	sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SESSD_PID/status"
}

# heap: what sessd's heap holds in KiB, by its /v1/metrics.  Under
# AddressSanitizer this is the only measure: its allocator keeps freed pages
# and their shadow resident, so RssAnon only grows.
heap() {
	echo $(($(curl -s --max-time 10 "$SESSD_URL/v1/metrics" |
		jq -e .heap) / 1024))
}

# sanitized: sessd is a sanitizer build.
sanitized() {
	ldd "$(command -v sessd)" | grep -q libasan
}

# raw_ws HEX...: a WebSocket client on a bare socket, for frames no
# library sends: upgrades, sends each HEX as bytes, then reads frames
# until a close frame.  Prints the status line and "close CODE".
raw_ws() {
	timeout 20 python3 - "${SESSD_URL#http://}" "$@" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % sys.argv[1]).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, buf = buf.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode())
for h in sys.argv[2:]:
    s.sendall(bytes.fromhex(h))
# Skip the welcome (and anything else) until a close frame.
while True:
    while len(buf) < 2:
        d = s.recv(4096)
        if not d:
            print("eof"); sys.exit(0)
        buf += d
    op, n = buf[0] & 15, buf[1] & 127
    hl = 2 + (2 if n == 126 else 8 if n == 127 else 0)
    while len(buf) < hl:
        buf += s.recv(4096)
    if n == 126: n = int.from_bytes(buf[2:4], "big")
    elif n == 127: n = int.from_bytes(buf[2:10], "big")
    while len(buf) < hl + n:
        buf += s.recv(4096)
    payload, buf = buf[hl:hl + n], buf[hl + n:]
    if op == 8:
        print("close", int.from_bytes(payload[:2], "big")); break
EOF
}

@test "ws: the welcome frame gives the connection id, limits and grace" {
	sessd_start
	run -0 wsc </dev/null
	same '{"grace":15,"limits":{"attachments":1000,"message":1048576,"publish_burst":200,"publish_per_sec":100},"member":null,"op":"welcome"}' \
		"$(jq -cS 'del(.conn)' <<<"${lines[0]}")"
	[[ $(jq -r .conn <<<"${lines[0]}") =~ ^[A-Za-z0-9_-]+$ ]]
	same '{"close":1000,"reason":""}' "${lines[1]}"
	# Each connection gets its own id.
	local first
	first=$(jq -r .conn <<<"${lines[0]}")
	run -0 wsc </dev/null
	[ "$(jq -r .conn <<<"${lines[0]}")" != "$first" ]
}

@test "ws: ?member= and hello declare the member without auth" {
	sessd_start
	WSQ='?member=alice' run -0 wsc </dev/null
	same alice "$(jq -r .member <<<"${lines[0]}")"
	run -0 wsc <<'EOF'
send {"op":"hello","id":"h","member":"bob"}
wait op=ok re=hello
EOF
	same '{"id":"h","member":"bob","op":"ok","re":"hello"}' \
		"$(only '.op == "ok"' | jq -cS 'del(.conn)')"
	# The reply names the connection, as the welcome did.
	same "$(jq -r .conn <<<"${lines[0]}")" \
		"$(only '.op == "ok"' | jq -r .conn)"
}

@test "ws: the sess.v1 subprotocol is selected when offered, none needed" {
	sessd_start
	run -0 wsc -p sess.v1 <<<protocol
	same '{"protocol":"sess.v1"}' "${lines[1]}"
	run -0 wsc <<<protocol
	same '{"protocol":""}' "${lines[1]}"
}

@test "ws: attach -1 gets the history with offsets, then live events" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s '{"n":1}' '{"n":2}' '{"n":3}'
	run -0 wsc <<EOF
send {"op":"attach","id":1,"stream":"s","offset":"-1"}
wait op=ok re=attach id=1
events s 3
sh sess-pub -q -d "$SESS_DB" s '{"n":4}'
events s 4
sh sess-pub -q -u "$SESSD_URL" s '{"n":5}'
events s 5
EOF
	same "{\"id\":1,\"offset\":\"$(off 0)\",\"op\":\"ok\",\"re\":\"attach\",\"stream\":\"s\",\"tail\":\"$(off 3)\"}" \
		"$(only '.op == "ok"' | jq -cS 'del(.exists)')"
	same true "$(only '.op == "ok"' | jq .exists)"
	same '{"members":[],"op":"members","stream":"s"}' \
		"$(only '.op == "members"')"
	# ok, then members, then events: in that order.
	same 'welcome ok members events' \
		"$(jq -r .op <<<"$output" | uniq | head -4 | tr '\n' ' ' |
			sed 's/ $//')"
	same "$(for i in 1 2 3 4 5; do printf '%s %s {"n":%d}\n' s "$(off "$i")" "$i"; done)" \
		"$(jq -r 'select(.op == "events") | .stream as $s |
			.events[] | "\($s) \(.offset) \(.data | tojson)"' <<<"$output")"
	# Each push's next is the offset of its last event; times are RFC 3339
	# UTC with microseconds.
	same true "$(jq -s 'map(select(.op == "events")) | length > 0 and
		all(.[]; .next == .events[-1].offset and
		all(.events[]; .time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$")))' <<<"$output")"
}

@test "ws: attach now gets only later events, attach OFFSET those after it" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s '{"n":1}' '{"n":2}' '{"n":3}'
	run -0 wsc -e <<EOF
send {"op":"attach","id":"a","stream":"s","offset":"now"}
wait op=ok re=attach id=a
sh sess-pub -q -d "$SESS_DB" s '{"n":4}' '{"n":5}'
events s 2
stats s
EOF
	same "{\"exists\":true,\"id\":\"a\",\"offset\":\"$(off 3)\",\"op\":\"ok\",\"re\":\"attach\",\"stream\":\"s\",\"tail\":\"$(off 3)\"}" \
		"$(only '.op == "ok"')"
	same "{\"dups\":0,\"events\":2,\"first\":\"$(off 4)\",\"gaps\":0,\"last\":\"$(off 5)\",\"stats\":\"s\"}" \
		"$(only '.stats')"
	run -0 wsc -e <<EOF
send {"op":"attach","id":2,"stream":"s","offset":"$(off 2)"}
events s 3
stats s
EOF
	same "{\"exists\":true,\"id\":2,\"offset\":\"$(off 2)\",\"op\":\"ok\",\"re\":\"attach\",\"stream\":\"s\",\"tail\":\"$(off 5)\"}" \
		"$(only '.op == "ok"')"
	same '{"n":3} {"n":4} {"n":5}' \
		"$(jq -c "$EV"' | .data' <<<"$output" | tr '\n' ' ' |
			sed 's/ $//')"
	same "{\"dups\":0,\"events\":3,\"first\":\"$(off 3)\",\"gaps\":0,\"last\":\"$(off 5)\",\"stats\":\"s\"}" \
		"$(only '.stats')"
}

@test "ws: attaching a stream that does not exist yet gets it once created" {
	sessd_start
	run -0 wsc -e <<EOF
send {"op":"attach","id":1,"stream":"later"}
wait op=ok re=attach id=1
sh sess-pub -q -d "$SESS_DB" later '{"n":1}'
events later 1
EOF
	same "{\"exists\":false,\"id\":1,\"offset\":\"$(off 0)\",\"op\":\"ok\",\"re\":\"attach\",\"stream\":\"later\",\"tail\":\"$(off 0)\"}" \
		"$(only '.op == "ok"')"
	same "{\"data\":{\"n\":1},\"offset\":\"$(off 1)\",\"stream\":\"later\"}" \
		"$(jq -cS "$EV" <<<"$output")"
}

@test "ws: a bad offset is a BAD_OFFSET error frame for that attach" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s 1
	run -0 wsc <<EOF
send {"op":"attach","id":1,"stream":"s","offset":"banana"}
wait op=error id=1
send {"op":"attach","id":2,"stream":"s","offset":5}
wait op=error id=2
send {"op":"attach","id":3,"stream":"s","offset":"$(off 9)"}
wait op=error id=3
send {"op":"ping","id":4}
wait op=pong id=4
EOF
	same '{"code":"BAD_OFFSET","id":1,"message":"offset '"'"'banana'"'"': not -1, now, an offset or a sequence number","op":"error","re":"attach","stream":"s"}' \
		"$(only '.id == 1')"
	same '{"code":"BAD_OFFSET","id":2,"message":"\"offset\" must be a string","op":"error","re":"attach","stream":"s"}' \
		"$(only '.id == 2')"
	same "{\"code\":\"BAD_OFFSET\",\"id\":3,\"message\":\"offset $(off 9) is beyond the tail of s\",\"op\":\"error\",\"re\":\"attach\",\"stream\":\"s\"}" \
		"$(only '.id == 3')"
}

@test "ws: detach ends delivery of that stream only" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s '{"n":1}'
	sess-pub -q -d "$SESS_DB" t '{"m":1}'
	run -0 wsc -e <<EOF
send {"op":"attach","id":1,"stream":"s"}
send {"op":"attach","id":2,"stream":"t"}
events s 1
events t 1
send {"op":"detach","id":3,"stream":"s"}
wait op=ok re=detach id=3
sh sess-pub -q -d "$SESS_DB" s '{"n":2}'
sh sess-pub -q -d "$SESS_DB" t '{"m":2}'
events t 2
send {"op":"attach","id":4,"stream":"s","offset":"$(off 1)"}
events s 2
sh sess-pub -q -d "$SESS_DB" s '{"n":3}'
events s 3
stats s
stats t
EOF
	same '{"id":3,"op":"ok","re":"detach","stream":"s"}' \
		"$(only '.re == "detach"')"
	# {"n":2} came once: by the new attach, not by the detached one.
	same "{\"dups\":0,\"events\":3,\"first\":\"$(off 1)\",\"gaps\":0,\"last\":\"$(off 3)\",\"stats\":\"s\"}" \
		"$(only '.stats == "s"')"
	same "{\"dups\":0,\"events\":2,\"first\":\"$(off 1)\",\"gaps\":0,\"last\":\"$(off 2)\",\"stats\":\"t\"}" \
		"$(only '.stats == "t"')"
	# Detaching what is not attached is an error frame.
	run -0 wsc <<'EOF'
send {"op":"detach","id":5,"stream":"s"}
wait op=error id=5
EOF
	same 'detach s' "$(jq -r 'select(.id == 5) | "\(.re) \(.stream)"' <<<"$output")"
}

@test "ws: publish creates a JSON stream and answers with the offset" {
	sessd_start
	run -0 wsc <<'EOF'
send {"op":"publish","id":1,"stream":"p","data":{"a":1}}
wait op=ok id=1
send {"op":"publish","id":2,"stream":"p","data":"two"}
wait op=ok id=2
EOF
	same "{\"duplicate\":false,\"id\":1,\"offset\":\"$(off 1)\",\"op\":\"ok\",\"re\":\"publish\",\"stream\":\"p\"}" \
		"$(only '.id == 1')"
	same "{\"duplicate\":false,\"id\":2,\"offset\":\"$(off 2)\",\"op\":\"ok\",\"re\":\"publish\",\"stream\":\"p\"}" \
		"$(only '.id == 2')"
	run -0 sess-sub -d "$SESS_DB" p
	same '{"a":1} "two"' "$(jq -c .data <<<"$output" | tr '\n' ' ' | sed 's/ $//')"
	run -0 curl -sI "$SESSD_URL/v1/stream/p"
	[[ ${output,,} == *$'content-type: application/json\r'* ]]
}

@test "ws: publishing one of the store's own events is a RESERVED_TYPE error frame, nothing written" {
	sessd_start
	sess-pub -q room '{"msg":"m1","op":"create","text":"important"}' \
	    '{"msg":"m1","op":"finish"}'
	run -0 wsc <<'EOF'
send {"op":"publish","id":1,"stream":"room","data":{"type":"superseded","producer":"x","epoch":0,"by":1,"msgs":["m1"]}}
wait op=error id=1
send {"op":"publish","id":2,"stream":"room","data":{"type":"notify.sent","member":"bob"},"mid":"n1"}
wait op=error id=2
send {"op":"publish","id":3,"stream":"room","data":{"type":"run.end","run":"r","reason":"abandoned"}}
wait op=error id=3
send {"op":"publish","id":4,"stream":"room","data":{"type":"superseded","msg":5}}
wait op=error id=4
send {"op":"publish","id":5,"stream":"room","data":{"type":"run.end","run":"r"}}
wait op=ok id=5
EOF
	local own="is the store's own: writers cannot append it"
	same "{\"code\":\"RESERVED_TYPE\",\"id\":1,\"message\":\"type \\\"superseded\\\" $own\",\"op\":\"error\",\"re\":\"publish\",\"stream\":\"room\"}" \
		"$(only '.id == 1')"
	same "RESERVED_TYPE type \"notify.sent\" $own" \
		"$(jq -r 'select(.id == 2) | "\(.code) \(.message)"' <<<"$output")"
	same "RESERVED_TYPE type \"run.end\" with reason \"abandoned\" $own" \
		"$(jq -r 'select(.id == 3) | "\(.code) \(.message)"' <<<"$output")"
	same "RESERVED_TYPE type \"superseded\" $own" \
		"$(jq -r 'select(.id == 4) | "\(.code) \(.message)"' <<<"$output")"
	same "ok $(off 3)" "$(jq -r 'select(.id == 5) | "\(.op) \(.offset)"' <<<"$output")"
	run -0 sess-sub -P room
	same '{"msg":"m1","op":"create","text":"important"}
{"msg":"m1","op":"finish"}
{"type":"run.end","run":"r"}' "$output"
	run -0 sess-replay -s room
	same '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}' "$output"
	run -0 curl -sf "$SESSD_URL/v1/messages/room"
	same '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}' "$output"
}

@test "ws: the same mid twice appends once; the repeat gets the first offset" {
	sessd_start
	run -0 wsc <<'EOF'
send {"op":"publish","id":1,"stream":"m","data":{"a":1},"mid":"x1"}
wait op=ok id=1
send {"op":"publish","id":2,"stream":"m","data":{"a":1},"mid":"x1"}
wait op=ok id=2
send {"op":"publish","id":3,"stream":"m","data":{"b":2},"mid":"x2"}
wait op=ok id=3
EOF
	same "false $(off 1)" "$(jq -r 'select(.id == 1) | "\(.duplicate) \(.offset)"' <<<"$output")"
	same "true $(off 1)" "$(jq -r 'select(.id == 2) | "\(.duplicate) \(.offset)"' <<<"$output")"
	same "false $(off 2)" "$(jq -r 'select(.id == 3) | "\(.duplicate) \(.offset)"' <<<"$output")"
	# Another connection (a reconnected client retrying) too.
	run -0 wsc <<'EOF'
send {"op":"publish","id":4,"stream":"m","data":{"a":1},"mid":"x1"}
wait op=ok id=4
EOF
	same "true $(off 1)" "$(jq -r 'select(.id == 4) | "\(.duplicate) \(.offset)"' <<<"$output")"
	same 2 "$(events m)"
}

@test "ws: many streams on one socket, each event tagged by its stream" {
	sessd_start
	local i script=
	for i in $(seq 1 20); do
		script+="send {\"op\":\"publish\",\"id\":$i,\"stream\":\"a/$i\",\"data\":$i}"$'\n'
	done
	script+=$'wait op=ok id=20\n'
	for i in $(seq 1 20); do
		script+="send {\"op\":\"attach\",\"stream\":\"a/$i\"}"$'\n'
	done
	script+="sh for i in \$(seq 1 20); do sess-pub -q -d '$SESS_DB' a/\$i '{\"n\":'\$i'}' || exit 1; done"$'\n'
	for i in $(seq 1 20); do
		script+="events a/$i 2"$'\n'
	done
	run -0 wsc -e <<<"$script"
	same "$(for i in $(seq 1 20); do
		printf 'a/%d %s %d\n' "$i" "$(off 1)" "$i"
		printf 'a/%d %s {"n":%d}\n' "$i" "$(off 2)" "$i"
	done | sort)" \
		"$(jq -r "$EV"' |
			"\(.stream) \(.offset) \(.data | tojson)"' <<<"$output" | sort)"
}

@test "ws: resuming from the last offset gets every later event once, across the seam" {
	sessd_start
	sess-pub -q -d "$SESS_DB" r $(seq -f '{"i":%g}' 1 10)
	run -0 wsc -e <<'EOF'
send {"op":"attach","stream":"r","offset":"-1"}
events r 10
EOF
	local last
	last=$(jq -r "$EV"' | .offset' <<<"$output" | tail -1)
	same "$(off 10)" "$last"
	# Away: appended by an embedded writer and through sessd.
	sess-pub -q -d "$SESS_DB" r $(seq -f '{"i":%g}' 11 20)
	sess-pub -q -u "$SESSD_URL" r $(seq -f '{"i":%g}' 21 30)
	# Back, while a writer goes on appending, one event per run, by turns
	# embedded and through sessd: the attach's catch-up meets live events.
	(
		for i in $(seq 31 230); do
			if ((i % 2)); then
				sess-pub -q -d "$SESS_DB" r "{\"i\":$i}" || exit 1
			else
				sess-pub -q -u "$SESSD_URL" r "{\"i\":$i}" || exit 1
			fi
		done
	) 3>&- &
	local app=$!
	BG="$BG $app"
	wait_for 10 eval '[ "$(events r)" -ge 40 ]'
	WST=60 run -0 wsc -e <<EOF
send {"op":"attach","id":1,"stream":"r","offset":"$last"}
events r 220
send {"op":"ping","id":"end"}
wait op=pong id=end
stats r
EOF
	wait "$app"
	BG=
	same "{\"dups\":0,\"events\":220,\"first\":\"$(off 11)\",\"gaps\":0,\"last\":\"$(off 230)\",\"stats\":\"r\"}" \
		"$(only '.stats')"
	# In order, each event the one its writer sent at that position.
	same "$(seq 11 230)" "$(jq -r "$EV"' | .data.i' <<<"$output")"
	same "$(seq -f '%016g' 11 230)" \
		"$(jq -r "$EV"' | .offset' <<<"$output")"
}

@test "ws: a reader that stops reading stalls nobody, holds bounded memory, then gets everything once" {
	local n=50000 before during after hbefore hduring hafter
	# A sanitizer build keeps freed memory in quarantine: not held by sessd.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
		sessd_start
	sess-pub -q -d "$SESS_DB" big '{"i":0}'
	# 50,000 events of about 1 KB: 50 MB.
	python3 -c '
import sys
pad = "x" * 1000
for i in range(1, int(sys.argv[1]) + 1):
    print("{\"i\":%d,\"pad\":\"%s\"}" % (i, pad))' "$n" >big.jsonl
	WST=120 wsc_bg -q -r >slow.out 2>slow.err 3>&- <<EOF &
send {"op":"attach","stream":"big","offset":"$(off 1)"}
wait op=ok re=attach
touch slow.ready
pause
waitfile go
resume
events big $n
send {"op":"ping","id":"end"}
wait op=pong id=end
stats big
EOF
	local slow=$!
	BG="$BG $slow"
	WST=120 wsc_bg -q >fast.out 2>fast.err 3>&- <<EOF &
send {"op":"attach","stream":"big","offset":"$(off 1)"}
wait op=ok re=attach
touch fast.ready
events big $n
stats big
EOF
	local fast=$!
	BG="$BG $fast"
	wait_for 20 test -e slow.ready
	wait_for 20 test -e fast.ready
	before=$(anon) hbefore=$(heap)
	sess-pub -q -d "$SESS_DB" big <big.jsonl
	# The other reader gets all of it while the slow one reads nothing.
	wait "$fast" || {
		cat fast.err
		return 1
	}
	during=$(anon) hduring=$(heap)
	echo "# RssAnon: ${before} kB before, ${during} kB with 50 MB unread"
	echo "# heap: ${hbefore} kB before, ${hduring} kB with 50 MB unread"
	same "{\"dups\":0,\"events\":$n,\"first\":\"$(off 2)\",\"gaps\":0,\"last\":\"$(off $((n + 1)))\",\"stats\":\"big\"}" \
		"$(jq -cS 'select(.stats)' fast.out)"
	[ $((hduring - hbefore)) -lt 16384 ]
	sanitized || [ $((during - before)) -lt 16384 ]
	touch go
	wait "$slow" || {
		cat slow.err
		return 1
	}
	after=$(anon) hafter=$(heap)
	echo "# RssAnon: ${after} kB after the slow reader caught up"
	echo "# heap: ${hafter} kB after the slow reader caught up"
	[ $((hafter - hbefore)) -lt 16384 ]
	sanitized || [ $((after - before)) -lt 16384 ]
	# Everything exactly once: straight, or after a resume push and the
	# re-attach it asked for.
	same "{\"dups\":0,\"events\":$n,\"first\":\"$(off 2)\",\"gaps\":0,\"last\":\"$(off $((n + 1)))\",\"stats\":\"big\"}" \
		"$(jq -cS 'select(.stats)' slow.out)"
	BG=
}

@test "ws: ping answers pong with the id" {
	sessd_start
	run -0 wsc <<'EOF'
send {"op":"ping","id":"p1"}
wait op=pong id=p1
send {"op":"ping","id":2}
wait op=pong id=2
send {"op":"ping"}
wait op=pong
EOF
	same '{"op":"pong","id":"p1"}' "${lines[1]}"
	same '{"op":"pong","id":2}' "${lines[2]}"
	same '{"op":"pong"}' "$(jq -cS 'del(.id | select(. == null))' <<<"${lines[3]}")"
}

@test "ws: a control message published over WebSocket reaches sess-sub -f -t control" {
	sessd_start
	sess-pub -q -d "$SESS_DB" run/1 '{"type":"token","text":"hi"}'
	sess-sub -d "$SESS_DB" -f -t control -C 1 -W 20 run/1 >ctl.out \
		2>ctl.err 3>&- &
	local sub=$!
	BG="$BG $sub"
	run -0 wsc <<'EOF'
send {"op":"publish","id":1,"stream":"run/1","data":{"type":"control","action":"stop","run":"r1"}}
wait op=ok re=publish id=1
EOF
	wait "$sub" || {
		cat ctl.err
		return 1
	}
	BG=
	same '{"type":"control","action":"stop","run":"r1"}' \
		"$(jq -c .data ctl.out)"
	same "$(off 2)" "$(jq -r .offset ctl.out)"
}

@test "ws: frames that are not JSON objects are error frames, the connection stays up" {
	sessd_start
	run -0 wsc <<'EOF'
send not json
wait op=error
send [1,2]
wait op=error
send "a string"
wait op=error
send {"op":"ping","id":1}
wait op=pong id=1
EOF
	same 'BAD_FRAME BAD_FRAME BAD_FRAME' \
		"$(jq -r 'select(.op == "error") | .code' <<<"$output" | tr '\n' ' ' |
			sed 's/ $//')"
	same 'null null' "$(jq -r 'select(.op == "error") | "\(.re) \(.id)"' <<<"$output" |
		sort -u)"
	same '{"close":1000,"reason":""}' "${lines[-1]}"
}

@test "ws: an unknown op is UNKNOWN_OP, missing fields BAD_REQUEST, the connection stays up" {
	sessd_start
	run -0 wsc <<'EOF'
send {"op":"frobnicate","id":1}
wait op=error id=1
send {"id":2}
wait op=error id=2
send {"op":"attach","id":3}
wait op=error id=3
send {"op":"publish","id":4,"stream":"x"}
wait op=error id=4
send {"op":"ping","id":5}
wait op=pong id=5
EOF
	same 'frobnicate UNKNOWN_OP' "$(jq -r 'select(.id == 1) | "\(.re) \(.code)"' <<<"$output")"
	same 'BAD_REQUEST' "$(jq -r 'select(.id == 2) | .code' <<<"$output")"
	same 'attach BAD_REQUEST' "$(jq -r 'select(.id == 3) | "\(.re) \(.code)"' <<<"$output")"
	same 'publish BAD_REQUEST' "$(jq -r 'select(.id == 4) | "\(.re) \(.code)"' <<<"$output")"
	same 0 "$(sqlite3 "$SESS_DB" 'SELECT count(*) FROM streams')"
}

@test "ws: attaching an invalid stream name is an error frame; other attachments go on" {
	sessd_start
	sess-pub -q -d "$SESS_DB" ok '{"n":1}'
	run -0 wsc -e <<EOF
send {"op":"attach","id":1,"stream":"ok"}
events ok 1
send {"op":"attach","id":2,"stream":"a/../b"}
wait op=error id=2
send {"op":"attach","id":3,"stream":""}
wait op=error id=3
sh sess-pub -q -d "$SESS_DB" ok '{"n":2}'
events ok 2
stats ok
EOF
	same '{"code":"BAD_STREAM_NAME","id":2,"message":"stream name '"'"'a/../b'"'"' has a '"'"'.'"'"' or '"'"'..'"'"' segment","op":"error","re":"attach","stream":"a/../b"}' \
		"$(only '.id == 2')"
	same '{"code":"BAD_STREAM_NAME","id":3,"message":"empty stream name","op":"error","re":"attach","stream":""}' \
		"$(only '.id == 3')"
	same "{\"dups\":0,\"events\":2,\"first\":\"$(off 1)\",\"gaps\":0,\"last\":\"$(off 2)\",\"stats\":\"ok\"}" \
		"$(only '.stats')"
}

@test "ws: a message of 1 MiB is taken; one byte more closes with 1009" {
	sessd_start
	run -0 wsc <<'EOF'
big 1048576
wait op=ok re=publish
EOF
	same 1 "$(events big)"
	# The head of a text frame of 1,048,577 bytes is enough.  (Not the
	# whole frame: sessd closes at the head, and a close with the rest
	# unread resets the connection, which may lose the close frame.)
	run -0 raw_ws 81ff000000000010000100000000
	same 'close 1009' "${lines[1]}"
	# Over the limit in all, in fragments: 5 bytes, then the head of a
	# continuation of 1,048,572.
	run -0 raw_ws 0185000000007b226f7022 80ff00000000000ffffc00000000
	same 'close 1009' "${lines[1]}"
}

@test "ws: a binary frame closes with 1003, bad UTF-8 with 1007" {
	sessd_start
	run -0 wsc <<'EOF'
binary {"op":"ping"}
waitclose
EOF
	same '1003' "$(jq -r 'select(.close) | .close' <<<"$output")"
	run -0 wsc <<'EOF'
badutf8
waitclose
EOF
	same '1007' "$(jq -r 'select(.close) | .close' <<<"$output")"
}

@test "ws: an unmasked client frame closes with 1002" {
	sessd_start
	# A text frame, FIN, not masked.
	run -0 raw_ws "810f$(printf '{"op":"ping"}  ' | od -An -tx1 | tr -d ' \n')"
	same 'HTTP/1.1 101 Switching Protocols' "${lines[0]}"
	same 'close 1002' "${lines[1]}"
}

@test "ws: a publish flood gets RATE_LIMITED error frames, the rest is published" {
	sessd_start
	run -0 wsc -q <<'EOF'
repeat 400 {"op":"publish","id":{i},"stream":"f","data":{i}}
count 400 re=publish
send {"op":"ping","id":"end"}
wait op=pong id=end
EOF
	local ok limited
	ok=$(only '.op == "ok" and .re == "publish"' | wc -l)
	limited=$(only '.op == "error" and .re == "publish" and .code == "RATE_LIMITED"' | wc -l)
	echo "# $ok published, $limited refused"
	[ $((ok + limited)) -eq 400 ]
	[ "$ok" -ge 200 ]
	[ "$limited" -ge 1 ]
	same "$ok" "$(events f)"
}

@test "ws: 1,000 attachments per connection; the 1,001st is ATTACH_LIMIT" {
	sessd_start
	local i
	for i in $(seq 1 1001); do
		printf 'url = "%s/v1/stream/m/%d"\n' "$SESSD_URL" "$i"
	done >urls
	run -0 curl -s -o /dev/null -w '%{http_code}\n' -X PUT \
		-H 'Content-Type: application/json' -K urls
	same 201 "$(sort -u <<<"$output")"
	WST=60 run -0 wsc -q <<'EOF'
repeat 1001 {"op":"attach","id":{i},"stream":"m/{i}"}
wait op=error id=1001
send {"op":"detach","id":"d","stream":"m/1"}
wait op=ok id=d
send {"op":"attach","id":"again","stream":"m/1001"}
wait op=ok id=again
EOF
	same 1000 "$(only '.op == "ok" and .re == "attach" and (.id | type) == "number"' | wc -l)"
	same 'attach m/1001 ATTACH_LIMIT' \
		"$(jq -r 'select(.id == 1001 and .op == "error") | "\(.re) \(.stream) \(.code)"' <<<"$output")"
}

@test "ws: bad upgrades: no key 400, wrong version 426, not an upgrade 426" {
	sessd_start
	local up=(-H 'Connection: Upgrade' -H 'Upgrade: websocket')
	run -0 curl -s -o body -w '%{http_code}' -m 10 "${up[@]}" \
		-H 'Sec-WebSocket-Version: 13' "$SESSD_URL/v1/ws"
	same 400 "$output"
	run -0 curl -s -D head -o body -w '%{http_code}' -m 10 "${up[@]}" \
		-H 'Sec-WebSocket-Version: 8' \
		-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$SESSD_URL/v1/ws"
	same 426 "$output"
	grep -qi '^Sec-WebSocket-Version: 13' head
	run -0 curl -s -o body -w '%{http_code}' -m 10 "$SESSD_URL/v1/ws"
	same 426 "$output"
	# sessd still serves WebSocket clients.
	run -0 wsc <<'EOF'
send {"op":"ping","id":1}
wait op=pong id=1
EOF
}

@test "ws: SIGTERM closes WebSocket clients with 1001" {
	sessd_start
	wsc_bg >term.out 2>term.err 3>&- <<'EOF' &
touch ready
waitclose
EOF
	local c=$!
	BG="$BG $c"
	wait_for 10 test -e ready
	sessd_stop
	wait "$c" || {
		cat term.err
		return 1
	}
	BG=
	same 1001 "$(jq -r 'select(.close) | .close' term.out)"
}

@test "ws: a closed stream ends its attachment with closed, a deleted one with gone" {
	sessd_start
	sess-pub -q -d "$SESS_DB" c '{"n":1}'
	sess-pub -q -d "$SESS_DB" g '{"n":1}'
	run -0 wsc -e <<EOF
send {"op":"attach","stream":"c"}
send {"op":"attach","stream":"g"}
events c 1
events g 1
sh curl -sf -o /dev/null -X POST -H 'Stream-Closed: true' "$SESSD_URL/v1/stream/c"
wait op=closed stream=c
sh curl -sf -o /dev/null -X DELETE "$SESSD_URL/v1/stream/g"
wait op=gone stream=g
send {"op":"detach","id":1,"stream":"c"}
wait op=error id=1
EOF
	same "{\"offset\":\"$(off 1)\",\"op\":\"closed\",\"stream\":\"c\"}" \
		"$(only '.op == "closed"')"
	same '{"op":"gone","stream":"g"}' "$(only '.op == "gone"')"
	# The attachment ended with the push.
	same NOT_ATTACHED "$(only '.id == 1' | jq -r .code)"
}

@test "ws: a text stream's events come as strings" {
	sessd_start
	run -0 http body PUT /v1/stream/t -H 'Content-Type: text/plain' \
		--data-binary 'hello, '
	same 201 "$output"
	run -0 http body POST /v1/stream/t -H 'Content-Type: text/plain' \
		--data-binary 'wörld'
	same 204 "$output"
	run -0 wsc -e <<'EOF'
send {"op":"attach","stream":"t"}
events t 2
EOF
	same '"hello, " "wörld"' \
		"$(jq -c "$EV"' | .data' <<<"$output" | tr '\n' ' ' | sed 's/ $//')"
}

@test "ws: a message in fragments is one message, up to 1 MiB in all" {
	sessd_start
	run -0 wsc <<'EOF'
frag 3 {"op":"publish","id":1,"stream":"fr","data":{"parts":3}}
wait op=ok id=1
big 1048576 5
wait op=ok re=publish stream=big
wsping
EOF
	same "$(off 1)" "$(only '.id == 1' | jq -r .offset)"
	same '{"pong":true}' "$(only '.pong')"
	run -0 sess-sub -d "$SESS_DB" fr
	same '{"parts":3}' "$(jq -c .data <<<"$output")"
	same 1 "$(events big)"
}

@test "ws: ack needs a member and an offset" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s 1 2
	run -0 wsc <<EOF
send {"op":"ack","id":1,"stream":"s","offset":"$(off 1)"}
wait op=error id=1
send {"op":"hello","member":"alice"}
wait op=ok re=hello
send {"op":"ack","id":2,"stream":"s","offset":"now"}
wait op=error id=2
send {"op":"ack","id":3,"stream":"s"}
wait op=error id=3
EOF
	same 'ack NO_MEMBER' "$(only '.id == 1' | jq -r '"\(.re) \(.code)"')"
	same 'ack BAD_OFFSET' "$(only '.id == 2' | jq -r '"\(.re) \(.code)"')"
	same 'ack BAD_OFFSET' "$(only '.id == 3' | jq -r '"\(.re) \(.code)"')"
}

@test "ws: presence needs a member, and data must be an object" {
	sessd_start
	run -0 wsc <<'EOF'
send {"op":"enter","id":1,"stream":"s"}
wait op=error id=1
send {"op":"hello","member":"alice"}
wait op=ok re=hello
send {"op":"enter","id":2,"stream":"s","data":[1]}
wait op=error id=2
EOF
	same 'enter NO_MEMBER' "$(only '.id == 1' | jq -r '"\(.re) \(.code)"')"
	same 'enter BAD_REQUEST' "$(only '.id == 2' | jq -r '"\(.re) \(.code)"')"
}

@test "ws: presence pushes: enter, update, leave; two connections are one member" {
	sessd_start -g 1
	sess-pub -q -d "$SESS_DB" s '{"n":1}'
	WSQ='?member=watch' wsc_bg >w.out 2>w.err 3>&- <<'EOF' &
send {"op":"attach","stream":"s","offset":"now"}
wait op=ok re=attach
touch w.ready
wait op=presence event=enter first=true
wait op=presence event=enter first=false
wait op=presence event=update
wait op=presence event=leave last=false
wait op=presence event=leave last=true
send {"op":"members","id":"m","stream":"s"}
wait op=ok id=m
EOF
	local w=$!
	BG="$BG $w"
	WSQ='?member=alice' wsc_bg >a1.out 2>a1.err 3>&- <<'EOF' &
waitfile w.ready
send {"op":"enter","id":1,"stream":"s","data":{"tab":1}}
wait op=ok id=1
touch a1.entered
waitfile a2.entered
send {"op":"update","id":2,"stream":"s","data":{"tab":1,"typing":true}}
wait op=ok id=2
touch a1.updated
waitfile a2.left
EOF
	local a1=$!
	BG="$BG $a1"
	WSQ='?member=alice' run -0 wsc <<'EOF'
waitfile a1.entered
send {"op":"attach","stream":"s","offset":"now"}
wait op=members
send {"op":"enter","id":1,"stream":"s","data":{"tab":2}}
wait op=ok id=1
send {"op":"members","id":"m","stream":"s"}
wait op=ok id=m
touch a2.entered
waitfile a1.updated
send {"op":"leave","id":2,"stream":"s"}
wait op=ok id=2
touch a2.left
EOF
	local c1 c2
	c2=$(jq -r .conn <<<"${lines[0]}")
	# The members push on attach: alice, on her first connection.
	same '["alice",1]' "$(only '.op == "members"' |
		jq -c '[.members[].member, (.members[0].conns | length)]')"
	# After her second enter: one member, two connections, each its data.
	# (A leave carries the data the connection had.)
	same '[["alice"],[{"tab":1},{"tab":2}]]' "$(only '.id == "m"' |
		jq -c '[[.members[].member], ([.members[0].conns[].data] | sort_by(.tab))]')"
	wait "$a1" || {
		cat a1.err
		return 1
	}
	wait "$w" || {
		cat w.err
		return 1
	}
	BG=
	c1=$(jq -r 'select(.op == "welcome") | .conn' a1.out)
	same "enter alice $c1 {\"tab\":1} null true false
enter alice $c2 {\"tab\":2} null false false
update alice $c1 {\"tab\":1,\"typing\":true} null false false
leave alice $c2 {\"tab\":2} explicit false false
leave alice $c1 {\"tab\":1,\"typing\":true} explicit false true" \
		"$(jq -r 'select(.op == "presence") | "\(.event) \(.member) \(.conn) \(.data | tojson) \(.reason) \(.first) \(.last)"' w.out)"
	same '[]' "$(jq -c 'select(.id == "m") | .members' w.out)"
	same true "$(jq -s 'map(select(.op == "presence")) | length == 5 and
		all(.[]; .stream == "s" and
		(.time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{6}Z$")))' w.out)"
}

@test "ws: an abrupt disconnect leaves after the grace, with reason timeout" {
	sessd_start -g 1
	WSQ='?member=watch' wsc_bg >w.out 2>w.err 3>&- <<'EOF' &
send {"op":"attach","stream":"s","offset":"now"}
wait op=ok re=attach
touch w.ready
wait op=presence event=enter
wait op=presence event=leave
EOF
	local w=$!
	BG="$BG $w"
	wait_for 10 test -e w.ready
	WSQ='?member=bob' wsc_bg >b.out 2>b.err 3>&- <<'EOF' &
send {"op":"enter","id":1,"stream":"s"}
wait op=ok id=1
pid b.pid
touch b.entered
waitfile never
EOF
	local b=$!
	BG="$BG $b"
	wait_for 10 test -e b.entered
	# The client itself (not the shell around it): no close frame.
	kill -9 "$(cat b.pid)"
	wait "$w" || {
		cat w.err
		return 1
	}
	BG=
	same 'enter null true false
leave timeout false true' \
		"$(jq -r 'select(.op == "presence") | "\(.event) \(.reason) \(.first) \(.last)"' w.out)"
}

@test "ws: ack moves the member's read position, shared over HTTP" {
	sessd_start
	sess-pub -q -d "$SESS_DB" s 1 2 3
	WSQ='?member=alice' run -0 wsc <<EOF
send {"op":"ack","id":1,"stream":"s","offset":"$(off 2)"}
wait op=ok id=1
EOF
	same "{\"id\":1,\"offset\":\"$(off 2)\",\"op\":\"ok\",\"re\":\"ack\",\"stream\":\"s\",\"unread\":1}" \
		"$(only '.id == 1')"
	run -0 curl -s "$SESSD_URL/v1/cursors/s?member=alice"
	same "[\"alice\",\"$(off 2)\",1]" "$(jq -c '.[0] | [.member, .offset, .unread]' <<<"$output")"
}

# token_py KEYFILE SUB IAT EXP: an HS256 token signed with KEYFILE's bytes,
# granting everything on chat/alice/*, minted by hand (sess-token has no
# way to mint one that has already expired).
token_py() {
	python3 - "$@" <<'EOF'
import base64, hashlib, hmac, json, sys
key = open(sys.argv[1], "rb").read()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": sys.argv[2], "iat": int(sys.argv[3]),
    "exp": int(sys.argv[4]), "streams": [{"pattern": "chat/alice/*",
    "caps": ["read", "write", "presence"]}]}).encode())
sig = b64(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
print((head + b"." + body + b"." + sig).decode())
EOF
}

@test "ws: with a key, the upgrade needs a valid token: 401 otherwise" {
	sess-token -g key
	sess-token -g other
	sessd_start -k key
	local now tok
	now=$(date +%s)
	# No token, an expired one, one signed with another key, a forged one.
	run -1 wsc </dev/null
	same 401 "$(jq -r .http <<<"${lines[0]}")"
	same UNAUTHORIZED "$(jq -r .body <<<"${lines[0]}" | jq -r .error.code)"
	tok=$(token_py key alice $((now - 7200)) $((now - 3600)))
	WSQ="?token=$tok" run -1 wsc </dev/null
	same 401 "$(jq -r .http <<<"${lines[0]}")"
	tok=$(token_py other alice "$now" $((now + 3600)))
	WSQ="?token=$tok" run -1 wsc </dev/null
	same 401 "$(jq -r .http <<<"${lines[0]}")"
	tok=$(token_py key alice "$now" $((now + 3600)))
	local forged=${tok%.*}.
	forged+=$(printf %s "${tok##*.}" | tr 'A-Za-z' 'B-ZAb-za')
	WSQ="?token=$forged" run -1 wsc </dev/null
	same 401 "$(jq -r .http <<<"${lines[0]}")"
	# A good one, by query or by header: the member is its subject.
	WSQ="?token=$tok" run -0 wsc <<<'send {"op":"ping","id":1}
wait op=pong id=1'
	same alice "$(jq -r .member <<<"${lines[0]}")"
	same '{"close":1000,"reason":""}' "${lines[-1]}"
	run -0 wsc -H "Authorization: Bearer $tok" <<<'send {"op":"ping","id":1}
wait op=pong id=1'
	same alice "$(jq -r .member <<<"${lines[0]}")"
}

@test "ws: a forbidden stream is an error frame; other attachments go on" {
	sess-token -g key
	sessd_start -k key
	local tok
	tok=$(sess-token -k key -s alice -e 3600 -r 'chat/alice/*' \
		-w 'chat/alice/*' -p 'chat/alice/*')
	sess-pub -q -d "$SESS_DB" chat/alice/1 '{"n":1}'
	sess-pub -q -d "$SESS_DB" chat/bob/1 '{"n":1}'
	WSQ="?token=$tok" run -0 wsc -e <<EOF
send {"op":"attach","id":1,"stream":"chat/alice/1"}
events chat/alice/1 1
send {"op":"attach","id":2,"stream":"chat/bob/1"}
wait op=error id=2
send {"op":"attach","id":3,"stream":"chat/bob/nosuch"}
wait op=error id=3
send {"op":"publish","id":4,"stream":"chat/bob/1","data":{"x":1}}
wait op=error id=4
send {"op":"enter","id":5,"stream":"chat/bob/1"}
wait op=error id=5
send {"op":"hello","id":6,"member":"bob"}
wait op=error id=6
send {"op":"publish","id":7,"stream":"chat/alice/1","data":{"n":2}}
wait op=ok id=7
events chat/alice/1 2
stats chat/alice/1
EOF
	same 'attach chat/bob/1 FORBIDDEN' "$(only '.id == 2' | jq -r '"\(.re) \(.stream) \(.code)"')"
	# The same answer whether the stream exists or not.
	same "$(only '.id == 2' | jq -c '[.code, .message]')" \
		"$(only '.id == 3' | jq -c '[.code, .message]')"
	same 'publish FORBIDDEN' "$(only '.id == 4' | jq -r '"\(.re) \(.code)"')"
	same 'enter FORBIDDEN' "$(only '.id == 5' | jq -r '"\(.re) \(.code)"')"
	same 'hello FORBIDDEN' "$(only '.id == 6' | jq -r '"\(.re) \(.code)"')"
	same "{\"dups\":0,\"events\":2,\"first\":\"$(off 1)\",\"gaps\":0,\"last\":\"$(off 2)\",\"stats\":\"chat/alice/1\"}" \
		"$(only '.stats')"
	same 1 "$(events chat/bob/1)"
}

@test "ws: a token that expires while connected closes with 1008" {
	sess-token -g key
	sessd_start -k key
	local tok
	tok=$(sess-token -k key -s alice -e 2 -r 'chat/alice/*')
	WSQ="?token=$tok" run -0 wsc <<'EOF'
send {"op":"ping","id":1}
wait op=pong id=1
waitclose
EOF
	same 1008 "$(only '.close' | jq -r .close)"
}
