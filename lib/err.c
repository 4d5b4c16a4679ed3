/* err.c: the error buffer and the shared exit statuses. */
#include <stdarg.h>
#include <stdio.h>

#include "sess.h"

int
sess_err_set(struct sess_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	e->failure = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
sess_err_exit(int code)
{
	switch (code) {
	case 0:
		return 0;
	case SESS_ENOENT:
		return 1;
	case SESS_EINVAL:
	case SESS_ESTALE:
	case SESS_EGAP:
	case SESS_ECONFLICT:
	case SESS_ENOTSTORE:
	case SESS_EOWN:
		return 2;
	default:
		return 111;
	}
}
