#!/usr/bin/env bats
# 800-browser: the demo page and sess.js as sessd serves them, then in
# headless Chromium (Debian's chromium, driven by playwright-core from
# tests/browser) against a real sessd: each browser test starts its own
# sessd and runs one test of tests/browser/browser.mjs.  The demo page's
# screenshots go to build/artifacts (their paths are printed).

load common
load sessd

browser_dir="$BATS_TEST_DIRNAME/browser"

setup_file() {
	command -v node >/dev/null || {
		echo "node is not installed (make deps)" >&2
		return 1
	}
	[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || {
		echo "no ${CHROMIUM:-/usr/bin/chromium} (make deps installs" \
			"Debian's chromium)" >&2
		return 1
	}
	# Once per run: playwright-core exactly as the lock file pins it.
	(cd "$browser_dir" && timeout 300 npm ci --no-audit --no-fund \
		--loglevel=error) || {
		echo "npm ci in tests/browser failed" >&2
		return 1
	}
	mkdir -p "$top/${BUILD:-build}/artifacts"
}

setup() {
	common_setup
}

teardown() {
	sessd_stop
}

# head_of PATH [CURL ARGS...]: the status line and headers of GET PATH,
# CRs removed, into head; the body into body.
head_of() {
	local p=$1
	shift
	rm -f head body
	curl -s -D head -o body "$@" "$SESSD_URL$p" || return 1
	sed -i 's/\r$//' head
}

# has LINE: head holds LINE exactly.
has() {
	grep -qxF -- "$1" head || {
		echo "no \"$1\" in:" >&2
		cat head >&2
		return 1
	}
}

@test "www: / is the demo page, with its security headers" {
	sessd_start
	head_of /
	has 'HTTP/1.1 200 OK'
	has 'Content-Type: text/html; charset=utf-8'
	has 'Cache-Control: no-cache'
	has 'X-Content-Type-Options: nosniff'
	has 'Referrer-Policy: no-referrer'
	has 'X-Frame-Options: DENY'
	grep -q "^Content-Security-Policy: default-src 'self'; connect-src 'self';" head
	cmp body "$top/cmd/sessd/www/index.html"
	# A query (a token for the page) does not change the answer.
	head_of '/?token=abc&member=x'
	has 'HTTP/1.1 200 OK'
	cmp body "$top/cmd/sessd/www/index.html"
}

@test "www: sess.js, sess.d.ts and the page's files, each with its type" {
	sessd_start
	head_of /sess.js
	has 'Content-Type: text/javascript; charset=utf-8'
	cmp body "$top/cmd/sessd/www/sess.js"
	head_of /sess.d.ts
	has 'Content-Type: text/plain; charset=utf-8'
	cmp body "$top/cmd/sessd/www/sess.d.ts"
	head_of /demo.js
	has 'Content-Type: text/javascript; charset=utf-8'
	cmp body "$top/cmd/sessd/www/demo.js"
	head_of /demo.css
	has 'Content-Type: text/css; charset=utf-8'
	cmp body "$top/cmd/sessd/www/demo.css"
	head_of /index.html
	has 'HTTP/1.1 404 Not Found'
}

@test "www: ETag and If-None-Match give 304 without a body" {
	sessd_start
	head_of /sess.js
	etag=$(sed -n 's/^ETag: //p' head)
	[[ $etag =~ ^\"[0-9a-f]{16}\"$ ]]
	head_of /sess.js -H "If-None-Match: $etag"
	has 'HTTP/1.1 304 Not Modified'
	has "ETag: $etag"
	[ ! -s body ]
	head_of /sess.js -H "If-None-Match: \"x\", W/$etag"
	has 'HTTP/1.1 304 Not Modified'
	head_of /sess.js -H 'If-None-Match: "0000000000000000"'
	has 'HTTP/1.1 200 OK'
	cmp body "$top/cmd/sessd/www/sess.js"
	# Another file has another tag.
	head_of / -H "If-None-Match: $etag"
	has 'HTTP/1.1 200 OK'
}

@test "www: HEAD answers the head alone, with the length of the body" {
	sessd_start
	curl -s -I -o head "$SESSD_URL/sess.js"
	sed -i 's/\r$//' head
	has 'HTTP/1.1 200 OK'
	has "Content-Length: $(wc -c <"$top/cmd/sessd/www/sess.js")"
	# The connection stays usable: a second request on it is answered.
	run -0 curl -s -I -o /dev/null -o /dev/null -w '%{http_code}\n' \
		"$SESSD_URL/" "$SESSD_URL/demo.css"
	[ "$output" = $'200\n200' ]
}

@test "www: other methods are 405 with Allow" {
	sessd_start
	run -0 http body POST /sess.js -d x
	[ "$output" = 405 ]
	[ "$(cat body)" = '{"error":{"code":"METHOD_NOT_ALLOWED","message":"POST is not served on /sess.js"}}' ]
	curl -s -D head -o /dev/null -X DELETE "$SESSD_URL/"
	sed -i 's/\r$//' head
	has 'Allow: GET, HEAD, OPTIONS'
	run -0 http body OPTIONS /
	[ "$output" = 204 ]
}

@test "www: the page and sess.js stay public when sessd has a key" {
	sess-token -g key
	sessd_start -k key
	run -0 http body GET /v1/stream/x
	[ "$output" = 401 ]
	for p in / /sess.js /sess.d.ts /demo.js /demo.css /sess-sw.js; do
		run -0 http body GET "$p"
		[ "$output" = 200 ]
	done
}

@test "sess.js: the messages map is the view sess-replay -s prints" {
	run -0 env SESS_BIN="$top/${BUILD:-build}/bin" timeout 120 \
		node --test-reporter=tap "$browser_dir/messages.mjs"
	[[ $output == *$'\n# fail 0\n'* ]]
	[[ $output != *"not ok"* ]]
}

# browser PATTERN: runs the test of browser.mjs whose name matches
# PATTERN against a new sessd with a 1 s presence grace; exactly one must
# run, and pass, or be skipped with its reason.  Then sessd must stop
# cleanly.
browser() {
	sessd_start -g 1
	run -0 env SESS_BIN="$top/${BUILD:-build}/bin" \
		SESSD_PRESENCE=1 ARTIFACTS="$top/${BUILD:-build}/artifacts" \
		timeout 240 node --test-reporter=tap --test-name-pattern="$1" \
		"$browser_dir/browser.mjs" "$SESSD_URL"
	grep '^# screenshot: ' <<<"$output" >&3 || :
	# The tests the pattern leaves out are "skipped" too, with this reason.
	why=$(sed -n 's/^ok .* # SKIP //p' <<<"$output" |
		grep -vxF 'test name does not match pattern' || :)
	[ -z "$why" ] || skip "$why"
	[[ $output == *$'\n# pass 1\n# fail 0\n'* ]]
	sessd_stop || {
		echo "sessd exited with status $? after SIGTERM" >&2
		return 1
	}
}

@test "browser: two pages on one session see the same stream" {
	browser '^two pages on one session'
}

@test "browser: each page sees the other in presence" {
	browser '^each page sees the other'
}

@test "browser: closing a page makes the other see the leave" {
	browser '^closing a page'
}

@test "browser: an offline page shows every event exactly once when back" {
	browser '^an offline page'
}

@test "browser: a reloaded page resumes" {
	browser '^a reloaded page'
}

@test "browser: stop makes sess-sub -f -t control print the control message" {
	browser '^stop publishes'
}

@test "browser: a retried run shows one start and one end" {
	browser '^a retried run'
}

@test "browser: approve and deny publish their responses" {
	browser '^approve and deny'
}

@test "browser: sess.js publishes once per mid, resumes after a drop, acks" {
	browser '^sess.js in a page'
}

@test "browser: a page with ?token= connects as the token's member" {
	command -v sess-token >/dev/null || skip "no sess-token yet"
	sess-token -g key
	token=$(sess-token -k key -s alice -r 'chat/**' -w 'chat/**' \
		-p 'chat/**')
	sessd_start -k key
	run -0 env SESS_BIN="$top/${BUILD:-build}/bin" SESS_TOKEN="$token" \
		PAGE_TOKEN="$token" timeout 240 node --test-reporter=tap \
		--test-name-pattern='^a page with \?token=' \
		"$browser_dir/browser.mjs" "$SESSD_URL"
	[[ $output == *$'\n# pass 1\n# fail 0\n'* ]]
	sessd_stop
}

@test "sess.js: resume, de-duplication, resent publishes and backoff" {
	run -0 timeout 120 node --test-reporter=tap "$browser_dir/client.mjs"
	[[ $output == *$'\n# fail 0\n'* ]]
	[[ $output != *"not ok"* ]]
}

@test "browser: two tabs of one member show as one member, this tab marked" {
	browser '^two tabs of one member'
}

# notify PATTERN [ENV...]: runs the test of notify.mjs whose name
# matches PATTERN against the sessd started before; exactly one must run
# and pass.  Then sessd must stop cleanly.
notify() {
	local pattern=$1
	shift
	run -0 env SESS_DB="$SESS_DB" "$@" timeout 180 node \
		--test-reporter=tap --test-name-pattern="$pattern" \
		"$browser_dir/notify.mjs" "$SESSD_URL"
	[[ $output == *$'\n# pass 1\n# fail 0\n'* ]]
	sessd_stop || {
		echo "sessd exited with status $? after SIGTERM" >&2
		return 1
	}
}

@test "www: /sess-sw.js, the service worker for Web Push" {
	sessd_start
	head_of /sess-sw.js
	has 'HTTP/1.1 200 OK'
	has 'Content-Type: text/javascript; charset=utf-8'
	cmp body "$top/cmd/sessd/www/sess-sw.js"
}

@test "browser: notify me stores the subscription as the member's webpush channel" {
	sessd_start
	notify '^notify me stores'
}

@test "browser: notify me shows sessd's reason for a refused subscription" {
	sessd_start
	notify '^a subscription sessd refuses'
}

@test "browser: notify me without the permission registers nothing" {
	sessd_start
	notify '^without the notifications permission'
}

@test "browser: notify me is disabled, saying why, without the Push API" {
	sessd_start
	notify '^a browser without the Push API'
}

@test "browser: notify me with ?token= registers the token's subject" {
	sess-token -g key
	sessd_start -k key
	notify '^with a token' PAGE_TOKEN="$(sess-token -k key -s alice -r 'demo/**')"
}

@test "browser: notify me with a token of another key shows the 401" {
	sess-token -g key
	sess-token -g other
	sessd_start -k key
	notify '^a token sessd does not accept' \
		BAD_TOKEN="$(sess-token -k other -s alice -r 'demo/**')"
}
