#!/usr/bin/env bats
# 720-auth: sess-token makes keys and mints and verifies tokens; sessd -k
# wants a valid token with the right capability on every request and
# answers 401 or 403 with a JSON body that does not depend on whether the
# stream exists; without a key sessd keeps to loopback unless --insecure;
# the tools send SESS_TOKEN in remote mode.

load common
load sessd

setup() {
	common_setup
	unset SESS_TOKEN
	SESSD_PID=
}

teardown() {
	sessd_stop
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

# jwt HEADER CLAIMS KEYFILE: a token of any header and claims, signed
# with the key in KEYFILE, or with no signature if KEYFILE is -.  For
# tokens that sess-token would never mint.
jwt() {
	python3 - "$@" <<'EOF'
import base64, hashlib, hmac, sys
def b(x): return base64.urlsafe_b64encode(x).rstrip(b'=').decode()
h, c, k = sys.argv[1:4]
s = b(h.encode()) + '.' + b(c.encode())
sig = '' if k == '-' else b(hmac.new(open(k, 'rb').read(), s.encode(),
                                     hashlib.sha256).digest())
print(s + '.' + sig)
EOF
}

HS256='{"alg":"HS256","typ":"JWT"}'
UNAUTH='{"error":{"code":"UNAUTHORIZED","message":'
NO_TOKEN="$UNAUTH"'"a token is required (Authorization: Bearer TOKEN, or ?token=TOKEN)"}}'

# keyed: a key in sessd.key, a sessd that wants tokens signed with it,
# and tokens: $ALICE reads and writes chat/alice/*, $READER only reads
# chat/**, $ADMIN may do anything anywhere.
keyed() {
	run -0 sess-token -g sessd.key
	sessd_start -k sessd.key "$@"
	ALICE=$(sess-token -k sessd.key -s alice -r 'chat/alice/*' \
		-w 'chat/alice/*')
	READER=$(sess-token -k sessd.key -s reader -r 'chat/**')
	ADMIN=$(sess-token -k sessd.key -s root -r '**' -w '**' -p '**' \
		-a '**')
}

@test "sess-token -g makes a 0600 key of 32 bytes and never overwrites one" {
	umask 022
	run -0 sess-token -g k
	[ -z "$output" ]
	[ "$(stat -c '%a %s' k)" = "600 32" ]
	cp k k.orig
	run -2 sess-token -g k
	[ "$output" = "sess-token: key file k: File exists (not overwritten)" ]
	cmp k k.orig
	run -2 sess-token -g nodir/k
	[ "$output" = "sess-token: key file nodir/k: No such file or directory" ]
	# Two keys are never the same.
	run -0 sess-token -g k2
	run -1 cmp -s k k2
}

@test "sess-token mints a token and -v prints its claims" {
	run -0 sess-token -g k
	run -0 sess-token -k k -s alice -e 2h -r 'chat/alice/*' \
		-w 'chat/alice/*' -p 'chat/**' -a 'chat/alice/*'
	tok=$output
	[[ $tok =~ ^eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$ ]]
	run --separate-stderr -0 sess-token -k k -v "$tok"
	[[ $output =~ ^\{\"sub\":\"alice\",\"iat\":([0-9]+),\"exp\":([0-9]+),\"streams\":\[\{\"pattern\":\"chat/alice/\*\",\"caps\":\[\"read\",\"write\",\"admin\"\]\},\{\"pattern\":\"chat/\*\*\",\"caps\":\[\"presence\"\]\}\]\}$ ]]
	[ $((BASH_REMATCH[2] - BASH_REMATCH[1])) = 7200 ]
	# The token may come on the standard input instead.
	want=$output
	run -0 sess-token -k k -v - <<<"$tok"
	[ "$output" = "$want" ]
	# The default lifetime is an hour.
	run -0 sess-token -k k -s bob -r x
	run -0 sess-token -k k -v "$output"
	[[ $output =~ \"iat\":([0-9]+),\"exp\":([0-9]+) ]]
	[ $((BASH_REMATCH[2] - BASH_REMATCH[1])) = 3600 ]
}

@test "sess-token -v: invalid, expired, forged and wrong-key tokens exit 1" {
	run -0 sess-token -g k
	run -0 sess-token -g other
	run -0 sess-token -k k -s alice -r x
	tok=$output
	run -1 sess-token -k other -v "$tok"
	[ "$output" = "sess-token: invalid token: token signature does not match" ]
	run -1 sess-token -k k -v "${tok%?}$([ "${tok: -1}" = A ] && echo B || echo A)"
	[[ $output == "sess-token: invalid token: token signature "* ]]
	run -1 sess-token -k k -v garbage
	[ "$output" = "sess-token: invalid token: token is not three base64url parts" ]
	run -1 sess-token -k k -v "$(jwt "$HS256" '{"sub":"a","exp":1700000000,"streams":[]}' k)"
	[ "$output" = "sess-token: invalid token: token expired (exp 1700000000)" ]
	run -1 sess-token -k k -v "$(jwt '{"alg":"none"}' '{"sub":"a","exp":9999999999,"streams":[]}' -)"
	[ "$output" = "sess-token: invalid token: token alg 'none' is not HS256" ]
	run -1 sess-token -k k -v "$(jwt "$HS256" '{"sub":"a","streams":[]}' k)"
	[ "$output" = "sess-token: invalid token: token has no exp" ]
}

@test "sess-token: bad key files, patterns and options exit 2" {
	run -2 sess-token -k missing -s a -r x
	[ "$output" = "sess-token: key file missing: No such file or directory" ]
	printf short >short.key
	run -2 sess-token -k short.key -s a -r x
	[ "$output" = "sess-token: key file short.key: 5 bytes, a key has at least 32" ]
	run -2 sess-token -k short.key -v x
	[ "$output" = "sess-token: key file short.key: 5 bytes, a key has at least 32" ]
	run -2 sess-token -k . -s a -r x
	[ "$output" = "sess-token: key file .: not a regular file" ]
	run -0 sess-token -g k
	run -2 sess-token -k k -s a
	[ "$output" = "sess-token: no stream given: use -r, -w, -p or -a" ]
	run -2 sess-token -k k -s a -r 'chat/a**'
	[ "$output" = "sess-token: -r pattern 'chat/a**': ** must be a whole segment" ]
	run -2 sess-token -k k -s a -w 'chat//x'
	[ "$output" = "sess-token: -w pattern 'chat//x': stream name 'chat//x' has an empty segment" ]
	run -2 sess-token -k k -s '' -r x
	[ "$output" = "sess-token: subject must be 1 to 256 bytes" ]
	run -2 sess-token -k k -s a -r x -e 0
	[ "$output" = "sess-token: -e 0: not seconds from 1 to 315360000 (or with a unit: s, m, h, d)" ]
	run -2 sess-token -k k -s a -r x -e 3651d
	run -2 sess-token -k k -s a -r x -e 1w
	# One mode at a time.
	run --separate-stderr -2 sess-token -g k2 -k k
	[[ $stderr == "usage: sess-token "* ]]
	[ ! -e k2 ]
	run --separate-stderr -2 sess-token -k k -v x -s a
	[[ $stderr == "usage: sess-token "* ]]
	run --separate-stderr -2 sess-token -s a -r x
	[[ $stderr == "usage: sess-token "* ]]
	run --separate-stderr -2 sess-token -k k -s a -r x extra
	[[ $stderr == "usage: sess-token "* ]]
}

@test "sessd -k: a missing or short key file stops it with 2" {
	run -2 sessd -d "$SESS_DB" -l 127.0.0.1:0 -k missing.key
	[ "$output" = "sessd: key file missing.key: No such file or directory" ]
	printf short >short.key
	run -2 sessd -d "$SESS_DB" -l 127.0.0.1:0 -k short.key
	[ "$output" = "sessd: key file short.key: 5 bytes, a key has at least 32" ]
	# Before the store is made.
	[ ! -e "$SESS_DB" ]
}

@test "sessd -k: no token, a bad scheme, garbage: 401 UNAUTHORIZED" {
	keyed
	run http body GET /v1/stream/chat/alice/1
	is 401 "$NO_TOKEN"
	run curl -s -o /dev/null -w '%header{www-authenticate}' \
		"$SESSD_URL/v1/stream/chat/alice/1"
	[ "$output" = 'Bearer realm="sessd"' ]
	for m in HEAD PUT POST DELETE; do
		run http body "$m" /v1/stream/chat/alice/1
		[ "$output" = 401 ]
	done
	run http body GET /v1/stream/chat/alice/1 -H 'Authorization: Basic YTpi'
	is 401 "$UNAUTH"'"the Authorization header is not a bearer token"}}'
	run http body GET /v1/stream/chat/alice/1 -H 'Authorization: Bearer xyz'
	is 401 "$UNAUTH"'"token is not three base64url parts"}}'
	run http body GET '/v1/stream/chat/alice/1?token=a.b.c'
	is 401 "$UNAUTH"'"token header is not base64url"}}'
	run http body GET /v1/events/chat/alice/1
	is 401 "$NO_TOKEN"
	run http body GET /v1/messages/chat/alice/1
	is 401 "$NO_TOKEN"
	run http body GET /v1/metrics
	is 401 "$NO_TOKEN"
	run http body POST /v1/stream/chat/alice/1 -H 'Sess-Append: 1' \
		-H 'Content-Type: application/json' -d '[1]'
	is 401 "$NO_TOKEN"
	# Nothing was created on the way.
	run -0 sqlite3 "$SESS_DB" 'SELECT count(*) FROM streams'
	[ "$output" = 0 ]
}

@test "sessd -k: expired, forged, wrong-key and alg none tokens: 401" {
	keyed
	run -0 sess-token -g other.key
	claims='{"sub":"alice","exp":9999999999,"streams":[{"pattern":"**","caps":["read","write","presence","admin"]}]}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt "$HS256" \
		'{"sub":"alice","exp":1700000000,"streams":[{"pattern":"**","caps":["read"]}]}' sessd.key)"
	is 401 "$UNAUTH"'"token expired (exp 1700000000)"}}'
	run curl -s -o /dev/null -w '%header{www-authenticate}' \
		-H "Authorization: Bearer $(jwt "$HS256" \
		'{"sub":"alice","exp":1700000000,"streams":[]}' sessd.key)" \
		"$SESSD_URL/v1/stream/chat/alice/1"
	[ "$output" = 'Bearer realm="sessd", error="invalid_token"' ]
	# Claims changed after signing: the signature no longer matches.
	good=$(jwt "$HS256" '{"sub":"alice","exp":9999999999,"streams":[{"pattern":"chat/alice/*","caps":["read"]}]}' sessd.key)
	forged=$(jwt "$HS256" "$claims" other.key)
	forged="${forged%.*}.${good##*.}"
	run http body GET /v1/stream/chat/bob/1 -H "Authorization: Bearer $forged"
	is 401 "$UNAUTH"'"token signature does not match"}}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt "$HS256" "$claims" other.key)"
	is 401 "$UNAUTH"'"token signature does not match"}}'
	# A token that sess-token minted with another key.
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(sess-token -k other.key -s alice -r '**')"
	is 401 "$UNAUTH"'"token signature does not match"}}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt '{"alg":"none","typ":"JWT"}' "$claims" -)"
	is 401 "$UNAUTH"'"token alg '"'"'none'"'"' is not HS256"}}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt '{"alg":"none"}' "$claims" sessd.key)"
	is 401 "$UNAUTH"'"token alg '"'"'none'"'"' is not HS256"}}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt '{"alg":"HS384"}' "$claims" sessd.key)"
	is 401 "$UNAUTH"'"token alg '"'"'HS384'"'"' is not HS256"}}'
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $(jwt "$HS256" \
		'{"sub":"alice","streams":[{"pattern":"**","caps":["read"]}]}' sessd.key)"
	is 401 "$UNAUTH"'"token has no exp"}}'
	# The same through the query parameter.
	run http body GET "/v1/stream/chat/alice/1?offset=-1&token=$(jwt '{"alg":"none"}' "$claims" -)"
	is 401 "$UNAUTH"'"token alg '"'"'none'"'"' is not HS256"}}'
}

@test "sessd -k: a token for chat/alice/* on chat/bob/1 is 403, whether it exists or not" {
	keyed
	run http body GET /v1/stream/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/bob/1"}}'
	absent=$(cat body)
	run http body PUT /v1/stream/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow write on chat/bob/1"}}'
	run http body HEAD /v1/stream/chat/bob/1 -H "Authorization: Bearer $ALICE"
	[ "$output" = 403 ]
	# Now it exists: the same answers.
	run http body PUT /v1/stream/chat/bob/1 -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' -d '[{"secret":1}]'
	is 201 ''
	run http body GET /v1/stream/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 "$absent"
	run http body GET '/v1/stream/chat/bob/1?offset=-1&live=sse' -H "Authorization: Bearer $ALICE"
	is 403 "$absent"
	run http body GET /v1/events/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 "$absent"
	run http body GET /v1/messages/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 "$absent"
	run http body GET /v1/stream/chat/bob/2 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/bob/2"}}'
	# * stays within a segment.
	run http body GET /v1/stream/chat/alice/1/x -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/alice/1/x"}}'
	# Her own: allowed, and a missing one is a plain 404.
	run http body GET /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE"
	[ "$output" = 404 ]
}

@test "sessd -k: presence and cursors: read to look, presence to be there, only as the token's subject" {
	keyed
	BOB=$(sess-token -k sessd.key -s bob -r 'chat/**' -p 'chat/**')
	run http body GET /v1/presence/chat/x
	is 401 "$NO_TOKEN"
	run http body GET /v1/presence/chat/bob/1 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/bob/1"}}'
	run http body GET /v1/presence/chat/alice/1 -H "Authorization: Bearer $ALICE"
	is 200 '[]'
	# Presence needs the presence capability, and is its subject's own.
	run http body POST /v1/presence/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-d '{"event":"enter","member":"alice","conn":"c1"}'
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow presence on chat/alice/1"}}'
	run http body POST /v1/presence/chat/alice/1 -H "Authorization: Bearer $BOB" \
		-d '{"event":"enter","member":"alice","conn":"c1"}'
	[ "$output" = 403 ]
	grep -q '"code":"FORBIDDEN"' body
	run http body POST /v1/presence/chat/alice/1 -H "Authorization: Bearer $BOB" \
		-d '{"event":"enter","member":"bob","conn":"c1"}'
	[ "$output" = 200 ]
	run http body GET /v1/presence/chat/alice/1 -H "Authorization: Bearer $READER"
	[ "$output" = 200 ]
	grep -q '"member":"bob"' body
	# Cursors: read to look; a member moves only its own.
	run http body PUT /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json' -d '[{"a":1},{"a":2}]'
	is 201 ''
	run http body PUT '/v1/cursors/chat/alice/1?member=alice' -H "Authorization: Bearer $BOB" \
		-d '{"offset":"0000000000000001"}'
	[ "$output" = 403 ]
	grep -q '"code":"FORBIDDEN"' body
	run http body PUT '/v1/cursors/chat/alice/1?member=bob' -H "Authorization: Bearer $BOB" \
		-d '{"offset":"0000000000000001"}'
	is 200 '{"member":"bob","offset":"0000000000000001","unread":1}'
	run http body GET '/v1/cursors/chat/alice/1' -H "Authorization: Bearer $ALICE"
	[ "$output" = 200 ]
	grep -q '"member":"bob"' body
	run http body GET '/v1/cursors/chat/bob/1' -H "Authorization: Bearer $ALICE"
	[ "$output" = 403 ]
}

@test "sessd -k: read-only tokens cannot write, only admin deletes" {
	keyed
	run http body PUT /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json'
	is 201 ''
	run http body POST /v1/stream/chat/alice/1 -H "Authorization: Bearer $READER" \
		-H 'Content-Type: application/json' -d '{"n":1}'
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow write on chat/alice/1"}}'
	run http body POST /v1/stream/chat/alice/1 -H "Authorization: Bearer $READER" \
		-H 'Sess-Append: 1' -H 'Content-Type: application/json' -d '[1]'
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow write on chat/alice/1"}}'
	run http body PUT /v1/stream/chat/alice/2 -H "Authorization: Bearer $READER"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow write on chat/alice/2"}}'
	run http body POST /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json' -d '{"n":1}'
	is 204 ''
	run http body GET '/v1/stream/chat/alice/1?offset=-1' -H "Authorization: Bearer $READER"
	is 200 '[{"n":1}]'
	run http body DELETE /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow admin on chat/alice/1"}}'
	run http body DELETE /v1/stream/chat/alice/1 -H "Authorization: Bearer $ADMIN"
	is 204 ''
	run -0 sqlite3 "$SESS_DB" 'SELECT count(*) FROM events'
	[ "$output" = 0 ]
}

@test "sessd -k: forking needs read on the source" {
	keyed
	run http body PUT /v1/stream/chat/bob/1 -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' -d '[{"secret":1}]'
	is 201 ''
	run http body PUT /v1/stream/chat/alice/fork -H "Authorization: Bearer $ALICE" \
		-H 'Stream-Forked-From: /v1/stream/chat/bob/1'
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/bob/1"}}'
	run http body GET '/v1/stream/chat/alice/fork?offset=-1' -H "Authorization: Bearer $ALICE"
	[ "$output" = 404 ]
	run http body PUT /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json' -d '[{"mine":1}]'
	is 201 ''
	run http body PUT /v1/stream/chat/alice/fork -H "Authorization: Bearer $ALICE" \
		-H 'Stream-Forked-From: /v1/stream/chat/alice/1'
	is 201 ''
	run http body GET '/v1/stream/chat/alice/fork?offset=-1' -H "Authorization: Bearer $ALICE"
	is 200 '[{"mine":1}]'
}

@test "sessd -k: ?token= works for an SSE GET, the header for the rest" {
	keyed
	run http body PUT /v1/stream/chat/alice/1 -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json' -d '[{"n":1}]'
	is 201 ''
	curl -s -N -o sse.out "$SESSD_URL/v1/stream/chat/alice/1?offset=-1&live=sse&token=$ALICE" 3>&- &
	cpid=$!
	wait_for 10 grep -q '^data: *\[{"n":1}\]' sse.out
	kill "$cpid"
	wait "$cpid" || :
	run -0 grep -c '^event: data' sse.out
	# Without it: 401, with a token that does not allow it: 403.
	run http body GET '/v1/stream/chat/alice/1?offset=-1&live=sse'
	is 401 "$NO_TOKEN"
	run http body GET "/v1/stream/chat/alice/1?offset=-1&live=sse&token=$(sess-token -k sessd.key -s bob -r 'chat/bob/*')"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow read on chat/alice/1"}}'
	# The header, for reads, events, messages, HEAD and metrics.
	run http body GET '/v1/stream/chat/alice/1?offset=-1' -H "Authorization: Bearer $ALICE"
	is 200 '[{"n":1}]'
	run http body HEAD /v1/stream/chat/alice/1 -H "Authorization: bearer $ALICE"
	[ "$output" = 200 ]
	run http body GET '/v1/events/chat/alice/1?offset=-1' -H "Authorization: Bearer $ALICE"
	[ "$output" = 200 ]
	[[ $(cat body) == '{"stream":"chat/alice/1","offset":"0000000000000001","seq":1,"time":'*',"data":{"n":1}}' ]]
	run http body GET /v1/messages/chat/alice/1 -H "Authorization: Bearer $ALICE"
	is 200 ''
	run http body GET /v1/metrics -H "Authorization: Bearer $READER"
	[ "$output" = 200 ]
	# The header wins over the query.
	run http body GET "/v1/stream/chat/alice/1?offset=-1&token=$ALICE" -H "Authorization: Bearer $READER"
	is 200 '[{"n":1}]'
	run http body GET "/v1/stream/chat/alice/1?offset=-1&token=$ADMIN" -H "Authorization: Bearer x.y.z"
	[ "$output" = 401 ]
	# CORS preflights need none.
	run http body OPTIONS /v1/stream/chat/alice/1 \
		-H 'Access-Control-Request-Method: POST'
	is 204 ''
}

@test "sessd -k: the subscription APIs need admin, the JWKS is public" {
	keyed
	run http body GET /v1/stream/__ds/subscriptions/s1
	is 401 "$NO_TOKEN"
	run http body GET /v1/stream/__ds/subscriptions/s1 -H "Authorization: Bearer $ALICE"
	is 403 '{"error":{"code":"FORBIDDEN","message":"the token does not allow admin on __ds/subscriptions/s1"}}'
	run http body PUT /v1/stream/__ds/subscriptions/s1 -H "Authorization: Bearer $READER" \
		-H 'Content-Type: application/json' -d '{"type":"pull-wake","streams":["chat/alice/1"],"wake_stream":"chat/wake"}'
	[ "$output" = 403 ]
	run http body GET /v1/stream/__ds/subscriptions/s1 -H "Authorization: Bearer $ADMIN"
	[ "$output" = 404 ]
	run http body GET /v1/stream/__ds/jwks.json
	[ "$output" = 200 ]
}

@test "sessd -k: token values stay out of the -v log" {
	keyed -v
	run http body GET "/v1/stream/chat/alice/1?offset=-1&token=$ALICE&live=long-poll"
	[ "$output" = 404 ]
	run http body GET "/v1/stream/chat/alice/1?token=$ALICE"
	[ "$output" = 404 ]
	wait_for 10 grep -q '"GET /v1/stream/chat/alice/1?token=\.\.\." 404' \
		"$BATS_TEST_TMPDIR/sessd.log"
	run -0 grep -c '"GET /v1/stream/chat/alice/1?offset=-1&token=\.\.\.&live=long-poll" 404' \
		"$BATS_TEST_TMPDIR/sessd.log"
	run -1 grep -F -e "${ALICE##*.}" "$BATS_TEST_TMPDIR/sessd.log"
}

@test "sess-pub, sess-sub and sess-replay -u send SESS_TOKEN" {
	keyed
	export SESS_TOKEN=$ALICE
	run -0 sess-pub -u "$SESSD_URL" chat/alice/1 '{"n":1}' '{"n":2}'
	[ "$output" = '{"offset":"0000000000000001","seq":1}
{"offset":"0000000000000002","seq":2}' ]
	run -0 sess-sub -P -u "$SESSD_URL" chat/alice/1
	[ "$output" = '{"n":1}
{"n":2}' ]
	run -0 sess-sub -P -f -C 2 -W 10 -u "$SESSD_URL" chat/alice/1
	[ "$output" = '{"n":1}
{"n":2}' ]
	run -0 sess-replay -u "$SESSD_URL" -a chat/alice/copy chat/alice/1
	run -0 sess-sub -P -u "$SESSD_URL" chat/alice/copy
	[ "$output" = '{"n":1}
{"n":2}' ]
	# Another's stream: 403, exit 2.
	run -2 sess-pub -u "$SESSD_URL" chat/bob/1 '{"n":1}'
	[ "$output" = "sess-pub: $SESSD_URL: chat/bob/1: HTTP 403: the token does not allow write on chat/bob/1" ]
	# (sess-sub asks with HEAD first, whose answer has no body.)
	run -2 sess-sub -u "$SESSD_URL" chat/bob/1
	[ "$output" = "sess-sub: $SESSD_URL: chat/bob/1: HTTP 403: the token (SESS_TOKEN) does not allow this" ]
	run -2 sess-sub -f -u "$SESSD_URL" chat/bob/1
	[ "$output" = "sess-sub: $SESSD_URL: chat/bob/1: HTTP 403: the token (SESS_TOKEN) does not allow this" ]
	# A reader cannot write.
	SESS_TOKEN=$READER run -2 sess-pub -u "$SESSD_URL" chat/alice/1 '{"n":3}'
	[ "$output" = "sess-pub: $SESSD_URL: chat/alice/1: HTTP 403: the token does not allow write on chat/alice/1" ]
	SESS_TOKEN=$READER run -0 sess-sub -P -u "$SESSD_URL" chat/alice/1
	[ "$output" = '{"n":1}
{"n":2}' ]
	# None, or an expired one: 401, exit 2.
	SESS_TOKEN= run -2 sess-sub -u "$SESSD_URL" chat/alice/1
	[ "$output" = "sess-sub: $SESSD_URL: chat/alice/1: HTTP 401: a valid token (SESS_TOKEN) is needed" ]
	SESS_TOKEN= run -2 sess-replay -s -u "$SESSD_URL" chat/alice/1
	[[ $output == "sess-replay: $SESSD_URL: chat/alice/1: HTTP 401: "* ]]
	SESS_TOKEN=$(jwt "$HS256" '{"sub":"alice","exp":1700000000,"streams":[{"pattern":"**","caps":["write"]}]}' sessd.key) \
		run -2 sess-pub -u "$SESSD_URL" chat/alice/1 '{"n":3}'
	[ "$output" = "sess-pub: $SESSD_URL: chat/alice/1: HTTP 401: token expired (exp 1700000000)" ]
	# Something that cannot go in a header is refused before any request.
	SESS_TOKEN=$'a\nb' run -2 sess-pub -u "$SESSD_URL" chat/alice/1 '{"n":3}'
	[ "$output" = "sess-pub: SESS_TOKEN: not a token (byte 2)" ]
	# Nothing of the refused appends was written.
	run -0 sess-sub -P -u "$SESSD_URL" chat/alice/1
	[ "$output" = '{"n":1}
{"n":2}' ]
}

@test "sessd without -k refuses a non-loopback address, --insecure serves it" {
	run -2 sessd -d "$SESS_DB" -l 0.0.0.0:0
	[ "$output" = "sessd: -l 0.0.0.0:0: not a loopback address: without a key (-k KEYFILE) anyone who can reach it could read and write every stream; give --insecure to serve it anyway" ]
	[ ! -e "$SESS_DB" ]
	run -2 sessd -d "$SESS_DB" -l :0
	[ "$output" = "sessd: -l :0: not a loopback address: without a key (-k KEYFILE) anyone who can reach it could read and write every stream; give --insecure to serve it anyway" ]
	run -2 sessd -d "$SESS_DB" -l '[::]:0'
	[[ $output == "sessd: -l [::]:0: not a loopback address: "* ]]
	# Loopback and unix sockets need nothing.
	for a in 127.0.0.2:0 '[::1]:0'; do
		if [ "$a" = '[::1]:0' ] && ! python3 -c \
		    'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
		    2>/dev/null; then
			continue
		fi
		rm -f ready # the background job truncates it only once it runs
		sessd -1 -d "$SESS_DB" -l "$a" >ready 2>err 3>&- &
		SESSD_PID=$!
		wait_for 10 grep -q '^sessd: listening on http://' ready
		sessd_stop
	done
	# --insecure: served, with a warning.
	rm -f ready # the background job truncates it only once it runs
	sessd -1 -d "$SESS_DB" -l 0.0.0.0:0 --insecure >ready 2>err 3>&- &
	SESSD_PID=$!
	wait_for 10 grep -q '^sessd: listening on http://0.0.0.0:' ready
	run -0 cat err
	[ "$output" = "sessd: serving 0.0.0.0:0 without auth (--insecure): anyone who can reach it can read and write every stream" ]
	port=$(sed -n 's|.*:\([0-9]*\)$|\1|p' ready)
	run -0 curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/v1/stream/x"
	[ "$output" = 201 ]
	sessd_stop
	# With a key, any address.
	run -0 sess-token -g k
	rm -f ready # the background job truncates it only once it runs
	sessd -1 -d "$SESS_DB" -l 0.0.0.0:0 -k k >ready 2>err 3>&- &
	SESSD_PID=$!
	wait_for 10 grep -q '^sessd: listening on http://0.0.0.0:' ready
	port=$(sed -n 's|.*:\([0-9]*\)$|\1|p' ready)
	run -0 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/stream/x"
	[ "$output" = 401 ]
	[ ! -s err ]
}
