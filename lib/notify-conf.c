/* notify-conf.c: the channel file beside the store (FILE.notify), synced. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "notify.h"

struct cfg_line {
	char *member, *kind, *target;     /* target canonical */
};

static void
cfg_free(struct cfg_line *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(l[i].member);
		free(l[i].kind);
		free(l[i].target);
	}
	free(l);
}

/* Splits off the next word of *p (ends it with a NUL); NULL at the end. */
static char *
word(char **p)
{
	char *w = *p + strspn(*p, " \t");

	if (*w == '\0')
		return NULL;
	*p = w + strcspn(w, " \t");
	if (**p != '\0')
		*(*p)++ = '\0';
	return w;
}

/*
 * Reads and checks the whole channel file: the lines, or an error
 * naming the file and line.  A file that does not exist has no lines.
 */
static int
cfg_read(const char *path, struct cfg_line **out, size_t *nout,
    struct sess_err *e)
{
	struct cfg_line *l = NULL, *tmp;
	size_t n = 0, cap = 0, len;
	char *line = NULL, *p, *member, *kind, *canon;
	ssize_t got;
	size_t lsize = 0;
	long lineno = 0;
	struct sess_err ce;
	FILE *f;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		return sess_err_set(e, SESS_EIO, "%s: %s", path,
		    strerror(errno));
	}
	while ((got = getline(&line, &lsize, f)) != -1) {
		lineno++;
		len = (size_t)got;
		if (memchr(line, '\0', len) != NULL) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: a NUL byte",
			    path, lineno);
			break;
		}
		while (len > 0 && strchr(" \t\r\n", line[len - 1]) != NULL)
			line[--len] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		member = word(&p);
		kind = word(&p);
		p += strspn(p, " \t");
		if (kind == NULL || *p == '\0') {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: expected "
			    "MEMBER KIND TARGET", path, lineno);
			break;
		}
		if (!sess_notify_member_ok(member)) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: '%.256s': "
			    "not a member name", path, lineno, member);
			break;
		}
		if (sess_notify_channel_check(kind, p, &canon, &ce) != 0) {
			rc = sess_err_set(e, SESS_EINVAL, "%s:%ld: %s", path,
			    lineno, ce.msg);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((tmp = realloc(l, cap * sizeof(*l))) == NULL) {
				free(canon);
				rc = sess_err_set(e, SESS_ENOMEM,
				    "out of memory");
				break;
			}
			l = tmp;
		}
		l[n].member = strdup(member);
		l[n].kind = strdup(kind);
		l[n].target = canon;
		n++;
		if (l[n - 1].member == NULL || l[n - 1].kind == NULL) {
			rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = sess_err_set(e, SESS_EIO, "%s: %s", path,
		    strerror(errno));
	free(line);
	fclose(f);
	if (rc != 0) {
		cfg_free(l, n);
		return rc;
	}
	*out = l;
	*nout = n;
	return 0;
}

/* The key of a channel in the set of the file's: member, kind, target. */
static char *
cfg_key(const char *member, const char *kind, const char *target)
{
	size_t len = strlen(member) + strlen(kind) + strlen(target) + 3;
	char *k = malloc(len);

	if (k != NULL)
		snprintf(k, len, "%s\n%s\n%s", member, kind, target);
	return k;
}

/* The set of the file's channels, as cfg_key()s (new), or NULL. */
static json_t *
cfg_want(const struct cfg_line *l, size_t n)
{
	json_t *want = json_object();
	size_t i;
	char *k;

	for (i = 0; want != NULL && i < n; i++) {
		k = cfg_key(l[i].member, l[i].kind, l[i].target);
		if (k == NULL ||
		    json_object_set_new(want, k, json_true()) != 0) {
			json_decref(want);
			want = NULL;
		}
		free(k);
	}
	return want;
}

/*
 * Adds the file's channels that are not there; a channel there
 * already, from the file or not, is left as it is.  An SQLite code.
 */
static int
cfg_add(struct sess_store *st, const struct cfg_line *l, size_t n,
    int *changes)
{
	sqlite3_stmt *add;
	size_t i;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "INSERT INTO notify_channels (member, "
	    "kind, target, created, config) VALUES (?1, ?2, ?3, ?4, 1) "
	    "ON CONFLICT DO NOTHING", -1, &add, NULL);
	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		sqlite3_reset(add);
		sqlite3_bind_text(add, 1, l[i].member, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 2, l[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(add, 3, l[i].target, -1, SQLITE_STATIC);
		sqlite3_bind_int64(add, 4, sess_now());
		if ((rc = sqlite3_step(add)) == SQLITE_DONE) {
			*changes += sqlite3_changes(st->db);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(add);
	return rc;
}

/*
 * The ids of the channels registered from the file that are no longer
 * in it, in *gone[0..*ngone) (new).  An SQLite code.
 */
static int
cfg_gone(struct sess_store *st, json_t *want, int64_t **gone, size_t *ngone)
{
	sqlite3_stmt *s;
	int64_t *tmp;
	size_t cap = 0;
	char *k;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "SELECT id, member, kind, target "
	    "FROM notify_channels WHERE config = 1", -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		k = cfg_key((const char *)sqlite3_column_text(s, 1),
		    (const char *)sqlite3_column_text(s, 2),
		    (const char *)sqlite3_column_text(s, 3));
		if (k == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (json_object_get(want, k) == NULL) {
			if (*ngone == cap) {
				cap = cap ? 2 * cap : 16;
				if ((tmp = realloc(*gone, cap * sizeof(**gone)))
				    == NULL) {
					free(k);
					rc = SQLITE_NOMEM;
					break;
				}
				*gone = tmp;
			}
			(*gone)[(*ngone)++] = sqlite3_column_int64(s, 0);
		}
		free(k);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Makes the channels agree with l[0..n), in the running transaction. */
static int
cfg_apply(struct sess_store *st, const struct cfg_line *l, size_t n,
    json_t *want, struct sess_err *e)
{
	int64_t *gone = NULL;
	size_t ngone = 0, i;
	int rc, changes = 0;

	if ((rc = cfg_add(st, l, n, &changes)) == SQLITE_OK)
		rc = cfg_gone(st, want, &gone, &ngone);
	if (rc != SQLITE_OK) {
		free(gone);
		return sess_dberr(st, rc, "channel file", e);
	}
	for (i = 0; i < ngone; i++) {
		if ((rc = sess_notify_channel_del(st, 0, gone[i], NULL, NULL,
		    NULL, e)) < 0) {
			free(gone);
			return rc;
		}
		changes += rc;
	}
	free(gone);
	return changes;
}

int
sess_notify_config_sync(struct sess_store *st, const char *path, int check,
    struct sess_err *e)
{
	struct cfg_line *l;
	json_t *want;
	size_t n;
	int rc, c, own;

	if ((rc = cfg_read(path, &l, &n, e)) != 0 || check) {
		cfg_free(l, n);
		return rc;
	}
	if ((want = cfg_want(l, n)) == NULL) {
		cfg_free(l, n);
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	}
	if ((rc = sess_write_begin(st, &own, e)) == 0) {
		rc = cfg_apply(st, l, n, want, e);
		/* No commit without a change: it would wake every follower. */
		if (rc <= 0)
			sess_write_end(st, own, SESS_EIO, NULL);
		else if ((c = sess_write_end(st, own, 0, e)) != 0)
			rc = c;
	}
	json_decref(want);
	cfg_free(l, n);
	return rc;
}
