/* status.c: the one table of library errors, HTTP statuses and the JSON error codes. */
#include <stddef.h>
#include <string.h>

#include "sess.h"

/*
 * Each row is one answer: a library error (with why, when one error has
 * several answers), the HTTP status sessd gives it, and the code in the
 * JSON body.  sessd reads it forward, lib/remote.c backward, so an error
 * reads the same through a daemon as in the embedded tools.  The first
 * row of a status is the one a body without a known code reads as.
 */
static const struct sess_status rows[] = {
	{ SESS_EINVAL, SESS_WHY_NONE, 400, "BAD_REQUEST" },
	{ SESS_EINVAL, SESS_WHY_NAME, 400, "BAD_STREAM_NAME" },
	{ SESS_EINVAL, SESS_WHY_REQUEST, 400, "INVALID_REQUEST" },
	{ SESS_EOWN, SESS_WHY_NONE, 400, "RESERVED_TYPE" },
	{ SESS_EINVAL, SESS_WHY_SUBSCRIPTION, 400, "BAD_SUBSCRIPTION" },
	{ SESS_EINVAL, SESS_WHY_WEBHOOK, 400, "WEBHOOK_URL_REJECTED" },
	{ SESS_EINVAL, SESS_WHY_AUTH, 401, "UNAUTHORIZED" },
	{ SESS_EINVAL, SESS_WHY_TOKEN, 401, "TOKEN_INVALID" },
	{ SESS_EINVAL, SESS_WHY_FORBIDDEN, 403, "FORBIDDEN" },
	{ SESS_ESTALE, SESS_WHY_NONE, 403, "PRODUCER_STALE_EPOCH" },
	{ SESS_ENOENT, SESS_WHY_NONE, 404, "NOT_FOUND" },
	{ SESS_EINVAL, SESS_WHY_METHOD, 405, "METHOD_NOT_ALLOWED" },
	{ SESS_ECONFLICT, SESS_WHY_NONE, 409, "CONFLICT" },
	{ SESS_ECONFLICT, SESS_WHY_CLOSED, 409, "STREAM_CLOSED" },
	{ SESS_EGAP, SESS_WHY_NONE, 409, "PRODUCER_SEQ_GAP" },
	{ SESS_ESTALE, SESS_WHY_FENCED, 409, "FENCED" },
	{ SESS_ECONFLICT, SESS_WHY_CONFIG, 409, "CONFIG_CONFLICT" },
	{ SESS_ENOENT, SESS_WHY_GONE, 410, "GONE" },
	{ SESS_EINVAL, SESS_WHY_SIZE, 413, "PAYLOAD_TOO_LARGE" },
	{ SESS_EINVAL, SESS_WHY_EXPECT, 417, "EXPECTATION_FAILED" },
	{ SESS_EINVAL, SESS_WHY_URI, 414, "URI_TOO_LONG" },
	{ SESS_EINVAL, SESS_WHY_UPGRADE, 426, "UPGRADE_REQUIRED" },
	{ SESS_EINVAL, SESS_WHY_HEADERS, 431, "HEADERS_TOO_LARGE" },
	{ SESS_EIO, SESS_WHY_NONE, 500, "STORE_ERROR" },
	{ SESS_ENOTSTORE, SESS_WHY_NONE, 500, "NOT_A_STORE" },
	{ SESS_EINVAL, SESS_WHY_METHODS, 501, "NOT_IMPLEMENTED" },
	{ SESS_EBUSY, SESS_WHY_NONE, 503, "STORE_BUSY" },
	{ SESS_EIO, SESS_WHY_READONLY, 503, "STORE_READ_ONLY" },
	{ SESS_ENOMEM, SESS_WHY_NONE, 503, "OUT_OF_MEMORY" },
	{ SESS_EBUSY, SESS_WHY_AGAIN, 503, "TRY_AGAIN" },
	{ SESS_EINVAL, SESS_WHY_VERSION, 505, "HTTP_VERSION" },
	{ SESS_EIO, SESS_WHY_FULL, 507, "STORE_FULL" },
};

size_t
sess_status_count(void)
{
	return sizeof(rows) / sizeof(rows[0]);
}

const struct sess_status *
sess_status_row(size_t i)
{
	return i < sess_status_count() ? &rows[i] : NULL;
}

int
sess_status_why(int code, int failure, int gone, int closed)
{
	if (code == SESS_ENOENT && gone)
		return SESS_WHY_GONE;
	if (code == SESS_ECONFLICT && closed)
		return SESS_WHY_CLOSED;
	if (failure == SESS_WRITE_FULL)
		return SESS_WHY_FULL;
	if (failure == SESS_WRITE_READONLY)
		return SESS_WHY_READONLY;
	return SESS_WHY_NONE;
}

const struct sess_status *
sess_status_of(int code, int why)
{
	size_t i;

	for (i = 0; i < sess_status_count(); i++)
		if (rows[i].code == code && rows[i].why == why)
			return &rows[i];
	for (i = 0; i < sess_status_count(); i++)
		if (rows[i].code == code && rows[i].why == SESS_WHY_NONE)
			return &rows[i];
	/* Any other code is a store error. */
	return sess_status_of(SESS_EIO, SESS_WHY_NONE);
}

const struct sess_status *
sess_status_find(int status, const char *name)
{
	size_t i;

	if (name != NULL)
		for (i = 0; i < sess_status_count(); i++)
			if (rows[i].status == status &&
			    strcmp(rows[i].name, name) == 0)
				return &rows[i];
	for (i = 0; i < sess_status_count(); i++)
		if (rows[i].status == status)
			return &rows[i];
	return NULL;
}

int
sess_status_error(int status, const char *name)
{
	const struct sess_status *s = sess_status_find(status, name);

	if (s != NULL)
		return s->code;
	if (status >= 400 && status < 500)
		return SESS_EINVAL;
	return SESS_EIO;
}
