#!/usr/bin/env bats
# 630-sessd-crash: sessd killed with -9 in the middle of 64 producers and
# a dozen followers loses nothing it acknowledged, the producers' reruns
# add nothing twice and every follower prints every event once; a client
# that opens 1,000 long-polls and never reads them holds nothing up.

load common
load sessd
load helpers/proc
load helpers/store
load helpers/sessd-crash

setup() {
	common_setup
	pids=()
	SESSD_PID=
}

# Clients first, then the daemon, which must stop cleanly (exit 0).
teardown() {
	kill_clients
	sessd_stop
}

@test "kill -9 sessd amid 64 producers and 14 followers: every ack kept, nothing twice, all seen once" {
	nprod=64 per=50
	total=$((nprod * per))
	for ((k = 1; k <= nprod; k++)); do
		for ((j = 1; j <= per; j++)); do
			printf '{"p":%d,"n":%d}\n' "$k" "$j"
		done >"in$k"
	done
	sessd_start
	port=${SESSD_URL##*:}
	run -0 http body PUT /v1/stream/s -H 'Content-Type: application/json'
	[ "$output" = 201 ]

	# Ten followers with sess-sub (long-polls), four raw SSE readers.
	followers=()
	for ((k = 1; k <= 10; k++)); do
		timeout 150 sess-sub -u "$SESSD_URL" -f -W 120 -C "$total" s \
			>"follower$k.out" 2>"follower$k.err" 3>&- &
		followers+=($!)
		pids+=($!)
	done
	sse=()
	for ((k = 1; k <= 4; k++)); do
		sse_follower "$port" s "$total" "sse$k.out"
		sse+=("$bg")
	done
	wait_for 10 waiting 14

	producers=()
	for ((k = 1; k <= nprod; k++)); do
		producer "$k" 3>&- &
		producers+=($!)
		pids+=($!)
	done

	# Mid-run: some events are in, not all.
	wait_for 60 stored_at_least $((total / 4))
	kill9 "$SESSD_PID"
	SESSD_PID=
	for ((k = 1; k <= nprod; k++)); do
		cp "ack$k.1" "prekill$k"
	done
	at_kill=$(stored)
	[ "$at_kill" -lt "$total" ]
	sessd_start -l "127.0.0.1:$port"
	[ "$SESSD_URL" = "http://127.0.0.1:$port" ]

	# Everyone finishes: each producer exits 0, after a rerun for some.
	wait_for 120 all_exited "${producers[@]}"
	reran=0
	for ((k = 1; k <= nprod; k++)); do
		exited_with "${producers[k - 1]}" 0
		read -r st runs <"rc$k"
		[ "$st" = 0 ] || { cat "err$k".* >&2; false; }
		[ "$runs" -eq 1 ] || reran=$((reran + 1))
	done
	[ "$reran" -gt 0 ]
	wait_for 150 all_exited "${followers[@]}" "${sse[@]}"
	for p in "${followers[@]}" "${sse[@]}"; do
		exited_with "$p" 0
	done

	# The store: every producer's lines exactly once, in its order.
	run -0 to_file all.jsonl sess-sub -d "$SESS_DB" s
	run -0 to_file payload.jsonl sess-sub -d "$SESS_DB" -P s
	run -0 awk -F'[:,]' '{ print > ("got" $2) }' payload.jsonl
	for ((k = 1; k <= nprod; k++)); do
		diff "in$k" "got$k"
	done
	[ "$(lines payload.jsonl)" -eq "$total" ]
	seqs_of all.jsonl >seqs
	seq 1 "$total" >want.seqs
	diff want.seqs seqs
	consistent s

	# Every ack, before the kill or after, names its own line.
	seq_map all.jsonl map
	acked=0
	for ((k = 1; k <= nprod; k++)); do
		acks_name_input "prekill$k" "in$k" map
		acked=$((acked + $(lines "prekill$k.whole")))
		for f in "ack$k".*; do
			case $f in *.whole|*.seqs|*.named|*.want) continue ;; esac
			acks_name_input "$f" "in$k" map
		done
		# The last run acknowledged every line.
		read -r st runs <"rc$k"
		[ "$(lines "ack$k.$runs")" -eq "$per" ]
	done

	# Every follower printed every event once, in order.
	for ((k = 1; k <= 10; k++)); do
		diff all.jsonl "follower$k.out"
	done
	for ((k = 1; k <= 4; k++)); do
		diff payload.jsonl "sse$k.out"
	done
	echo "# at the kill: $at_kill events stored, $acked acknowledged;" \
		"$reran producers reran" >&3
}

@test "1,000 long-polls that never read: sessd serves others at once, memory bounded" {
	# The client needs a descriptor a connection; sessd raises its own.
	if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
		ulimit -n 4096 || skip "cannot raise ulimit -n to 4096"
	fi
	sessd_start -P 60000
	port=${SESSD_URL##*:}
	run -0 http body PUT /v1/stream/s -H 'Content-Type: application/json'
	[ "$output" = 201 ]
	rss0=$(rss_kb "$SESSD_PID")
	# A small receive buffer each, so that what sessd sends them stays
	# with sessd rather than in the kernel.
	python3 - "$port" >idle.out 2>&1 3>&- <<'EOF' &
import signal, socket, sys
socks = []
for n in range(1000):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /v1/stream/s?offset=now&live=long-poll HTTP/1.1\r\n"
              b"Host: a\r\n\r\n")
    socks.append(s)
print("open", len(socks), flush=True)
signal.pause()
EOF
	idle=$!
	pids+=("$idle")
	wait_for 30 grep -q '^open 1000$' idle.out
	wait_for 30 waiting 1000
	rss1=$(rss_kb "$SESSD_PID")

	# A normal request meanwhile is served at once.
	run -0 curl -s -m 5 -o body -w '%{http_code}' "$SESSD_URL/v1/stream/s"
	[ "$output" = 200 ]
	[ "$(cat body)" = '[]' ]

	# An append answers all 1,000 with 32 kB that they never read.
	pad=$(head -c 32768 /dev/zero | tr '\0' x)
	printf '[{"pad":"%s"}]' "$pad" >big.json
	run -0 curl -s -m 5 -o body -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' --data-binary @big.json \
		"$SESSD_URL/v1/stream/s"
	[ "$output" = 204 ]
	wait_for 30 waiting 0
	rss2=$(rss_kb "$SESSD_PID")
	run -0 curl -s -m 5 -o body -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' -d '{"n":2}' \
		"$SESSD_URL/v1/stream/s"
	[ "$output" = 204 ]
	run -0 curl -s -m 5 -o body -w '%{http_code}' \
		"$SESSD_URL/v1/stream/s?offset=0000000000000001"
	[ "$output" = 200 ]
	[ "$(cat body)" = '[{"n":2}]' ]
	run -0 curl -s -m 5 -o body "$SESSD_URL/v1/stream/s?offset=-1"
	cmp body <(printf '[{"pad":"%s"},{"n":2}]' "$pad")
	rss3=$(rss_kb "$SESSD_PID")
	echo "# sessd VmRSS: ${rss0} kB at start, ${rss1} kB with 1,000" \
		"long-polls waiting, ${rss2} kB with 32 kB unread on each," \
		"${rss3} kB after" >&3
	[ "$rss2" -lt 204800 ]
	[ "$rss3" -lt 204800 ]

	# Once the client goes, so do its connections.
	kill -9 "$idle"
	wait "$idle" || :
	wait_for 30 connections 0
}
