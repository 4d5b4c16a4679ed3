#!/usr/bin/env bats
# 900-notify: sess-notify against real receivers on loopback: a Node HTTP
# server (tests/notify/receiver.mjs) that checks webhook signatures, keeps
# ntfy headers and is a Web Push endpoint checking VAPID and decrypting
# with http_ece from npm; an SMTP server (tests/notify/smtp-sink.py).
# Presence and read cursors are rows of the store's presence, presence_log
# and cursors tables (schema v3), written here with sqlite3.

load common
load sessd

notify_dir="$BATS_TEST_DIRNAME/notify"

setup_file() {
	command -v node >/dev/null || {
		echo "node is not installed" >&2
		return 1
	}
	(cd "$notify_dir" && timeout 300 npm ci --no-audit --no-fund \
		--loglevel=error) || {
		echo "npm ci in tests/notify failed" >&2
		return 1
	}
}

setup() {
	common_setup
	unset SESS_SMTP_URL SESS_SMTP_FROM SESS_SMTP_STARTTLS SESS_LINK_URL \
		SESS_VAPID_SUBJECT SESS_CA_FILE
	RECV_PID= SMTP_PID=
	# The store exists, migrated, before any test writes rows to it.
	sess-notify -k >keys.json
	SECRET=$(jget keys.json webhook_secret)
}

teardown() {
	local p
	sessd_stop
	for p in $RECV_PID $SMTP_PID; do
		kill -TERM "$p" 2>/dev/null || :
		timeout 10 tail --pid="$p" -f /dev/null || kill -9 "$p" 2>/dev/null || :
	done
}

# jget FILE KEY: the value at KEY (a dotted path) of the JSON in FILE.
jget() {
	python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# receiver_start [ARGS...]: the Node receiver, recording to rec.jsonl;
# sets RECV (its base URL), RECV_PID and SUBSCRIPTION (a PushSubscription
# whose private key only the receiver knows).
receiver_start() {
	: >recv.ready
	node "$notify_dir/receiver.mjs" "$BATS_TEST_TMPDIR/rec.jsonl" \
		--secret "$SECRET" "$@" >recv.ready 2>recv.log 3>&- &
	RECV_PID=$!
	wait_for 10 grep -q port recv.ready || { cat recv.log >&2; return 1; }
	head -1 recv.ready >recv.json
	RECV=http://127.0.0.1:$(jget recv.json port)
	SUBSCRIPTION=$(jget recv.json subscription)
}

# smtp_start [ARGS...]: the SMTP sink, recording to mail.jsonl; sets
# SESS_SMTP_URL.
smtp_start() {
	: >smtp.ready
	python3 "$notify_dir/smtp-sink.py" "$BATS_TEST_TMPDIR/mail.jsonl" "$@" \
		>smtp.ready 2>smtp.log 3>&- &
	SMTP_PID=$!
	wait_for 10 grep -q port smtp.ready || { cat smtp.log >&2; return 1; }
	export SESS_SMTP_URL=smtp://127.0.0.1:$(jget smtp.ready port)
}

# q SQL: one query on the test's store.
q() {
	sqlite3 "$SESS_DB" "$1"
}

# now_us: the time in microseconds.
now_us() {
	echo $(($(date +%s%N) / 1000))
}

# notify STREAM MEMBER...: appends an event notifying MEMBERs.
notify() {
	local s=$1 to
	shift
	to=$(printf '"%s",' "$@")
	sess-pub "$s" "{\"type\":\"run.end\",\"notify\":{\"to\":[${to%,}],\"title\":\"Run finished\",\"body\":\"all 3 steps passed\",\"url\":\"https://example.test/runs/1\",\"priority\":\"high\"}}" >/dev/null
}

# accepted PATH_PREFIX: the number of requests under PATH_PREFIX the
# receiver answered with 2xx.
accepted() {
	python3 -c '
import json, sys
n = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    n += r["path"].startswith(sys.argv[2]) and r["status"] < 300
print(n)' rec.jsonl "$1" 2>/dev/null || echo 0
}

# once_each PATH_PREFIX N: the receiver accepted exactly N distinct
# notifications under PATH_PREFIX, each exactly once, all signed.
once_each() {
	python3 -c '
import json, sys, collections
c = collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["path"].startswith(sys.argv[2]) and r["status"] < 300:
        assert r["verified"] is True, r
        c[json.loads(r["body"])["id"]] += 1
dups = {k: v for k, v in c.items() if v != 1}
assert not dups, "sent more than once: %r" % dups
assert len(c) == int(sys.argv[3]), "%d distinct, want %s" % (len(c), sys.argv[3])' \
		rec.jsonl "$1" "$2"
}

# accepted_n PATH_PREFIX N: at least N requests were accepted (for
# wait_for, which runs it again each time).
accepted_n() {
	[ "$(accepted "$1")" -ge "$2" ]
}

# some_due: a pending row is due now.
some_due() {
	[ "$(q "SELECT count(*) FROM notify_outbox WHERE state = 'pending' AND next_try <= $(now_us)")" -gt 0 ]
}

# state_count STATE: outbox rows in STATE.
state_count() {
	q "SELECT count(*) FROM notify_outbox WHERE state = '$1'"
}

@test "register: each kind is checked, a bad target is refused with exit 2" {
	run -0 sess-notify -r bob webhook https://hooks.example.test/x
	run -0 sess-notify -r bob ntfy http://127.0.0.1:1/topic
	run -0 sess-notify -r bob email bob@example.test
	run -0 sess-notify -r bob stdout -
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 4 ]
	# Registering the same channel again changes nothing.
	run -0 sess-notify -r bob email bob@example.test
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 4 ]
	run --separate-stderr -2 sess-notify -r bob webhook ftp://example.test/x
	[ "$stderr" = "sess-notify: webhook: 'ftp://example.test/x' is not an http(s) URL" ]
	run --separate-stderr -2 sess-notify -r bob ntfy 'http://'
	[ "$stderr" = "sess-notify: ntfy: 'http://' is not an http(s) URL" ]
	run --separate-stderr -2 sess-notify -r bob email $'bob@example.test\r\nBcc: all@example.test'
	[ "$stderr" = "sess-notify: email: address contains CR or LF" ]
	run --separate-stderr -2 sess-notify -r bob email $'bob@example.test\nX: y'
	[ "$stderr" = "sess-notify: email: address contains CR or LF" ]
	run --separate-stderr -2 sess-notify -r bob email 'Bob <bob@example.test>'
	[ "$stderr" = "sess-notify: email: address has a character not allowed in an address" ]
	run --separate-stderr -2 sess-notify -r bob pager 555
	[ "$stderr" = "sess-notify: 'pager': unknown channel kind (webhook, ntfy, email, webpush or stdout)" ]
	run --separate-stderr -2 sess-notify -r '' webhook https://example.test
	[ "$stderr" = "sess-notify: '': not a member name (1 to 256 bytes, no control characters)" ]
	run --separate-stderr -2 sess-notify -r bob webhook
	[[ $stderr == *"usage: sess-notify "* ]]
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 4 ]
}

@test "register: a PushSubscription missing keys or with bad base64 is refused" {
	local p256=BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM
	run -0 sess-notify -r bob webpush "{\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"$p256\",\"auth\":\"tBHItJI5svbpez7KI4CCXg\"}}"
	run --separate-stderr -2 sess-notify -r bob webpush '{"endpoint":"https://push.example.test/x"}'
	[ "$stderr" = 'sess-notify: webpush: "keys" must have "p256dh" and "auth"' ]
	run --separate-stderr -2 sess-notify -r bob webpush "{\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"$p256\"}}"
	[ "$stderr" = 'sess-notify: webpush: "keys" must have "p256dh" and "auth"' ]
	run --separate-stderr -2 sess-notify -r bob webpush "{\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"$p256\",\"auth\":\"tBHI*JI5svbpez7KI4CCXg\"}}"
	[ "$stderr" = 'sess-notify: webpush: "auth" must be 16 bytes in base64url' ]
	run --separate-stderr -2 sess-notify -r bob webpush "{\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"${p256%?}+\",\"auth\":\"tBHItJI5svbpez7KI4CCXg\"}}"
	[ "$stderr" = 'sess-notify: webpush: "p256dh" must be a P-256 public key in base64url (65 bytes)' ]
	# 65 bytes, but no point on the curve.
	run --separate-stderr -2 sess-notify -r bob webpush "{\"endpoint\":\"https://push.example.test/x\",\"keys\":{\"p256dh\":\"BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"auth\":\"tBHItJI5svbpez7KI4CCXg\"}}"
	[ "$stderr" = 'sess-notify: webpush: "p256dh" must be a P-256 public key in base64url (65 bytes)' ]
	run --separate-stderr -2 sess-notify -r bob webpush "{\"endpoint\":\"ftp://push.example.test/x\",\"keys\":{\"p256dh\":\"$p256\",\"auth\":\"tBHItJI5svbpez7KI4CCXg\"}}"
	[ "$stderr" = 'sess-notify: webpush: "endpoint" must be an http(s) URL' ]
	run --separate-stderr -2 sess-notify -r bob webpush '{"endpoint":'
	[[ $stderr == "sess-notify: webpush: not a PushSubscription: "* ]]
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 1 ]
}

@test "remove: -x removes a channel; removing it again is exit 1" {
	run -0 sess-notify -r bob webhook https://example.test/h
	run -0 sess-notify -x bob webhook https://example.test/h
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 0 ]
	run --separate-stderr -1 sess-notify -x bob webhook https://example.test/h
	[ "$stderr" = "sess-notify: bob: no webhook channel 'https://example.test/h'" ]
}

@test "webhook: an away member gets one signed POST, then never again" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	notify chat/run-1 bob
	run --separate-stderr -0 sess-notify -v
	[ "$stderr" = "sess-notify: webhook chat/run-1 0000000000000001 bob $RECV/ok/bob attempt 1: sent
sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
	jget rec.jsonl body >body.json
	[ "$(jget body.json stream)" = chat/run-1 ]
	[ "$(jget body.json offset)" = 0000000000000001 ]
	[ "$(jget body.json member)" = bob ]
	[ "$(jget body.json title)" = "Run finished" ]
	[ "$(jget body.json body)" = "all 3 steps passed" ]
	[ "$(jget body.json link)" = "https://example.test/runs/1" ]
	# The outcome is an event of the stream, so replays show it.
	run -0 sess-sub -P -o 0000000000000001 chat/run-1
	[ "$output" = '{"type":"notify.sent","offset":"0000000000000001","member":"bob","channel":"webhook","attempts":1}' ]
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(accepted /ok/)" = 1 ]
}

@test "outcomes are sess-notify's own: a writer cannot forge one, the member is still told" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	local own="is the store's own: writers cannot append it"
	run -2 --separate-stderr sess-pub chat/1 \
	    '{"type":"notify.sent","offset":"0000000000000001","member":"bob","channel":"webhook","attempts":1}'
	[ "$stderr" = "sess-pub: argument 1: type \"notify.sent\" $own" ]
	# An outcome never notifies, so its type would have hidden this ask.
	run -2 --separate-stderr sess-pub chat/1 \
	    '{"type":"notify.skipped","notify":{"to":["bob"],"title":"t"}}'
	[ "$stderr" = "sess-pub: argument 1: type \"notify.skipped\" $own" ]
	run -1 sess-sub chat/1
	notify chat/1 bob
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
	run -0 sess-sub -P -t notify.sent chat/1
	[ "$output" = '{"type":"notify.sent","offset":"0000000000000001","member":"bob","channel":"webhook","attempts":1}' ]
}

@test "webhook: without a url the link points into sessd (SESS_LINK_URL)" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	sess-pub chat/a/b '{"x":1}' '{"notify":{"to":["bob"],"title":"t"}}' >/dev/null
	SESS_LINK_URL=http://sess.example.test:4437 run -0 sess-notify
	jget rec.jsonl body >body.json
	[ "$(jget body.json link)" = "http://sess.example.test:4437/v1/stream/chat/a/b?offset=0000000000000001" ]
}

@test "webhook: a present member is skipped with the reason, nothing is sent" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	run -0 sess-notify -r carol webhook "$RECV/ok/carol"
	sess-pub chat/1 '{"hello":1}' >/dev/null
	q "INSERT INTO presence VALUES ('chat/1', 'bob', 'c1', NULL, $(now_us), $(now_us) + 600000000, 'sessd-1')"
	notify chat/1 bob carol
	run --separate-stderr -0 sess-notify -v
	[[ $stderr == *"sess-notify: skip chat/1 0000000000000002 bob webhook: present"* ]]
	[[ $stderr == *"sess-notify: 1 sent, 1 skipped, 0 failed, 0 retrying, 0 waiting" ]]
	[ "$(accepted /ok/bob)" = 0 ]
	once_each /ok/carol 1
	[ "$(q "SELECT state, reason FROM notify_outbox WHERE member = 'bob'")" = "skipped|present" ]
	run -0 sess-sub -P -t notify.skipped chat/1
	[ "$output" = '{"type":"notify.skipped","offset":"0000000000000002","member":"bob","channel":"webhook","attempts":0,"reason":"present"}' ]
}

@test "webhook: a member who has read the event is skipped" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	notify chat/1 bob
	notify chat/1 bob
	# Bob's cursor is at the first event: he read it, not the second.
	q "INSERT INTO cursors VALUES ('chat/1', 'bob', 1, $(now_us))"
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 1 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT seq, state, reason FROM notify_outbox ORDER BY seq")" = "1|skipped|read
2|sent|" ]
	jget rec.jsonl body >body.json
	[ "$(jget body.json offset)" = 0000000000000002 ]
}

@test "webhook: someone who left less than the grace ago is waited for" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/1', $(now_us), 'bob', 'c1', 'leave', 'timeout', 1)"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	[ "$(accepted /ok/)" = 0 ]
	[ "$(state_count pending)" = 1 ]
	# The row keeps when bob left: each pass adds its own grace to it.
	[ "$(q "SELECT next_try - (SELECT time FROM presence_log) FROM notify_outbox")" = 0 ]
	# A lease that ran out unswept counts as a leave too.
	q "INSERT INTO presence VALUES ('chat/1', 'bob', 'c2', NULL, 1, $(now_us) - 1000000, NULL)"
	q "UPDATE notify_outbox SET next_try = 0"
	run --separate-stderr -0 sess-notify -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	q "UPDATE notify_outbox SET next_try = 0"
	run --separate-stderr -0 sess-notify -g 0
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
}

# due_fmt US: the time US (microseconds) as sess-notify prints a "due".
due_fmt() {
	printf '%s.%06dZ' "$(date -u -d "@$(($1 / 1000000))" +%Y-%m-%dT%H:%M:%S)" $(($1 % 1000000))
}

@test "grace: a row held back shows as waiting on every pass and in -n until it is due" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	local left
	left=$(($(now_us) - 5000000))
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/1', $left, 'bob', 'c1', 'leave', 'timeout', 1)"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	run --separate-stderr -0 sess-notify -g 600 -v
	[ "$stderr" = "sess-notify: wait chat/1 0000000000000001 bob webhook: left less than the grace ago
sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	run --separate-stderr -0 sess-notify -n -g 600
	[ "$output" = '{"action":"wait","stream":"chat/1","offset":"0000000000000001","member":"bob","channel":"webhook","target":"'"$RECV"'/ok/bob","reason":"left less than the grace ago","due":"'"$(due_fmt $((left + 600000000)))"'"}' ]
	[ "$stderr" = "sess-notify: 0 would send, 0 skipped, 0 failed, 0 retrying, 1 waiting (dry run: nothing changed)" ]
	[ "$(accepted /ok/)" = 0 ]
	[ "$(state_count pending)" = 1 ]
}

@test "grace: the grace of the pass that decides counts, not the one that held the row back" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/1', $(now_us) - 5000000, 'bob', 'c1', 'leave', 'timeout', 1)"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	# bob left 5 s ago: with a grace of 1 s he is away now.
	run --separate-stderr -0 sess-notify -n -g 1
	[ "$output" = '{"action":"send","stream":"chat/1","offset":"0000000000000001","member":"bob","channel":"webhook","target":"'"$RECV"'/ok/bob","reason":"away"}' ]
	[ "$stderr" = "sess-notify: 1 would send, 0 skipped, 0 failed, 0 retrying, 0 waiting (dry run: nothing changed)" ]
	run --separate-stderr -0 sess-notify -g 1
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
	# A follower wakes for a waiting row when its own grace is over.
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/2', $(now_us), 'bob', 'c1', 'leave', 'timeout', 1)"
	notify chat/2 bob
	run --separate-stderr -0 sess-notify -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	sess-notify -f -g 1 2>follow.err &
	local f=$!
	wait_for 20 accepted_n /ok/bob 2
	kill -TERM "$f"
	local st=0
	wait "$f" || st=$?
	[ "$st" = 0 ]
	once_each /ok/bob 2
	[ "$(tail -1 follow.err)" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
}

@test "dry run: the planned sends are counted as would send" {
	run -0 sess-notify -r bob stdout -
	run -0 sess-notify -r carol stdout -
	notify chat/1 bob carol
	notify chat/2 bob
	run --separate-stderr -0 sess-notify -n
	[ "${#lines[@]}" = 3 ]
	[ "$stderr" = "sess-notify: 3 would send, 0 skipped, 0 failed, 0 retrying, 0 waiting (dry run: nothing changed)" ]
	[ "$(q "SELECT count(*) FROM notify_outbox")" = 0 ]
	run --separate-stderr -0 sess-notify -o
	[ "$stderr" = "sess-notify: 3 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
}

@test "webhook: the signature is the HMAC-SHA256 keyed with the secret's hex text, as sess-notify(1) shows with openssl" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	notify chat/1 bob
	run -0 sess-notify
	jget rec.jsonl body >body.json
	jget rec.jsonl headers.sess-signature >sig
	# body.json has the newline jget printed; the signed body does not.
	printf '%s' "$(cat body.json)" >body.raw
	local ts hex secret
	ts=$(sed 's/^t=\([0-9]*\),v1=.*/\1/' sig)
	hex=$(sed 's/.*,v1=//' sig)
	# The example in sess-notify(1), as it is written there.
	secret=$(sess-notify -k | jq -r .webhook_secret)
	[ "$secret" = "$SECRET" ]
	[ "${#secret}" = 64 ]
	run -0 bash -c '{ printf "%s." "$1"; cat body.raw; } |
	    openssl dgst -sha256 -hmac "$2" | sed "s/.*= //"' - "$ts" "$secret"
	[ "$output" = "$hex" ]
	# Keyed with the 32 bytes the hex spells, it would not match.
	run -0 bash -c '{ printf "%s." "$1"; cat body.raw; } |
	    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$2" | sed "s/.*= //"' - "$ts" "$secret"
	[ "${#output}" = 64 ]
	[ "$output" != "$hex" ]
}

@test "bad notify fields: the event is stored, the notification failed with the reason" {
	run -0 sess-notify -r bob stdout -
	run -0 sess-pub chat/1 '{"notify":"bob"}' '{"notify":{"to":"bob"}}' \
		'{"notify":{"to":["bob",7]}}' '{"notify":{"to":[]}}' \
		"{\"notify\":{\"to\":[\"bob\"],\"title\":\"$(printf 'x%.0s' {1..257})\"}}" \
		'{"notify":{"to":["bob"],"url":"javascript:alert(1)"}}' \
		'{"notify":{"to":["bob"],"priority":"max"}}' \
		'{"notify":{"to":["bob"],"body":{"text":"hi"}}}'
	run --separate-stderr -0 sess-notify -o
	[ -z "$output" ]
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 8 failed, 0 retrying, 0 waiting" ]
	run -0 q "SELECT seq, state, last_error FROM notify_outbox ORDER BY seq"
	[ "$output" = '1|failed|notify: not an object
2|failed|notify: "to" must be a list of 1 to 100 member names
3|failed|notify: "to" must be a list of member names (strings of 1 to 256 bytes)
4|failed|notify: "to" must be a list of 1 to 100 member names
5|failed|notify: "title" must be a string of at most 256 bytes
6|failed|notify: "url" must be an http(s) URL of at most 2048 bytes
7|failed|notify: "priority" must be min, low, default, high or urgent
8|failed|notify: "body" must be a string of at most 4096 bytes' ]
	# Every event is still there, followed by the eight outcomes.
	[ "$(sess-sub -P -C 8 chat/1 | grep -c notify)" = 8 ]
	run -0 sess-sub -P -t notify.failed -C 1 chat/1
	[ "$output" = '{"type":"notify.failed","offset":"0000000000000001","member":null,"channel":null,"attempts":0,"error":"notify: not an object"}' ]
}

@test "an unknown member is skipped and the reason recorded" {
	notify chat/1 nobody
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 1 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT member, state, reason FROM notify_outbox")" = "nobody|skipped|unknown member: no channel registered for 'nobody'" ]
	run -0 sess-sub -P -t notify.skipped chat/1
	[ "$output" = "{\"type\":\"notify.skipped\",\"offset\":\"0000000000000001\",\"member\":\"nobody\",\"channel\":null,\"attempts\":0,\"reason\":\"unknown member: no channel registered for 'nobody'\"}" ]
}

@test "ntfy: the publish API with Title, Priority, Tags and Click" {
	receiver_start
	run -0 sess-notify -r bob ntfy "$RECV/ok/topic-bob"
	sess-pub chat/1 '{"notify":{"to":["bob"],"title":"Approval needed: déploiement","body":"line 1\nline 2","url":"https://example.test/a","priority":"urgent"}}' >/dev/null
	run -0 sess-notify
	[ "$(accepted /ok/topic-bob)" = 1 ]
	[ "$(jget rec.jsonl body)" = $'line 1\nline 2' ]
	[ "$(jget rec.jsonl method)" = POST ]
	# Not ASCII: an RFC 2047 encoded word, which ntfy decodes.
	[ "$(jget rec.jsonl headers.title)" = "=?UTF-8?B?QXBwcm92YWwgbmVlZGVkOiBkw6lwbG9pZW1lbnQ=?=" ]
	[ "$(jget rec.jsonl headers.priority)" = 5 ]
	[ "$(jget rec.jsonl headers.tags)" = bell,sess ]
	[ "$(jget rec.jsonl headers.click)" = https://example.test/a ]
}

@test "ntfy: CR and LF in a title never make a header of their own" {
	receiver_start
	run -0 sess-notify -r bob ntfy "$RECV/ok/t"
	sess-pub chat/1 '{"notify":{"to":["bob"],"title":"a\r\nX-Evil: 1"}}' >/dev/null
	run -0 sess-notify
	[ "$(jget rec.jsonl headers.title)" = "a  X-Evil: 1" ]
	run -1 grep -q x-evil rec.jsonl
}

@test "email: SMTP with Date, Message-ID, From, To, Subject and a plain-text body" {
	smtp_start
	export SESS_SMTP_FROM=notify@sess.example.test
	run -0 sess-notify -r bob email bob@example.test
	sess-pub chat/1 '{"notify":{"to":["bob"],"title":"Run finished","body":"all good\n.\n..dots","url":"https://example.test/r/1"}}' >/dev/null
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(jget mail.jsonl mail_from)" = "<notify@sess.example.test>" ]
	[ "$(jget mail.jsonl rcpt)" = '["<bob@example.test>"]' ]
	jget mail.jsonl data >msg
	run -0 grep -cE $'^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} \\+0000\r$' msg
	run -0 grep -cE $'^Message-ID: <[0-9]+\\.[0-9]+\\.1@[^>]+>\r$' msg
	run -0 grep -cx $'From: sess <notify@sess.example.test>\r' msg
	run -0 grep -cx $'To: <bob@example.test>\r' msg
	run -0 grep -cx $'Subject: Run finished\r' msg
	run -0 grep -cx $'Content-Type: text/plain; charset=utf-8\r' msg
	# The body after the blank line, dots as they were, then the link.
	[ "$(sed -n '/^\r$/,$p' msg | tr -d '\r')" = "
all good
.
..dots

https://example.test/r/1" ]
}

@test "email: a server that drops the connection mid-DATA is retried, delivered once" {
	smtp_start --drop-first
	run -0 sess-notify -r bob email bob@example.test
	notify chat/1 bob
	# A minute's backoff: the retry is not due in this pass.
	run --separate-stderr -0 sess-notify -b 60000
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 1 retrying, 0 waiting" ]
	[ "$(lines mail.jsonl)" = 0 ]
	[[ $(q "SELECT last_error FROM notify_outbox") == "smtp: "* ]]
	q "UPDATE notify_outbox SET next_try = 0"
	run --separate-stderr -0 sess-notify -b 1
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(lines mail.jsonl)" = 1 ]
	[ "$(q "SELECT state, attempts FROM notify_outbox")" = "sent|2" ]
}

@test "email: STARTTLS when configured, verified against SESS_CA_FILE" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 2>/dev/null
	smtp_start --starttls cert.pem key.pem
	run -0 sess-notify -r bob email bob@example.test
	notify chat/1 bob
	# Without STARTTLS the server refuses the mail: 530, a permanent no.
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 1 failed, 0 retrying, 0 waiting" ]
	[[ $(q "SELECT last_error FROM notify_outbox") == *"reply 530" ]]
	notify chat/1 bob
	# With it, but an unknown certificate: a TLS failure, retried.
	SESS_SMTP_STARTTLS=1 run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 1 retrying, 0 waiting" ]
	q "UPDATE notify_outbox SET next_try = 0 WHERE state = 'pending'"
	SESS_SMTP_STARTTLS=1 SESS_CA_FILE=cert.pem run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(lines mail.jsonl)" = 1 ]
	[ "$(jget mail.jsonl tls)" = true ]
}

@test "email: a 5xx refusal fails at once with the server's answer" {
	smtp_start --reject
	run -0 sess-notify -r bob email bob@example.test
	notify chat/1 bob
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 1 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT state, attempts FROM notify_outbox")" = "failed|1" ]
	[[ $(q "SELECT last_error FROM notify_outbox") == *"reply 550" ]]
}

@test "email: without SESS_SMTP_URL the row fails with the reason" {
	run -0 sess-notify -r bob email bob@example.test
	notify chat/1 bob
	run -0 sess-notify
	[ "$(q "SELECT state, last_error FROM notify_outbox")" = "failed|no SMTP server: set SESS_SMTP_URL" ]
}

@test "500: retried with backoff up to the limit, then failed with the last error" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/status/500/bob"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -v -b 60000 -m 3
	[ "$stderr" = "sess-notify: webhook chat/1 0000000000000001 bob $RECV/status/500/bob attempt 1: will retry: HTTP 500: status 500
sess-notify: 0 sent, 0 skipped, 0 failed, 1 retrying, 0 waiting" ]
	# The first retry is due between half and all of the backoff.
	run -0 q "SELECT next_try - updated BETWEEN 30000000 AND 60000000 FROM notify_outbox"
	[ "$output" = 1 ]
	q "UPDATE notify_outbox SET next_try = 0"
	run -0 sess-notify -b 60000 -m 3
	run -0 q "SELECT next_try - updated BETWEEN 60000000 AND 120000000 FROM notify_outbox"
	[ "$output" = 1 ]
	q "UPDATE notify_outbox SET next_try = 0"
	run --separate-stderr -0 sess-notify -b 60000 -m 3
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 1 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT state, attempts, last_error FROM notify_outbox")" = "failed|3|HTTP 500: status 500" ]
	[ "$(accepted /status/)" = 0 ]
	[ "$(lines rec.jsonl)" = 3 ]
	run -0 sess-sub -P -t notify.failed chat/1
	[ "$output" = '{"type":"notify.failed","offset":"0000000000000001","member":"bob","channel":"webhook","attempts":3,"error":"HTTP 500: status 500"}' ]
}

@test "429: the retry waits at least as long as Retry-After" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/status/429/bob"
	notify chat/1 bob
	run -0 sess-notify -b 1
	run -0 q "SELECT state, next_try - updated >= 1000000, last_error FROM notify_outbox"
	[ "$output" = "pending|1|HTTP 429: status 429" ]
}

@test "4xx: a permanent refusal stops at once" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/status/410/bob"
	run -0 sess-notify -r carol webhook "$RECV/status/400/carol"
	notify chat/1 bob carol
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 2 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT member, state, attempts, last_error FROM notify_outbox ORDER BY member")" = "bob|failed|1|HTTP 410: status 410
carol|failed|1|HTTP 400: status 400" ]
	# A webhook is not a push subscription: it stays registered.
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 2 ]
}

@test "a provider that never answers times out and is retried" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/hang/bob"
	notify chat/1 bob
	run --separate-stderr -0 timeout 30 sess-notify -t 1
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 1 retrying, 0 waiting" ]
	[[ $(q "SELECT last_error FROM notify_outbox") == *"timed out"* ]]
}

@test "a TLS failure is retried and kept as the last error" {
	receiver_start
	# The receiver speaks plain HTTP: the TLS handshake fails.
	run -0 sess-notify -r bob webhook "https://127.0.0.1:${RECV##*:}/ok/bob"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify -m 1
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 1 failed, 0 retrying, 0 waiting" ]
	[[ $(q "SELECT last_error FROM notify_outbox") == *SSL* ]]
	[ "$(accepted /ok/)" = 0 ]
}

@test "webpush: VAPID checked and the payload decrypted by http_ece" {
	receiver_start
	run -0 sess-notify -r bob webpush "$SUBSCRIPTION"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(jget rec.jsonl vapid)" = ok ]
	[ "$(jget rec.jsonl status)" = 201 ]
	[ "$(jget rec.jsonl push.title)" = "Run finished" ]
	[ "$(jget rec.jsonl push.body)" = "all 3 steps passed" ]
	[ "$(jget rec.jsonl push.url)" = "https://example.test/runs/1" ]
	[ "$(jget rec.jsonl headers.content-encoding)" = aes128gcm ]
	[ "$(jget rec.jsonl headers.ttl)" = 86400 ]
	[ "$(jget rec.jsonl headers.urgency)" = high ]
	# The key in the header is the store's VAPID public key.
	[[ $(jget rec.jsonl headers.authorization) == *", k=$(jget keys.json vapid_public_key)" ]]
}

@test "webpush: a long body is cut to fit one record and still decrypts" {
	receiver_start
	run -0 sess-notify -r bob webpush "$SUBSCRIPTION"
	sess-pub chat/1 "{\"notify\":{\"to\":[\"bob\"],\"title\":\"t\",\"body\":\"$(printf 'é%.0s' {1..2000})\"}}" >/dev/null
	run -0 sess-notify
	[ "$(jget rec.jsonl status)" = 201 ]
	[ "$(jget rec.jsonl push.title)" = t ]
}

@test "webpush: 410 Gone removes the subscription at once" {
	receiver_start
	run -0 sess-notify -r bob webpush "${SUBSCRIPTION/\/push\//\/status\/410\/}"
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	notify chat/1 bob
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 1 failed, 0 retrying, 0 waiting" ]
	[ "$(q "SELECT kind FROM notify_channels")" = webhook ]
	[ "$(q "SELECT state, attempts FROM notify_outbox WHERE kind = 'webpush'")" = "failed|1" ]
}

@test "stdout: -o prints each due notification once and marks it sent" {
	run -0 sess-notify -r bob stdout -
	notify chat/1 bob
	# Without -o the stdout channel waits.
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	run --separate-stderr -0 sess-notify -o
	[ "$output" = '{"id":"1","stream":"chat/1","offset":"0000000000000001","seq":1,"member":"bob","channel":"stdout","title":"Run finished","body":"all 3 steps passed","url":"https://example.test/runs/1","priority":"high","link":"https://example.test/runs/1","attempt":1}' ]
	run --separate-stderr -0 sess-notify -o
	[ -z "$output" ]
	[ "$(state_count sent)" = 1 ]
}

@test "stdout: a write error leaves the notification to the next pass" {
	run -0 sess-notify -r bob stdout -
	notify chat/1 bob
	run --separate-stderr -111 bash -c 'exec sess-notify -o >&-'
	[ "$stderr" = "sess-notify: stdout: Bad file descriptor" ]
	run --separate-stderr -111 bash -c 'exec sess-notify -o >/dev/full'
	[[ $stderr == "sess-notify: stdout: No space left on device" ]]
	[ "$(state_count sent)" = 0 ]
	# The dead pass's lease is taken back at once; the line comes once.
	run --separate-stderr -0 sess-notify -o
	[ "$(wc -l <<<"$output")" = 1 ]
	[[ $output == *'"member":"bob","channel":"stdout"'* ]]
	[ "$(q "SELECT state, attempts FROM notify_outbox")" = "sent|2" ]
	# Without -o a pass needs no standard output.
	run -0 bash -c 'exec sess-notify >&-'
}

@test "dry run: -n prints what it would do and changes nothing" {
	run -0 sess-notify -r bob stdout -
	notify chat/1 bob nobody
	q "INSERT INTO presence VALUES ('chat/2', 'bob', 'c1', NULL, 1, $(now_us) + 600000000, 'h')"
	notify chat/2 bob
	sqlite3 "$SESS_DB" .dump >before.sql
	run --separate-stderr -0 sess-notify -n
	[ "$output" = '{"action":"skip","stream":"chat/1","offset":"0000000000000001","member":"nobody","channel":null,"target":null,"reason":"unknown member: no channel registered for '"'nobody'"'"}
{"action":"send","stream":"chat/1","offset":"0000000000000001","member":"bob","channel":"stdout","target":"-","reason":"away"}
{"action":"skip","stream":"chat/2","offset":"0000000000000001","member":"bob","channel":"stdout","target":"-","reason":"present"}' ]
	[ "$stderr" = "sess-notify: 1 would send, 2 skipped, 0 failed, 0 retrying, 0 waiting (dry run: nothing changed)" ]
	sqlite3 "$SESS_DB" .dump >after.sql
	run -0 cmp before.sql after.sql
	run --separate-stderr -2 sess-notify -n -f
	[ "$stderr" = "sess-notify: -n is a single pass that sends nothing: not with -f or -o" ]
	# Not even the keys are made by a dry run on a new store.
	rm -f "$SESS_DB" "$SESS_DB"-*
	notify chat/1 bob
	sqlite3 "$SESS_DB" .dump >before.sql
	run --separate-stderr -0 sess-notify -n
	sqlite3 "$SESS_DB" .dump >after.sql
	run -0 cmp before.sql after.sql
}

@test "two processes started together deliver 1,000 notifications exactly once" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	for ((k = 0; k < 1000; k++)); do
		echo '{"notify":{"to":["bob"],"title":"n"}}'
	done | sess-pub chat/1 >/dev/null
	sess-notify -c 16 2>a.err &
	local a=$!
	sess-notify -c 16 2>b.err &
	local b=$!
	wait "$a"
	wait "$b"
	cat a.err b.err
	once_each /ok/bob 1000
	[ "$(state_count sent)" = 1000 ]
	[ "$(sess-sub -P -t notify.sent chat/1 | wc -l)" = 1000 ]
}

@test "an endpoint failing half the time receives everything exactly once" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/flaky/bob"
	for ((k = 0; k < 200; k++)); do
		echo '{"notify":{"to":["bob"],"title":"n"}}'
	done | sess-pub chat/1 >/dev/null
	# Passes as cron would run them, with a short backoff, until none
	# is left; every row must be sent within the retry limit.
	for ((k = 0; k < 100; k++)); do
		sess-notify -b 1 -m 20 2>>passes.err
		[ "$(state_count pending)" = 0 ] && break
		wait_for 10 some_due
	done
	[ "$(state_count sent)" = 200 ]
	once_each /flaky/bob 200
	[ "$(q "SELECT max(attempts) > 1 FROM notify_outbox")" = 1 ]
}

@test "kill -9 mid-batch, then a rerun: nothing acknowledged twice, nothing lost" {
	receiver_start --latency 100
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	for ((k = 0; k < 300; k++)); do
		echo '{"notify":{"to":["bob"],"title":"n"}}'
	done | sess-pub chat/1 >/dev/null
	sess-notify -c 20 2>first.err &
	local pid=$!
	wait_for 30 has_lines 40 rec.jsonl
	kill -9 "$pid"
	wait "$pid" || :
	local before
	before=$(lines rec.jsonl)
	[ "$(state_count sent)" -lt 300 ]
	# The rerun takes the dead process's leases back at once.
	run --separate-stderr -0 sess-notify -c 20
	echo "$stderr"
	[ "$(state_count sent)" = 300 ]
	# Each notification was accepted; the only repeats allowed are the
	# sends in flight at the kill (at most -c 20 of them).
	python3 -c '
import json, sys, collections
c = collections.Counter(json.loads(json.loads(l)["body"])["id"] for l in open("rec.jsonl"))
assert len(c) == 300, len(c)
d = sum(v - 1 for v in c.values())
assert d <= 20, d
print("repeats:", d)'
	[ "$before" -lt "$(lines rec.jsonl)" ]
}

@test "follow: -f sends within moments of the event and stops on SIGTERM" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	sess-notify -f 2>follow.err &
	local pid=$!
	notify chat/1 bob
	wait_for 10 accepted_n /ok/bob 1
	notify chat/1 bob
	wait_for 10 accepted_n /ok/bob 2
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" = 0 ]
	once_each /ok/bob 2
	[ "$(tail -1 follow.err)" = "sess-notify: 2 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
}

@test "follow: -f sends once a recipient who just left is away for the grace" {
	receiver_start
	run -0 sess-notify -r bob webhook "$RECV/ok/bob"
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/1', $(now_us), 'bob', 'c1', 'leave', 'explicit', 1)"
	notify chat/1 bob
	sess-notify -f -g 2 -v 2>follow.err &
	local pid=$!
	# First it waits: bob left less than 2 s ago.
	wait_for 10 grep -q "sess-notify: wait chat/1 0000000000000001 bob webhook" follow.err
	[ "$(accepted /ok/bob)" = 0 ]
	# Then, with no event to wake it, it sends when the grace is over.
	wait_for 10 accepted_n /ok/bob 1
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" = 0 ]
	once_each /ok/bob 1
	run -0 q "SELECT time FROM events WHERE data LIKE '%notify.sent%'"
	[ "$output" -ge "$(q "SELECT time + 2000000 FROM presence_log")" ]
}

@test "sessd: GET /v1/push/vapid serves the store's VAPID public key" {
	sessd_start
	run -0 http vapid.json GET /v1/push/vapid
	[ "$output" = 200 ]
	[ "$(jget vapid.json publicKey)" = "$(jget keys.json vapid_public_key)" ]
	run -0 http out PUT /v1/push/vapid
	[ "$output" = 405 ]
	[ "$(cat out)" = '{"error":{"code":"METHOD_NOT_ALLOWED","message":"PUT is not served on /v1/push/vapid"}}' ]
	run -0 http out GET /v1/push/other
	[ "$output" = 404 ]
}

@test "sessd: GET /v1/push/vapid makes the key pair on first use" {
	rm -f "$SESS_DB" "$SESS_DB"-*
	sess-pub chat/1 '{"a":1}' >/dev/null
	sessd_start
	run -0 http vapid.json GET /v1/push/vapid
	[ "$output" = 200 ]
	run -0 http again.json GET /v1/push/vapid
	run -0 cmp vapid.json again.json
	sess-notify -k >keys.json
	[ "$(jget vapid.json publicKey)" = "$(jget keys.json vapid_public_key)" ]
}

@test "sessd: POST /v1/push/subscriptions registers; sess-notify delivers to it" {
	receiver_start
	sessd_start
	# What a browser's subscription.toJSON() gives.
	printf '%s' "$SUBSCRIPTION" | python3 -c '
import json, sys
s = json.load(sys.stdin)
s["expirationTime"] = None
print(json.dumps(s))' >sub.json
	run -0 http out POST '/v1/push/subscriptions?member=bob' --data-binary @sub.json
	[ "$output" = 201 ]
	[ "$(cat out)" = '{"member":"bob","kind":"webpush","created":true}' ]
	run -0 http out POST '/v1/push/subscriptions?member=bob' --data-binary @sub.json
	[ "$output" = 200 ]
	[ "$(cat out)" = '{"member":"bob","kind":"webpush","created":false}' ]
	[ "$(q "SELECT member, kind FROM notify_channels")" = "bob|webpush" ]
	notify chat/1 bob
	run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(jget rec.jsonl vapid)" = ok ]
	[ "$(jget rec.jsonl push.title)" = "Run finished" ]
}

@test "sessd: a bad PushSubscription is 400 with the reason" {
	sessd_start
	run -0 http out POST '/v1/push/subscriptions?member=bob' --data-binary '{"endpoint":"https://p.example.test/1"}'
	[ "$output" = 400 ]
	[ "$(cat out)" = '{"error":{"code":"BAD_SUBSCRIPTION","message":"webpush: \"keys\" must have \"p256dh\" and \"auth\""}}' ]
	run -0 http out POST '/v1/push/subscriptions?member=bob' --data-binary '{"endpoint":"https://p.example.test/1","keys":{"p256dh":"!!","auth":"tBHItJI5svbpez7KI4CCXg"}}'
	[ "$output" = 400 ]
	[ "$(cat out)" = '{"error":{"code":"BAD_SUBSCRIPTION","message":"webpush: \"p256dh\" must be a P-256 public key in base64url (65 bytes)"}}' ]
	run -0 http out POST '/v1/push/subscriptions?member=bob' --data-binary 'nope'
	[ "$output" = 400 ]
	[[ $(cat out) == '{"error":{"code":"BAD_SUBSCRIPTION","message":"body is not JSON: '* ]]
	run -0 http out POST '/v1/push/subscriptions' --data-binary '{"endpoint":"https://p.example.test/1"}'
	[ "$output" = 400 ]
	[ "$(cat out)" = '{"error":{"code":"BAD_REQUEST","message":"say whose subscription it is: ?member=NAME"}}' ]
	run -0 http out GET '/v1/push/subscriptions'
	[ "$output" = 405 ]
	[ "$(q 'SELECT count(*) FROM notify_channels')" = 0 ]
}

# Remote mode: sess-notify -u does the same transactions through a sessd
# (POST /v1/notify/claim and /finish), and sends to the providers itself.

@test "remote (-u): an away member gets one signed POST through sessd, then never again" {
	receiver_start
	sessd_start
	run -0 sess-notify -u "$SESSD_URL" -r bob webhook "$RECV/ok/bob"
	[ "$(q "SELECT member, kind, target FROM notify_channels")" = "bob|webhook|$RECV/ok/bob" ]
	notify chat/run-1 bob
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -v
	[ "$stderr" = "sess-notify: webhook chat/run-1 0000000000000001 bob $RECV/ok/bob attempt 1: sent
sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
	jget rec.jsonl body >body.json
	[ "$(jget body.json member)" = bob ]
	run -0 sess-sub -P -o 0000000000000001 chat/run-1
	[ "$output" = '{"type":"notify.sent","offset":"0000000000000001","member":"bob","channel":"webhook","attempts":1}' ]
	# SESS_URL is the default, as for the other tools.
	SESS_URL=$SESSD_URL run --separate-stderr -0 sess-notify
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	[ "$(accepted /ok/)" = 1 ]
	# The keys are the store's: the receiver verified the signature.
	SESS_URL=$SESSD_URL run -0 sess-notify -k
	[ "$output" = "$(cat keys.json)" ]
	# Removal, and removal of what is not there (exit 1).
	run -0 sess-notify -u "$SESSD_URL" -x bob webhook "$RECV/ok/bob"
	[ "$(q "SELECT count(*) FROM notify_channels")" = 0 ]
	run --separate-stderr -1 sess-notify -u "$SESSD_URL" -x bob webhook "$RECV/ok/bob"
	[ "$stderr" = "sess-notify: $SESSD_URL: channels: HTTP 404: bob: no webhook channel '$RECV/ok/bob'" ]
	# A malformed target is refused before anything is sent.
	run --separate-stderr -2 sess-notify -u "$SESSD_URL" -r bob webhook ftp://example.test/x
	[ "$stderr" = "sess-notify: webhook: 'ftp://example.test/x' is not an http(s) URL" ]
	run --separate-stderr -2 sess-notify -d "$SESS_DB" -u "$SESSD_URL"
	[ "$stderr" = "sess-notify: -d and -u are alternatives: give one" ]
}

@test "remote (-u): a present member and one who has read are skipped" {
	receiver_start
	sessd_start
	run -0 sess-notify -u "$SESSD_URL" -r bob webhook "$RECV/ok/bob"
	run -0 sess-notify -u "$SESSD_URL" -r carol webhook "$RECV/ok/carol"
	run -0 sess-notify -u "$SESSD_URL" -r dave webhook "$RECV/ok/dave"
	sess-pub chat/1 '{"hello":1}' >/dev/null
	q "INSERT INTO presence VALUES ('chat/1', 'bob', 'c1', NULL, $(now_us), $(now_us) + 600000000, 'sessd-1')"
	notify chat/1 bob carol dave
	q "INSERT INTO cursors VALUES ('chat/1', 'dave', 2, $(now_us))"
	# A dry run through sessd prints the same lines and changes nothing.
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -n
	[[ $output == *'"member":"bob","channel":"webhook","target":"'"$RECV"'/ok/bob","reason":"present"}'* ]]
	[[ $output == *'"action":"send","stream":"chat/1","offset":"0000000000000002","member":"carol"'* ]]
	[ "$stderr" = "sess-notify: 1 would send, 2 skipped, 0 failed, 0 retrying, 0 waiting (dry run: nothing changed)" ]
	[ "$(state_count pending)" = 0 ]
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -v
	[[ $stderr == *"sess-notify: skip chat/1 0000000000000002 bob webhook: present"* ]]
	[[ $stderr == *"sess-notify: skip chat/1 0000000000000002 dave webhook: read"* ]]
	[[ $stderr == *"sess-notify: 1 sent, 2 skipped, 0 failed, 0 retrying, 0 waiting" ]]
	[ "$(accepted /ok/bob)" = 0 ]
	[ "$(accepted /ok/dave)" = 0 ]
	once_each /ok/carol 1
	[ "$(q "SELECT member, state, reason FROM notify_outbox ORDER BY member")" = "bob|skipped|present
carol|sent|
dave|skipped|read" ]
}

@test "remote (-u): a row held back for the grace counts once however many claims list it" {
	receiver_start
	sessd_start
	run -0 sess-notify -u "$SESSD_URL" -r bob webhook "$RECV/ok/bob"
	run -0 sess-notify -u "$SESSD_URL" -r carol webhook "$RECV/ok/carol"
	q "INSERT INTO presence_log (stream, time, member, conn, event, reason, last) VALUES ('chat/1', $(now_us), 'bob', 'c1', 'leave', 'timeout', 1)"
	notify chat/1 bob carol
	# Each claim through sessd lists what waits; this pass makes two.
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -g 600 -v
	[ "$(grep -c '^sess-notify: wait ' <<<"$stderr")" = 1 ]
	[ "${stderr##*$'\n'}" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -g 600
	[ "$stderr" = "sess-notify: 0 sent, 0 skipped, 0 failed, 0 retrying, 1 waiting" ]
	run --separate-stderr -0 sess-notify -u "$SESSD_URL" -g 0
	[ "$stderr" = "sess-notify: 1 sent, 0 skipped, 0 failed, 0 retrying, 0 waiting" ]
	once_each /ok/bob 1
	once_each /ok/carol 1
}

@test "remote (-u): two processes through sessd deliver 1,000 notifications exactly once" {
	receiver_start
	sessd_start
	run -0 sess-notify -u "$SESSD_URL" -r bob webhook "$RECV/ok/bob"
	for ((k = 0; k < 1000; k++)); do
		echo '{"notify":{"to":["bob"],"title":"n"}}'
	done | sess-pub chat/1 >/dev/null
	sess-notify -u "$SESSD_URL" -c 16 2>a.err &
	local a=$!
	sess-notify -u "$SESSD_URL" -c 16 2>b.err &
	local b=$!
	wait "$a"
	wait "$b"
	cat a.err b.err
	once_each /ok/bob 1000
	[ "$(state_count sent)" = 1000 ]
	[ "$(sess-sub -P -t notify.sent chat/1 | wc -l)" = 1000 ]
}

@test "remote (-u): a token without admin on ** is refused with exit 2 and the message" {
	run -0 sess-token -g sessd.key
	sessd_start -k sessd.key
	local writer admin
	writer=$(sess-token -k sessd.key -s bob -r '**' -w '**' -p '**')
	admin=$(sess-token -k sessd.key -s root -r '**' -w '**' -a '**')
	notify chat/1 bob
	SESS_TOKEN=$writer run --separate-stderr -2 sess-notify -u "$SESSD_URL"
	[ "$stderr" = "sess-notify: $SESSD_URL: keys: HTTP 403: the token does not allow admin on **" ]
	SESS_TOKEN=$writer run --separate-stderr -2 sess-notify -u "$SESSD_URL" -n
	[ "$stderr" = "sess-notify: $SESSD_URL: claim: HTTP 403: the token does not allow admin on **" ]
	SESS_TOKEN=$writer run --separate-stderr -2 sess-notify -u "$SESSD_URL" -r bob stdout -
	[ "$stderr" = "sess-notify: $SESSD_URL: channels: HTTP 403: the token does not allow admin on **" ]
	run --separate-stderr -2 sess-notify -u "$SESSD_URL" -r bob stdout -
	[ "$stderr" = "sess-notify: $SESSD_URL: channels: HTTP 401: a token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)" ]
	[ "$(q "SELECT count(*) FROM notify_channels")" = 0 ]
	[ "$(q "SELECT count(*) FROM notify_outbox")" = 0 ]
	# With admin on **, the same works.
	SESS_TOKEN=$admin run -0 sess-notify -u "$SESSD_URL" -r bob stdout -
	SESS_TOKEN=$admin run --separate-stderr -0 sess-notify -u "$SESSD_URL" -o
	[[ $output == *'"member":"bob","channel":"stdout"'* ]]
	[ "$(state_count sent)" = 1 ]
}

@test "follow: -f -o under head -1 ends with 0 once its reader has gone" {
	run -0 sess-notify -r bob stdout -
	notify chat/1 bob
	# 0, not 124 (the bound) nor a signal: it ended when head did.
	timeout 20 bash -c 'sess-notify -f -o | head -n 1 >first; exit "${PIPESTATUS[0]}"'
	[[ $(cat first) == *'"member":"bob","channel":"stdout"'* ]]
	[ "$(state_count sent)" = 1 ]
}
