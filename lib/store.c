/* store.c: open and migrate the SQLite store, transactions, wake-ups. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SESS_APP_ID 0x73657373 /* "sess" */
#define BUSY_MS 10000

/* Forward migrations: schema[v - 1] takes a store from v - 1 to v. */
static const char *const schema[] = {
	"CREATE TABLE streams ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  content_type TEXT NOT NULL DEFAULT 'application/json',"
	"  created INTEGER NOT NULL,"
	"  ttl INTEGER,"
	"  expires INTEGER,"
	"  closed INTEGER NOT NULL DEFAULT 0,"
	"  tail INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE events ("
	"  stream INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  type TEXT,"
	"  producer TEXT,"
	"  epoch INTEGER,"
	"  pseq INTEGER,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (stream, seq)) WITHOUT ROWID;"
	"CREATE INDEX events_producer ON events (stream, producer, epoch, pseq)"
	"  WHERE producer IS NOT NULL;"
	"CREATE TABLE producers ("
	"  stream INTEGER NOT NULL,"
	"  id TEXT NOT NULL,"
	"  epoch INTEGER NOT NULL,"
	"  next INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (stream, id)) WITHOUT ROWID;"
	"CREATE TABLE messages ("
	"  stream INTEGER NOT NULL,"
	"  msg TEXT NOT NULL,"
	"  text TEXT NOT NULL DEFAULT '',"
	"  status TEXT NOT NULL,"
	"  producer TEXT,"
	"  attempt INTEGER NOT NULL DEFAULT 0,"
	"  first INTEGER NOT NULL,"
	"  last INTEGER NOT NULL,"
	"  PRIMARY KEY (stream, msg)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof(schema) / sizeof(schema[0])))

int
sess_dberr(struct sess_store *st, int rc, const char *what, struct sess_err *e)
{
	const char *m = st && st->db ? sqlite3_errmsg(st->db) :
	    sqlite3_errstr(rc);
	const char *path = st ? st->path : "store";

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return sess_err_set(e, SESS_EBUSY, "%s: %s: store is busy",
		    path, what);
	case SQLITE_NOTADB:
		return sess_err_set(e, SESS_ENOTSTORE,
		    "%s: not a sess store (not an SQLite database)", path);
	case SQLITE_NOMEM:
		return sess_err_set(e, SESS_ENOMEM, "%s: out of memory", path);
	case SQLITE_CORRUPT:
		return sess_err_set(e, SESS_EIO, "%s: %s: store is corrupt: %s",
		    path, what, m);
	default:
		return sess_err_set(e, SESS_EIO, "%s: %s: %s", path, what, m);
	}
}

sqlite3_stmt *
sess_stmt(struct sess_store *st, int slot, const char *sql, struct sess_err *e)
{
	int rc;

	if (st->stmt[slot] == NULL) {
		rc = sqlite3_prepare_v3(st->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[slot], NULL);
		if (rc != SQLITE_OK) {
			sess_dberr(st, rc, "prepare", e);
			return NULL;
		}
	}
	sqlite3_reset(st->stmt[slot]);
	sqlite3_clear_bindings(st->stmt[slot]);
	return st->stmt[slot];
}

static int
exec(struct sess_store *st, const char *sql, const char *what,
    struct sess_err *e)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sess_dberr(st, rc, what, e);
}

static int
pragma_int(struct sess_store *st, const char *sql, int *out, struct sess_err *e)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "read header", e);
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sess_dberr(st, rc, "read header", e);
	return 0;
}

int
sess_tx_begin(struct sess_store *st, struct sess_err *e)
{
	return exec(st, "BEGIN IMMEDIATE", "begin", e);
}

int
sess_tx_commit(struct sess_store *st, struct sess_err *e)
{
	int rc;

	if ((rc = exec(st, "COMMIT", "commit", e)) != 0) {
		sess_tx_rollback(st);
		return rc;
	}
	/*
	 * Touch the wake file after the commit is visible, so a watcher
	 * woken by it always finds the new rows.  Best effort: followers
	 * still see the rows on their next wake-up if this fails.
	 */
	if (st->wakefd < 0)
		st->wakefd = open(st->wakepath, O_WRONLY | O_CREAT | O_CLOEXEC,
		    0644);
	if (st->wakefd >= 0 && pwrite(st->wakefd, "w", 1, 0) < 0) {
		close(st->wakefd);
		st->wakefd = -1;
	}
	return 0;
}

void
sess_tx_rollback(struct sess_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
migrate(struct sess_store *st, struct sess_err *e)
{
	int rc, v, appid, i;

	if ((rc = sess_tx_begin(st, e)) != 0)
		return rc;
	/* Read again under the write lock: another process may have won. */
	if ((rc = pragma_int(st, "PRAGMA user_version", &v, e)) != 0 ||
	    (rc = pragma_int(st, "PRAGMA application_id", &appid, e)) != 0)
		goto fail;
	if (v > SCHEMA_VERSION || (appid != 0 && appid != SESS_APP_ID)) {
		rc = sess_err_set(e, SESS_ENOTSTORE,
		    "%s: changed while opening it", st->path);
		goto fail;
	}
	for (i = v; i < SCHEMA_VERSION; i++)
		if ((rc = exec(st, schema[i], "migrate", e)) != 0)
			goto fail;
	if (v < SCHEMA_VERSION) {
		char sql[96];

		snprintf(sql, sizeof(sql),
		    "PRAGMA application_id=%d; PRAGMA user_version=%d",
		    SESS_APP_ID, SCHEMA_VERSION);
		if ((rc = exec(st, sql, "migrate", e)) != 0)
			goto fail;
	}
	return sess_tx_commit(st, e);
fail:
	sess_tx_rollback(st);
	return rc;
}

int
sess_sync_flags(const char *mode)
{
	if (mode == NULL || *mode == '\0' || strcmp(mode, "full") == 0)
		return 0;
	if (strcmp(mode, "normal") == 0)
		return SESS_SYNC_NORMAL;
	return -1;
}

static char *
concat(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	char *p;

	if ((p = malloc(n + m + 1)) == NULL)
		return NULL;
	memcpy(p, a, n);
	memcpy(p + n, b, m + 1);
	return p;
}

struct sess_store *
sess_store_open(const char *path, int flags, struct sess_err *e)
{
	struct sess_store *st;
	int rc, appid, v, ntables, oflags;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	st->wakefd = -1;
	st->flags = flags;
	sess_buf_init(&st->scratch, (size_t)1 << 30);
	if ((st->path = concat(path, "")) == NULL ||
	    (st->wakepath = concat(path, "-wake")) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto fail;
	}
	if (*path == '\0' || *path == ':') {
		sess_err_set(e, SESS_EINVAL, "'%s': not a store file name",
		    path);
		goto fail;
	}
	if ((flags & SESS_RDONLY) && access(path, F_OK) != 0) {
		sess_err_set(e, SESS_ENOENT, "%s: no such store", path);
		goto fail;
	}
	oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    (flags & SESS_RDONLY ? 0 : SQLITE_OPEN_CREATE);
	rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		if (rc == SQLITE_CANTOPEN)
			sess_err_set(e, SESS_EIO, "%s: cannot open: %s", path,
			    strerror(errno));
		else
			sess_dberr(st, rc, "open", e);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_MS);
	sqlite3_extended_result_codes(st->db, 1);
	/* Identify the file before anything writes to it. */
	if (pragma_int(st, "PRAGMA application_id", &appid, e) != 0 ||
	    pragma_int(st, "PRAGMA user_version", &v, e) != 0 ||
	    pragma_int(st, "SELECT count(*) FROM sqlite_master", &ntables,
	    e) != 0)
		goto fail;
	if (appid != SESS_APP_ID && (appid != 0 || ntables != 0)) {
		sess_err_set(e, SESS_ENOTSTORE,
		    "%s: not a sess store (an SQLite database of another kind)",
		    path);
		goto fail;
	}
	if (v > SCHEMA_VERSION) {
		sess_err_set(e, SESS_ENOTSTORE,
		    "%s: store schema version %d is newer than this program's "
		    "(%d); upgrade sess", path, v, SCHEMA_VERSION);
		goto fail;
	}
	if (exec(st, "PRAGMA journal_mode=WAL", "set WAL mode", e) != 0)
		goto fail;
	if (exec(st, flags & SESS_SYNC_NORMAL ? "PRAGMA synchronous=NORMAL" :
	    "PRAGMA synchronous=FULL", "set synchronous", e) != 0 ||
	    exec(st, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384; "
	    "PRAGMA temp_store=MEMORY", "set pragmas", e) != 0)
		goto fail;
	if (v < SCHEMA_VERSION && migrate(st, e) != 0)
		goto fail;
	return st;
fail:
	sess_store_close(st);
	return NULL;
}

void
sess_store_close(struct sess_store *st)
{
	int i;

	if (st == NULL)
		return;
	for (i = 0; i < STMT_MAX; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db != NULL)
		sqlite3_close(st->db);
	if (st->wakefd >= 0)
		close(st->wakefd);
	sess_buf_release(&st->scratch);
	free(st->path);
	free(st->wakepath);
	free(st);
}

const char *
sess_store_path(const struct sess_store *st)
{
	return st->path;
}
