# sessd-crash.bash: helpers for the suites that kill sessd or take its
# disk away while clients are running.  Load after common.bash, sessd.bash
# and helpers/proc.bash; background pids go in $pids (kill_clients).

# kill_clients: teardown: kills what the test started in the background
# (pids in $pids) and the children of each, then reaps just those, so
# that the test's sessd, still running, is left to sessd_stop.
kill_clients() {
	local p
	for p in "${pids[@]}"; do
		pkill -9 -P "$p" 2>/dev/null || :
		kill -9 "$p" 2>/dev/null || :
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || :
	done
}

# reachable: the test's sessd answers (1 s at most).
reachable() {
	curl -s -o /dev/null -m 1 "$SESSD_URL/v1/metrics"
}

# stored: the number of events in the test's store, read from the file.
stored() {
	sqlite3 "$SESS_DB" 'SELECT count(*) FROM events'
}

# stored_at_least N: the store holds at least N events.
stored_at_least() {
	local n
	n=$(stored) || return 1
	[ "$n" -ge "$1" ]
}

# waiting N: sessd's metrics say N readers wait for events.
waiting() {
	[ "$(curl -s -m 2 "$SESSD_URL/v1/metrics" | sed -n \
		's/.*"waiting":\([0-9]*\).*/\1/p')" = "$1" ]
}

# connections N: sessd's metrics say N connections are open besides the
# one asking.
connections() {
	[ "$(curl -s -m 2 "$SESSD_URL/v1/metrics" | sed -n \
		's/.*"connections":\([0-9]*\).*/\1/p')" = $(($1 + 1)) ]
}

# rss_kb PID: the resident set of PID in kB.
rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"
}

# all_exited PID...: none of the PIDs (children of the test, which bash
# reaps by itself) is running; with wait_for, to wait for them all
# within one bound.
all_exited() {
	local p
	for p in "$@"; do
		if kill -0 "$p" 2>/dev/null; then
			return 1
		fi
	done
}

# exited_with PID STATUS: PID (a child of the test) exited with STATUS.
exited_with() {
	local st=0
	wait "$1" || st=$?
	if [ "$st" != "$2" ]; then
		echo "pid $1 exited $st, want $2" >&2
		return 1
	fi
}

# producer K: runs `sess-pub -u $SESSD_URL -p prodK -e 1 s` on inK.  The
# first run gets its input a line every 50 ms, so that a kill of sessd
# lands mid-input; a run that fails with 111 is run again on the whole
# input once sessd answers again, up to 50 runs.  Run n's stdout goes to
# ackK.n and its stderr to errK.n; "STATUS RUNS" of the last run to rcK.
# Run it in the background: it drops bats' DEBUG trap, which would make
# the pacing loop crawl.
producer() {
	local k=$1 n=1 st=0
	trap - DEBUG
	sess-pub -u "$SESSD_URL" -p "prod$k" -e 1 s \
		< <(trickle 1 0.05 <"in$k") >"ack$k.1" 2>"err$k.1" || st=$?
	while [ "$st" -eq 111 ] && [ "$n" -lt 50 ]; do
		wait_for 60 reachable || break
		n=$((n + 1))
		st=0
		sess-pub -u "$SESSD_URL" -p "prod$k" -e 1 s <"in$k" \
			>"ack$k.$n" 2>"err$k.$n" || st=$?
	done
	echo "$st $n" >"rc$k"
}

# ack_seqs FILE: the seq of each whole sess-pub acknowledgement line of
# FILE; any other line is copied as it is, so that a comparison shows it.
ack_seqs() {
	sed 's/^{"offset":"[0-9]\{16\}","seq":\([0-9]*\)\(,"duplicate":true\)\{0,1\}}$/\1/' "$1"
}

# seq_map ALL MAP: writes to MAP "SEQ DATA", a line for each event of
# ALL (sess-sub output of a whole stream), for acks_name_input.
seq_map() {
	seqs_of "$1" >"$2.seqs"
	data_of "$1" >"$2.data"
	paste -d ' ' "$2.seqs" "$2.data" >"$2"
}

# acks_name_input ACKS INPUT MAP: the acknowledgements in file ACKS are
# for the first lines of INPUT, in order: the event each one names is,
# in MAP (from seq_map), line j of INPUT.  A last line without its
# newline (output cut by a kill) is left out.
acks_name_input() {
	local acks=$1 input=$2 map=$3 k
	k=$(lines "$acks")
	head -n "$k" "$acks" >"$acks.whole"
	ack_seqs "$acks.whole" >"$acks.seqs"
	awk 'NR == FNR { d[$1] = substr($0, length($1) + 2); next }
	     { print (($1 in d) ? d[$1] : "no event with seq " $1) }' \
		"$map" "$acks.seqs" >"$acks.named"
	head -n "$k" "$input" >"$acks.want"
	diff "$acks.want" "$acks.named"
}

# sse_follower PORT STREAM COUNT OUT: a Durable Streams SSE reader of its
# own (python3, the protocol as documented, no sess code), in the
# background with its pid in $bg.  It writes each event's value to OUT, a
# line each, once the control event after it has come; when the
# connection ends it reconnects (backoff 0.1 s to 1 s) from the last
# control event's streamNextOffset.  Exits 0 after COUNT events, 1 after
# 120 s, 2 if COUNT were passed (a duplicate).
sse_follower() {
	python3 - "$@" >"$4.log" 2>&1 3>&- <<'EOF' &
import http.client, json, sys, time
port, stream, count, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
f = open(out, "w")
offset, printed, backoff, connects = "-1", 0, 0.1, 0
deadline = time.time() + 120
while printed < count and time.time() < deadline:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/stream/%s?offset=%s&live=sse" % (stream, offset))
        r = conn.getresponse()
        connects += 1
        if r.status != 200:
            raise OSError("status %d" % r.status)
        kind, data, pending = None, [], []
        while printed < count:
            line = r.readline()
            if not line:
                raise OSError("end of response")
            line = line.decode().rstrip("\r\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:])
            elif line == "" and data:
                body = json.loads("\n".join(data))
                if kind == "data":
                    pending.extend(body)
                elif kind == "control":
                    for v in pending:
                        f.write(json.dumps(v, separators=(",", ":")) + "\n")
                    printed += len(pending)
                    f.flush()
                    pending = []
                    offset = body["streamNextOffset"]
                    backoff = 0.1
                kind, data = None, []
        conn.close()
    except (OSError, http.client.HTTPException) as e:
        print("reconnecting after:", e, flush=True)
        time.sleep(backoff)
        backoff = min(backoff * 2, 1.0)
print("connections:", connects, "events:", printed, flush=True)
sys.exit(0 if printed == count else 2 if printed > count else 1)
EOF
	bg=$!
	pids+=("$bg")
}
