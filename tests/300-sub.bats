#!/usr/bin/env bats
# 300-sub: sess-sub reads and follows streams: the event format, offsets,
# follow, counts and timeouts, cursors, copies, round trips and errors.

load common
load helpers/store

setup() { common_setup; }

teardown() { kill_started; }

# --- helpers ---------------------------------------------------------------

# seqs_are FILE SEQ...: FILE holds event lines with exactly these seqs.
seqs_are() {
	local file=$1
	shift
	python3 - "$file" "$@" <<'EOF'
import json, sys
f, want = sys.argv[1], [int(a) for a in sys.argv[2:]]
got = [json.loads(l)["seq"] for l in open(f, encoding="utf-8")]
if got != want:
    sys.exit("%s: seqs %r, want %r" % (f, got, want))
EOF
}

# pub VALUE...: appends quietly to stream s.
pub() {
	sess-pub -q s "$@"
}

# --- the event format --------------------------------------------------------

@test "each event is one line: stream, offset, seq, RFC 3339 time, data" {
	before=$(date -u +%s)
	run -0 sess-pub -q 'chat/a"b' '{"type":"token","text":"hi"}' 2 '"three"'
	after=$(date -u +%s)
	run -0 --separate-stderr sess-sub 'chat/a"b'
	[ -z "$stderr" ]
	[ "${#lines[@]}" = 3 ]
	re='^\{"stream":"chat/a\\"b","offset":"000000000000000([1-3])","seq":([1-3]),"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z","data":(.*)\}$'
	[[ ${lines[0]} =~ $re ]]
	[ "${BASH_REMATCH[1]}${BASH_REMATCH[2]}" = 11 ]
	[ "${BASH_REMATCH[3]}" = '{"type":"token","text":"hi"}' ]
	[[ ${lines[1]} =~ $re ]]
	[ "${BASH_REMATCH[3]}" = 2 ]
	[[ ${lines[2]} =~ $re ]]
	[ "${BASH_REMATCH[1]}${BASH_REMATCH[2]}${BASH_REMATCH[3]}" = '33"three"' ]
	# The times are now, in UTC, and never go backwards.
	printf '%s\n' "${lines[@]}" >ev.jsonl
	python3 - "$before" "$after" <<'EOF'
import json, sys, datetime
lo, hi = int(sys.argv[1]), int(sys.argv[2]) + 1
prev = None
for l in open("ev.jsonl"):
    t = json.loads(l)["time"]
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
    s = d.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert lo <= s <= hi, (t, lo, hi)
    assert prev is None or t >= prev, (prev, t)
    prev = t
EOF
	# -P prints only the values.
	run -0 sess-pub -q t '{"a":1}' '[1,2]' null
	run -0 --separate-stderr sess-sub -P t
	[ "$output" = $'{"a":1}\n[1,2]\nnull' ]
	[ -z "$stderr" ]
}

@test "usage: -h on stdout; bad options and option values exit 2" {
	run -0 --separate-stderr sess-sub -h
	[[ $output == "usage: sess-sub "* ]]
	run -2 --separate-stderr sess-sub -Z s
	[[ $stderr == *"usage: sess-sub "* ]]
	run -2 --separate-stderr sess-sub
	[[ $stderr == "usage: sess-sub "* ]]
	run -2 --separate-stderr sess-sub a b
	[[ $stderr == "usage: sess-sub "* ]]
	pub 1
	run -2 --separate-stderr sess-sub -C 0 s
	[ "$stderr" = "sess-sub: -C: '0' is not a positive count" ]
	run -2 --separate-stderr sess-sub -C x s
	[ "$stderr" = "sess-sub: -C: 'x' is not a positive count" ]
	run -2 --separate-stderr sess-sub -W soon s
	[ "$stderr" = "sess-sub: -W: 'soon' is not a number of seconds" ]
}

# --- offsets -------------------------------------------------------------------

@test "-o: events after -1, 0, a seq, an offset, or now" {
	pub 1 2 3 4
	run -0 sess-sub -P -o -1 s
	[ "$output" = $'1\n2\n3\n4' ]
	run -0 sess-sub -P -o 0 s
	[ "$output" = $'1\n2\n3\n4' ]
	run -0 sess-sub -P -o 2 s
	[ "$output" = $'3\n4' ]
	run -0 sess-sub -P -o 0000000000000003 s
	[ "$output" = 4 ]
	run -0 sess-sub -P -o 4 s
	[ -z "$output" ]
	run -0 sess-sub -P -o now s
	[ -z "$output" ]
}

@test "-o garbage: exit 2 naming it" {
	pub 1
	run -2 --separate-stderr sess-sub -o 12abc s
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: offset '12abc': not -1, now, an offset or a sequence number" ]
	run -2 --separate-stderr sess-sub -o '' s
	[ "$stderr" = "sess-sub: empty offset" ]
	run -2 --separate-stderr sess-sub -o 00000000000000001 s
	[ "$stderr" = "sess-sub: offset '00000000000000001': longer than 16 digits" ]
	consistent s
	values_are s 1
}

@test "-o negative other than -1: exit 2" {
	pub 1
	run -2 --separate-stderr sess-sub -o -2 s
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: offset '-2': negative (only -1 means the start)" ]
	run -2 sess-sub -o -0 s
	values_are s 1
}

@test "-o beyond the tail: exit 2" {
	pub 1 2 3
	run -2 --separate-stderr sess-sub -o 4 s
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: offset 4 is beyond the tail of s (3)" ]
	run -2 --separate-stderr sess-sub -f -W 1 -o 0000000000000009 s
	[ "$stderr" = "sess-sub: offset 0000000000000009 is beyond the tail of s (3)" ]
	values_are s 1 2 3
}

# --- missing things ------------------------------------------------------------------

@test "a missing store or stream without -f: exit 1, and no store is created" {
	run -1 --separate-stderr sess-sub s
	[ "$stderr" = "sess-sub: $SESS_DB: no such store" ]
	run -1 --separate-stderr sess-sub -d nowhere.db s
	[ "$stderr" = "sess-sub: nowhere.db: no such store" ]
	[ ! -e "$SESS_DB" ]
	[ ! -e nowhere.db ]
	pub 1
	run -1 --separate-stderr sess-sub other
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: other: no such stream" ]
}

@test "a directory as the store: exit 2 naming it; a missing directory is no store" {
	mkdir dir
	run -2 --separate-stderr sess-sub -d dir s
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: dir: is a directory, not a store file" ]
	run -2 --separate-stderr sess-sub -f -W 1 -d dir s
	[ "$stderr" = "sess-sub: dir: is a directory, not a store file" ]
	run -1 --separate-stderr sess-sub -d nodir/s.db s
	[ "$stderr" = "sess-sub: nodir/s.db: no such store" ]
	[ ! -e nodir ]
	run -0 ls -A dir
	[ -z "$output" ]
}

@test "bad stream names: exit 2 before the store is opened" {
	run -2 --separate-stderr sess-sub ''
	[ "$stderr" = "sess-sub: empty stream name" ]
	run -2 --separate-stderr sess-sub a/../b
	[ "$stderr" = "sess-sub: stream name 'a/../b' has a '.' or '..' segment" ]
	run -2 --separate-stderr sess-sub $'a\tb'
	[ "$stderr" = "sess-sub: stream name has a control character at byte 2" ]
	run -2 --separate-stderr sess-sub "$(printf 'n%.0s' $(seq 1025))"
	[ "$stderr" = "sess-sub: stream name longer than 1024 bytes" ]
	run -2 --separate-stderr sess-sub -f ''
	[ ! -e "$SESS_DB" ]
}

@test "not a sess store (text, another app's SQLite, newer schema): exit 2, unchanged" {
	printf 'hello\n' >notes.txt
	cp notes.txt notes.orig
	run -2 --separate-stderr sess-sub -d notes.txt s
	[ "$stderr" = "sess-sub: notes.txt: not a sess store (not an SQLite database)" ]
	run -2 sess-sub -f -W 1 -d notes.txt s
	cmp notes.txt notes.orig
	sqlite3 app.db 'CREATE TABLE t (x); INSERT INTO t VALUES (1);'
	cp app.db app.orig
	run -2 --separate-stderr sess-sub -d app.db s
	[ "$stderr" = "sess-sub: app.db: not a sess store (an SQLite database of another kind)" ]
	run -2 sess-sub -f -W 1 -d app.db s
	cmp app.db app.orig
	pub 1
	sqlite3 "$SESS_DB" 'PRAGMA user_version=99'
	cp "$SESS_DB" newer.orig
	run -2 --separate-stderr sess-sub s
	[[ $stderr == "sess-sub: $SESS_DB: store schema version 99 is newer than this program's ("*"); upgrade sess" ]]
	run -2 sess-sub -f -W 1 s
	cmp "$SESS_DB" newer.orig
}

# --- follow ----------------------------------------------------------------------------

@test "-f: history then live events, no gap and no duplicate at the seam" {
	seq 1 50 >h
	run -0 sess-pub -q s <h
	started_bg /dev/null out timeout 10 sess-sub -f -C 100 s
	wait_for 10 has_lines 50 out
	seq 51 100 >l
	run -0 sess-pub -q s <l
	exited "$bg" 0
	seqs_are out $(seq 1 100)
	[ -z "$(cat out.err)" ]
}

@test "-f: waits for a stream, and a store, that do not exist yet" {
	started_bg /dev/null out timeout 10 sess-sub -f -C 2 -P new
	# The follower creates the store; then a writer appends.
	wait_for 10 test -e "$SESS_DB-wake"
	run -0 sess-pub -q new '"a"'
	run -0 sess-pub -q new '"b"' '"c"'
	exited "$bg" 0
	[ "$(cat out)" = $'"a"\n"b"' ]
}

@test "-f -o now: only events appended after it started" {
	pub '"old"'
	started_bg /dev/null out timeout 10 sess-sub -f -o now -C 1 -P s
	# Append until the follower has seen one (it may start late).
	appended=0
	append_and_look() { appended=$((appended + 1)); pub "$appended"; test -s out; }
	wait_for 10 append_and_look
	exited "$bg" 0
	[[ $(cat out) =~ ^[0-9]+$ ]]
}

@test "-C without -f: exit 0 with COUNT events, exit 1 if the stream ends first" {
	pub 1 2 3
	run -0 sess-sub -P -C 2 s
	[ "$output" = $'1\n2' ]
	run -0 sess-sub -P -C 3 s
	[ "$output" = $'1\n2\n3' ]
	run -1 --separate-stderr sess-sub -P -C 4 s
	[ "$output" = $'1\n2\n3' ]
	[ -z "$stderr" ]
	run -1 sess-sub -P -C 1 -o 3 s
	[ -z "$output" ]
}

@test "-W: in follow mode exit 1 when the time runs out, after what there was" {
	pub 1 2
	run -1 --separate-stderr timeout 10 sess-sub -P -f -W 1 s
	[ "$output" = $'1\n2' ]
	[ -z "$stderr" ]
	run -1 timeout 10 sess-sub -P -f -W 1 -C 3 s
	[ "$output" = $'1\n2' ]
	# A count reached in time exits 0.
	started_bg /dev/null out timeout 20 sess-sub -P -f -W 10 -C 3 s
	run -0 sess-pub -q s 3
	exited "$bg" 0
	[ "$(cat out)" = $'1\n2\n3' ]
}

@test "-t TYPE: only events of that type, in history and live" {
	pub '{"type":"token","n":1}' '{"type":"control","n":2}' '{"n":3}' \
	    '"control"' '{"type":"control","n":5}'
	run -0 sess-sub -P -t control s
	[ "$output" = $'{"type":"control","n":2}\n{"type":"control","n":5}' ]
	run -0 sess-sub -t control -o 2 s
	seqs_are <(printf '%s\n' "$output") 5
	started_bg /dev/null out timeout 10 sess-sub -P -f -t control -C 3 s
	wait_for 10 has_lines 2 out
	run -0 sess-pub -q -t token s '{"n":6}'
	run -0 sess-pub -q -t control s '{"n":7}'
	exited "$bg" 0
	[ "$(sed -n 3p out)" = '{"n":7,"type":"control"}' ]
}

# --- cursors ------------------------------------------------------------------------------

@test "-c: a rerun resumes after the last event written" {
	pub 1 2 3
	run -0 sess-sub -P -c cur -C 2 s
	[ "$output" = $'1\n2' ]
	run -0 sess-sub -P -c cur s
	[ "$output" = 3 ]
	pub 4 5
	run -0 sess-sub -P -c cur s
	[ "$output" = $'4\n5' ]
	run -0 sess-sub -P -c cur s
	[ -z "$output" ]
	# The cursor names the stream and its position.
	[[ $(cat cur) == '{"stream":"s","offset":"0000000000000005","seq":5'* ]]
}

@test "-c: saved after each event written while following" {
	pub 1 2
	started_bg /dev/null out timeout 10 sess-sub -P -f -c cur s
	wait_for 10 grep -q '"seq":2' cur
	run -0 sess-pub -q s 3
	wait_for 10 grep -q '"seq":3' cur
	kill "$bg"
	wait "$bg" || true
	run -0 sess-pub -q s 4
	run -0 sess-sub -P -c cur s
	[ "$output" = 4 ]
}

@test "-c: an event written but not yet recorded is written again exactly once" {
	pub 1 2 3
	run -0 bash -c 'exec sess-sub -P -c cur -C 2 s >>out'
	[ "$(cat out)" = $'1\n2' ]
	# As if killed after writing event 3 and before recording it.
	printf '3\n' >>out
	run -0 bash -c 'exec sess-sub -P -c cur s >>out'
	[ "$(cat out)" = $'1\n2\n3' ]
}

@test "-c: a cursor for another stream, or not a cursor: exit 2" {
	pub 1
	run -0 sess-pub -q t 1
	run -0 sess-sub -c cur t
	cp cur cur.orig
	run -2 --separate-stderr sess-sub -c cur s
	[ -z "$output" ]
	[ "$stderr" = "sess-sub: cur: cursor is for stream 't', not 's'" ]
	cmp cur cur.orig
	printf 'junk\n' >bad
	run -2 --separate-stderr sess-sub -c bad s
	[[ $stderr == "sess-sub: bad: not a cursor file"* ]]
	printf '{"seq":"x"}\n' >bad
	run -2 --separate-stderr sess-sub -c bad s
	[ "$stderr" = "sess-sub: bad: not a cursor file" ]
}

@test "-c: works for a stream whose name needs escaping" {
	name=$(printf '"%.0s' $(seq 1000))
	run -0 sess-pub -q "$name" 1 2
	run -0 sess-sub -P -c cur "$name"
	[ "$output" = $'1\n2' ]
	run -0 sess-pub -q "$name" 3
	run -0 --separate-stderr sess-sub -P -c cur "$name"
	[ "$output" = 3 ]
	[ -z "$stderr" ]
}

# --- stdout ------------------------------------------------------------------------------------

@test "stdout on /dev/full: exit 111 naming stdout, a cursor does not advance" {
	pub 1 2
	run -111 --separate-stderr bash -c 'exec sess-sub s >/dev/full'
	[ "$stderr" = "sess-sub: stdout: No space left on device" ]
	run -111 --separate-stderr bash -c 'exec sess-sub -f -W 1 s >/dev/full'
	[ "$stderr" = "sess-sub: stdout: No space left on device" ]
	values_are s 1 2
	# With a cursor, the cursor does not advance.
	run -111 --separate-stderr bash -c 'exec sess-sub -c cur s >/dev/full'
	[ "$stderr" = "sess-sub: stdout: No space left on device" ]
	run -0 sess-sub -P -c cur s
	[ "$output" = $'1\n2' ]
}

@test "stdout closed: exit 111" {
	pub 1
	run -111 --separate-stderr bash -c 'exec sess-sub s >&-'
	[ "$stderr" = "sess-sub: stdout: Bad file descriptor" ]
	run -111 bash -c 'exec sess-sub -c cur s >&-'
	[ ! -e cur ]
}

@test "a reader that goes away (broken pipe) is a quiet end" {
	seq 1 5000 >in
	run -0 sess-pub -q s <in
	run -0 --separate-stderr bash -c 'sess-sub s | head -n 1 >first; exit "${PIPESTATUS[0]}"'
	[ -z "$stderr" ]
	seqs_are first 1
}

# --- copies and round trips ------------------------------------------------------------------

@test "sess-sub -P a, then sess-pub b: the copy has the same values and messages" {
	run -0 sess-pub -q a '{"type":"run.start"}' '"plain"' 42
	printf 'streamed\ntext é 😀' >t
	run -0 sess-pub -q -p P -T -m answer a <t
	run -0 sess-pub -q a '{"msg":"note","op":"create","text":"x"}' \
	    '{"msg":"note","op":"replace","text":"y"}' '{"msg":"gone","op":"create"}' \
	    '{"msg":"gone","op":"delete"}'
	run -0 bash -c 'exec sess-sub -P a >a.jsonl'
	run -0 sess-pub -q b <a.jsonl
	run -0 bash -c 'exec sess-sub -P b >b.jsonl'
	cmp a.jsonl b.jsonl
	# The materialized messages agree (the copy has no producer).
	sess-replay -s a >a.msgs
	sess-replay -s b >b.msgs
	python3 - <<'EOF'
import json
def view(f):
    return [(m["msg"], m["text"], m["status"]) for m in map(json.loads, open(f))]
a, b = view("a.msgs"), view("b.msgs")
assert a == b, (a, b)
assert ("answer", "streamed\ntext é 😀", "complete") in a, a
EOF
	consistent a
	consistent b
	# The same in a pipe, both statuses checked.
	seq 1 3000 >in
	run -0 sess-pub -q c <in
	run -0 bash -c 'set -o pipefail; sess-sub -P c | sess-pub -q d'
	values_are d $(seq 1 3000)
	consistent d
}

@test "a copy of a superseded stream keeps the superseded view" {
	run -0 sess-pub -q -p P -e 1 a '{"msg":"draft","op":"create","text":"v1"}'
	run -0 sess-pub -q -p P -e 2 a '{"msg":"final","op":"create","text":"v2"}' \
	    '{"msg":"final","op":"finish"}'
	# The marker is the store's own: a writer cannot copy it in...
	run -0 bash -c 'exec sess-sub -P a >a.jsonl'
	run -2 --separate-stderr sess-pub -q c <a.jsonl
	[ "$stderr" = 'sess-pub: <stdin>:2: type "superseded" is the store'"'"'s own: writers cannot append it' ]
	values_are c '{"msg":"draft","op":"create","text":"v1"}'
	# ...an import of the recording can.
	run -0 bash -c 'exec sess-sub a >a.events'
	run -0 sess-replay -i a.events -a b
	run -0 sess-replay -s b
	[ "${#lines[@]}" = 1 ]
	[[ ${lines[0]} == '{"msg":"final","text":"v2","status":"complete",'* ]]
	copy_marker_problems b
}

@test "10,000 events round-trip in order, exactly" {
	python3 -c '
import json
for i in range(1, 10001):
    v = {"i": i, "s": "event %d" % i, "l": [i % 7, i % 2 == 0, None]}
    print(json.dumps(v, separators=(",", ":")))
' >in.jsonl
	run -0 bash -c 'exec sess-pub s <in.jsonl >acks'
	python3 - <<'EOF'
import json
acks = [json.loads(l) for l in open("acks")]
assert [a["seq"] for a in acks] == list(range(1, 10001)), "acks out of order"
assert all(a["offset"] == "%016d" % a["seq"] for a in acks)
EOF
	run -0 bash -c 'exec sess-sub -P s >out.jsonl'
	cmp in.jsonl out.jsonl
	run -0 bash -c 'exec sess-sub s >events.jsonl'
	seqs_are events.jsonl $(seq 1 10000)
	consistent s
}

@test "unicode round-trips: emoji, CJK, and \\u escapes" {
	# Raw UTF-8 comes back byte for byte.
	printf '%s\n' '"😀 emoji 🎉"' '"中文 日本語 한국어"' '{"ключ":"значение","🔑":"é"}' >raw.jsonl
	run -0 sess-pub -q s <raw.jsonl
	run -0 bash -c 'exec sess-sub -P s >got.jsonl'
	cmp raw.jsonl got.jsonl
	# Escapes denote the same characters (a surrogate pair is one emoji).
	printf '%s\n' '"\ud83d\ude00"' '"\u4e2d\u6587"' '{"caf\u00e9":"\u00e9\t"}' >esc.jsonl
	run -0 sess-pub -q e <esc.jsonl
	run -0 bash -c 'exec sess-sub -P e >gote.jsonl'
	python3 - <<'EOF'
import json
got = [json.loads(l) for l in open("gote.jsonl", encoding="utf-8")]
assert got == ["😀", "中文", {"café": "é\t"}], got
EOF
	# A value a tool re-encodes (-t) holds the characters as raw UTF-8.
	run -0 sess-pub -q -t x r '{"v":"\u00e9\ud83d\ude00"}'
	run -0 sess-sub -P r
	[ "$output" = '{"v":"é😀","type":"x"}' ]
	consistent s
	consistent e
}

@test "a 1,000,000-byte value round-trips with the default cap" {
	python3 -c '
import sys
s = "a" * 999990 + "é" * 5
assert len(s.encode()) == 1000000
sys.stdout.write("{\"big\":\"%s\"}\n" % s)
' >big.jsonl
	run -0 sess-pub s <big.jsonl
	[ "$output" = '{"offset":"0000000000000001","seq":1}' ]
	run -0 bash -c 'exec sess-sub -P s >got.jsonl'
	cmp big.jsonl got.jsonl
	run -0 bash -c 'exec sess-sub s >ev.jsonl'
	[ "$(wc -l <ev.jsonl)" = 1 ]
	consistent s
}
