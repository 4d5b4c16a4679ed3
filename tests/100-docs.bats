#!/usr/bin/env bats
# 100-docs: usage(), the options table, the man pages and the shell
# completions list the same options, and the man pages' examples run.
load common

setup() {
	common_setup
	export LC_ALL=C
}

# usage_letters PROG: every option letter in PROG's usage, one a line
# ("[-NqT]" gives N, q and T; "[-1hv]" gives 1, h and v; "[-d FILE]" and
# "-i FILE" give d and i).
usage_letters() {
	local u
	u=$("$1" -h) || return 1
	grep -oE '(^|[[ ])-[A-Za-z0-9]+' <<<"$u" | sed 's/^[[ ]*-//' |
	    fold -w1 | sort -u
}

# usage_arg PROG LETTER: the argument PROG's usage gives option LETTER
# ("[-d FILE | -u URL]" gives FILE for d, "[-S full|normal]" full|normal
# for S), as an extended regular expression that matches only it.
usage_arg() {
	local u
	u=$("$1" -h) || return 1
	grep -oE "(^|[[ ])-$2 [^] ]+" <<<"$u" | head -1 | sed 's/.* //' |
	    sed 's/[][\\.*^$|+?(){}]/\\&/g'
}

# page PROG: PROG's man page (man/PROG.1, or man/PROG.8 for the daemon).
page() {
	local f
	for f in "$top/man/$1".[1-9]; do
		[ -f "$f" ] && echo "$f" && return 0
	done
	echo "no man page for $1" >&2
	return 1
}

# sources PROG: PROG's C files: cmd/PROG.c and its parts in cmd/PROG/.
sources() {
	local f
	for f in "$top/cmd/$1.c" "$top/cmd/$1"/*.c; do
		[ -f "$f" ] && echo "$f"
	done
}

# getopt_letters PROG: the letters of PROG's getopt string, one a line.
getopt_letters() {
	# A leading + (stop at the first operand) is no option letter.
	sed -n 's/.*getopt_long([^"]*"\([^"]*\)".*/\1/p' "$top/cmd/$1.c" |
	    tr -d ':+' | fold -w1 | sort -u
}

# longopts PROG: "NAME LETTER ARG" for each entry of PROG's longopts
# table, ARG being 1 if the option takes an argument.
longopts() {
	sed -n '/longopts\[\] = {/,/^};/p' "$top/cmd/$1.c" |
	    sed -n "s/.*{ \"\([a-z-]*\)\", \([a-z_]*\), NULL, '\(.\)' }.*/\1 \3 \2/p" |
	    sed 's/ no_argument$/ 0/; s/ required_argument$/ 1/'
}

# rendered PAGE: the page as plain text.
rendered() {
	mandoc -Tascii "$top/man/$1" | sed 's/.\x08//g'
}

# section PAGE NAME: the rendered text of section NAME of PAGE.
section() {
	rendered "$1" | awk -v s="$2" '/^[A-Z]/ { on = ($0 == s); next } on'
}

# squeeze: whitespace runs to one space, none at either end.
squeeze() {
	tr -s ' \t\n' '   ' | sed 's/^ //; s/ $//'
}

# check_usage PROG: -h and --help print the usage on stdout and exit 0;
# a bad option prints it on stderr and exits 2.
check_usage() {
	local p=$1 want
	run --separate-stderr -0 "$p" -h
	[[ $output == "usage: $p "* ]]
	[ -z "$stderr" ]
	want=$output
	run --separate-stderr -0 "$p" --help
	[ "$output" = "$want" ]
	# Z is no option of any program.
	run -1 grep -q Z <(getopt_letters "$p")
	run --separate-stderr -2 "$p" -Z
	[ -z "$output" ]
	[[ $stderr == *"usage: $p "* ]]
	run --separate-stderr -2 "$p" --no-such-option
	[ -z "$output" ]
	[[ $stderr == *"usage: $p "* ]]
}

# check_options PROG: usage() names every getopt letter but h, and the
# longopts table gives each long option the short form of the same kind.
check_options() {
	local p=$1 name c arg
	run -0 diff <({ usage_letters "$p"; echo h; } | sort -u) \
	    <(getopt_letters "$p")
	run -0 longopts "$p"
	[ -n "$output" ]
	while read -r name c arg; do
		# An option that takes an argument has a ':' in getopt.
		run -"$((1 - arg))" grep -qF "$c:" <(sed -n \
		    's/.*getopt_long([^"]*"\([^"]*\)".*/\1/p' "$top/cmd/$p.c")
		run -0 grep -qx "$c" <(getopt_letters "$p")
	done < <(longopts "$p")
	# And every letter has a long form.
	run -0 diff <(getopt_letters "$p") \
	    <(longopts "$p" | cut -d' ' -f2 | sort -u)
}

# check_man PROG: SYNOPSIS is usage() word for word, and OPTIONS has an
# entry "-X ARG, --long=ARG" for every option and nothing else, ARG being
# the argument usage() gives the option.
check_man() {
	local p=$1 page name c arg want got letters a
	page=$(page "$p")
	[ -f "$page" ]
	run -0 mandoc -Tlint -W warning "$page"
	[ -z "$output" ]
	want=$("$p" -h | sed 's/^usage://' | squeeze)
	got=$(section "${page##*/}" SYNOPSIS | squeeze)
	echo "usage:    $want"
	echo "SYNOPSIS: $got"
	[ "$got" = "$want" ]
	letters=$(usage_letters "$p")
	[ -n "$letters" ]
	for c in $letters; do
		run -0 grep -qE "^\.(Op )?Fl [A-Za-z0-9]*$c" <(sed -n \
		    '/^\.Sh SYNOPSIS/,/^\.Sh /p' "$page")
		run -0 grep -qE "^\.It Fl $c( |$)" <(sed -n \
		    '/^\.Sh OPTIONS/,/^\.Sh /p' "$page")
	done
	while read -r name c arg; do
		if [ "$arg" = 1 ]; then
			a=$(usage_arg "$p" "$c")
			[ -n "$a" ]
			run -0 grep -qE "^\.It Fl $c Ar $a , Fl -$name Ns = Ns Ar $a$" "$page"
			# The tools' placeholders are upper case; sessd's
			# usage() has its own.
			[[ $page != *.1 ]] ||
			    run -0 grep -qE "^\.It Fl $c Ar [A-Z]+ , Fl -$name Ns = Ns Ar [A-Z]+$" "$page"
		else
			run -0 grep -qE "^\.It Fl $c , Fl -$name$" "$page"
		fi
	done < <(longopts "$p")
	# No entry for an option that does not exist.
	run -0 diff <(sed -n '/^\.Sh OPTIONS/,/^\.Sh /p' "$page" |
	    sed -n 's/^\.It Fl \(.\).*/\1/p' | sort -u) <(getopt_letters "$p")
}

# check_env PROG: ENVIRONMENT lists exactly the variables PROG reads.
check_env() {
	local p=$1 page src
	page=$(page "$p")
	mapfile -t src < <(sources "$p")
	[ "${#src[@]}" -gt 0 ]
	{
		cat "${src[@]}" | grep -oE 'getenv\("[A-Z_]+"\)' |
		    sed 's/getenv("\(.*\)")/\1/'
		grep -q 'tool_db(' "${src[@]}" && echo SESS_DB
		grep -q 'tool_sync(' "${src[@]}" && echo SESS_SYNC
		# Remote mode (lib/remote.c) sends SESS_TOKEN.
		grep -q 'tool_conn(' "${src[@]}" &&
		    printf '%s\n' SESS_DB SESS_TOKEN SESS_URL
	} | sort -u >env.src
	sed -n '/^\.Sh ENVIRONMENT/,/^\.Sh /p' "$page" |
	    sed -n 's/^\.It Ev \([A-Z_]*\).*/\1/p' | sort -u >env.man
	run -0 diff env.src env.man
}

# complete_bash PROG WORD...: what PROG's bash completion offers for the
# command line "PROG WORD...", the last word being completed.
complete_bash() {
	local p=$1
	shift
	bash -c '
		source "$1" || exit 1
		p=$2
		shift 2
		spec=$(complete -p "$p") || exit 1
		f=${spec#*-F }
		f=${f%% *}
		COMP_WORDS=("$p" "$@")
		COMP_CWORD=$#
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		"$f" "$p" "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' complete_bash "$top/completions/bash/$p" "$p" "$@"
}

# check_bash PROG: the bash completion parses, and offers every short and
# long option, files after -d (for a program that has -d).
check_bash() {
	local p=$1 c name arg letters
	[ -f "$top/completions/bash/$p" ]
	run -0 bash -n "$top/completions/bash/$p"
	run -0 grep -q "complete -F" "$top/completions/bash/$p"
	complete_bash "$p" - >offered
	echo "offered: $(squeeze <offered)"
	letters=$(usage_letters "$p")
	[ -n "$letters" ]
	for c in $letters h; do
		run -0 grep -qxe "-$c" offered
	done
	while read -r name c arg; do
		run -0 grep -qxe "--$name" offered
	done < <(longopts "$p")
	: >a-file
	grep -qx d <(getopt_letters "$p") || return 0
	run -0 complete_bash "$p" -d a-
	[ "$output" = a-file ]
	run -0 complete_bash "$p" --db = a-
	[ "$output" = a-file ]
}

# check_zsh PROG: the zsh completion parses and has a spec for every
# option, short and long form together, with an argument where one is due.
check_zsh() {
	local p=$1 f="$top/completions/zsh/_$1" name c arg letters
	[ -f "$f" ]
	run -0 grep -qx "#compdef $p" <(head -1 "$f")
	run -0 grep -q '_arguments' "$f"
	letters=$(usage_letters "$p")
	[ -n "$letters" ]
	for c in $letters h; do
		run -0 grep -qE -- "\{-$c\+?," "$f"
	done
	while read -r name c arg; do
		if [ "$arg" = 1 ]; then
			run -0 grep -qF -- "{-$c+,--$name=}'[" "$f"
		else
			run -0 grep -qF -- "{-$c,--$name}'[" "$f"
		fi
	done < <(longopts "$p")
	command -v zsh >/dev/null || skip "zsh is not installed"
	run -0 zsh -n "$f"
}

# examples PAGE: the commands ("$ " lines, continued after a trailing
# "|" or "\") of the EXAMPLES section of PAGE, as a script.
examples() {
	section "$1" EXAMPLES | awk '
		cont { print; cont = /[|\\]$/; next }
		/^ *\$ / { sub(/^ *\$ /, ""); print; cont = /[|\\]$/ }'
}

# check_examples PAGE: its examples run, in order, each exiting 0.  What
# they start in the background gets no bats descriptor 3, so a daemon left
# behind by a failing example cannot hold up the run.
check_examples() {
	examples "$1" >examples.sh
	cat examples.sh
	[ -s examples.sh ]
	run -0 timeout 60 bash -eo pipefail examples.sh 3>&-
}

@test "sess-pub: -h, --help and a bad option" {
	check_usage sess-pub
}

@test "sess-sub: -h, --help and a bad option" {
	check_usage sess-sub
}

@test "sess-replay: -h, --help and a bad option" {
	check_usage sess-replay
}

@test "sess-notify: -h, --help and a bad option" {
	check_usage sess-notify
}

@test "sessd: -h, --help and a bad option" {
	check_usage sessd
}

@test "sess-token: -h, --help and a bad option" {
	check_usage sess-token
}

@test "sess-pub: usage, getopt and longopts agree" {
	check_options sess-pub
}

@test "sess-sub: usage, getopt and longopts agree" {
	check_options sess-sub
}

@test "sess-replay: usage, getopt and longopts agree" {
	check_options sess-replay
}

@test "sess-notify: usage, getopt and longopts agree" {
	check_options sess-notify
}

@test "sessd: usage, getopt and longopts agree" {
	check_options sessd
}

@test "sess-token: usage, getopt and longopts agree" {
	check_options sess-token
}

@test "sess-pub.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-pub
}

@test "sess-sub.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-sub
}

@test "sess-replay.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-replay
}

@test "sess-token.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-token
	for s in DESCRIPTION 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
		run -0 grep -qx "\.Sh $s" "$top/man/sess-token.1"
	done
}

@test "sess-notify.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-notify
}

@test "sessd.8: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sessd
	# The daemon's page is in section 8, and only there.
	[ "$(page sessd)" = "$top/man/sessd.8" ]
	run -0 grep -qx '\.Dt SESSD 8' "$top/man/sessd.8"
	for s in DESCRIPTION ENVIRONMENT FILES 'EXIT STATUS' EXAMPLES \
	    'SEE ALSO' CAVEATS; do
		run -0 grep -qx "\.Sh $s" "$top/man/sessd.8"
	done
}

@test "sess-pub.1: ENVIRONMENT lists what sess-pub reads" {
	check_env sess-pub
}

@test "sess-sub.1: ENVIRONMENT lists what sess-sub reads" {
	check_env sess-sub
}

@test "sess-replay.1: ENVIRONMENT lists what sess-replay reads" {
	check_env sess-replay
}

@test "sess-notify.1: ENVIRONMENT lists what sess-notify reads" {
	check_env sess-notify
}

@test "sessd.8: ENVIRONMENT lists what sessd reads" {
	check_env sessd
}

@test "sess-token.1: ENVIRONMENT lists what sess-token reads" {
	check_env sess-token
}

@test "sess-pub: bash completion offers every option" {
	check_bash sess-pub
	run -0 complete_bash sess-pub -S ''
	[ "$(squeeze <<<"$output")" = "full normal" ]
	run -0 complete_bash sess-pub --sync = n
	[ "$output" = normal ]
}

@test "sess-sub: bash completion offers every option" {
	check_bash sess-sub
	run -0 complete_bash sess-sub -o ''
	[ "$(squeeze <<<"$output")" = "-1 now" ]
	run -0 complete_bash sess-sub --offset = n
	[ "$output" = now ]
}

@test "sess-notify: bash completion offers every option" {
	check_bash sess-notify
	run -0 complete_bash sess-notify -r bob ''
	[ "$(squeeze <<<"$output")" = "webhook ntfy email webpush stdout" ]
	run -0 complete_bash sess-notify --remove = bob w
	[ "$(squeeze <<<"$output")" = "webhook webpush" ]
}

@test "sess-replay: bash completion offers every option" {
	check_bash sess-replay
	: >rec.jsonl
	run -0 complete_bash sess-replay -i rec
	[ "$output" = rec.jsonl ]
}

@test "sessd: bash completion offers every option" {
	check_bash sessd
	run -0 complete_bash sessd -S ''
	[ "$(squeeze <<<"$output")" = "full normal" ]
	run -0 complete_bash sessd --sync = n
	[ "$output" = normal ]
	# No operands: an empty word is offered the options.
	run -0 complete_bash sessd ''
	[[ $output == *--listen* ]]
}

@test "sess-token: bash completion offers every option" {
	check_bash sess-token
	: >a.key
	run -0 complete_bash sess-token -k a.
	[ "$output" = a.key ]
	run -0 complete_bash sess-token --generate = a.
	[ "$output" = a.key ]
	run -0 complete_bash sess-token -e 1
	[ "$(squeeze <<<"$output")" = "15m 1h 1d" ]
	# A pattern is the user's own: nothing is offered.
	run -0 complete_bash sess-token -r ''
	[ -z "$output" ]
}

@test "sessd: bash completion offers key files after -k" {
	: >a.key
	run -0 complete_bash sessd -k a.
	[ "$output" = a.key ]
	run -0 complete_bash sessd --key = a.
	[ "$output" = a.key ]
}

@test "sess-pub: zsh completion has every option" {
	check_zsh sess-pub
	run -0 grep -qF ":mode:(full normal)'" "$top/completions/zsh/_sess-pub"
}

@test "sess-sub: zsh completion has every option" {
	check_zsh sess-sub
	run -0 grep -qF ":offset:(-1 now)'" "$top/completions/zsh/_sess-sub"
}

@test "sess-replay: zsh completion has every option" {
	check_zsh sess-replay
}

@test "sess-token: zsh completion has every option" {
	check_zsh sess-token
	run -0 grep -qF ":key file:_files'" "$top/completions/zsh/_sess-token"
}

@test "sess-notify: zsh completion has every option" {
	check_zsh sess-notify
	run -0 grep -qF ":kind:(webhook ntfy email webpush stdout)'" "$top/completions/zsh/_sess-notify"
}

@test "sessd: zsh completion has every option" {
	check_zsh sessd
	run -0 grep -qF ":mode:(full normal)'" "$top/completions/zsh/_sessd"
}

@test "section 7 pages lint clean and cover every program" {
	local page p
	for page in sess.7 sess-event.7; do
		run -0 mandoc -Tlint -W warning "$top/man/$page"
		[ -z "$output" ]
	done
	for p in sess-pub sess-sub sess-replay sess-presence sess-notify sess-token; do
		run -0 grep -qx "\.It Xr $p 1" "$top/man/sess.7"
	done
	run -0 grep -qx '\.It Xr sessd 8' "$top/man/sess.7"
	run -0 grep -qx '\.Sh EXIT STATUS' "$top/man/sess.7"
	for page in sess.7 sess-pub.1 sess-sub.1 sess-replay.1 sess-presence.1 \
	    sess-notify.1 sess-token.1 sessd.8; do
		run -0 section "$page" 'EXIT STATUS'
		[[ $output == *111* ]]
	done
}

@test "sess-pub.1 examples run" {
	check_examples sess-pub.1
}

@test "sess-sub.1 examples run" {
	check_examples sess-sub.1
}

@test "sess-replay.1 examples run" {
	check_examples sess-replay.1
}

@test "sess-token.1 examples run" {
	check_examples sess-token.1
}

@test "sess-notify.1 examples run" {
	check_examples sess-notify.1
	run -0 grep -c '"channel":"stdout"' notified.jsonl
	[ "$output" = 1 ]
}

@test "sessd.8 examples run" {
	check_examples sessd.8
}

@test "sess.7 examples run" {
	check_examples sess.7
}

@test "sess-event.7 examples run" {
	check_examples sess-event.7
}

@test "sess-presence: -h, --help and a bad option" {
	check_usage sess-presence
}

@test "sess-presence: usage, getopt and longopts agree" {
	check_options sess-presence
}

@test "sess-presence.1: SYNOPSIS is usage(), OPTIONS lists every option" {
	check_man sess-presence
}

@test "sess-presence.1: ENVIRONMENT lists what sess-presence reads" {
	check_env sess-presence
}

@test "sess-presence: bash completion offers every option" {
	check_bash sess-presence
	run -0 complete_bash sess-presence -o ''
	[ "$output" = "-1" ]
}

@test "sess-presence: zsh completion has every option" {
	check_zsh sess-presence
}

@test "sess-presence.1 examples run" {
	check_examples sess-presence.1
}
