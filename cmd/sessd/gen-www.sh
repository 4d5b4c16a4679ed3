#!/bin/sh
# gen-www.sh FILE...: writes, on stdout, the C source of www_files[] (see
# sessd-www.c) holding FILEs: index.html is served as "/", any other
# file as "/" and its name.  POSIX sh and od only, so that nothing but
# the C toolchain is needed to build.
set -eu
echo '/* www.c: the files of cmd/sessd/www, written by gen-www.sh. */'
echo '#include "sessd.h"'
i=0
for f in "$@"; do
	echo "static const unsigned char f$i[] = {"
	od -An -v -tx1 "$f" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
	echo '0 };'
	i=$((i + 1))
done
echo 'const struct www_file www_files[] = {'
i=0
for f in "$@"; do
	name=${f##*/}
	case $name in
	index.html) path=/ ;;
	*) path=/$name ;;
	esac
	case $name in
	*.html) type='text/html; charset=utf-8' ;;
	*.css) type='text/css; charset=utf-8' ;;
	*.js | *.mjs) type='text/javascript; charset=utf-8' ;;
	*.svg) type='image/svg+xml' ;;
	*) type='text/plain; charset=utf-8' ;;
	esac
	echo "	{ \"$path\", \"$type\", f$i, sizeof(f$i) - 1 },"
	i=$((i + 1))
done
echo '};'
echo "const size_t www_nfiles = $i;"
echo "_Static_assert($i <= WWW_FILES_MAX, \"too many files in www\");"
