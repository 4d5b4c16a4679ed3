#!/usr/bin/env bats
# 910-notify-config: the channel file beside the store (FILE.notify), read
# by sess-notify at each pass and, with -f, when it changes.  Deliveries
# go through the stdout channel (-o), so no receiver is needed here.

load common
load sessd

setup() {
	common_setup
	CONF="$SESS_DB.notify"
	# The store exists, migrated, before any test reads it.
	sess-notify -k >/dev/null
	FPID=
}

teardown() {
	sessd_stop
	if [ -n "$FPID" ]; then
		kill -TERM "$FPID" 2>/dev/null || :
		timeout 10 tail --pid="$FPID" -f /dev/null || kill -9 "$FPID" 2>/dev/null || :
	fi
}

q() {
	sqlite3 "$SESS_DB" "$1"
}

# notify STREAM MEMBER: appends an event notifying MEMBER.
notify() {
	sess-pub "$1" "{\"type\":\"run.end\",\"notify\":{\"to\":[\"$2\"],\"title\":\"Run finished\"}}" >/dev/null
}

channels() {
	q "SELECT member, kind, target, config FROM notify_channels ORDER BY member, kind, target"
}

# put TEXT: replaces the channel file at once (a new file renamed over
# it), as an editor does, so that a follower never reads half of it.
put() {
	printf "$1" >"$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

p256=BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM

@test "channel file: its lines are registered at a pass; comments and blank lines are ignored" {
	cat >"$CONF" <<-EOF
		# who is told, and how
		bob stdout -

		  carol	webhook   https://hooks.example.test/carol  
		# a PushSubscription may have spaces in it: the target is the rest of the line
		dave webpush { "endpoint": "https://push.example.test/d", "keys": { "p256dh": "$p256", "auth": "tBHItJI5svbpez7KI4CCXg" } }
		erin email erin@example.test
	EOF
	run --separate-stderr -0 sess-notify -v
	[ "${stderr_lines[0]}" = "sess-notify: $CONF: 4 channels added or removed" ]
	[ "$(channels)" = "bob|stdout|-|1
carol|webhook|https://hooks.example.test/carol|1
dave|webpush|{\"endpoint\":\"https://push.example.test/d\",\"keys\":{\"p256dh\":\"$p256\",\"auth\":\"tBHItJI5svbpez7KI4CCXg\"}}|1
erin|email|erin@example.test|1" ]
	# The file's channels are used like any other.
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -o
	[[ $output == *'"member":"bob","channel":"stdout","title":"Run finished"'* ]]
	[ "$(q "SELECT state FROM notify_outbox")" = sent ]
	# Reading the same file again changes nothing.
	run --separate-stderr -0 sess-notify -v
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
}

@test "channel file: a line taken out removes its channel; -r registrations stay" {
	run -0 sess-notify -r alice stdout -
	run -0 sess-notify -r bob stdout -
	printf 'bob stdout -\ncarol stdout -\ndave stdout -\n' >"$CONF"
	run -0 sess-notify
	# bob was registered with -r before: his channel stays a -r one.
	[ "$(channels)" = "alice|stdout|-|0
bob|stdout|-|0
carol|stdout|-|1
dave|stdout|-|1" ]
	# -r of a channel from the file makes it a -r one.
	run -0 sess-notify -r dave stdout -
	printf '# nobody\n' >"$CONF"
	run -0 sess-notify
	[ "$(channels)" = "alice|stdout|-|0
bob|stdout|-|0
dave|stdout|-|0" ]
	# No file: no channels from a file, the others stay.
	printf 'erin stdout -\n' >"$CONF"
	run -0 sess-notify
	rm "$CONF"
	run -0 sess-notify
	[ "$(channels)" = "alice|stdout|-|0
bob|stdout|-|0
dave|stdout|-|0" ]
	# A member whose channel went is an unknown member again.
	printf 'erin stdout -\n' >"$CONF"
	run -0 sess-notify
	: >"$CONF"
	notify chat/1 erin
	run -0 sess-notify
	[ "$(q "SELECT state, reason FROM notify_outbox")" = "skipped|unknown member: no channel registered for 'erin'" ]
}

@test "channel file: each malformed line is refused with exit 2, FILE:LINE, and nothing changes" {
	printf 'bob stdout -\n' >"$CONF"
	run -0 sess-notify
	local before
	before=$(channels)
	bad() {
		printf 'bob stdout -\ncarol stdout -\n%s\n' "$1" >"$CONF"
		run --separate-stderr -2 sess-notify
		[ "$stderr" = "sess-notify: $CONF:3: $2" ] || {
			echo "line: $1, got: $stderr" >&2
			return 1
		}
		[ "$(channels)" = "$before" ]
	}
	bad 'carol' 'expected MEMBER KIND TARGET'
	bad 'carol webhook' 'expected MEMBER KIND TARGET'
	bad 'carol webhook   ' 'expected MEMBER KIND TARGET'
	bad 'carol pager 555' "'pager': unknown channel kind (webhook, ntfy, email, webpush or stdout)"
	bad 'carol webhook ftp://example.test/x' "webhook: 'ftp://example.test/x' is not an http(s) URL"
	bad 'carol ntfy http://' "ntfy: 'http://' is not an http(s) URL"
	bad $'carol email carol@example.test\rBcc: all@example.test' 'email: address contains CR or LF'
	bad 'carol email Carol <carol@example.test>' 'email: address has a character not allowed in an address'
	bad 'carol webpush {"endpoint":"https://push.example.test/x"}' 'webpush: "keys" must have "p256dh" and "auth"'
	bad "carol webpush {\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"$p256\",\"auth\":\"tBHI*JI5svbpez7KI4CCXg\"}}" 'webpush: "auth" must be 16 bytes in base64url'
	bad $'car\x01ol stdout -' "'car"$'\x01'"ol': not a member name"
	# The first malformed line is the one named.
	printf 'bob stdout -\nx\n\ny pager 1\n' >"$CONF"
	run --separate-stderr -2 sess-notify
	[ "$stderr" = "sess-notify: $CONF:2: expected MEMBER KIND TARGET" ]
	printf 'bob stdout -\n\0\n' >"$CONF"
	run --separate-stderr -2 sess-notify
	[ "$stderr" = "sess-notify: $CONF:2: a NUL byte" ]
	# A dry run checks the file the same way.
	run --separate-stderr -2 sess-notify -n
	[ "$stderr" = "sess-notify: $CONF:2: a NUL byte" ]
	# Nothing was scanned or claimed by the refused passes either.
	notify chat/1 bob
	[ "$(q "SELECT count(*) FROM notify_outbox")" = 0 ]
	run --separate-stderr -2 sess-notify -o
	[ -z "$output" ]
	[ "$(q "SELECT count(*) FROM notify_outbox")" = 0 ]
	[ "$(channels)" = "$before" ]
	# A file that cannot be read is a temporary failure.
	printf 'bob stdout -\n' >"$CONF"
	chmod 000 "$CONF"
	if [ "$(id -u)" != 0 ]; then
		run --separate-stderr -111 sess-notify
		[ "$stderr" = "sess-notify: $CONF: Permission denied" ]
	fi
	chmod 644 "$CONF"
}

@test "channel file: a dry run reads it and registers nothing" {
	printf 'bob stdout -\n' >"$CONF"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -n
	[ "$(q "SELECT count(*) FROM notify_channels")" = 0 ]
	[ "$(q "SELECT count(*) FROM notify_outbox")" = 0 ]
}

@test "channel file: -f reads it again when it changes, and keeps going past a bad edit" {
	sess-notify -f -o -v >out.jsonl 2>follow.err &
	FPID=$!
	put 'bob stdout -\n'
	wait_for 10 grep -q "$CONF: 1 channel added or removed" follow.err
	[ "$(channels)" = "bob|stdout|-|1" ]
	notify chat/1 bob
	wait_for 10 has_lines 1 out.jsonl
	[[ $(cat out.jsonl) == *'"member":"bob","channel":"stdout"'* ]]
	# A malformed edit is reported; the channels stay as they were.
	put 'bob stdout -\ncarol pager 1\n'
	wait_for 10 grep -q "sess-notify: $CONF:2: 'pager': unknown channel kind (webhook, ntfy, email, webpush or stdout) (the channels stay as they were)" follow.err
	[ "$(channels)" = "bob|stdout|-|1" ]
	# Fixed, it is read again.
	put 'carol stdout -\n'
	wait_for 10 grep -q "$CONF: 2 channels added or removed" follow.err
	[ "$(channels)" = "carol|stdout|-|1" ]
	notify chat/1 carol
	wait_for 10 has_lines 2 out.jsonl
	[[ $(tail -1 out.jsonl) == *'"member":"carol","channel":"stdout"'* ]]
	kill -TERM "$FPID"
	local st=0
	wait "$FPID" || st=$?
	FPID=
	[ "$st" = 0 ]
	[ "$(tail -1 follow.err)" = "sess-notify: 2 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
}

@test "channel file: through sessd (-u), sessd reads the one beside its store" {
	sessd_start
	printf 'bob stdout -\n' >"$CONF"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -o
	[[ $output == *'"member":"bob","channel":"stdout"'* ]]
	[ "$(channels)" = "bob|stdout|-|1" ]
	printf 'bob stdout -\ncarol pager 1\n' >"$CONF"
	run --separate-stderr -2 sess-notify -u "$SESSD_URL" -o
	[ "$stderr" = "sess-notify: $SESSD_URL: claim: HTTP 400: $CONF:2: 'pager': unknown channel kind (webhook, ntfy, email, webpush or stdout)" ]
	[ "$(channels)" = "bob|stdout|-|1" ]
}

@test "follow through sessd: -u -f sends what becomes due and stops on SIGTERM" {
	sessd_start
	run -0 sess-notify -u "$SESSD_URL" -r bob stdout -
	sess-notify -u "$SESSD_URL" -f -o >out.jsonl 2>follow.err &
	FPID=$!
	notify chat/1 bob
	wait_for 10 has_lines 1 out.jsonl
	notify chat/1 bob
	wait_for 10 has_lines 2 out.jsonl
	kill -TERM "$FPID"
	local st=0
	wait "$FPID" || st=$?
	FPID=
	[ "$st" = 0 ]
	[ "$(tail -1 follow.err)" = "sess-notify: 2 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT count(*) FROM notify_outbox WHERE state = 'sent'")" = 2 ]
}
