/* notify-key.c: the notification keys (webhook secret, VAPID), made once. */
#include <stdlib.h>

#include "internal.h"
#include "notify.h"

int
sess_notify_key(struct sess_store *st, int own_tx, const char *name,
    char *(*make)(void), char **out, struct sess_err *e)
{
	sqlite3_stmt *s;
	char *v = NULL;
	int rc;

	*out = NULL;
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db, "SELECT value FROM notify_keys "
	    "WHERE name = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = sess_dberr(st, rc, "read key", e);
		goto fail;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		v = sess_notify_col(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "read key", e);
		goto fail;
	}
	if (v == NULL) {
		/* Generated on first use, under the write lock: one wins. */
		if (make == NULL) {
			rc = sess_err_set(e, SESS_ENOENT, "no %s key yet",
			    name);
			goto fail;
		}
		if ((v = make()) == NULL) {
			rc = sess_err_set(e, SESS_EIO, "cannot generate the "
			    "%s key", name);
			goto fail;
		}
		rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_keys "
		    "(name, value) VALUES (?1, ?2)", -1, &s, NULL);
		if (rc != SQLITE_OK) {
			rc = sess_dberr(st, rc, "store key", e);
			goto fail;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			rc = sess_dberr(st, rc, "store key", e);
			goto fail;
		}
	}
	if (own_tx && (rc = sess_tx_commit(st, e)) != 0) {
		free(v);
		return rc;
	}
	*out = v;
	return 0;
fail:
	free(v);
	if (own_tx)
		sess_tx_rollback(st);
	return rc;
}
