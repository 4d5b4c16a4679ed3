/* test-status.c: the error table, walked in both directions. */
#include "sess.h"
#include "unit.h"

static void
every_row(void)
{
	const struct sess_status *r, *s;
	size_t i, j;

	for (i = 0; (r = sess_status_row(i)) != NULL; i++) {
		ok(sess_status_of(r->code, r->why) == r,
		    "%s: its error and why give its row", r->name);
		ok(sess_status_find(r->status, r->name) == r,
		    "%d %s: its answer gives its row", r->status, r->name);
		ok(sess_status_error(r->status, r->name) == r->code,
		    "%d %s reads back as error %d", r->status, r->name,
		    r->code);
		for (j = i + 1; (s = sess_status_row(j)) != NULL; j++)
			if (strcmp(r->name, s->name) == 0 ||
			    (r->code == s->code && r->why == s->why))
				break;
		ok(s == NULL, "%s: the only row of its name and its error",
		    r->name);
	}
	ok(i == sess_status_count(), "%zu rows", i);
}

static void
every_code(void)
{
	static const int codes[] = { SESS_EINVAL, SESS_ENOENT, SESS_ESTALE,
	    SESS_EGAP, SESS_ECONFLICT, SESS_ENOTSTORE, SESS_EBUSY, SESS_EIO,
	    SESS_ENOMEM, SESS_EOWN };
	const struct sess_status *r;
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		r = sess_status_of(codes[i], SESS_WHY_NONE);
		ok(r->code == codes[i] && r->why == SESS_WHY_NONE,
		    "error %d has a plain row: %d %s", codes[i], r->status,
		    r->name);
		r = sess_status_of(codes[i], SESS_WHY_CLOSED);
		ok(r->code == codes[i], "error %d with a why it lacks keeps "
		    "its plain row", codes[i]);
	}
	r = sess_status_of(-99, SESS_WHY_NONE);
	ok(r->status == 500 && strcmp(r->name, "STORE_ERROR") == 0,
	    "an unknown error is 500 STORE_ERROR");
}

static void
whys(void)
{
	struct sess_err e = { 0 };
	const struct sess_status *r;

	sess_err_set(&e, SESS_ECONFLICT, "closed");
	r = sess_status_of(e.code, sess_status_why(e.code, e.failure, 0, 1));
	ok(r->status == 409 && strcmp(r->name, "STREAM_CLOSED") == 0,
	    "a closed stream is 409 STREAM_CLOSED");
	ok(sess_status_error(409, "STREAM_CLOSED") == SESS_ECONFLICT,
	    "409 STREAM_CLOSED reads back as a conflict, not a gap");
	ok(sess_status_error(409, "PRODUCER_SEQ_GAP") == SESS_EGAP,
	    "409 PRODUCER_SEQ_GAP reads back as a gap");
	sess_err_set(&e, SESS_ENOENT, "deleted");
	r = sess_status_of(e.code, sess_status_why(e.code, e.failure, 1, 0));
	ok(r->status == 410, "a deleted stream is 410 GONE");
	r = sess_status_of(e.code, sess_status_why(e.code, e.failure, 0, 0));
	ok(r->status == 404, "a missing one is 404");
	sess_err_set(&e, SESS_EIO, "full");
	e.failure = SESS_WRITE_FULL;
	r = sess_status_of(e.code, sess_status_why(e.code, e.failure, 0, 0));
	ok(r->status == 507, "a full disk is 507 STORE_FULL");
	e.failure = SESS_WRITE_READONLY;
	r = sess_status_of(e.code, sess_status_why(e.code, e.failure, 0, 0));
	ok(r->status == 503 && strcmp(r->name, "STORE_READ_ONLY") == 0,
	    "a read-only store is 503 STORE_READ_ONLY");
	ok(sess_status_error(409, "SOMETHING_NEW") == SESS_ECONFLICT,
	    "an unknown code of 409 reads as its status's first row");
	ok(sess_status_error(418, NULL) == SESS_EINVAL,
	    "an unknown 4xx is invalid input");
	ok(sess_status_error(502, NULL) == SESS_EIO,
	    "an unknown 5xx is an I/O error");
}

int
main(void)
{
	every_row();
	every_code();
	whys();
	return unit_done();
}
