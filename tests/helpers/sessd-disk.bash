# sessd-disk.bash: a small file system of the test's own for its store,
# to fill up or to make read-only under sessd.  Load after common.bash and
# sessd.bash.  The mount point is $mnt; unmount_disk (teardown, after
# sessd_stop) takes it away again.

# mount_tmpfs OPTIONS [outside]: mounts a tmpfs with OPTIONS (size=4m) at
# $mnt, or skips the test if this machine does not let us (not root, no
# CAP_SYS_ADMIN).  With "outside", $mnt is a new directory of /tmp rather
# than of the test's own (which other users may not enter), and
# unmount_disk removes it.
mount_tmpfs() {
	if [ "${2:-}" = outside ]; then
		mnt=$(mktemp -d /tmp/sessd-disk.XXXXXX)
		chmod 755 "$mnt"
		made=$mnt
	else
		mnt=$BATS_TEST_TMPDIR/mnt
		mkdir -p "$mnt"
	fi
	if ! mount -t tmpfs -o "$1" tmpfs "$mnt" 2>mount.err; then
		skip "cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): $(cat mount.err)"
	fi
	mounted=1
}

# read_only DIR: nothing can be created in DIR (as root too).
read_only() {
	if touch "$1/.probe" 2>/dev/null; then
		rm -f "$1/.probe"
		return 1
	fi
}

# mount_ext4 SIZE: mounts a fresh ext4 of SIZE, in a file on a loop
# device, at $mnt with errors=remount-ro; sets dev (loop0, ...), or skips
# the test if this machine does not let us.
mount_ext4() {
	mnt=$BATS_TEST_TMPDIR/mnt
	mkdir -p "$mnt"
	command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"
	truncate -s "$1" "$BATS_TEST_TMPDIR/ext4.img"
	mkfs.ext4 -q -F "$BATS_TEST_TMPDIR/ext4.img" >mount.err 2>&1 ||
		skip "mkfs.ext4 failed: $(cat mount.err)"
	if ! mount -o loop,errors=remount-ro "$BATS_TEST_TMPDIR/ext4.img" \
		"$mnt" 2>mount.err; then
		skip "cannot loop-mount a file system here (needs root, loop devices): $(cat mount.err)"
	fi
	mounted=1
	dev=$(findmnt -n -o SOURCE "$mnt")
	dev=${dev#/dev/}
}

# remount_ext4: unmounts the ext4 at $mnt, repairs it (a forced fsck, as
# after an error) and mounts it again, writable.
remount_ext4() {
	umount "$mnt"
	mounted=
	local st=0
	e2fsck -fy "$BATS_TEST_TMPDIR/ext4.img" >fsck.out 2>&1 || st=$?
	# 0: clean; 1: errors corrected (the recorded error is one).
	if [ "$st" -gt 1 ]; then
		cat fsck.out >&2
		return 1
	fi
	mount -o loop,errors=remount-ro "$BATS_TEST_TMPDIR/ext4.img" "$mnt"
	mounted=1
}

# unmount_disk: unmounts $mnt if the test mounted it (lazily if something
# still holds it, so that the next test is not left a busy mount).
unmount_disk() {
	if [ -n "${mounted:-}" ]; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
		mounted=
	fi
	if [ -n "${made:-}" ]; then
		rmdir "$made"
		made=
	fi
}

# fill_disk ROOM: fills $mnt with the file $mnt/fill, then frees ROOM
# bytes of it again.
fill_disk() {
	dd if=/dev/zero of="$mnt/fill" bs=64k >dd.out 2>&1 || :
	grep -q 'No space left on device' dd.out
	truncate -s "-$1" "$mnt/fill"
}

# post FILE BODY: POSTs the JSON BODY to stream s of the test's sessd;
# the status goes to stdout, the response body to FILE.
post() {
	curl -s -m 10 -o "$1" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' --data-binary "$2" \
		"$SESSD_URL/v1/stream/s"
}

# error_body FILE CODE [WORD]: FILE is a JSON error body with the error
# code CODE and a message that is not empty and contains WORD
# (case-insensitive) if given.
error_body() {
	local got msg word=${3:-}
	got=$(sqlite3 :memory: "SELECT json_extract(b, '\$.error.code') || ' ' || json_extract(b, '\$.error.message') FROM (SELECT CAST(readfile('$1') AS TEXT) AS b) WHERE json_valid(b)")
	msg=${got#* }
	if [ "${got%% *}" != "$2" ] || [ -z "$msg" ] || [ "$msg" = "$got" ] ||
		[[ ${msg,,} != *"${word,,}"* ]]; then
		echo "error body: $(cat "$1")" >&2
		echo "want code $2 and a message with '$word'" >&2
		return 1
	fi
}
