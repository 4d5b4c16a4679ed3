#!/usr/bin/env bats
# 200-pub: sess-pub appends events: arguments, JSON lines, text mode,
# idempotent producers, message ops, supersede, and its error paths.

load common
load helpers/store

setup() { common_setup; }

teardown() { kill_started; }

# --- helpers ---------------------------------------------------------------

# messages_are STREAM [LINE...]: sess-replay -s STREAM prints exactly these.
messages_are() {
	local stream=$1 st=0
	shift
	sess-replay -s "$stream" >gotm.jsonl 2>gotm.err || st=$?
	if [ "$st" != 0 ]; then
		echo "sess-replay -s $stream exited $st: $(cat gotm.err)" >&2
		return 1
	fi
	if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi >wantm.jsonl
	diff -u wantm.jsonl gotm.jsonl
}

# acks FROM TO: the acknowledgement lines for seqs FROM..TO.
acks() {
	local i
	for ((i = $1; i <= $2; i++)); do
		printf '{"offset":"%016d","seq":%d}\n' "$i" "$i"
	done
}

# dup_acks SEQ...: duplicate acknowledgement lines.
dup_acks() {
	local i
	for i in "$@"; do
		printf '{"offset":"%016d","seq":%d,"duplicate":true}\n' "$i" "$i"
	done
}

# feed_slowly PIECE...: prints each piece (printf %b) with a short pause,
# so that a reader gets the text in several reads.
feed_slowly() {
	local piece
	for piece in "$@"; do
		printf '%b' "$piece"
		sleep 0.03 # pacing the input, not waiting for anything
	done
}

# stream_has STREAM STRING: STREAM's values contain STRING (for wait_for).
stream_has() {
	sess-sub -P "$1" >has.out 2>/dev/null && grep -qF -- "$2" has.out
}

# text_is STREAM MSG TEXT STATUS: the materialized message's text/status.
text_is() {
	local st=0
	sess-replay -s "$1" >m.jsonl 2>m.err || st=$?
	[ "$st" = 0 ] || { echo "sess-replay -s exited $st" >&2; return 1; }
	python3 - "$2" "$3" "$4" <<'EOF'
import json, sys
msg, text, status = sys.argv[1:4]
found = [json.loads(l) for l in open("m.jsonl", encoding="utf-8")]
found = [m for m in found if m["msg"] == msg]
if len(found) != 1:
    sys.exit("want one message %r, found %r" % (msg, found))
m = found[0]
if m["text"] != text or m["status"] != status:
    sys.exit("message %r: got %r/%s, want %r/%s"
             % (msg, m["text"], m["status"], text, status))
EOF
}

# --- arguments and lines ---------------------------------------------------

@test "arguments are appended in order and acknowledged with offset and seq" {
	run -0 --separate-stderr sess-pub s '{"a":1}' '"two"' 3
	acks 1 3 >want
	diff -u want <(printf '%s\n' "$output")
	[ -z "$stderr" ]
	values_are s '{"a":1}' '"two"' 3
	consistent s
	# A second run continues the same stream; -q prints nothing.
	run -0 sess-pub s true
	[ "$output" = '{"offset":"0000000000000004","seq":4}' ]
	run -0 sess-pub -q s false
	[ -z "$output" ]
	values_are s '{"a":1}' '"two"' 3 true false
}

@test "values of every JSON kind are stored compactly" {
	printf '%s\n' '{ "a" : [1, 2, {"b": null}],  "z": true }' '[ ]' '{}' \
	    '-7' '1.5' '""' 'null' 'false' '"x y"' '  42  ' >in.jsonl
	run -0 sess-pub -q s <in.jsonl
	[ -z "$output" ]
	values_are s '{"a":[1,2,{"b":null}],"z":true}' '[]' '{}' -7 1.5 '""' \
	    null false '"x y"' 42
	consistent s
}

@test "a value is kept as written: numbers keep their notation, strings their escapes" {
	# sess-event(7): stored as written, less the white space between tokens.
	printf '%s\n' '1e2' '1.50' '"a\/b"' '"caf\u00e9"' '{"k" : [ 1.0 ]}' >in.jsonl
	run -0 sess-pub -q s <in.jsonl
	values_are s 1e2 1.50 '"a\/b"' '"caf\u00e9"' '{"k":[1.0]}'
	consistent s
}

@test "a VALUE argument is stored the same as the same stdin line" {
	printf '%s\n' '1e2' '"caf\u00e9"' '{"n":1.0}' >in.jsonl
	run -0 sess-pub -q lines <in.jsonl
	run -0 sess-pub -q args 1e2 '"caf\u00e9"' '{"n":1.0}'
	sess-sub -P lines >lines.out
	sess-sub -P args >args.out
	diff -u lines.out args.out
}

@test "stdin: blank lines are skipped, a last line without newline counts" {
	printf '1\n\n   \n\t\r\n{"x":2}\n\n"last"' >in
	run -0 --separate-stderr sess-pub s <in
	acks 1 3 >want
	diff -u want <(printf '%s\n' "$output")
	values_are s 1 '{"x":2}' '"last"'
	consistent s
}

@test "a JSON value argument may be negative (it is not an option)" {
	# -1 and -2.5 are JSON values; they must not be taken for options.
	run -0 --separate-stderr sess-pub s -1 -2.5
	acks 1 2 >want
	diff -u want <(printf '%s\n' "$output")
	values_are s -1 -2.5
}

@test "-t sets type and -m sets msg on object values" {
	run -0 sess-pub -q -t token s '{"text":"hi"}' '{"type":"old","n":1}'
	values_are s '{"text":"hi","type":"token"}' '{"type":"token","n":1}'
	printf '%s\n' '{"op":"create"}' '{"op":"append","text":"hey"}' >in
	run -0 sess-pub -q -m greeting s2 <in
	values_are s2 '{"op":"create","msg":"greeting"}' \
	    '{"op":"append","text":"hey","msg":"greeting"}'
	text_is s2 greeting hey streaming
	consistent s
	consistent s2
}

@test "-t on a non-object argument: exit 2, nothing written" {
	run -2 --separate-stderr sess-pub -t token s '{"a":1}' '[1]'
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: argument 2: -t needs a JSON object" ]
	no_stream s
}

@test "-m on a non-object stdin line: exit 2, the lines before are written" {
	printf '%s\n' '{"op":"create"}' '"oops"' '{"op":"finish"}' >in
	run -2 --separate-stderr sess-pub -m m s <in
	[ "$output" = "$(acks 1 1)" ]
	[ "$stderr" = "sess-pub: <stdin>:2: -m needs a JSON object" ]
	values_are s '{"op":"create","msg":"m"}'
	consistent s
}

@test "-N: appends to an existing stream; a missing one: exit 1, nothing written" {
	# No store yet: -N creates nothing, not even the file.
	run -1 --separate-stderr sess-pub -N s 1 2
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: $SESS_DB: no such store" ]
	[ ! -e "$SESS_DB" ]
	run -0 sess-pub -q other 0
	run -1 --separate-stderr sess-pub -N s 1 2
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: s: no such stream" ]
	no_stream s
	printf '1\n2\n' >in
	run -1 --separate-stderr sess-pub -N s <in
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: s: no such stream" ]
	no_stream s
	run -0 sess-pub -q s 1
	run -0 sess-pub -N s 2
	[ "$output" = "$(acks 2 2)" ]
	values_are s 1 2
}

@test "-N on a missing stream with empty input still says it is missing" {
	run -0 sess-pub -q other 0
	run -1 --separate-stderr sess-pub -N s </dev/null
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: s: no such stream" ]
	no_stream s
}

@test "-S and SESS_SYNC: full and normal are accepted, anything else exit 2" {
	run -0 sess-pub -q -S full s 1
	run -0 sess-pub -q -S normal s 2
	SESS_SYNC=normal run -0 sess-pub -q s 3
	SESS_SYNC=full run -0 sess-pub -q s 4
	run -2 --separate-stderr sess-pub -S fast s 5
	[ "$stderr" = "sess-pub: -S: unknown sync mode 'fast' (full or normal)" ]
	SESS_SYNC=lazy run -2 --separate-stderr sess-pub s 5
	[ "$stderr" = "sess-pub: SESS_SYNC: unknown sync mode 'lazy' (full or normal)" ]
	values_are s 1 2 3 4
	consistent s
}

@test "-d chooses the store over SESS_DB; ./sess.db is the default" {
	run -0 sess-pub -q -d other.db s 1
	[ -f other.db ]
	[ ! -e "$SESS_DB" ]
	mkdir sub && cd sub
	SESS_DB= run -0 sess-pub -q s 2
	[ -f sess.db ]
	run -0 sess-sub -P -d ../other.db s
	[ "$output" = 1 ]
	run -0 sess-sub -P -d sess.db s
	[ "$output" = 2 ]
}

@test "usage: -h on stdout; bad options and option values exit 2, nothing written" {
	run -0 --separate-stderr sess-pub -h
	[[ $output == "usage: sess-pub "* ]]
	[ -z "$stderr" ]
	run -2 --separate-stderr sess-pub -Z s 1
	[ -z "$output" ]
	[[ $stderr == *"usage: sess-pub "* ]]
	run -2 --separate-stderr sess-pub
	[[ $stderr == "usage: sess-pub "* ]]
	run -2 --separate-stderr sess-pub -L 0 s 1
	[ "$stderr" = "sess-pub: -L: '0' is not a size from 1 to 1073741824" ]
	run -2 --separate-stderr sess-pub -L 12k s 1
	[ "$stderr" = "sess-pub: -L: '12k' is not a size from 1 to 1073741824" ]
	run -2 --separate-stderr sess-pub -L 1073741825 s 1
	[ "$stderr" = "sess-pub: -L: '1073741825' is not a size from 1 to 1073741824" ]
	run -2 --separate-stderr sess-pub -e 1 s 1
	[ "$stderr" = "sess-pub: -e needs a producer (-p or SESS_PRODUCER)" ]
	run -2 --separate-stderr sess-pub -p P -e 1.5 s 1
	[ "$stderr" = "sess-pub: -e: epoch '1.5' is not a whole number" ]
	SESS_PRODUCER=P SESS_EPOCH=-1 run -2 --separate-stderr sess-pub s 1
	[ "$stderr" = "sess-pub: SESS_EPOCH: epoch '-1' is not a whole number" ]
	run -2 --separate-stderr sess-pub -T s </dev/null
	[[ $stderr == "sess-pub: -T reads text from stdin into the message named by -m"$'\n'"usage: sess-pub "* ]]
	run -2 --separate-stderr sess-pub -T -m m s '"v"' </dev/null
	[[ $stderr == "sess-pub: -T reads text from stdin into the message named by -m"* ]]
	no_stream s
}

# --- bad input ---------------------------------------------------------------

@test "a bad argument: exit 2 naming it, nothing written" {
	run -2 --separate-stderr sess-pub s 1 '{bad' 3
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: argument 2: column 2: string or '}' expected" ]
	no_stream s
}

@test "a bare word is not JSON: the error says a string needs quotes" {
	run -2 --separate-stderr sess-pub s hello
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: argument 1: column 1: invalid token (not JSON; a string needs quotes: '\"hello\"')" ]
	run -2 --separate-stderr sess-pub s 1 'two words' 3
	[ "$stderr" = "sess-pub: argument 2: column 1: invalid token (not JSON; a string needs quotes: '\"two words\"')" ]
	# Too long, or with quotes in it, to show quoted: the hint alone.
	run -2 --separate-stderr sess-pub s "it's"
	[ "$stderr" = "sess-pub: argument 1: column 1: invalid token (not JSON; a string needs quotes)" ]
	no_stream s
	# On stdin the line is shown as it would be written in the file.
	printf '1\nhello\n' >in
	run -2 --separate-stderr sess-pub s <in
	[ "$output" = "$(acks 1 1)" ]
	[ "$stderr" = 'sess-pub: <stdin>:2: column 1: invalid token (not JSON; a string needs quotes: "hello")' ]
	values_are s 1
	# JSON that is merely malformed gets no such hint.
	run -2 --separate-stderr sess-pub s2 '[1,'
	[[ $stderr != *quotes* ]]
	no_stream s2
}

@test "a bad argument after more than a batch of good ones: nothing written" {
	# All arguments are validated before anything is written, however
	# many there are.
	run -2 --separate-stderr sess-pub s $(seq 8200) '{bad'
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: argument 8201: column 2: string or '}' expected" ]
	no_stream s
}

@test "malformed JSON on stdin line 4: exit 2, lines 1-3 committed and acknowledged" {
	printf '%s\n' 1 '' '{"b":2}' '{"c": x}' 5 6 >in
	run -2 --separate-stderr sess-pub s <in
	acks 1 2 >want
	diff -u want <(printf '%s\n' "$output")
	[[ $stderr == "sess-pub: <stdin>:4: column 7: "* ]]
	values_are s 1 '{"b":2}'
	consistent s
}

@test "malformed JSON on the first line, or two values on a line: exit 2" {
	printf '%s\n' '[1,' 2 >in
	run -2 --separate-stderr sess-pub s <in
	[ -z "$output" ]
	[[ $stderr == "sess-pub: <stdin>:1: column "*": "* ]]
	no_stream s
	printf '1\n2 3\n' >in
	run -2 --separate-stderr sess-pub s <in
	[ "$output" = "$(acks 1 1)" ]
	[[ $stderr == "sess-pub: <stdin>:2: column 3: "* ]]
	values_are s 1
	consistent s
}

@test "a line over -L: exit 2, nothing of it written; a line at -L is fine" {
	printf '%s\n' 123456 '"abcd"' 1234567 7 >in
	run -2 --separate-stderr sess-pub -L 6 s <in
	acks 1 2 >want
	diff -u want <(printf '%s\n' "$output")
	[ "$stderr" = "sess-pub: <stdin>:3: line longer than 6 bytes" ]
	values_are s 123456 '"abcd"'
	consistent s
	# The same for a last line without a newline.
	printf '1\n1234567' >in
	run -2 --separate-stderr sess-pub -L 6 t <in
	[ "$output" = "$(acks 1 1)" ]
	[ "$stderr" = "sess-pub: <stdin>:2: line longer than 6 bytes" ]
	values_are t 1
}

@test "the default cap: a 1 MiB line is accepted, 1 MiB + 1 is refused" {
	python3 -c 'import sys; sys.stdout.write("\"" + "a" * (1048576 - 2) + "\"\n")' >ok.jsonl
	python3 -c 'import sys; sys.stdout.write("\"" + "b" * (1048576 - 1) + "\"\n")' >big.jsonl
	[ "$(wc -c <ok.jsonl)" = 1048577 ]
	[ "$(wc -c <big.jsonl)" = 1048578 ]
	run -0 sess-pub -q s <ok.jsonl
	run -2 --separate-stderr sess-pub s <big.jsonl
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: <stdin>:1: line longer than 1048576 bytes" ]
	run -0 sess-sub -P s
	[ "$output" = "$(cat ok.jsonl)" ]
	consistent s
}

@test "invalid UTF-8 in a JSON line: exit 2 naming the line" {
	printf '"ok"\n"bad \xff byte"\n"after"\n' >in
	run -2 --separate-stderr sess-pub s <in
	[ "$output" = "$(acks 1 1)" ]
	[[ $stderr == "sess-pub: <stdin>:2: column 6: "*"UTF-8"* ]]
	values_are s '"ok"'
	consistent s
	# An overlong encoding is no better.
	printf '"\xc0\xaf"\n' >in
	run -2 --separate-stderr sess-pub t <in
	[ -z "$output" ]
	[[ $stderr == "sess-pub: <stdin>:1: "* ]]
	no_stream t
}

@test "a NUL character in a JSON line is refused" {
	printf '"a\\u0000b"\n' >in
	run -2 --separate-stderr sess-pub s <in
	[[ $stderr == "sess-pub: <stdin>:1: column "*"u0000"* ]]
	printf '"a\0b"\n' >in
	run -2 --separate-stderr sess-pub s <in
	[[ $stderr == "sess-pub: <stdin>:1: "* ]]
	no_stream s
}

@test "an empty stream name: exit 2, no store touched" {
	run -2 --separate-stderr sess-pub '' 1
	[ "$stderr" = "sess-pub: empty stream name" ]
	[ ! -e "$SESS_DB" ]
}

@test "a stream name with a '..' segment (or an empty one): exit 2" {
	run -2 --separate-stderr sess-pub 'chat/../etc' 1
	[ "$stderr" = "sess-pub: stream name 'chat/../etc' has a '.' or '..' segment" ]
	run -2 sess-pub '..' 1
	run -2 sess-pub 'a/.' 1
	run -2 --separate-stderr sess-pub 'a//b' 1
	[ "$stderr" = "sess-pub: stream name 'a//b' has an empty segment" ]
	run -2 sess-pub '/a' 1
	run -2 sess-pub 'a/' 1
	[ ! -e "$SESS_DB" ]
}

@test "a stream name with a control character (or not UTF-8): exit 2" {
	run -2 --separate-stderr sess-pub $'a\tb' 1
	[ "$stderr" = "sess-pub: stream name has a control character at byte 2" ]
	run -2 sess-pub $'a\x7f' 1
	run -2 --separate-stderr sess-pub $'a\xffb' 1
	[ "$stderr" = "sess-pub: stream name is not valid UTF-8 (byte 2)" ]
	[ ! -e "$SESS_DB" ]
}

@test "a stream name over 1024 bytes: exit 2; 1024 bytes, paths and UTF-8 are fine" {
	long=$(printf 'n%.0s' $(seq 1025))
	run -2 --separate-stderr sess-pub "$long" 1
	[ "$stderr" = "sess-pub: stream name longer than 1024 bytes" ]
	[ ! -e "$SESS_DB" ]
	run -0 sess-pub -q "${long:1}" 1
	values_are "${long:1}" 1
	run -0 sess-pub -q 'chat/alice/run-42' 2
	run -0 sess-pub -q 'chat/ålice/日本' 3
	values_are 'chat/alice/run-42' 2
	values_are 'chat/ålice/日本' 3
	no_stream chat
}

# --- stores --------------------------------------------------------------------

@test "a text file as the store: exit 2, the file unchanged" {
	printf 'my notes\nnot a database\n' >notes.txt
	cp notes.txt notes.orig
	run -2 --separate-stderr sess-pub -d notes.txt s 1
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: notes.txt: not a sess store (not an SQLite database)" ]
	cmp notes.txt notes.orig
}

@test "another application's SQLite database: exit 2, the file unchanged" {
	sqlite3 app.db 'CREATE TABLE users (name TEXT); INSERT INTO users VALUES ("ann");'
	cp app.db app.orig
	run -2 --separate-stderr sess-pub -d app.db s 1
	[ "$stderr" = "sess-pub: app.db: not a sess store (an SQLite database of another kind)" ]
	cmp app.db app.orig
	[ "$(sqlite3 app.db 'SELECT name FROM users')" = ann ]
}

@test "a store from a newer schema: exit 2, unchanged" {
	run -0 sess-pub -q s 1
	sqlite3 "$SESS_DB" 'PRAGMA user_version=99'
	cp "$SESS_DB" newer.orig
	run -2 --separate-stderr sess-pub s 2
	[ -z "$output" ]
	[[ $stderr == "sess-pub: $SESS_DB: store schema version 99 is newer than this program's ("*"); upgrade sess" ]]
	cmp "$SESS_DB" newer.orig
}

@test "a store in a missing directory, or under a file: exit 2 naming both" {
	run -2 --separate-stderr sess-pub -d nodir/s.db s 1
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: nodir/s.db: cannot create the store in nodir: No such file or directory" ]
	[ ! -e nodir ]
	run -2 --separate-stderr sess-pub -T -m m -d a/b/s.db s </dev/null
	[ "$stderr" = "sess-pub: a/b/s.db: cannot create the store in a/b: No such file or directory" ]
	[ ! -e a ]
	printf 'x\n' >file
	run -2 --separate-stderr sess-pub -d file/s.db s 1
	[ "$stderr" = "sess-pub: file/s.db: cannot create the store in file: Not a directory" ]
	[ "$(cat file)" = x ]
}

@test "a directory as the store: exit 2 naming it, nothing created in it" {
	mkdir dir
	run -2 --separate-stderr sess-pub -d dir s 1
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: dir: is a directory, not a store file" ]
	run -2 --separate-stderr env SESS_DB=dir/ sess-pub s 1
	[ "$stderr" = "sess-pub: dir/: is a directory, not a store file" ]
	run -0 ls -A dir
	[ -z "$output" ]
	[ ! -e dir-wake ]
}

# --- stdout --------------------------------------------------------------------

@test "stdout is /dev/full: exit 111 naming stdout; the events are stored" {
	run -111 --separate-stderr bash -c 'exec sess-pub s 1 2 >/dev/full'
	[ "$stderr" = "sess-pub: stdout: No space left on device" ]
	values_are s 1 2
	consistent s
	printf '1\n2\n3\n' >in
	run -111 --separate-stderr bash -c 'exec sess-pub s <in >/dev/full'
	[ "$stderr" = "sess-pub: stdout: No space left on device" ]
	values_are s 1 2 1 2 3
	consistent s
}

@test "stdout closed: exit 111 and nothing written" {
	run -111 --separate-stderr bash -c 'exec sess-pub s 1 >&-'
	[ "$stderr" = "sess-pub: stdout: Bad file descriptor" ]
	no_stream s
	printf '1\n' >in
	run -111 bash -c 'exec sess-pub s <in >&-'
	no_stream s
	run -111 bash -c 'printf hi | sess-pub -T -m m s >&-'
	no_stream s
}

# --- producers -----------------------------------------------------------------

@test "producer: rerunning the same input appends nothing, acks the originals" {
	printf '%s\n' '"a"' '"b"' '"c"' >in
	run -0 sess-pub -p job s <in
	[ "$output" = "$(acks 1 3)" ]
	run -0 sess-pub -q s '"other"'
	run -0 sess-pub -p job s <in
	dup_acks 1 2 3 >want
	diff -u want <(printf '%s\n' "$output")
	values_are s '"a"' '"b"' '"c"' '"other"'
	consistent s
}

@test "producer: a longer input appends only the missing tail" {
	printf '%s\n' 1 2 >in
	run -0 sess-pub -q -p job s <in
	run -0 sess-pub -q s '"x"'
	printf '%s\n' 1 2 3 4 >in
	run -0 sess-pub -p job s <in
	{ dup_acks 1 2; acks 4 5; } >want
	diff -u want <(printf '%s\n' "$output")
	values_are s 1 2 '"x"' 3 4
	# A shorter input is all duplicates.
	printf '%s\n' 1 >in
	run -0 sess-pub -p job s <in
	[ "$output" = "$(dup_acks 1)" ]
	values_are s 1 2 '"x"' 3 4
	consistent s
}

@test "producer: a rerun counts values, not lines (blank lines do not shift it)" {
	printf '1\n2\n' >in
	run -0 sess-pub -q -p job s <in
	printf '\n1\n\n\n2\n3\n' >in
	run -0 sess-pub -p job s <in
	{ dup_acks 1 2; acks 3 3; } >want
	diff -u want <(printf '%s\n' "$output")
	values_are s 1 2 3
	# Arguments are numbered the same way.
	run -0 sess-pub -q -p job a 1 2
	run -0 sess-pub -p job a 1 2 3
	{ dup_acks 1 2; acks 3 3; } >want
	diff -u want <(printf '%s\n' "$output")
	values_are a 1 2 3
}

@test "producer: different producers do not take each other for reruns" {
	run -0 sess-pub -q -p a s 1 2
	run -0 sess-pub -p b s 1 2
	[ "$output" = "$(acks 3 4)" ]
	SESS_PRODUCER=a run -0 sess-pub s 1 2
	[ "$output" = "$(dup_acks 1 2)" ]
	values_are s 1 2 1 2
	# The same producer on another stream is another producer.
	run -0 sess-pub -p a s2 1
	[ "$output" = "$(acks 1 1)" ]
}

@test "producer id: SESS_PRODUCER/NAME, or either alone" {
	printf hi >t
	SESS_PRODUCER=wf/act run -0 sess-pub -q -p answer -T -m m1 s <t
	SESS_PRODUCER=wf/act run -0 sess-pub -q -T -m m2 s <t
	run -0 sess-pub -q -p answer -T -m m3 s <t
	SESS_PRODUCER= run -0 sess-pub -q -T -m m4 s <t
	messages_are s \
	    '{"msg":"m1","text":"hi","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000003","producer":"wf/act/answer"}' \
	    '{"msg":"m2","text":"hi","status":"complete","attempt":0,"first":"0000000000000004","last":"0000000000000006","producer":"wf/act"}' \
	    '{"msg":"m3","text":"hi","status":"complete","attempt":0,"first":"0000000000000007","last":"0000000000000009","producer":"answer"}' \
	    '{"msg":"m4","text":"hi","status":"complete","attempt":0,"first":"0000000000000010","last":"0000000000000012"}'
	consistent s
}

@test "SESS_EPOCH sets the epoch; -e overrides it" {
	printf hi >t
	SESS_PRODUCER=P SESS_EPOCH=3 run -0 sess-pub -q -T -m a s <t
	SESS_PRODUCER=P SESS_EPOCH=3 run -0 sess-pub -q -e 5 -T -m b s <t
	run -0 sess-replay -s s
	[[ $output != *'"msg":"a"'* ]] # superseded by epoch 5
	[[ $output == *'"msg":"b","text":"hi","status":"complete","attempt":5,'* ]]
	SESS_PRODUCER=P SESS_EPOCH=3 run -2 --separate-stderr sess-pub s 1
	[ "$stderr" = "sess-pub: producer 'P': stale epoch 3 (current epoch is 5)" ]
	consistent s
}

@test "a higher epoch starts at 0 and fences the old one" {
	printf '%s\n' 1 2 3 >in
	run -0 sess-pub -q -p P -e 1 s <in
	printf '%s\n' 1 2 >in2
	run -0 sess-pub -p P -e 2 s <in2
	# Not duplicates: epoch 2 numbers its own input from 0.
	[ "$output" = "$(acks 4 5)" ]
	# Plain values have no messages to supersede: no marker.
	values_are s 1 2 3 1 2
	run -0 sess-pub -p P -e 2 s <in2
	[ "$output" = "$(dup_acks 4 5)" ]
	consistent s
}

@test "a stale epoch: exit 2 saying the current epoch, nothing written" {
	run -0 sess-pub -q -p P -e 7 s 1
	run -2 --separate-stderr sess-pub -p P -e 6 s 2 3
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: producer 'P': stale epoch 6 (current epoch is 7)" ]
	printf '2\n' >in
	run -2 --separate-stderr sess-pub -p P -e 0 s <in
	[ "$stderr" = "sess-pub: producer 'P': stale epoch 0 (current epoch is 7)" ]
	values_are s 1
	consistent s
}

@test "two writers at once: every value once, seqs without gaps" {
	seq 1 400 >a
	seq 401 800 >b
	run -0 sess-pub -q other 1 # the store exists; the stream does not
	started_bg a a.out sess-pub -q s
	pa=$bg
	started_bg b b.out sess-pub -q s
	pb=$bg
	sa=0 sb=0
	wait "$pa" || sa=$?
	wait "$pb" || sb=$?
	[ "$sa" = 0 ]
	[ "$sb" = 0 ]
	run -0 sess-sub -P s
	[ "${#lines[@]}" = 800 ]
	printf '%s\n' "${lines[@]}" | sort -n >got
	seq 1 800 | diff - got
	# Each writer's values keep their own order.
	printf '%s\n' "${lines[@]}" | awk '$1 <= 400' | diff a -
	consistent s
}

# --- message ops ---------------------------------------------------------------

@test "message ops: create, append, replace, finish, delete" {
	printf '%s\n' \
	    '{"msg":"a","op":"create"}' \
	    '{"msg":"a","op":"append","text":"Hel"}' \
	    '{"msg":"b","op":"create","text":"start "}' \
	    '{"msg":"a","op":"append","text":"lo"}' \
	    '{"msg":"b","op":"append","text":"more"}' \
	    '{"msg":"c","op":"create"}' \
	    '{"msg":"b","op":"replace","text":"rewritten"}' \
	    '{"msg":"a","op":"finish"}' \
	    '{"msg":"c","op":"delete"}' >in
	run -0 sess-pub -q s <in
	messages_are s \
	    '{"msg":"a","text":"Hello","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000008"}' \
	    '{"msg":"b","text":"rewritten","status":"streaming","attempt":0,"first":"0000000000000003","last":"0000000000000007"}' \
	    '{"msg":"c","text":"","status":"deleted","attempt":0,"first":"0000000000000006","last":"0000000000000009"}'
	consistent s
}

@test "an unknown op: exit 2 naming the line, lines before written" {
	printf '%s\n' '{"msg":"a","op":"create"}' '{"msg":"a","op":"upsert","text":"x"}' >in
	run -2 --separate-stderr sess-pub s <in
	[ "$output" = "$(acks 1 1)" ]
	[ "$stderr" = 'sess-pub: <stdin>:2: unknown op "upsert" (create, append, replace, finish or delete)' ]
	values_are s '{"msg":"a","op":"create"}'
	consistent s
}

@test "bad message ops: missing text, msg without op, bad type: exit 2" {
	run -2 --separate-stderr sess-pub s '{"msg":"a","op":"append"}'
	[ "$stderr" = 'sess-pub: argument 1: op "append" needs a "text" string' ]
	run -2 --separate-stderr sess-pub s '{"msg":"a","op":"replace"}'
	[ "$stderr" = 'sess-pub: argument 1: op "replace" needs a "text" string' ]
	run -2 --separate-stderr sess-pub s '{"msg":"a","op":"append","text":5}'
	[ "$stderr" = 'sess-pub: argument 1: "text" must be a string' ]
	run -2 --separate-stderr sess-pub s '{"msg":"a"}'
	[ "$stderr" = 'sess-pub: argument 1: "op" must be a string with "msg"' ]
	run -2 --separate-stderr sess-pub s '{"op":"create"}'
	[ "$stderr" = 'sess-pub: argument 1: "msg" must be a non-empty string with "op"' ]
	run -2 --separate-stderr sess-pub s '{"msg":"","op":"create"}'
	[ "$stderr" = 'sess-pub: argument 1: "msg" must be a non-empty string with "op"' ]
	run -2 --separate-stderr sess-pub s '{"type":7}'
	[ "$stderr" = 'sess-pub: argument 1: "type" must be a string' ]
	no_stream s
}

# --- text mode -------------------------------------------------------------------

@test "-T: text becomes create, append, finish, newlines kept" {
	printf 'line one\nline two\n\n' >t
	run -0 sess-pub -T -m answer s <t
	[ "$output" = "$(acks 1 3)" ]
	values_are s '{"msg":"answer","op":"create"}' \
	    '{"msg":"answer","op":"append","text":"line one\nline two\n\n"}' \
	    '{"msg":"answer","op":"finish"}'
	text_is s answer $'line one\nline two\n\n' complete
	consistent s
	printf 'x' >t
	run -0 sess-pub -q -T -m m -t token s2 <t
	values_are s2 '{"msg":"m","op":"create","type":"token"}' \
	    '{"msg":"m","op":"append","type":"token","text":"x"}' \
	    '{"msg":"m","op":"finish","type":"token"}'
	consistent s2
	# Empty input: an empty, complete message.
	run -0 sess-pub -q -T -m m s3 </dev/null
	values_are s3 '{"msg":"m","op":"create"}' '{"msg":"m","op":"finish"}'
	text_is s3 m '' complete
}

@test "-T: a UTF-8 character split across reads is held back" {
	mkfifo in
	started_bg in pub.out sess-pub -q -T -m m s
	exec 7>in
	# "a" and the first byte of "é", then wait until "a" is stored...
	printf 'a\xc3' >&7
	wait_for 10 stream_has s '"text":"a"'
	# ... then its second byte, and a four-byte emoji in three pieces.
	printf '\xa9b\xf0\x9f' >&7
	wait_for 10 stream_has s '"text":"éb"'
	printf '\x98' >&7
	printf '\x80!' >&7
	exec 7>&-
	st=0
	wait "$bg" || st=$?
	[ "$st" = 0 ]
	text_is s m 'aéb😀!' complete
	run -0 sess-sub -P s
	[ "${lines[1]}" = '{"msg":"m","op":"append","text":"a"}' ]
	[ "${lines[2]}" = '{"msg":"m","op":"append","text":"éb"}' ]
	consistent s
}

@test "-T: invalid UTF-8: exit 2 naming the byte, the text before it kept" {
	printf 'ab\xffcd' >t
	run -2 --separate-stderr sess-pub -T -m m s <t
	[ "$stderr" = "sess-pub: <stdin>: byte 3: invalid UTF-8" ]
	[ "$output" = "$(acks 1 2)" ]
	# The valid text before the bad byte is stored, nothing of it or
	# after it; the message is left streaming (no finish).
	values_are s '{"msg":"m","op":"create"}' '{"msg":"m","op":"append","text":"ab"}'
	text_is s m ab streaming
	consistent s
	# A sequence cut short at the end of the input.
	printf 'ab\xe2\x82' >t
	run -2 --separate-stderr sess-pub -T -m m t <t
	[ "$stderr" = "sess-pub: <stdin>: byte 3: truncated UTF-8 sequence at end of input" ]
	text_is t m ab streaming
	consistent t
}

@test "-T: input bad from its first byte creates no message" {
	printf '\xffabc' >t
	run -2 --separate-stderr sess-pub -T -m m s <t
	[ -z "$output" ]
	[ "$stderr" = "sess-pub: <stdin>: byte 1: invalid UTF-8" ]
	no_stream s
	printf '\0abc' >t
	run -2 --separate-stderr sess-pub -T -m m s <t
	[ "$stderr" = "sess-pub: <stdin>: byte 1: NUL byte in text" ]
	no_stream s
	# On a stream that exists, nothing is added to it.
	run -0 sess-pub -q s2 1
	printf '\xc3(' >t
	run -2 --separate-stderr sess-pub -T -m m s2 <t
	[ "$stderr" = "sess-pub: <stdin>: byte 1: invalid UTF-8" ]
	values_are s2 1
	run -0 sess-replay -s s2
	[ -z "$output" ]
}

@test "-T: invalid UTF-8 later in the text names the byte in the whole input" {
	mkfifo in
	started_bg in pub.out sess-pub -q -T -m m s
	exec 7>in
	printf '0123456789' >&7
	wait_for 10 stream_has s 0123456789
	printf 'x\xc3(' >&7
	exec 7>&-
	st=0
	wait "$bg" || st=$?
	[ "$st" = 2 ]
	[ "$(cat pub.out.err)" = "sess-pub: <stdin>: byte 12: invalid UTF-8" ]
	text_is s m 0123456789x streaming
	consistent s
}

@test "-T: a NUL byte: exit 2 naming it, the text before it kept, the store re-readable" {
	printf 'a\0b' >t
	run -2 --separate-stderr sess-pub -q -T -m m s <t
	[ "$stderr" = "sess-pub: <stdin>: byte 2: NUL byte in text" ]
	values_are s '{"msg":"m","op":"create"}' '{"msg":"m","op":"append","text":"a"}'
	text_is s m a streaming
	consistent s
	run -0 sess-sub -P s
	printf '%s\n' "${lines[@]}" >copy.jsonl
	run -0 sess-pub -q s2 <copy.jsonl
	# Invalid UTF-8 after a NUL: the first bad byte is named.
	printf 'abc\0\xff' >t
	run -2 --separate-stderr sess-pub -q -T -m m s3 <t
	[ "$stderr" = "sess-pub: <stdin>: byte 4: NUL byte in text" ]
	text_is s3 m abc streaming
}

@test "-T -F: a failed upstream leaves the message streaming, for an explicit finish" {
	# Without -F the partial text of a failed upstream looks finished:
	# sess-pub cannot see the upstream's status.
	run -1 bash -c "set -o pipefail; (printf 'one two three '; exit 1) | sess-pub -q -T -m m1 s"
	text_is s m1 'one two three ' complete
	run -1 bash -c "set -o pipefail; (printf 'one two three '; exit 1) | sess-pub -q -F -T -m m2 s"
	text_is s m2 'one two three ' streaming
	# The script finishes it once the upstream has succeeded.
	printf 'four' >t
	run -0 bash -c 'set -o pipefail; sess-pub -q -F -T -m m3 s <t && sess-pub -q -m m3 s '"'"'{"op":"finish"}'"'"''
	text_is s m3 four complete
	run -0 sess-sub -P -o 5 s
	[ "${lines[-2]}" = '{"msg":"m3","op":"append","text":"four"}' ]
	[ "${lines[-1]}" = '{"op":"finish","msg":"m3"}' ]
	# Empty input with -F: an empty message, still streaming.
	run -0 sess-pub -q -F -T -m m4 s </dev/null
	text_is s m4 '' streaming
	consistent s
}

@test "-F without -T: exit 2, nothing written" {
	run -2 --separate-stderr sess-pub -F s 1
	[ -z "$output" ]
	[ "${stderr%%$'\n'*}" = "sess-pub: -F needs -T: it leaves the text's message unfinished" ]
	[[ $stderr == *$'\n''usage: sess-pub '* ]]
	no_stream s
}

@test "-T rerun: the same text, once at once and once in pieces, writes nothing new" {
	text=$'Hello, wörld!\nSecond line 日本語 😀\n'
	printf '%s' "$text" >t
	run -0 sess-pub -p P -e 1 -T -m m s <t
	[ "$output" = "$(acks 1 3)" ]
	feed_slowly 'Hel' 'lo, w\xc3' '\xb6rld!\nSec' 'ond line \xe6\x97' '\xa5\xe6\x9c\xac' '\xe8\xaa\x9e \xf0\x9f\x98' '\x80\n' |
	    sess-pub -p P -e 1 -T -m m s >out2
	[ -s out2 ]
	[ "$(grep -vc duplicate out2)" = 0 ]
	run -0 sess-sub -P s
	[ "${#lines[@]}" = 3 ]
	text_is s m "$text" complete
	consistent s
}

@test "-T rerun: text first sent in pieces, then all at once, writes nothing new" {
	feed_slowly 'ab' 'cd' 'ef' | sess-pub -q -p P -T -m m s
	run -0 sess-sub -P s
	before=${#lines[@]}
	printf 'abcdef' >t
	run -0 sess-pub -p P -T -m m s <t
	[ "$(grep -vc duplicate <<<"$output")" = 0 ]
	run -0 sess-sub -P s
	[ "${#lines[@]}" = "$before" ]
	text_is s m abcdef complete
	consistent s
}

@test "-T rerun after a kill: only the missing text is appended" {
	mkfifo in
	started_bg in pub.out sess-pub -q -p P -e 1 -T -m m s
	exec 7>in
	printf 'The quick brown ' >&7
	wait_for 10 stream_has s 'quick brown'
	kill -9 "$bg"
	st=0
	wait "$bg" || st=$?
	[ "$st" = 137 ]
	exec 7>&-
	text_is s m 'The quick brown ' streaming
	# The retry has the whole text, in other chunks.
	feed_slowly 'The qu' 'ick brown fox' ' jumps' | sess-pub -p P -e 1 -T -m m s >out
	text_is s m 'The quick brown fox jumps' complete
	run -0 sess-sub -P s
	[ "${lines[0]}" = '{"msg":"m","op":"create"}' ]
	[ "${lines[1]}" = '{"msg":"m","op":"append","text":"The quick brown "}' ]
	[ "${lines[-1]}" = '{"msg":"m","op":"finish"}' ]
	consistent s
}

# --- supersede ---------------------------------------------------------------------

@test "supersede: a killed attempt's message is replaced by the next attempt's" {
	mkfifo in
	started_bg in pub1.out sess-pub -q -p P -e 1 -T -m answer s
	exec 7>in
	printf 'The answer is' >&7
	wait_for 10 stream_has s 'The answer is'
	kill -9 "$bg"
	st=0
	wait "$bg" || st=$?
	[ "$st" = 137 ]
	exec 7>&-
	printf 'Actually 42' >t
	run -0 sess-pub -p P -e 2 -T -m answer s <t
	[ "$output" = "$(acks 4 6)" ]
	messages_are s '{"msg":"answer","text":"Actually 42","status":"complete","attempt":2,"first":"0000000000000004","last":"0000000000000006","producer":"P"}'
	values_are s '{"msg":"answer","op":"create"}' \
	    '{"msg":"answer","op":"append","text":"The answer is"}' \
	    '{"type":"superseded","producer":"P","epoch":1,"by":2,"msgs":["answer"]}' \
	    '{"msg":"answer","op":"create"}' \
	    '{"msg":"answer","op":"append","text":"Actually 42"}' \
	    '{"msg":"answer","op":"finish"}'
	consistent s
	# Rerunning attempt 2 writes nothing; attempt 1 is fenced.
	run -0 sess-pub -p P -e 2 -T -m answer s <t
	[ "$output" = "$(dup_acks 4 5 6)" ]
	run -2 --separate-stderr sess-pub -p P -e 1 -T -m answer s <t
	[ "$stderr" = "sess-pub: producer 'P': stale epoch 1 (current epoch is 2)" ]
	run -0 sess-sub -P s
	[ "${#lines[@]}" = 6 ]
	consistent s
}

@test "supersede: a zombie attempt still running is fenced when it writes" {
	mkfifo in
	started_bg in old.out sess-pub -q -p P -e 1 -T -m answer s
	old=$bg
	exec 7>in
	printf 'old text' >&7
	wait_for 10 stream_has s 'old text'
	printf 'new text' >t
	run -0 sess-pub -q -p P -e 2 -T -m answer s <t
	# The old attempt wakes up and writes more: refused.
	printf ' and more' >&7
	exec 7>&-
	st=0
	wait "$old" || st=$?
	[ "$st" = 2 ]
	[ "$(cat old.out.err)" = "sess-pub: producer 'P': stale epoch 1 (current epoch is 2)" ]
	text_is s answer 'new text' complete
	run -0 sess-sub -P s
	[[ $output != *"and more"* ]]
	consistent s
}

@test "supersede: the old attempt's messages leave the view whatever their names" {
	run -0 sess-pub -q -p P -e 1 s '{"msg":"draft","op":"create","text":"v1"}' \
	    '{"msg":"notes","op":"create","text":"n1"}'
	run -0 sess-pub -q -p Q s '{"msg":"other","op":"create","text":"q"}'
	run -0 sess-pub -q -p P -e 2 s '{"msg":"final","op":"create","text":"v2"}'
	messages_are s \
	    '{"msg":"other","text":"q","status":"streaming","attempt":0,"first":"0000000000000003","last":"0000000000000003","producer":"Q"}' \
	    '{"msg":"final","text":"v2","status":"streaming","attempt":2,"first":"0000000000000005","last":"0000000000000005","producer":"P"}'
	run -0 sess-sub -P -o 3 s
	[ "${lines[0]}" = '{"type":"superseded","producer":"P","epoch":1,"by":2,"msgs":["draft","notes"]}' ]
	consistent s
}

@test "a forged supersede marker: exit 2 naming the argument, others' messages stay" {
	run -0 sess-pub -q room '{"msg":"m1","op":"create","text":"important"}' \
	    '{"msg":"m1","op":"finish"}'
	run -2 --separate-stderr sess-pub room '"fine"' \
	    '{"type":"superseded","producer":"x","epoch":0,"by":1,"msgs":["m1"]}'
	[ -z "$output" ]
	[ "$stderr" = 'sess-pub: argument 2: type "superseded" is the store'"'"'s own: writers cannot append it' ]
	# Nothing of the batch is written; the message is still there.
	values_are room '{"msg":"m1","op":"create","text":"important"}' \
	    '{"msg":"m1","op":"finish"}'
	messages_are room '{"msg":"m1","text":"important","status":"complete","attempt":0,"first":"0000000000000001","last":"0000000000000002"}'
	consistent room
	# On stdin: the line is named, the lines before it are written.
	printf '%s\n' 1 '{"type":"superseded","msgs":["m1"]}' 3 >in
	run -2 --separate-stderr sess-pub room <in
	[ "$output" = "$(acks 3 3)" ]
	[ "$stderr" = 'sess-pub: <stdin>:2: type "superseded" is the store'"'"'s own: writers cannot append it' ]
	text_is room m1 important complete
	consistent room
}

@test "the store's own types are refused however they are written" {
	run -0 sess-pub -q room '{"msg":"m1","op":"create","text":"keep"}'
	local v own="is the store's own: writers cannot append it"
	# An escaped type, a type set by -t, a marker that is also a message
	# op: all the same type.
	for v in '{"type":"supersede\u0064","msgs":["m1"]}' \
	    '{"type":"superseded","msg":"m1","op":"delete"}' \
	    '{ "type" : "superseded" , "msgs" : ["m1"] }'; do
		run -2 --separate-stderr sess-pub room "$v"
		[ "$stderr" = "sess-pub: argument 1: type \"superseded\" $own" ]
	done
	run -2 --separate-stderr sess-pub -t superseded room '{"msgs":["m1"]}'
	[ "$stderr" = "sess-pub: -t: type \"superseded\" $own" ]
	run -2 --separate-stderr sess-pub -t superseded -T -m m2 room </dev/null
	[ "$stderr" = "sess-pub: -t: type \"superseded\" $own" ]
	# sess-notify's outcomes, and any other notify.* type.
	for v in notify.sent notify.failed notify.skipped notify.x; do
		run -2 --separate-stderr sess-pub room \
		    "{\"type\":\"$v\",\"offset\":\"0000000000000001\",\"member\":\"bob\"}"
		[ "$stderr" = "sess-pub: argument 1: type \"$v\" $own" ]
	done
	printf '%s\n' '{"type":"notify.sent","member":"bob"}' >in
	run -2 --separate-stderr sess-pub room <in
	[ "$stderr" = "sess-pub: <stdin>:1: type \"notify.sent\" $own" ]
	# A run abandoned is sessd's to say; a run.end with a reason of the
	# writer's own is fine.
	run -2 --separate-stderr sess-pub room \
	    '{"type":"run.end","run":"r1","reason":"abandoned"}'
	[ "$stderr" = "sess-pub: argument 1: type \"run.end\" with reason \"abandoned\" $own" ]
	values_are room '{"msg":"m1","op":"create","text":"keep"}'
	text_is room m1 keep streaming
	run -0 sess-pub -q room '{"type":"run.end","run":"r1","reason":"done"}' \
	    '{"type":"notify"}' '{"type":"supersede"}' '"superseded"'
	values_are room '{"msg":"m1","op":"create","text":"keep"}' \
	    '{"type":"run.end","run":"r1","reason":"done"}' '{"type":"notify"}' \
	    '{"type":"supersede"}' '"superseded"'
	text_is room m1 keep streaming
	consistent room
}

@test "-T rerun with different text in the same epoch: refused, needs a new epoch" {
	printf 'first answer' >t1
	printf 'second answer, longer' >t2
	run -0 sess-pub -q -p P -e 1 -T -m m s <t1
	run -2 --separate-stderr sess-pub -p P -e 1 -T -m m s <t2
	[ "$stderr" = "sess-pub: producer 'P' already finished message \"m\" in epoch 1; input that differs from the first run needs a new epoch" ]
	text_is s m 'first answer' complete
	run -0 sess-sub -P s
	[ "${#lines[@]}" = 3 ]
	consistent s
	run -0 sess-pub -q -p P -e 2 -T -m m s <t2
	text_is s m 'second answer, longer' complete
	consistent s
}

# --- retried activities (the recipes of sess(7)) ------------------------------------

# words: writes ./words N [STATUS], which prints "w1 w2 ... wN " and
# exits STATUS: a step whose output is the same in every attempt.
words() {
	cat >words <<'EOF'
#!/bin/sh
i=1
while [ "$i" -le "$1" ]; do printf 'w%d ' "$i"; i=$((i + 1)); done
exit "${2:-0}"
EOF
	chmod +x words
}

@test "a retried deterministic activity resumes: each word once, one run.start" {
	words
	export WORKFLOW_ID=wf ACTIVITY_ID=step
	# Attempt 1 fails after 13 words: the message stays unfinished.
	ATTEMPT=1 run -1 "$top/tests/helpers/activity" deterministic chat/wf ./words 13 1
	text_is chat/wf step "$(./words 13)" streaming
	# Attempt 2 has the same output, and more: only the rest is written.
	ATTEMPT=2 run -0 "$top/tests/helpers/activity" deterministic chat/wf ./words 20
	text_is chat/wf step "$(./words 20)" complete
	values_are chat/wf '{"run":"wf","type":"run.start"}' \
	    '{"msg":"step","op":"create"}' \
	    '{"msg":"step","op":"append","text":"w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 "}' \
	    '{"msg":"step","op":"append","text":"w14 w15 w16 w17 w18 w19 w20 "}' \
	    '{"op":"finish","msg":"step"}' \
	    '{"run":"wf","reason":"complete","type":"run.end"}'
	consistent chat/wf
	# A third attempt (the workflow retried it after it succeeded)
	# writes nothing at all.
	cp got.jsonl before.jsonl
	ATTEMPT=3 run -0 "$top/tests/helpers/activity" deterministic chat/wf ./words 20
	mapfile -t before <before.jsonl
	values_are chat/wf "${before[@]}"
	consistent chat/wf
}

@test "a retried non-deterministic activity supersedes: the new text replaces the old, one run.start" {
	export WORKFLOW_ID=wf ACTIVITY_ID=step
	ATTEMPT=1 run -1 "$top/tests/helpers/activity" llm chat/wf \
	    sh -c 'printf "The answer is "; exit 1'
	text_is chat/wf step 'The answer is ' streaming
	ATTEMPT=2 run -0 "$top/tests/helpers/activity" llm chat/wf printf 'Actually, 42.'
	messages_are chat/wf '{"msg":"step","text":"Actually, 42.","status":"complete","attempt":2,"first":"0000000000000005","last":"0000000000000007","producer":"wf/step/answer"}'
	values_are chat/wf '{"run":"wf","type":"run.start"}' \
	    '{"msg":"step","op":"create"}' \
	    '{"msg":"step","op":"append","text":"The answer is "}' \
	    '{"type":"superseded","producer":"wf/step/answer","epoch":1,"by":2,"msgs":["step"]}' \
	    '{"msg":"step","op":"create"}' \
	    '{"msg":"step","op":"append","text":"Actually, 42."}' \
	    '{"op":"finish","msg":"step"}' \
	    '{"run":"wf","reason":"complete","type":"run.end"}'
	consistent chat/wf
}

@test "processes creating a new store at the same time all succeed" {
	# Each round: three writers race to create and migrate one new store.
	local round w st pids=()
	for ((round = 0; round < 100; round++)); do
		for w in 1 2 3; do
			started_bg /dev/null "w$round.$w" sess-pub -q -d "r$round.db" s "$w"
			pids[w]=$bg
		done
		for w in 1 2 3; do
			st=0
			wait "${pids[w]}" || st=$?
			if [ "$st" != 0 ]; then
				echo "round $round writer $w exited $st: $(cat "w$round.$w.err")" >&2
				return 1
			fi
		done
		run -0 sess-sub -P -d "r$round.db" s
		printf '%s\n' "${lines[@]}" | sort >got
		printf '%s\n' 1 2 3 | diff -u - got
	done
}
