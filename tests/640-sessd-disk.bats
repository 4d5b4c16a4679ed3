#!/usr/bin/env bats
# 640-sessd-disk: a full disk or a read-only store under sessd: POST
# fails with 507 or 503 and a JSON body that says why, GETs keep working,
# nothing acknowledged is lost, and writes work again once they can.
# The store goes on a file system of the test's own (a small tmpfs, or
# an ext4 on a loop device), so these tests need root and skip elsewhere;
# the last, a store file sessd may not write, runs anywhere (as root,
# with sessd run as nobody).  A remount read-only under a running sessd
# is refused by Linux (EBUSY: its files are open for writing), so the
# file system fails under it instead (ext4, errors=remount-ro), or is
# read-only before it starts.

load common
load sessd
load helpers/proc
load helpers/store
load helpers/sessd-crash
load helpers/sessd-disk

setup() {
	common_setup
	pids=()
	SESSD_PID=
	mounted=
	made=
}

# The daemon must stop cleanly (exit 0) before its disk goes.
teardown() {
	local st=0
	kill_clients
	sessd_stop || st=$?
	unmount_disk
	return "$st"
}

# json_array FILE: the JSON values of FILE, one a line, as one array.
json_array() {
	printf '['
	paste -s -d , "$1" | tr -d '\n'
	printf ']'
}

# reads_back FILE: GET and sess-sub -u both return exactly the values of
# FILE (the acknowledged ones) from stream s.
reads_back() {
	local code
	code=$(curl -s -m 10 -o got.json -w '%{http_code}' \
		"$SESSD_URL/v1/stream/s?offset=-1")
	[ "$code" = 200 ] || { echo "GET: $code $(cat got.json)" >&2; return 1; }
	json_array "$1" >want.json
	cmp want.json got.json
	if ! sess-sub -u "$SESSD_URL" -P s >remote.jsonl 2>remote.err; then
		echo "sess-sub -u: $(cat remote.err)" >&2
		return 1
	fi
	diff "$1" remote.jsonl
}

@test "disk full: POST 507 with a JSON body, GETs return every ack, room again: appends work, no restart" {
	mount_tmpfs size=4m
	SESS_DB=$mnt/sess.db
	sessd_start
	run -0 http body PUT /v1/stream/s -H 'Content-Type: application/json'
	[ "$output" = 201 ]
	fill_disk 128K

	# 1 kB events until the disk is full.
	pad=$(head -c 1000 /dev/zero | tr '\0' x)
	: >acked.jsonl
	full=
	for ((n = 1; n <= 2000; n++)); do
		ev="{\"n\":$n,\"pad\":\"$pad\"}"
		run -0 post body "$ev"
		case $output in
		200|204) printf '%s\n' "$ev" >>acked.jsonl ;;
		*) full=$output; break ;;
		esac
	done
	[ "$full" = 507 ] || { echo "got ${full:-no failure}: $(cat body)"; false; }
	error_body body STORE_FULL full
	[ "$(lines acked.jsonl)" -gt 0 ]

	# Still full: appends keep failing alike, sess-pub -u says why.
	run -0 post body '{"small":1}'
	[ "$output" = 507 ]
	error_body body STORE_FULL full
	run -111 --separate-stderr sess-pub -u "$SESSD_URL" s '{"small":2}'
	[ -z "$output" ]
	[[ $stderr == "sess-pub: "*"507"*"full"* ]]
	# GETs work, and return every acknowledged event and nothing else.
	reads_back acked.jsonl

	# Room again: appends work at once, from the same sessd.
	pid=$SESSD_PID
	rm "$mnt/fill"
	run -0 post body '{"after":1}'
	[ "$output" = 204 ]
	run -0 sess-pub -u "$SESSD_URL" -q s '{"after":2}'
	printf '%s\n' '{"after":1}' '{"after":2}' >>acked.jsonl
	reads_back acked.jsonl
	[ "$SESSD_PID" = "$pid" ]
	kill -0 "$pid"

	# And the file holds exactly that, after a clean stop.
	sessd_stop
	run -0 to_file file.jsonl sess-sub -d "$SESS_DB" -P s
	diff acked.jsonl file.jsonl
	consistent s
	echo "# $(($(lines acked.jsonl) - 2)) events of 1 kB acknowledged" \
		"before the disk was full" >&3
}

@test "the store's file system turns read-only under sessd: POST 503, GETs work, nothing acked lost" {
	mount_ext4 16M
	trigger=/sys/fs/ext4/$dev/trigger_fs_error
	[ -w "$trigger" ] || skip "no $trigger to make the file system fail"
	SESS_DB=$mnt/sess.db
	sessd_start
	run -0 sess-pub -u "$SESSD_URL" -q s '{"n":1}' '{"n":2}' '{"n":3}'
	printf '%s\n' '{"n":1}' '{"n":2}' '{"n":3}' >acked.jsonl

	# An error, and the kernel remounts it read-only (errors=remount-ro)
	# with sessd's files open: what a failing disk does.
	echo "640-sessd-disk: the store goes read-only" >"$trigger"
	wait_for 5 read_only "$mnt"
	run -0 post body '{"n":4}'
	[ "$output" = 503 ] || { echo "got $output: $(cat body)"; false; }
	error_body body STORE_READ_ONLY
	run -111 --separate-stderr sess-pub -u "$SESSD_URL" s '{"n":5}'
	[ -z "$output" ]
	[[ $stderr == "sess-pub: "*"503"* ]]
	reads_back acked.jsonl

	# Repaired and writable again: everything acknowledged is there, and
	# writes work.
	sessd_stop
	remount_ext4
	run -0 to_file file.jsonl sess-sub -d "$SESS_DB" -P s
	diff acked.jsonl file.jsonl
	consistent s
	sessd_start
	run -0 post body '{"n":6}'
	[ "$output" = 204 ]
	echo '{"n":6}' >>acked.jsonl
	reads_back acked.jsonl
}

@test "a store on a read-only mount: sessd serves GETs, POST 503; remounted rw: writes work, no restart" {
	mount_tmpfs size=4m
	SESS_DB=$mnt/sess.db
	run -0 sess-pub -q s '{"n":1}' '{"n":2}'
	printf '%s\n' '{"n":1}' '{"n":2}' >acked.jsonl
	# (A remount with sessd's files open for writing is refused: EBUSY.)
	run -0 mount -o remount,ro "$mnt"
	sessd_start
	reads_back acked.jsonl
	run -0 post body '{"n":3}'
	[ "$output" = 503 ] || { echo "got $output: $(cat body)"; false; }
	error_body body STORE_READ_ONLY
	run -111 --separate-stderr sess-pub -u "$SESSD_URL" s '{"n":4}'
	[[ $stderr == "sess-pub: "*"503"* ]]
	reads_back acked.jsonl

	run -0 mount -o remount,rw "$mnt"
	run -0 post body '{"n":5}'
	[ "$output" = 204 ] || { echo "got $output: $(cat body)"; false; }
	echo '{"n":5}' >>acked.jsonl
	reads_back acked.jsonl
	sessd_stop
	run -0 to_file file.jsonl sess-sub -d "$SESS_DB" -P s
	diff acked.jsonl file.jsonl
	consistent s
}

@test "a store file sessd may not write: GETs work, POST 503; made writable: writes work, no restart" {
	run -0 sess-pub -q s '{"n":1}' '{"n":2}'
	printf '%s\n' '{"n":1}' '{"n":2}' >acked.jsonl
	if [ "$(id -u)" = 0 ]; then
		# Root writes any file: sessd runs as nobody, on a store of
		# root's in a directory where anyone may create files.
		command -v setpriv >/dev/null || skip "no setpriv to run sessd as nobody"
		mount_tmpfs size=4m,mode=1777 outside
		cp "$SESS_DB" "$mnt/sess.db"
		SESS_DB=$mnt/sess.db
		real=$(command -v sessd)
		sessd() {
			exec setpriv --reuid=65534 --regid=65534 --clear-groups \
				"$real" "$@"
		}
	else
		chmod a-w "$SESS_DB"
	fi
	sessd_start
	reads_back acked.jsonl
	run -0 post body '{"n":3}'
	[ "$output" = 503 ] || { echo "got $output: $(cat body)"; false; }
	error_body body STORE_READ_ONLY
	run -111 --separate-stderr sess-pub -u "$SESSD_URL" s '{"n":4}'
	[[ $stderr == "sess-pub: "*"503"* ]]
	reads_back acked.jsonl

	chmod a+w "$SESS_DB"
	run -0 post body '{"n":5}'
	[ "$output" = 204 ] || { echo "got $output: $(cat body)"; false; }
	echo '{"n":5}' >>acked.jsonl
	reads_back acked.jsonl
	sessd_stop
	run -0 to_file file.jsonl sess-sub -d "$SESS_DB" -P s
	diff acked.jsonl file.jsonl
	consistent s
}
