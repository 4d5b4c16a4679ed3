#!/usr/bin/env bats
# 400-replay: sess-replay prints recorded sessions, their messages, replays
# them with timing or into another stream, imports recordings, and checks
# a stream's integrity against its own log.

load common
load sessd
load helpers/store

setup() { common_setup; }
teardown() { sessd_stop; }

# --- helpers ---------------------------------------------------------------

# times_of FILE: the time field of each event line of FILE.
times_of() {
	python3 -c '
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    print(json.loads(l)["time"])
' "$1"
}

# span_ms FILE: milliseconds from the first event's time to the last's.
span_ms() {
	python3 -c '
import json, sys, datetime
ts = [json.loads(l)["time"] for l in open(sys.argv[1])]
p = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((p(ts[-1]) - p(ts[0])).total_seconds() * 1000))
' "$1"
}

# now_ms: wall-clock milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# paced: stream s gets 1, 2, 3 about 150 ms apart (a paced writer; the
# pauses make the recording, they do not synchronise anything).
paced() {
	(echo 1; sleep 0.15; echo 2; sleep 0.15; echo 3) | sess-pub -q s
}

# a sample stream s with messages and plain events; base.db is a copy.
sample() {
	sess-pub -q s '{"msg":"m","op":"create"}' \
	    '{"msg":"m","op":"append","text":"hi"}' '{"msg":"m","op":"finish"}' \
	    '{"type":"note","n":4}' 5
	cp "$SESS_DB" base.db
}

# recorded: s holds 1 to 6 and rec.jsonl is its recording; t holds "t";
# before.sql is the store's dump.
recorded() {
	sess-pub -q s 1 2 3 4 5 6
	sess-pub -q t '"t"'
	sess-sub s >rec.jsonl
	sqlite3 "$SESS_DB" .dump >before.sql
}

# unchanged: the store is as its dump in before.sql.
unchanged() {
	sqlite3 "$SESS_DB" .dump >after.sql
	diff -u before.sql after.sql
}

# line N VALUE: a recording's line for stream s, seq N.
line() {
	printf '{"stream":"s","seq":%d,"time":"2026-01-01T00:00:00Z","data":%s}\n' \
	    "$1" "$2"
}

# producers: P writes draft and notes in epoch 1, Q other, P final in
# epoch 2 (the store writes a marker, seq 4); base.db is a copy.
producers() {
	sess-pub -q -p P -e 1 s '{"msg":"draft","op":"create","text":"v1"}' \
	    '{"msg":"notes","op":"create","text":"n1"}'
	sess-pub -q -p Q s '{"msg":"other","op":"create","text":"q"}'
	sess-pub -q -p P -e 2 s '{"msg":"final","op":"create","text":"v2"}'
	cp "$SESS_DB" base.db
}

# forged JSON: the producers store with JSON appended to s as event 6,
# unattributed as the store's own markers are, and the messages it names
# dropped from the view as the store would drop them.
forged() {
	tampered "INSERT INTO events (stream, seq, time, type, data)
	    SELECT id, 6, 0, 'superseded', '$1' FROM streams WHERE name = 's';
	    UPDATE streams SET tail = 6 WHERE name = 's';
	    DELETE FROM messages WHERE msg IN
	    (SELECT value FROM json_each('$1', '\$.msgs'));"
}

# tampered SQL: a copy of the sample store changed by SQL with sqlite3.
tampered() {
	cp base.db "$SESS_DB"
	rm -f "$SESS_DB-wal" "$SESS_DB-shm"
	sqlite3 "$SESS_DB" "$1"
}

# --- printing ------------------------------------------------------------------

@test "replay prints the events in the sess-sub format" {
	run -0 sess-pub -q s '{"type":"token","text":"a"}' 2 '"three"'
	run -0 bash -c 'exec sess-sub s >sub.jsonl'
	run -0 bash -c 'exec sess-replay s >replay.jsonl'
	cmp sub.jsonl replay.jsonl
	run -0 bash -c 'exec sess-replay -x 0 s >fast.jsonl'
	cmp sub.jsonl fast.jsonl
}

@test "replay of a missing stream or store: exit 1" {
	run -1 --separate-stderr sess-replay s
	[ "$stderr" = "sess-replay: $SESS_DB: no such store" ]
	[ ! -e "$SESS_DB" ]
	run -0 sess-pub -q other 1
	run -1 --separate-stderr sess-replay s
	[ -z "$output" ]
	[ "$stderr" = "sess-replay: s: no such stream" ]
	run -1 --separate-stderr sess-replay -s s
	[ "$stderr" = "sess-replay: s: no such stream" ]
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = "sess-replay: s: no such stream" ]
}

@test "-s: one line per message with text, status, attempt, offsets, producer" {
	run -0 sess-pub -q s '{"msg":"a","op":"create","text":"x"}' \
	    '{"msg":"b","op":"create"}' '{"msg":"a","op":"append","text":"y"}' \
	    '{"msg":"b","op":"delete"}' 5
	printf 'done' >t
	run -0 sess-pub -q -p P -e 3 -T -m c s <t
	run -0 --separate-stderr sess-replay -s s
	[ -z "$stderr" ]
	printf '%s\n' "${lines[@]}" >got
	cat >want <<'EOF'
{"msg":"a","text":"xy","status":"streaming","attempt":0,"first":"0000000000000001","last":"0000000000000003"}
{"msg":"b","text":"","status":"deleted","attempt":0,"first":"0000000000000002","last":"0000000000000004"}
{"msg":"c","text":"done","status":"complete","attempt":3,"first":"0000000000000006","last":"0000000000000008","producer":"P"}
EOF
	diff -u want got
	# A stream without messages prints nothing.
	run -0 sess-pub -q plain 1
	run -0 sess-replay -s plain
	[ -z "$output" ]
}

@test "usage: -h; -s, -k and replaying go one at a time; -x takes a speed" {
	run -0 sess-pub -q s 1
	run -2 --separate-stderr sess-replay -s -k s
	[[ $stderr == "sess-replay: -s, -k and replaying (-x, -a, -i) go one at a time"$'\n'"usage: sess-replay "* ]]
	run -2 sess-replay -s -x 1 s
	run -2 sess-replay -k -a t s
	run -2 sess-replay -k -s -i rec.jsonl
	run -2 sess-replay -k -a t -i rec.jsonl
	run -2 sess-replay -k -x 1 -i rec.jsonl
	run -2 --separate-stderr sess-replay -i rec.jsonl s
	[[ $stderr == "usage: sess-replay "* ]]
	run -2 sess-replay
	run -0 sess-replay -h
	[[ $output == "usage: sess-replay "* ]]
	no_stream t
	# -x takes a speed.
	for bad in fast -1 '' inf nan 1x; do
		run -2 --separate-stderr sess-replay -x "$bad" s
		[ "$stderr" = "sess-replay: -x: '$bad' is not a speed (0 for no delays, 1 for real time)" ]
	done
}

@test "bad stream names (source or -a): exit 2" {
	run -0 sess-pub -q s 1
	run -2 --separate-stderr sess-replay ''
	[ "$stderr" = "sess-replay: empty stream name" ]
	run -2 --separate-stderr sess-replay -a 'x/../y' s
	[ "$stderr" = "sess-replay: stream name 'x/../y' has a '.' or '..' segment" ]
	run -2 --separate-stderr sess-replay -k $'s\n'
	[ "$stderr" = "sess-replay: stream name has a control character at byte 2" ]
	values_are s 1
}

@test "not a sess store (text, another app's SQLite, newer schema): exit 2, unchanged" {
	printf 'hello\n' >notes.txt
	cp notes.txt notes.orig
	run -2 --separate-stderr sess-replay -d notes.txt s
	[ "$stderr" = "sess-replay: notes.txt: not a sess store (not an SQLite database)" ]
	run -2 sess-replay -d notes.txt -k s
	run -2 sess-replay -d notes.txt -a t s
	cmp notes.txt notes.orig
	sqlite3 app.db 'CREATE TABLE t (x); INSERT INTO t VALUES (1);'
	cp app.db app.orig
	run -2 --separate-stderr sess-replay -d app.db -s s
	[ "$stderr" = "sess-replay: app.db: not a sess store (an SQLite database of another kind)" ]
	run -2 sess-replay -d app.db -a t s
	cmp app.db app.orig
	run -0 sess-pub -q s 1
	sqlite3 "$SESS_DB" 'PRAGMA user_version=99'
	cp "$SESS_DB" newer.orig
	run -2 --separate-stderr sess-replay -k s
	[[ $stderr == "sess-replay: $SESS_DB: store schema version 99 is newer than this program's ("*"); upgrade sess" ]]
	run -2 sess-replay -a t s
	run -2 sess-replay s
	cmp "$SESS_DB" newer.orig
}

@test "stdout on /dev/full or closed: exit 111 naming stdout" {
	run -0 sess-pub -q s '{"msg":"m","op":"create"}' 2
	run -111 --separate-stderr bash -c 'exec sess-replay s >/dev/full'
	[ "$stderr" = "sess-replay: stdout: No space left on device" ]
	run -111 --separate-stderr bash -c 'exec sess-replay -s s >/dev/full'
	[ "$stderr" = "sess-replay: stdout: No space left on device" ]
	run -111 bash -c 'exec sess-replay -x 100 s >/dev/full'
	consistent s
	# Closed: exit 111, nothing written.
	run -111 --separate-stderr bash -c 'exec sess-replay s >&-'
	[ "$stderr" = "sess-replay: stdout: Bad file descriptor" ]
	run -111 bash -c 'exec sess-replay -a t s >&-'
	no_stream t
}

# --- timing ------------------------------------------------------------------

@test "-x 1 replays with the recorded timing, -x 2 twice as fast" {
	paced
	run -0 bash -c 'exec sess-sub s >rec.jsonl'
	span=$(span_ms rec.jsonl)
	[ "$span" -ge 100 ]
	t0=$(now_ms)
	run -0 bash -c 'exec sess-replay -x 1 s >x1.jsonl'
	t1=$(now_ms)
	cmp rec.jsonl x1.jsonl
	[ $((t1 - t0)) -ge $((span * 7 / 10)) ]
	t0=$(now_ms)
	run -0 bash -c 'exec sess-replay -x 2 s >x2.jsonl'
	t1=$(now_ms)
	cmp rec.jsonl x2.jsonl
	[ $((t1 - t0)) -ge $((span * 7 / 20)) ]
}

@test "-x 1 -a: the events are appended again as they are replayed" {
	paced
	run -0 bash -c 'exec sess-sub s >rec.jsonl'
	span=$(span_ms rec.jsonl)
	started=$(date -u +%Y-%m-%dT%H:%M:%S)
	run -0 sess-replay -x 1 -a t s
	[ -z "$output" ]
	values_are t 1 2 3
	run -0 bash -c 'exec sess-sub t >t.jsonl'
	# New times, spread like the recording's.
	[[ $(times_of t.jsonl | head -n 1) > $started ]]
	[ "$(span_ms t.jsonl)" -ge $((span * 7 / 10)) ]
	consistent t
}

@test "-i with -x 1 paces by the recorded times" {
	paced
	run -0 bash -c 'exec sess-sub s >rec.jsonl'
	span=$(span_ms rec.jsonl)
	rm -f "$SESS_DB"*
	t0=$(now_ms)
	run -0 bash -c 'exec sess-replay -x 1 -i rec.jsonl >out.jsonl'
	t1=$(now_ms)
	cmp rec.jsonl out.jsonl
	[ $((t1 - t0)) -ge $((span * 7 / 10)) ]
}

# --- into another stream -------------------------------------------------------

@test "-a: copies values and times into another stream" {
	run -0 sess-pub -q s '{"type":"run.start"}' '{"msg":"m","op":"create","text":"a"}' \
	    '{"msg":"m","op":"append","text":"b"}' 1e2 '"caf\u00e9"'
	run -0 sess-pub -q t '"already here"'
	run -0 --separate-stderr sess-replay -a t s
	[ -z "$output" ]
	[ -z "$stderr" ]
	sess-sub -P s >s.vals
	sess-sub -P -o 1 t >t.vals
	cmp s.vals t.vals
	sess-sub s >s.jsonl
	sess-sub -o 1 t >t.jsonl
	diff <(times_of s.jsonl) <(times_of t.jsonl)
	run -0 sess-replay -s t
	[[ $output == '{"msg":"m","text":"ab","status":"streaming",'* ]]
	consistent t
}

@test "-a of a superseded stream keeps the superseded view" {
	run -0 sess-pub -q -p P -e 1 s '{"msg":"draft","op":"create","text":"v1"}'
	run -0 sess-pub -q -p P -e 2 s '{"msg":"final","op":"create","text":"v2"}'
	run -0 sess-replay -a t s
	run -0 sess-replay -s t
	[ "${#lines[@]}" = 1 ]
	[[ ${lines[0]} == '{"msg":"final","text":"v2","status":"streaming",'* ]]
	copy_marker_problems t
}

@test "-a into the stream itself (exit 2) or from a missing one (exit 1): nothing written" {
	run -0 sess-pub -q s 1 2
	run -2 --separate-stderr sess-replay -a s s
	[ "$stderr" = "sess-replay: -a: cannot replay s into itself" ]
	values_are s 1 2
	consistent s
	# From a missing stream: exit 1.
	run -1 --separate-stderr sess-replay -a t missing
	[ "$stderr" = "sess-replay: missing: no such stream" ]
	no_stream t
}

# --- import ----------------------------------------------------------------------

@test "-i -a: a recording imported into another store has the same values and times" {
	run -0 sess-pub -q s '{"type":"token","text":"a"}' '[1, 2]' '"日本"' 1.50
	printf 'answer' >t
	run -0 sess-pub -q -p P -T -m m s <t
	run -0 bash -c 'exec sess-sub s >rec.jsonl'
	run -0 --separate-stderr sess-replay -d other.db -i rec.jsonl -a t
	[ -z "$output" ]
	[ -z "$stderr" ]
	sess-sub -P s >s.vals
	sess-sub -d other.db -P t >t.vals
	cmp s.vals t.vals
	sess-sub -d other.db t >t.jsonl
	diff <(times_of rec.jsonl) <(times_of t.jsonl)
	run -0 sess-replay -d other.db -s t
	[[ $output == '{"msg":"m","text":"answer","status":"complete",'* ]]
	run -0 sess-replay -d other.db -k t
}

@test "-i without -a prints the recording as it was, with no store" {
	run -0 sess-pub -q 'chat/x' '{"a": 1}' 2 '"three"'
	run -0 bash -c 'exec sess-sub chat/x >rec.jsonl'
	rm -f "$SESS_DB"*
	run -0 bash -c 'exec sess-replay -i rec.jsonl >out.jsonl'
	cmp rec.jsonl out.jsonl
	[ ! -e "$SESS_DB" ]
	# "-" is the standard input; blank lines are skipped.
	{ head -n 1 rec.jsonl; echo; tail -n +2 rec.jsonl; } >gaps.jsonl
	run -0 bash -c 'exec sess-replay -i - <gaps.jsonl >out2.jsonl'
	cmp rec.jsonl out2.jsonl
}

@test "-i: times with a zone offset are read as the instant they name" {
	cat >rec.jsonl <<'EOF'
{"stream":"s","seq":1,"time":"2026-01-01T01:00:00.5+01:00","data":1}
{"stream":"s","seq":2,"time":"2026-01-01T00:00:00-00:30","data":{"a":1}}
EOF
	run -0 sess-replay -i rec.jsonl
	[ "${lines[0]}" = '{"stream":"s","offset":"0000000000000001","seq":1,"time":"2026-01-01T00:00:00.500000Z","data":1}' ]
	[ "${lines[1]}" = '{"stream":"s","offset":"0000000000000002","seq":2,"time":"2026-01-01T00:30:00.000000Z","data":{"a":1}}' ]
}

@test "-i: a malformed line: exit 2 naming file:line, nothing written" {
	run -0 sess-pub -q s 1 2 3
	sess-sub s >rec.jsonl
	sed -i '2s/.*/{"stream":"s","seq":2,/' rec.jsonl
	run -2 --separate-stderr sess-replay -i rec.jsonl -a t
	[ -z "$output" ]
	[[ $stderr == "sess-replay: rec.jsonl:2: column "* ]]
	no_stream t
}

@test "-i: a line that is not an event, a bad time, a missing file: exit 2" {
	run -0 sess-pub -q s 1 2
	sess-sub s >rec.jsonl
	echo '{"seq":3,"data":3}' >>rec.jsonl
	run -2 --separate-stderr sess-replay -i rec.jsonl -a t
	[ "$stderr" = "sess-replay: rec.jsonl:3: not an event line (needs seq, time and data)" ]
	no_stream t
	run -2 --separate-stderr sess-replay -i rec.jsonl
	[ -z "$output" ]
	# A time that is not RFC 3339.
	printf '%s\n' '{"seq":1,"time":"2026-01-01T00:00:00Z","data":1}' \
	    '{"seq":2,"time":"yesterday","data":2}' >rec.jsonl
	run -2 --separate-stderr sess-replay -i rec.jsonl -a t
	[ "$stderr" = "sess-replay: rec.jsonl:2: time 'yesterday' is not RFC 3339" ]
	no_stream t
	# A missing file.
	run -2 --separate-stderr sess-replay -i nofile.jsonl -a t
	[ "$stderr" = "sess-replay: nofile.jsonl: No such file or directory" ]
	no_stream t
}

@test "-i: a value that breaks the event conventions: exit 2 naming file:line, nothing written" {
	seq 1 5000 >in
	run -0 sess-pub -q s <in
	sess-sub s >rec.jsonl
	echo '{"stream":"s","seq":5001,"time":"2026-01-01T00:00:00Z","data":{"msg":"m","op":"bogus"}}' >>rec.jsonl
	run -2 --separate-stderr sess-replay -i rec.jsonl -a t
	[[ $stderr == "sess-replay: rec.jsonl:5001: "*'unknown op "bogus"'* ]]
	no_stream t
}

# --- integrity ------------------------------------------------------------------------

@test "-k: a good stream passes silently, and -k changes nothing" {
	sample
	printf 'text' >t
	run -0 sess-pub -q -p P -e 1 -T -m x s <t
	run -0 sess-pub -q -p P -e 2 -T -m x s <t
	cp "$SESS_DB" before.db
	run -0 --separate-stderr sess-replay -k s
	[ -z "$output" ]
	[ -z "$stderr" ]
	cmp "$SESS_DB" before.db
}

@test "-k: a deleted event is reported as a gap" {
	sample
	tampered 'DELETE FROM events WHERE seq=3'
	run -1 --separate-stderr sess-replay -k s
	[ -z "$output" ]
	[[ $stderr == *"sess-replay: s: seq 4: follows 2 (events missing)"* ]]
	[[ ${stderr##*$'\n'} == "sess-replay: s: "*" problem"* ]]
	# The last event deleted: the tail says so.
	tampered 'DELETE FROM events WHERE seq=5'
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = $'sess-replay: s: stream tail is 5 but the last event is 4\nsess-replay: s: 1 problem' ]
}

@test "-k: a value that is not JSON is reported" {
	sample
	tampered "UPDATE events SET data='{bad' WHERE seq=2"
	run -1 --separate-stderr sess-replay -k s
	[[ $stderr == "sess-replay: s: seq 2: value is not valid JSON: "* ]]
	[[ ${stderr##*$'\n'} == "sess-replay: s: "*" problems" ]]
}

@test "-k: a broken message op sequence is reported" {
	sample
	tampered "UPDATE events SET data='{\"msg\":\"m\",\"op\":\"create\"}' WHERE seq=3"
	run -1 --separate-stderr sess-replay -k s
	[[ $stderr == *'sess-replay: s: seq 3: op create on an existing message "m"'* ]]
}

@test "-k: a materialized message that differs from the log is reported" {
	sample
	tampered "UPDATE messages SET text='x'"
	run -1 --separate-stderr sess-replay -k s
	[[ $stderr == *'sess-replay: s: message "m": the materialized view differs from the log'* ]]
	tampered "DELETE FROM messages"
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = $'sess-replay: s: message "m": the materialized view is missing what is in the log\nsess-replay: s: 1 problem' ]
}

@test "-k: a type column that does not match the value is reported" {
	sample
	tampered "UPDATE events SET type='other' WHERE seq=4"
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = $'sess-replay: s: seq 4: type column does not match the value\nsess-replay: s: 1 problem' ]
}

@test "-k: message ops that do not follow each other are reported by seq" {
	run -0 sess-pub -q s '{"msg":"z","op":"append","text":"x"}' \
	    '{"msg":"m","op":"create"}' '{"msg":"m","op":"create"}' \
	    '{"msg":"m","op":"finish"}' '{"msg":"m","op":"append","text":"y"}' \
	    '{"msg":"d","op":"create"}' '{"msg":"d","op":"delete"}' \
	    '{"msg":"d","op":"replace","text":"r"}'
	run -1 --separate-stderr sess-replay -k s
	[ -z "$output" ]
	cat >want <<'EOF'
sess-replay: s: seq 1: op append on an unknown message "z"
sess-replay: s: seq 3: op create on an existing message "m"
sess-replay: s: seq 5: op append after finish "m"
sess-replay: s: seq 8: op replace after delete "d"
sess-replay: s: 4 problems
EOF
	diff -u want - <<<"$stderr"
}

# --- superseded markers ------------------------------------------------------------

@test "-k: the store's own superseded markers pass, in the stream and its recording" {
	producers
	run -0 sess-sub -P -o 3 s
	[ "${lines[0]}" = '{"type":"superseded","producer":"P","epoch":1,"by":2,"msgs":["draft","notes"]}' ]
	run -0 --separate-stderr sess-replay -k s
	[ -z "$stderr" ]
	run -0 bash -c 'exec sess-sub s >rec.jsonl'
	run -0 --separate-stderr sess-replay -k -i rec.jsonl
	[ -z "$output" ]
	[ -z "$stderr" ]
}

@test "-k: a marker from a producer that wrote nothing is reported" {
	producers
	forged '{"type":"superseded","producer":"X","epoch":0,"by":1,"msgs":["other"]}'
	run -1 --separate-stderr sess-replay -k s
	cat >want <<'EOF'
sess-replay: s: seq 6: superseded marker: producer 'X' wrote nothing before it
sess-replay: s: seq 6: superseded marker names message "other", which producer 'X' did not write before epoch 1
sess-replay: s: seq 6: superseded marker: epoch 1 of producer 'X' never follows it
sess-replay: s: 3 problems
EOF
	diff -u want - <<<"$stderr"
}

@test "-k: a marker naming another producer's message is reported" {
	producers
	forged '{"type":"superseded","producer":"Q","epoch":0,"by":1,"msgs":["final"]}'
	run -1 --separate-stderr sess-replay -k s
	cat >want <<'EOF'
sess-replay: s: seq 6: superseded marker names message "final", which producer 'Q' did not write before epoch 1
sess-replay: s: seq 6: superseded marker leaves out message "other" of producer 'Q'
sess-replay: s: seq 6: superseded marker: epoch 1 of producer 'Q' never follows it
sess-replay: s: 3 problems
EOF
	diff -u want - <<<"$stderr"
}

@test "-k: a marker whose epoch never comes, or comes as another, is reported" {
	producers
	# P is at epoch 2 and final is its, but no epoch 3 follows.
	forged '{"type":"superseded","producer":"P","epoch":2,"by":3,"msgs":["final"]}'
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = $'sess-replay: s: seq 6: superseded marker: epoch 3 of producer \'P\' never follows it\nsess-replay: s: 1 problem' ]
	# The store's marker changed to announce epoch 5: P goes on at 2.
	tampered "UPDATE events SET data = json_set(data, '\$.by', 5) WHERE seq = 4"
	run -1 --separate-stderr sess-replay -k s
	[ "$stderr" = $'sess-replay: s: seq 4: superseded marker: producer \'P\' goes on at epoch 2, not 5\nsess-replay: s: 1 problem' ]
	# by not after epoch; a marker without its fields.
	tampered "UPDATE events SET data = json_set(data, '\$.by', 1) WHERE seq = 4"
	run -1 --separate-stderr sess-replay -k s
	[[ $stderr == "sess-replay: s: seq 4: superseded marker: by 1 is not after epoch 1"$'\n'* ]]
	tampered "UPDATE events SET data = json_remove(data, '\$.producer') WHERE seq = 4"
	run -1 --separate-stderr sess-replay -k s
	[[ $stderr == "sess-replay: s: seq 4: superseded marker without a producer, epoch, by and msgs (non-empty)"$'\n'* ]]
}

@test "-k: a marker before a close in the new epoch, with no event, passes" {
	sessd_start
	run http body PUT /v1/stream/p -H 'Content-Type: application/json'
	[ "$output" = 201 ]
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 1' -H 'Producer-Seq: 0' \
		-d '{"msg":"a","op":"create","text":"x"}'
	[ "$output" = 200 ]
	run http body POST /v1/stream/p -H 'Content-Type: application/json' \
		-H 'Producer-Id: w' -H 'Producer-Epoch: 2' -H 'Producer-Seq: 0' \
		-H 'Stream-Closed: true'
	[ "$output" = 204 ]
	run -0 sess-sub -P -o 1 p
	[ "$output" = '{"type":"superseded","producer":"w","epoch":1,"by":2,"msgs":["a"]}' ]
	consistent p
	# Closed by another epoch, the marker is unexplained.
	sqlite3 "$SESS_DB" "UPDATE streams SET closed_epoch = 3 WHERE name = 'p'"
	run -1 --separate-stderr sess-replay -k p
	[ "$stderr" = $'sess-replay: p: seq 2: superseded marker: epoch 2 of producer \'w\' never follows it\nsess-replay: p: 1 problem' ]
}

@test "-i: a marker naming a message the recording never created is refused" {
	recorded
	{
		line 1 '{"msg":"m","op":"create","text":"mine"}'
		line 2 '{"type":"superseded","producer":"X","epoch":0,"by":1,"msgs":["m","theirs"]}'
		line 3 '{"msg":"m","op":"create","text":"again"}'
	} >forged.jsonl
	run -2 --separate-stderr sess-replay -i forged.jsonl -a t
	[ "$stderr" = 'sess-replay: forged.jsonl:2: seq 2: superseded marker names message "theirs", which no event before it created' ]
	unchanged
	run -1 --separate-stderr sess-replay -k -i forged.jsonl
	[ "$stderr" = $'sess-replay: forged.jsonl:2: seq 2: superseded marker names message "theirs", which no event before it created\nsess-replay: forged.jsonl: 1 problem' ]
	# A producer's markers cannot go back to an older epoch.
	{
		line 1 '{"msg":"a","op":"create"}'
		line 2 '{"type":"superseded","producer":"P","epoch":1,"by":3,"msgs":["a"]}'
		line 3 '{"msg":"b","op":"create"}'
		line 4 '{"type":"superseded","producer":"P","epoch":2,"by":4,"msgs":["b"]}'
	} >back.jsonl
	run -2 --separate-stderr sess-replay -i back.jsonl
	[ -z "$output" ]
	[ "$stderr" = "sess-replay: back.jsonl:4: seq 4: superseded marker: producer 'P' was at epoch 3 already, not 2" ]
}

# --- recordings: order -------------------------------------------------------------

@test "-i: a line repeated, deleted, or two swapped: exit 2 naming file:line, nothing written" {
	recorded
	sed -n '1,3p;3p;4,$p' rec.jsonl >repeated.jsonl
	sed '3d' rec.jsonl >deleted.jsonl
	sed '1d' rec.jsonl >first.jsonl
	awk 'NR == 3 { l = $0; next } NR == 4 { print; print l; next } 1' \
	    rec.jsonl >swapped.jsonl
	run -2 --separate-stderr sess-replay -i repeated.jsonl -a t
	[ "$stderr" = "sess-replay: repeated.jsonl:4: seq 3: follows 3 (event repeated)" ]
	unchanged
	run -2 --separate-stderr sess-replay -i deleted.jsonl -a t
	[ "$stderr" = "sess-replay: deleted.jsonl:3: seq 4: follows 2 (events missing)" ]
	unchanged
	run -2 --separate-stderr sess-replay -i first.jsonl -a t
	[ "$stderr" = "sess-replay: first.jsonl:1: seq 2: follows 0 (events missing)" ]
	unchanged
	run -2 --separate-stderr sess-replay -i swapped.jsonl -a t
	[ "$stderr" = "sess-replay: swapped.jsonl:3: seq 4: follows 2 (events missing)" ]
	unchanged
	# Printed: the same, and nothing on the standard output.
	run -2 --separate-stderr sess-replay -i repeated.jsonl
	[ -z "$output" ]
	[ "$stderr" = "sess-replay: repeated.jsonl:4: seq 3: follows 3 (event repeated)" ]
	# Into a new stream: none is created.
	run -2 sess-replay -i swapped.jsonl -a new
	no_stream new
	unchanged
}

@test "-i: an offset that is not the line's seq, a second stream: exit 2, nothing written" {
	recorded
	sed '2s/"offset":"0000000000000002"/"offset":"0000000000000005"/' \
	    rec.jsonl >offset.jsonl
	run -2 --separate-stderr sess-replay -i offset.jsonl -a t
	[ "$stderr" = "sess-replay: offset.jsonl:2: seq 2: offset \"0000000000000005\" is not this seq's" ]
	unchanged
	sed '2s/"offset":"0000000000000002"/"offset":2/' rec.jsonl >offset.jsonl
	run -2 --separate-stderr sess-replay -i offset.jsonl -a t
	[ "$stderr" = "sess-replay: offset.jsonl:2: seq 2: offset is not a string" ]
	sed '5s/"stream":"s"/"stream":"other"/' rec.jsonl >two.jsonl
	run -2 --separate-stderr sess-replay -i two.jsonl -a t
	[ "$stderr" = "sess-replay: two.jsonl:5: seq 5: stream \"other\" is not the first line's \"s\" (a recording is of one stream)" ]
	unchanged
}

@test "-k -i: checks a recording, lists every problem with file:line, exit 1" {
	recorded
	run -0 --separate-stderr sess-replay -k -i rec.jsonl
	[ -z "$output" ]
	[ -z "$stderr" ]
	awk 'NR == 3 { l = $0; next } NR == 4 { print; print l; next } 1' \
	    rec.jsonl >swapped.jsonl
	run -1 --separate-stderr sess-replay -k -i swapped.jsonl
	[ -z "$output" ]
	cat >want <<'EOF'
sess-replay: swapped.jsonl:3: seq 4: follows 2 (events missing)
sess-replay: swapped.jsonl:4: seq 3: follows 4 (events out of order)
sess-replay: swapped.jsonl:5: seq 5: follows 3 (events missing)
sess-replay: swapped.jsonl: 3 problems
EOF
	diff -u want - <<<"$stderr"
	# The standard input; a file that is not there is exit 2.
	run -1 --separate-stderr bash -c 'exec sess-replay -k -i - <swapped.jsonl'
	[[ $stderr == "sess-replay: <stdin>:3: seq 4: follows 2 (events missing)"$'\n'* ]]
	run -2 --separate-stderr sess-replay -k -i nofile.jsonl
	[ "$stderr" = "sess-replay: nofile.jsonl: No such file or directory" ]
	unchanged
}

@test "-k -i: a line that is not an event is one problem; the lines after it are checked" {
	{
		line 1 1
		echo 'garbage'
		line 3 '{"msg":"m","op":"bogus"}'
		line 3 3
	} >bad.jsonl
	run -1 --separate-stderr sess-replay -k -i bad.jsonl
	cat >want <<'EOF'
sess-replay: bad.jsonl:2: column 7: invalid token near 'garbage'
sess-replay: bad.jsonl:3: seq 3: unknown op "bogus" (create, append, replace, finish or delete)
sess-replay: bad.jsonl:4: seq 3: follows 3 (event repeated)
sess-replay: bad.jsonl: 3 problems
EOF
	diff -u want - <<<"$stderr"
}

@test "-k -i and -i: message ops that do not follow each other, by file:line" {
	recorded
	{
		line 1 '{"msg":"m","op":"append","text":"x"}'
		line 2 '{"msg":"n","op":"create"}'
		line 3 '{"msg":"n","op":"create"}'
		line 4 '{"msg":"n","op":"finish"}'
		line 5 '{"msg":"n","op":"append","text":"y"}'
	} >ops.jsonl
	run -1 --separate-stderr sess-replay -k -i ops.jsonl
	cat >want <<'EOF'
sess-replay: ops.jsonl:1: seq 1: op append on an unknown message "m"
sess-replay: ops.jsonl:3: seq 3: op create on an existing message "n"
sess-replay: ops.jsonl:5: seq 5: op append after finish "n"
sess-replay: ops.jsonl: 3 problems
EOF
	diff -u want - <<<"$stderr"
	run -2 --separate-stderr sess-replay -i ops.jsonl -a t
	[ "$stderr" = 'sess-replay: ops.jsonl:1: seq 1: op append on an unknown message "m"' ]
	unchanged
	sed -i 1d ops.jsonl
	run -2 --separate-stderr sess-replay -i ops.jsonl -a t
	[ "$stderr" = 'sess-replay: ops.jsonl:1: seq 2: follows 0 (events missing)' ]
	unchanged
}

# --- recordings: writing -----------------------------------------------------------

@test "-i -a: an untimed import is one transaction: an error part way writes nothing" {
	seq 1 5000 >in
	run -0 sess-pub -q s <in
	sess-sub s >rec.jsonl
	# t has room for 4,999 more events: the 5,000th fails.
	run -0 sess-pub -q t '"t"'
	sqlite3 "$SESS_DB" "UPDATE streams SET tail = 9999999999995000 WHERE name = 't'"
	sqlite3 "$SESS_DB" .dump >before.sql
	run -2 --separate-stderr sess-replay -i rec.jsonl -a t
	[ "$stderr" = "sess-replay: t: stream is full" ]
	unchanged
}

@test "-x -a: a timed import that fails part way says what it appended" {
	recorded
	sqlite3 "$SESS_DB" "UPDATE streams SET tail = 9999999999999997 WHERE name = 't'"
	# One time for all: the pace waits for nothing.
	for i in 1 2 3; do line "$i" "$i"; done >three.jsonl
	run -2 --separate-stderr sess-replay -x 1 -i three.jsonl -a t
	[ "$stderr" = $'sess-replay: three.jsonl: the first 2 events were appended to t before this error\nsess-replay: t: stream is full' ]
	run -0 sess-sub -P t
	[ "${lines[*]}" = '"t" 1 2' ]
}
