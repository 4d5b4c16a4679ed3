# http-lib.sh: what the bench/http-* scripts share (sourced after lib.sh).
# shellcheck shell=sh
#
# Peers, each started on a free 127.0.0.1 port, one at a time (never two
# servers loaded at once on this small machine), and killed at exit:
#   sessd   $BUILD/bin/sessd on a store in the temporary directory.
#   nchan   nginx with Debian's libnginx-mod-nchan: memory store, message
#           buffer on; /pub/ID publishes, /sub/ID subscribes (SSE).
#   node    the Durable Streams reference server (@durable-streams/server
#           from npm, installed into $SESS_BENCH_CACHE, default
#           ~/.cache/sess-bench) with its file-backed store.
# A peer that cannot be installed or started is left out of the results
# and named, with the reason, in the "failed" array of the JSON.

HTTP_DIR=$(dirname "$0")
HTTP_CACHE=${SESS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sess-bench}
HTTP_NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
# Bound on a server's start, in seconds.
HTTP_START_SECS=${BENCH_START_SECS:-20}
HC=
PEER_URL=
PEER_PORT=
PEER_PID=

# Room for 1,000 readers and more (inherited by the servers we start).
# shellcheck disable=SC3045 # dash, bash and busybox sh have ulimit -n, -H
ulimit -n "$(ulimit -Hn)" 2>/dev/null || :

# http_fail PEER MESSAGE: logs it and keeps it for the JSON "failed" list.
http_fail() {
	bench_log "$1: $2"
	printf '%s: %s\n' "$1" "$2" >> "$BENCH_TMP/failed"
}

# The "failed" list as a JSON array of strings.
http_failed_json() {
	if [ ! -s "$BENCH_TMP/failed" ]; then
		printf '[]'
		return
	fi
	awk 'BEGIN { printf "[" }
	{
		gsub(/\\/, "\\\\"); gsub(/"/, "\\\"")
		gsub(/\t/, " ")
		printf "%s\"%s\"", (NR > 1 ? "," : ""), $0
	}
	END { printf "]" }' "$BENCH_TMP/failed"
}

# Runs a command as root: directly, or through sudo -n; fails otherwise.
http_as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

# Installs from Debian whatever of wrk, nginx and nchan is missing.
http_need_debs() {
	missing=
	command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
	[ -x /usr/sbin/nginx ] || missing="$missing nginx"
	[ -f "$HTTP_NCHAN_SO" ] || missing="$missing libnginx-mod-nchan"
	[ -n "$missing" ] || return 0
	bench_log "installing from Debian:$missing"
	# shellcheck disable=SC2086
	http_as_root timeout 600 sh -c 'apt-get update -qq &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq '"$missing" \
	    >&2 || bench_log "apt-get install$missing failed"
}

# Installs the reference server into $HTTP_CACHE if it is not there.
http_need_node() {
	[ ! -f "$HTTP_CACHE/node_modules/@durable-streams/server/dist/index.js" ] ||
		return 0
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		return 1
	bench_log "installing @durable-streams/server into $HTTP_CACHE"
	mkdir -p "$HTTP_CACHE" || return 1
	[ -f "$HTTP_CACHE/package.json" ] ||
		printf '{"private":true}\n' > "$HTTP_CACHE/package.json"
	(cd "$HTTP_CACHE" && timeout 600 npm install --no-audit --no-fund \
	    --loglevel=error @durable-streams/server >&2)
}

# Builds bench/http-client.c into the temporary directory as $HC.
http_client() {
	HC=$BENCH_TMP/http-client
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$HC" "$HTTP_DIR/http-client.c" -lm ||
		bench_die "cannot build bench/http-client.c"
}

# http_wait_url FILE PID NAME: waits (bounded) for "listening on URL" in
# FILE; sets PEER_URL and PEER_PORT.  Fails if PID exits first.
http_wait_url() {
	i=0
	PEER_URL=
	while :; do
		PEER_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' \
		    "$1" 2>/dev/null | head -n 1)
		[ -z "$PEER_URL" ] || break
		kill -0 "$2" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -le $((HTTP_START_SECS * 20)) ] || return 1
		sleep 0.05
	done
	PEER_PORT=${PEER_URL##*:}
}

# http_wait_http URL PID: waits (bounded) until URL answers 200.
http_wait_http() {
	i=0
	while ! curl -fs -o /dev/null --max-time 1 "$1"; do
		kill -0 "$2" 2>/dev/null || return 1
		i=$((i + 1))
		[ "$i" -le $((HTTP_START_SECS * 20)) ] || return 1
		sleep 0.05
	done
}

# http_stop PID: SIGTERM, then SIGKILL after 5 s; waits for it.
http_stop() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || :
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 100 ]; then
			bench_log "pid $1 ignored SIGTERM for 5 s: SIGKILL"
			kill -9 "$1" 2>/dev/null || :
			break
		fi
		sleep 0.05
	done
	wait "$1" 2>/dev/null || :
	http_forget "$1"
}

# http_forget PID: not to be killed at exit (it has been waited for, and
# by then the number may be someone else's).
http_forget() {
	# shellcheck disable=SC2086 # a list of words
	BENCH_PIDS=$(printf ' %s ' $BENCH_PIDS |
	    sed "s/ $1 / /; s/^ *//; s/ *\$//")
}

# http_run COMMAND...: runs it in the background and waits for it, so that
# a signal to the script ends the run at once (the exit trap kills the
# command) instead of after it; returns its status.  Not for commands
# that read stdin (a background command's stdin is /dev/null).
http_run() {
	"$@" &
	HTTP_RUN_PID=$!
	bench_bg "$HTTP_RUN_PID"
	HTTP_RUN_STATUS=0
	wait "$HTTP_RUN_PID" || HTTP_RUN_STATUS=$?
	http_forget "$HTTP_RUN_PID"
	return "$HTTP_RUN_STATUS"
}

# http_start_sessd DIR DB [OPTION...]: sessd on DB; sets PEER_*.
http_start_sessd() {
	dir=$1 db=$2
	shift 2
	if [ ! -x "$BIN/sessd" ]; then
		http_fail sessd "$BIN/sessd not built (make $BIN/sessd)"
		return 1
	fi
	mkdir -p "$dir"
	"$BIN/sessd" -1 -l 127.0.0.1:0 -d "$db" "$@" \
	    > "$dir/sessd.out" 2> "$dir/sessd.err" &
	PEER_PID=$!
	bench_bg "$PEER_PID"
	if ! http_wait_url "$dir/sessd.out" "$PEER_PID"; then
		http_fail sessd "did not start: $(tail -n 3 "$dir/sessd.err" |
		    tr '\n' ' ')"
		http_stop "$PEER_PID"
		return 1
	fi
	bench_log "sessd${*:+ $*} listening on $PEER_URL"
}

# http_start_nchan DIR: nginx + nchan; sets PEER_*.
http_start_nchan() {
	dir=$1
	http_need_debs
	if [ ! -x /usr/sbin/nginx ] || [ ! -f "$HTTP_NCHAN_SO" ]; then
		http_fail nchan "nginx or libnginx-mod-nchan not installed"
		return 1
	fi
	mkdir -p "$dir/tmp"
	PEER_PORT=$("$HC" port)
	user=
	[ "$(id -u)" != 0 ] || user='user root;'
	cat > "$dir/nginx.conf" <<EOF
load_module $HTTP_NCHAN_SO;
$user
worker_processes ${BENCH_NGINX_WORKERS:-auto};
worker_rlimit_nofile 20000;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	keepalive_requests 1000000;
	nchan_shared_memory_size 256M;
	server {
		listen 127.0.0.1:$PEER_PORT backlog=4096;
		location = /ok { return 200 "ok\n"; }
		location ~ ^/pub/(\w+)$ {
			nchan_publisher;
			nchan_channel_id \$1;
			nchan_message_buffer_length 1000;
			nchan_message_timeout 1h;
		}
		location ~ ^/sub/(\w+)$ {
			nchan_subscriber;
			nchan_channel_id \$1;
		}
	}
}
EOF
	/usr/sbin/nginx -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" \
	    > "$dir/nginx.out" 2>&1 &
	PEER_PID=$!
	bench_bg "$PEER_PID"
	PEER_URL=http://127.0.0.1:$PEER_PORT
	if ! http_wait_http "$PEER_URL/ok" "$PEER_PID"; then
		http_fail nchan "nginx did not start: $(cat "$dir/nginx.out" \
		    "$dir/error.log" 2>/dev/null | tail -n 3 | tr '\n' ' ')"
		http_stop "$PEER_PID"
		return 1
	fi
	bench_log "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*: //') + nchan" \
	    "listening on $PEER_URL"
}

# http_start_node DIR [mem]: the reference server, file-backed in
# DIR/data, or with its in-memory store given "mem".
http_start_node() {
	dir=$1 store=$dir/data name=node
	if [ "${2:-}" = mem ]; then
		store=- name=node-mem
	fi
	if ! http_need_node; then
		http_fail "$name" "cannot install @durable-streams/server with npm"
		return 1
	fi
	[ "$store" = - ] || mkdir -p "$store"
	node "$HTTP_DIR/http-node-server.mjs" "$HTTP_CACHE" "$store" \
	    > "$dir/node.out" 2> "$dir/node.err" &
	PEER_PID=$!
	bench_bg "$PEER_PID"
	if ! http_wait_url "$dir/node.out" "$PEER_PID"; then
		http_fail "$name" "did not start: $(tail -n 3 "$dir/node.err" |
		    tr '\n' ' ')"
		http_stop "$PEER_PID"
		return 1
	fi
	bench_log "$name: node $(node --version) @durable-streams/server" \
	    "$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
	    "$HTTP_CACHE/node_modules/@durable-streams/server/package.json")" \
	    "listening on $PEER_URL"
}

# http_create URL: PUT a JSON stream; fails unless 201 (or 200).
http_create() {
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT \
	    -H 'Content-Type: application/json' "$1") || code=000
	case $code in
	200 | 201) return 0 ;;
	*)
		bench_log "PUT $1: HTTP $code"
		return 1
		;;
	esac
}

# http_field JSON KEY: the number after "KEY": in JSON (first match).
http_field() {
	printf '%s\n' "$1" | sed -n 's/.*"'"$2"'":\([-0-9.eE+]*\).*/\1/p' |
	    head -n 1
}

# http_peer_start PEER DIR: starts sessd, nchan, node or node-mem.
http_peer_start() {
	case $1 in
	sessd)
		# shellcheck disable=SC2086
		http_start_sessd "$2" "$2/bench.db" ${BENCH_SESSD_OPTS:-}
		;;
	nchan) http_start_nchan "$2" ;;
	node) http_start_node "$2" ;;
	node-mem) http_start_node "$2" mem ;;
	*) bench_die "unknown peer $1 (sessd, nchan, node or node-mem)" ;;
	esac
}

# http_sse_stream PEER NAME: (re)sets SUB and PUB for another stream
# NAME on the running PEER, creating it where the protocol needs that.
http_sse_stream() {
	if [ "$1" = nchan ]; then
		SUB=/sub/$2 PUB=/pub/$2
		return 0
	fi
	SUB="/v1/stream/$2?offset=now&live=sse" PUB=/v1/stream/$2
	http_create "$PEER_URL$PUB" || {
		http_fail "$1" "cannot create $PEER_URL$PUB"
		return 1
	}
}

# http_sse PEER OUT CLIENT-OPTION...: runs the client's sse mode against
# the running peer (SUB, PUB); its JSON in OUT.  Notes failures.
http_sse() {
	peer=$1 out=$2
	shift 2
	rc=0
	http_run "$HC" sse -p "$PEER_PORT" -s "$SUB" -w "$PUB" "$@" > "$out" \
	    2> "$out.err" || rc=$?
	sed 's/^/  /' "$out.err" >&2
	if [ ! -s "$out" ]; then
		http_fail "$peer" "client failed (status $rc): $(tail -n 1 \
		    "$out.err")"
		rm -f "$out"
		return 1
	fi
	if [ "$rc" != 0 ]; then
		http_fail "$peer" "$(sed 's/.*"missing":\([0-9]*\),"dups":\([0-9]*\).*"post_errors":\([0-9]*\).*/\1 deliveries missing, \2 duplicated, \3 POSTs not 2xx/' \
		    "$out") ($*)"
	fi
	if ! kill -0 "$PEER_PID" 2>/dev/null; then
		http_fail "$peer" "exited during the run ($*)"
	fi
}

# http_lat OUT KEY: a number from the "lat_ms" object of a client JSON.
http_lat() {
	sed -n 's/.*"lat_ms":{\([^}]*\)}.*/\1/p' "$1" 2>/dev/null |
	    sed -n 's/.*"'"$2"'":\([-0-9.]*\).*/\1/p'
}

# http_lt A B: "true" if A < B, "false" if not, "null" without A.
http_lt() {
	if [ -z "$1" ]; then
		printf null
	else
		awk -v a="$1" -v b="$2" 'BEGIN { printf (a < b ? "true" : "false") }'
	fi
}

# The run's conditions as JSON members (no braces): cores, sessd options,
# nginx workers.
http_meta() {
	printf '"cpus":%s,"sessd_opts":"%s","nginx_workers":"%s"' \
	    "$(nproc 2>/dev/null || echo null)" "${BENCH_SESSD_OPTS:-}" \
	    "${BENCH_NGINX_WORKERS:-auto}"
}
