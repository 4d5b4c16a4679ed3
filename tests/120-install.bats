#!/usr/bin/env bats
# make install puts programs, man pages and completions where asked.
load common

setup() {
	common_setup
}

@test "make install DESTDIR PREFIX installs everything" {
	run -0 make -C "$top" -s install DESTDIR="$BATS_TEST_TMPDIR/root" \
	    PREFIX=/opt/sess BUILD="${BUILD:-build}"
	r=$BATS_TEST_TMPDIR/root/opt/sess
	for p in sess-pub sess-sub sess-replay sess-presence sess-notify sess-token; do
		[ -x "$r/bin/$p" ]
		[ -f "$r/share/man/man1/$p.1" ]
		[ -f "$r/share/bash-completion/completions/$p" ]
		[ -f "$r/share/zsh/vendor-completions/_$p" ]
	done
	[ -f "$r/share/man/man7/sess.7" ]
	[ -f "$r/share/man/man7/sess-event.7" ]
	run -0 "$r/bin/sess-pub" -h
	[[ $output == usage:* ]]
}
