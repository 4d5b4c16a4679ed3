/* notify-chan.c: notification channels: checking, registering, removing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "notify.h"

/* A member name: 1 to 256 bytes of UTF-8 without control characters. */
int
sess_notify_member_ok(const char *m)
{
	size_t len = strlen(m), i;
	long bad;

	if (len == 0 || len > SESS_MEMBER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)m[i] < 0x20 || m[i] == 0x7f)
			return 0;
	return sess_utf8_prefix((const unsigned char *)m, len, &bad) == len &&
	    bad < 0;
}

static int
http_url(const char *u)
{
	size_t i;

	if (strncasecmp(u, "http://", 7) != 0 &&
	    strncasecmp(u, "https://", 8) != 0)
		return 0;
	if (u[u[4] == ':' ? 7 : 8] == '\0' || strlen(u) > SESS_NOTIFY_URL_MAX)
		return 0;
	for (i = 0; u[i]; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

/* A bare address: local@domain, printable ASCII, no specials. */
static const char *
email_bad(const char *a)
{
	const char *at = strchr(a, '@');
	size_t i;

	if (strchr(a, '\r') || strchr(a, '\n'))
		return "contains CR or LF";
	if (strlen(a) > 254)
		return "is longer than 254 bytes";
	for (i = 0; a[i]; i++)
		if ((unsigned char)a[i] <= 0x20 || (unsigned char)a[i] >= 0x7f
		    || strchr("<>()[],;:\\\"", a[i]) != NULL)
			return "has a character not allowed in an address";
	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@'))
		return "is not of the form local@domain";
	return NULL;
}

static int
b64url_len(const char *s, size_t want)
{
	unsigned char buf[128];
	long n = sess_b64url_decode(s, buf, sizeof(buf));

	return n >= 0 && (size_t)n == want;
}

int
sess_notify_channel_check(const char *kind, const char *target, char **canon,
    struct sess_err *e)
{
	const char *why;

	*canon = NULL;
	if (strcmp(kind, "webhook") == 0 || strcmp(kind, "ntfy") == 0) {
		if (!http_url(target))
			return sess_err_set(e, SESS_EINVAL, "%s: '%s' is not "
			    "an http(s) URL", kind, target);
	} else if (strcmp(kind, "email") == 0) {
		if ((why = email_bad(target)) != NULL)
			return sess_err_set(e, SESS_EINVAL, "email: address "
			    "%s", why);
	} else if (strcmp(kind, "webpush") == 0) {
		json_t *v, *keys, *ep, *p, *a;
		struct sess_err pe;

		if ((v = sess_json_parse(target, strlen(target), &pe)) ==
		    NULL)
			return sess_err_set(e, SESS_EINVAL, "webpush: not a "
			    "PushSubscription: %s", pe.msg);
		ep = json_object_get(v, "endpoint");
		keys = json_object_get(v, "keys");
		p = json_object_get(keys, "p256dh");
		a = json_object_get(keys, "auth");
		if (!json_is_string(ep) || !http_url(json_string_value(ep)))
			why = "\"endpoint\" must be an http(s) URL";
		else if (!json_is_string(p) || !json_is_string(a))
			why = "\"keys\" must have \"p256dh\" and \"auth\"";
		else if (!b64url_len(json_string_value(p), 65) ||
		    json_string_value(p)[0] != 'B' ||
		    sess_push_key_check(json_string_value(p)) != 0)
			why = "\"p256dh\" must be a P-256 public key in "
			    "base64url (65 bytes)";
		else if (!b64url_len(json_string_value(a), 16))
			why = "\"auth\" must be 16 bytes in base64url";
		else
			why = NULL;
		if (why == NULL) {
			json_t *c = json_pack("{s:O, s:{s:O, s:O}}",
			    "endpoint", ep, "keys", "p256dh", p, "auth", a);

			*canon = c ? json_dumps(c, JSON_COMPACT) : NULL;
			json_decref(c);
		}
		json_decref(v);
		if (why != NULL)
			return sess_err_set(e, SESS_EINVAL, "webpush: %s", why);
		if (*canon == NULL)
			return sess_err_set(e, SESS_ENOMEM, "out of memory");
		return 0;
	} else if (strcmp(kind, "stdout") == 0) {
		if (*target == '\0')
			return sess_err_set(e, SESS_EINVAL, "stdout: give a "
			    "target (any label, such as -)");
	} else
		return sess_err_set(e, SESS_EINVAL, "'%s': unknown channel "
		    "kind (webhook, ntfy, email, webpush or stdout)", kind);
	if ((*canon = strdup(target)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	return 0;
}

int
sess_notify_channel_add(struct sess_store *st, int own_tx, const char *member,
    const char *kind, const char *target, struct sess_err *e)
{
	sqlite3_stmt *s;
	char *canon;
	int rc;

	if (!sess_notify_member_ok(member))
		return sess_err_set(e, SESS_EINVAL, "'%s': not a member name "
		    "(1 to %d bytes, no control characters)", member,
		    SESS_MEMBER_MAX);
	if ((rc = sess_notify_channel_check(kind, target, &canon, e)) != 0)
		return rc;
	/* Registered by hand, a channel from the channel file stays. */
	rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_channels (member, "
	    "kind, target, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO "
	    "UPDATE SET config = 0 WHERE config = 1", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		free(canon);
		return sess_dberr(st, rc, "register", e);
	}
	sqlite3_bind_text(s, 1, member, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, sess_now());
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0) {
		sqlite3_finalize(s);
		free(canon);
		return rc;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(canon);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "register", e);
		if (own_tx)
			sess_tx_rollback(st);
		return rc;
	}
	rc = sqlite3_changes(st->db);
	if (own_tx && sess_tx_commit(st, e) != 0)
		return e ? e->code : SESS_EIO;
	return rc;
}

int
sess_notify_channel_del(struct sess_store *st, int own_tx, int64_t id,
    const char *member, const char *kind, const char *target,
    struct sess_err *e)
{
	sqlite3_stmt *s;
	char *canon = NULL;
	int rc;

	if (member != NULL && (rc = sess_notify_channel_check(kind, target,
	    &canon, e)) != 0) {
		/* A target that was never valid cannot be registered. */
		return sess_err_set(e, SESS_ENOENT, "%s: no %s channel '%s'",
		    member, kind, target);
	}
	rc = sqlite3_prepare_v2(st->db, member != NULL ? "DELETE FROM "
	    "notify_channels WHERE member = ?1 AND kind = ?2 AND target = ?3" :
	    "DELETE FROM notify_channels WHERE id = ?4", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		free(canon);
		return sess_dberr(st, rc, "remove channel", e);
	}
	if (member != NULL) {
		sqlite3_bind_text(s, 1, member, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, canon, -1, SQLITE_STATIC);
	} else
		sqlite3_bind_int64(s, 4, id);
	if (own_tx && (rc = sess_tx_begin(st, e)) != 0) {
		sqlite3_finalize(s);
		free(canon);
		return rc;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	free(canon);
	if (rc != SQLITE_DONE) {
		rc = sess_dberr(st, rc, "remove channel", e);
		if (own_tx)
			sess_tx_rollback(st);
		return rc;
	}
	rc = sqlite3_changes(st->db);
	if (own_tx && sess_tx_commit(st, e) != 0)
		return e ? e->code : SESS_EIO;
	if (rc == 0 && member != NULL)
		return sess_err_set(e, SESS_ENOENT, "%s: no %s channel '%s'",
		    member, kind, target);
	return rc;
}
