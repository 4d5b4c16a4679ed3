/* unit.h: a minimal TAP harness for the C unit tests. */
#ifndef SESS_UNIT_H
#define SESS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_n, unit_failed;

#define ok(cond, ...) unit_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static void
unit_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>

static void
unit_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++unit_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		printf("#   at %s:%d\n", file, line);
		unit_failed++;
	}
	fflush(stdout);
}

static int
unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}

/* A fresh temporary directory for store files. */
__attribute__((unused)) static char *
unit_tmpdir(void)
{
	static char dir[] = "/tmp/sess-unit-XXXXXX";

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(111);
	}
	return dir;
}

#endif
