#!/usr/bin/env bats
# 610-client: sessd driven by the official Durable Streams TypeScript
# client, @durable-streams/client from npm, unchanged (tests/node).  Each
# test starts its own sessd (tests/sessd.bash) on its own store and runs
# one test of tests/node/sessd-client.mjs against it; sess-pub -d writes
# to the same store from another process while the client reads live.

load common
load sessd

node_dir="$BATS_TEST_DIRNAME/node"

setup_file() {
	command -v node >/dev/null || {
		echo "node is not installed" >&2
		return 1
	}
	# Once per run: the client exactly as the lock file pins it.
	(cd "$node_dir" && timeout 300 npm ci --no-audit --no-fund \
		--loglevel=error) || {
		echo "npm ci in tests/node failed" >&2
		return 1
	}
}

setup() {
	common_setup
}

teardown() {
	sessd_stop
}

# client PATTERN: runs the tests of sessd-client.mjs whose names match
# PATTERN against a new sessd (long-poll timeout 500 ms); exactly one must
# run, and pass.  Then sessd must stop cleanly on SIGTERM (a sanitizer
# build exits non-zero on a leak or an error it found while serving).
client() {
	sessd_start -P 500
	run -0 env SESS_PUB="$(command -v sess-pub)" SESSD_POLL_MS=500 \
		timeout 120 node --test-reporter=tap --test-name-pattern="$1" \
		"$node_dir/sessd-client.mjs" "$SESSD_URL" "$SESS_DB"
	[[ $output == *$'\n# pass 1\n# fail 0\n'* ]]
	sessd_stop || {
		echo "sessd exited with status $? after SIGTERM" >&2
		return 1
	}
}

@test "client: create a JSON stream, append, read back in catch-up" {
	client '^create a JSON stream'
}

@test "client: reading an unknown stream fails with 404" {
	client '^reading a stream that does not exist'
}

@test "client: live sse gets appends over HTTP and from sess-pub -d" {
	client '^live "sse"'
}

@test "client: live long-poll gets appends over HTTP and from sess-pub -d" {
	client '^live "long-poll"'
}

@test "client: resume from a saved offset, offset=now" {
	client '^resume from a saved offset'
}

@test "client: idempotent producer, retried batch and stale epoch" {
	client '^idempotent producer'
}

@test "client: producer close ends the stream for live readers" {
	client '^producer close'
}
