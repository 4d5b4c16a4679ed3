/* tool.c: program glue shared by the sess tools (stdout, errors, store). */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

int
tool_init(void)
{
	int fd, closed = 0;

	signal(SIGPIPE, SIG_IGN);
	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (fd == 1)
			closed = 1;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			err(EXIT_TEMP, "cannot hold descriptor %d", fd);
	}
	return closed ? -1 : 0;
}

const char *
tool_db(const char *opt)
{
	const char *p;

	if (opt != NULL)
		return opt;
	if ((p = getenv("SESS_DB")) != NULL && *p != '\0')
		return p;
	return "sess.db";
}

int
tool_sync(const char *opt)
{
	const char *mode = opt ? opt : getenv("SESS_SYNC");
	int f = sess_sync_flags(mode);

	if (f < 0)
		errx(EXIT_USAGE, "%s: unknown sync mode '%s' (full or normal)",
		    opt ? "-S" : "SESS_SYNC", mode);
	return f;
}

void
tool_die(const struct sess_err *e)
{
	errx(sess_err_exit(e->code), "%s", e->msg);
}

struct sess_store *
tool_open(const char *path, int flags)
{
	struct sess_store *st;
	struct sess_err e;

	if ((st = sess_store_open(path, flags, &e)) == NULL)
		tool_die(&e);
	return st;
}

struct sess_conn *
tool_conn(const char *db, const char *url, int flags)
{
	struct sess_conn *c;
	struct sess_err e;

	/* -d and -u are alternatives; SESS_URL is the default of neither. */
	if (db != NULL && url != NULL)
		errx(EXIT_USAGE, "-d and -u are alternatives: give one");
	if (url == NULL && db == NULL && (url = getenv("SESS_URL")) != NULL &&
	    *url == '\0')
		url = NULL;
	if ((c = sess_conn_open(tool_db(db), url, flags, &e)) == NULL)
		tool_die(&e);
	return c;
}

static int broken;

int
tool_write(const void *p, size_t n)
{
	if (broken)
		return -1;
	if (fwrite(p, 1, n, stdout) == n)
		return 0;
	return tool_flush();
}

int
tool_flush(void)
{
	if (broken)
		return -1;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	if (errno == EPIPE) {
		broken = 1;
		return -1;
	}
	err(EXIT_TEMP, "stdout");
}

int
tool_finish(int status)
{
	if (tool_flush() != 0)
		return status;
	if (fclose(stdout) != 0 && errno != EPIPE)
		err(EXIT_TEMP, "stdout");
	return status;
}

long long
tool_num(const char *s, long long max)
{
	long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

char *
tool_json_string(const char *s)
{
	json_t *v = json_string(s);
	char *p = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (p == NULL)
		errx(EXIT_USAGE, "'%s' is not UTF-8", s);
	return p;
}
