# ws-lib.sh: what the bench/ws-* and control-rtt scripts share (sourced after
# lib.sh and http-lib.sh).
# shellcheck shell=sh
#
# WSB is bench/ws-bench.c built into the temporary directory: one epoll
# WebSocket client for every peer.  The peer of sessd is a broadcast
# server on the `ws` npm package (bench/ws-node-server.mjs), with ws
# installed into $HTTP_CACHE (default ~/.cache/sess-bench).

WS_NPM_VERSION=8.23.0
WSB=

# Builds bench/ws-bench.c into the temporary directory as $WSB.
ws_client() {
	WSB=$BENCH_TMP/ws-bench
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$WSB" "$HTTP_DIR/ws-bench.c" -lm ||
		bench_die "cannot build bench/ws-bench.c"
}

# Installs ws into $HTTP_CACHE if it is not there.
ws_need_node() {
	[ ! -f "$HTTP_CACHE/node_modules/ws/package.json" ] || return 0
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		return 1
	bench_log "installing ws@$WS_NPM_VERSION into $HTTP_CACHE"
	mkdir -p "$HTTP_CACHE" || return 1
	[ -f "$HTTP_CACHE/package.json" ] ||
		printf '{"private":true}\n' > "$HTTP_CACHE/package.json"
	(cd "$HTTP_CACHE" && timeout 600 npm install --no-audit --no-fund \
	    --loglevel=error "ws@$WS_NPM_VERSION" >&2)
}

# ws_start_node DIR: the ws broadcast server; sets PEER_*.
ws_start_node() {
	if ! ws_need_node; then
		http_fail node-ws "cannot install ws with npm"
		return 1
	fi
	node "$HTTP_DIR/ws-node-server.mjs" "$HTTP_CACHE" \
	    > "$1/node.out" 2> "$1/node.err" &
	PEER_PID=$!
	bench_bg "$PEER_PID"
	if ! http_wait_url "$1/node.out" "$PEER_PID"; then
		http_fail node-ws "did not start: $(tail -n 3 "$1/node.err" |
		    tr '\n' ' ')"
		http_stop "$PEER_PID"
		return 1
	fi
	bench_log "node-ws: node $(node --version) ws" \
	    "$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
	    "$HTTP_CACHE/node_modules/ws/package.json") listening on $PEER_URL"
}

# ws_rss PID: its VmRSS in kB.
ws_rss() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null
}

# ws_cpu PID: its user + system CPU time in clock ticks.
ws_cpu() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# ws_wait_line FILE PID SECS: waits until FILE has a line, or PID exits,
# or SECS pass.
ws_wait_line() {
	i=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -le $(($3 * 20)) ] || return 1
		sleep 0.05
	done
}
