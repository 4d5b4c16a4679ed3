#!/usr/bin/env bats
# The README's examples run as written.
load common

setup() {
	common_setup
}

# The ```sh blocks of the "## Examples" section, in order.
examples() {
	awk '/^## /{ex = ($0 == "## Examples")} ex && /^```sh$/{on=1; next}
	    on && /^```$/{on=0; print "#--"; next} on' "$top/README.md"
}

@test "README examples run and print what they say" {
	examples >examples.sh
	[ -s examples.sh ]
	run -0 timeout 60 bash -eo pipefail examples.sh
	# Spot checks of what the comments promise.
	[[ $output == *'"run":"r1"'* ]]
	[[ $output == *'"text":"The answer\nis 42.\n","status":"complete"'* ]]
	[[ $output == *$'\n5\n'* ]]
	[[ $output == *"1 2 3 4 5 6 7 8"* ]]
	[[ $output == *'"data":{"n":4}'* ]]
	[[ $output == *consistent* ]]
	[[ $output == *'"sub":"alice"'* ]]
	[[ $output == *'HTTP 403: the token does not allow write on chat/bob/run-1'* ]]
	[[ $output == *'exit 2'* ]]
	[[ $output == *'{"error":{"code":"UNAUTHORIZED"'* ]]
	[[ $output == *'[{"type":"run.start"}]'* ]]
	[[ $output == *"nobody watching"* ]]
	[[ $output == *"alice is here"* ]]
	[[ $output == *'"member":"alice","offset":"0000000000000004","unread":1}'* ]]
	[[ $output == *'{"type":"notify.sent","offset":"0000000000000001","member":"bob","channel":"stdout","attempts":1}'* ]]
	run -0 grep -c '"n":' seen.jsonl
	[ "$output" = 3 ]
}

@test "README shows the two commands" {
	run -0 grep -F 'make run' "$top/README.md"
	run -0 grep -F 'make check' "$top/README.md"
}
