/* store.c: open and migrate the SQLite store, transactions, wake-ups. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
	/*
	 * v2: what the Durable Streams protocol keeps per stream (ds.c).
	 * ttl is a sliding window in seconds and expires the deadline in
	 * microseconds (for a window, the last access plus the window);
	 * without ttl, expires is an absolute expiry.  A fork reads its
	 * events up to fork_seq from parent; deleted marks a stream
	 * deleted while forks still read from it.
	 */
	"ALTER TABLE streams ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE streams ADD COLUMN parent INTEGER;"
	"ALTER TABLE streams ADD COLUMN fork_seq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE streams ADD COLUMN fork_from TEXT;"
	"ALTER TABLE streams ADD COLUMN fork_offset INTEGER;"
	"ALTER TABLE streams ADD COLUMN fork_sub INTEGER;"
	"ALTER TABLE streams ADD COLUMN writer_seq TEXT;"
	"ALTER TABLE streams ADD COLUMN closed_by TEXT;"
	"ALTER TABLE streams ADD COLUMN closed_epoch INTEGER;"
	"ALTER TABLE streams ADD COLUMN closed_pseq INTEGER;"
	"CREATE INDEX streams_parent ON streams (parent) "
	"  WHERE parent IS NOT NULL;"
	"CREATE INDEX streams_expires ON streams (expires) "
	"  WHERE expires IS NOT NULL;"
	/* sessd's own records (subscriptions, signing keys), as JSON. */
	"CREATE TABLE records ("
	"  kind TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY (kind, key)) WITHOUT ROWID;",
	/*
	 * v3: presence (presence.c), read cursors (cursor.c) and run
	 * leases (log.c).  Presence and cursors are keyed by stream name:
	 * people can be present before a stream exists; runs by the
	 * stream's id.  A presence row is a lease until expires
	 * (microseconds); a run's lease is renewed by lease seconds.
	 */
	"CREATE TABLE presence (stream TEXT NOT NULL, member TEXT NOT NULL,"
	"  conn TEXT NOT NULL, data TEXT, since INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL, holder TEXT,"
	"  PRIMARY KEY (stream, member, conn));"
	"CREATE INDEX presence_holder ON presence (holder);"
	"CREATE TABLE presence_log (seq INTEGER PRIMARY KEY,"
	"  stream TEXT NOT NULL, time INTEGER NOT NULL, member TEXT NOT NULL,"
	"  conn TEXT NOT NULL, event TEXT NOT NULL, data TEXT, reason TEXT,"
	"  first INTEGER NOT NULL DEFAULT 0, last INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX presence_log_stream ON presence_log (stream, seq);"
	"CREATE TABLE cursors (stream TEXT NOT NULL, member TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, time INTEGER NOT NULL,"
	"  PRIMARY KEY (stream, member));"
	"CREATE TABLE runs (stream INTEGER NOT NULL, run TEXT NOT NULL,"
	"  expires INTEGER NOT NULL, lease INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (stream, run));",
	/*
	 * v4: notifications (notify.c).  notify_channels says how each
	 * member is reached; notify_scan is how far each stream's events
	 * were turned into outbox rows; notify_outbox holds one row per
	 * (event, recipient, channel), channel 0 for a row that reaches
	 * nobody (an unknown member, a malformed notify field).  A row is
	 * pending until it is sent, skipped or failed; a worker leases it
	 * (lease, holder) while it sends.  notify_keys keeps the webhook
	 * signing secret and the VAPID key pair.
	 */
	"CREATE TABLE notify_channels (id INTEGER PRIMARY KEY,"
	"  member TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL,"
	"  created INTEGER NOT NULL, UNIQUE (member, kind, target));"
	"CREATE TABLE notify_scan (stream INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL);"
	"CREATE TABLE notify_outbox (id INTEGER PRIMARY KEY,"
	"  stream TEXT NOT NULL, seq INTEGER NOT NULL, member TEXT NOT NULL,"
	"  channel INTEGER NOT NULL, kind TEXT, target TEXT,"
	"  note TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL,"
	"  lease INTEGER, holder TEXT, last_error TEXT,"
	"  created INTEGER NOT NULL, updated INTEGER NOT NULL,"
	"  UNIQUE (stream, seq, member, channel));"
	"CREATE INDEX notify_outbox_due ON notify_outbox (next_try)"
	"  WHERE state = 'pending';"
	"CREATE TABLE notify_keys (name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL) WITHOUT ROWID;",
	/*
	 * v5: a channel registered from the store's channel file
	 * (FILE.notify) has config 1, so that a line taken out of the file
	 * takes its channel out; one registered with sess-notify -r or by
	 * a browser has 0 and stays.
	 */
	"ALTER TABLE notify_channels ADD COLUMN config INTEGER NOT NULL "
	"  DEFAULT 0;",
};
#define SCHEMA_VERSION ((int)(sizeof(schema) / sizeof(schema[0])))

/* Whether errno err means a read-only store, a full one, or neither. */
static int
errno_failure(int err)
{
	switch (err) {
	case EROFS:
	case EACCES:
	case EPERM:
		return SESS_WRITE_READONLY;
	case ENOSPC:
	case EDQUOT:
		return SESS_WRITE_FULL;
	default:
		return 0;
	}
}

static int
fs_rdonly(const char *path)
{
	struct statvfs sv;

	return statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0;
}

/*
 * The errno behind an I/O error.  sqlite3_system_errno() is not set for
 * every failure (not for one in COMMIT), so ask the files too: the
 * WAL's, where a commit writes, then the database's.
 */
static int
db_errno(sqlite3 *db)
{
	sqlite3_file *f = NULL;
	int err;

	if ((err = sqlite3_system_errno(db)) != 0 && errno_failure(err) != 0)
		return err;
	err = 0;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER,
	    &f) == SQLITE_OK && f != NULL && f->pMethods != NULL &&
	    f->pMethods->xFileControl(f, SQLITE_FCNTL_LAST_ERRNO, &err) ==
	    SQLITE_OK && err != 0)
		return err;
	err = 0;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO,
	    &err) == SQLITE_OK)
		return err;
	return 0;
}

/*
 * SQLite maps only ENOSPC to SQLITE_FULL: a write that fails with EROFS
 * (a file system remounted read-only under us) is SQLITE_IOERR_WRITE,
 * so the system errno behind an I/O error decides, or failing that
 * whether the file system is read-only now.
 */
static int
db_failure(struct sess_store *st, int rc)
{
	int f = 0;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return SESS_WRITE_FULL;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return SESS_WRITE_READONLY;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		if (st == NULL)
			return 0;
		if (st->db != NULL)
			f = errno_failure(db_errno(st->db));
		if (f == 0 && fs_rdonly(st->path))
			f = SESS_WRITE_READONLY;
		if (f == 0 && (rc & 0xff) == SQLITE_CANTOPEN)
			f = SESS_WRITE_READONLY;
		return f;
	default:
		return 0;
	}
}

int
sess_dberr(struct sess_store *st, int rc, const char *what, struct sess_err *e)
{
	const char *m = st && st->db ? sqlite3_errmsg(st->db) :
	    sqlite3_errstr(rc);
	const char *path = st ? st->path : "store";
	int f = db_failure(st, rc), code;

	if (st != NULL)
		st->failure = f;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = sess_err_set(e, SESS_EBUSY, "%s: %s: store is busy",
		    path, what);
		break;
	case SQLITE_NOTADB:
		code = sess_err_set(e, SESS_ENOTSTORE,
		    "%s: not a sess store (not an SQLite database)", path);
		break;
	case SQLITE_NOMEM:
		code = sess_err_set(e, SESS_ENOMEM, "%s: out of memory", path);
		break;
	case SQLITE_CORRUPT:
		code = sess_err_set(e, SESS_EIO, "%s: %s: store is corrupt: %s",
		    path, what, m);
		break;
	default:
		code = sess_err_set(e, SESS_EIO, "%s: %s: %s", path, what, m);
		break;
	}
	/* After the message, which clears it. */
	if (e != NULL)
		e->failure = f;
	return code;
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
	st->failure = 0;
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

int
sess_write_begin(struct sess_store *st, int *own, struct sess_err *e)
{
	*own = sqlite3_get_autocommit(st->db);
	if (*own)
		return sess_tx_begin(st, e);
	st->failure = 0;
	return exec(st, "SAVEPOINT w", "savepoint", e);
}

int
sess_write_end(struct sess_store *st, int own, int rc, struct sess_err *e)
{
	if (own) {
		if (rc != 0) {
			sess_tx_rollback(st);
			return rc;
		}
		return sess_tx_commit(st, e);
	}
	if (rc != 0)
		sqlite3_exec(st->db, "ROLLBACK TO w", NULL, NULL, NULL);
	sqlite3_exec(st->db, "RELEASE w", NULL, NULL, NULL);
	return rc;
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

/*
 * Runs sql, retrying while the store is busy.  The busy handler does not
 * cover every case while another process converts or creates the file
 * (SQLite returns SQLITE_BUSY at once where waiting could deadlock).
 */
static int
with_retry(struct sess_store *st, const char *sql, const char *what,
    struct sess_err *e)
{
	int rc, i;

	for (i = 0; i < BUSY_MS / 10; i++) {
		rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		sqlite3_sleep(10);
	}
	return rc == SQLITE_OK ? 0 : sess_dberr(st, rc, what, e);
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

/*
 * Reads the file's identity in one read transaction: another process
 * may be creating the store right now, and the three answers must come
 * from the same moment.
 */
static int
read_header(struct sess_store *st, int *appid, int *v, int *ntables,
    struct sess_err *e)
{
	int rc;

	if ((rc = with_retry(st, "BEGIN", "read header", e)) != 0)
		return rc;
	if ((rc = pragma_int(st, "PRAGMA application_id", appid, e)) != 0 ||
	    (rc = pragma_int(st, "PRAGMA user_version", v, e)) != 0 ||
	    (rc = pragma_int(st, "SELECT count(*) FROM sqlite_master",
	    ntables, e)) != 0) {
		sess_tx_rollback(st);
		return rc;
	}
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	return 0;
}

/*
 * "file:PATH?immutable=1", with the characters that mean something in
 * a URI path percent-encoded.  An absolute path gets an empty authority
 * ("file:///..."), so that one starting with "//" is no host name.
 */
static char *
immutable_uri(const char *path)
{
	static const char tail[] = "?immutable=1";
	size_t n = strlen(path), i, o;
	char *p;

	if ((p = malloc(sizeof("file://") + 3 * n + sizeof(tail))) == NULL)
		return NULL;
	o = (size_t)snprintf(p, 8, "%s", *path == '/' ? "file://" : "file:");
	for (i = 0; i < n; i++) {
		if (path[i] == '%' || path[i] == '?' || path[i] == '#') {
			snprintf(p + o, 4, "%%%02X", (unsigned char)path[i]);
			o += 3;
		} else
			p[o++] = path[i];
	}
	memcpy(p + o, tail, sizeof(tail));
	return p;
}

/*
 * SQLite cannot open a WAL store on read-only media when its -shm is
 * missing (it cannot create it), unless told that the file cannot
 * change: true on a read-only file system, until it is remounted.
 */
static int
open_immutable(struct sess_store *st, struct sess_err *e)
{
	char *uri;
	int rc;

	sqlite3_close(st->db);
	st->db = NULL;
	if ((uri = immutable_uri(st->path)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return sess_dberr(st, rc, "open read-only", e);
	sqlite3_busy_timeout(st->db, BUSY_MS);
	sqlite3_extended_result_codes(st->db, 1);
	st->immutable = 1;
	return 0;
}

/*
 * Refuses a path that no retry can make a store, before SQLite's
 * "unable to open" (which reads as temporary) can: a directory, and for
 * a writer a file in a directory that does not exist.  A reader is told
 * there is no such store.
 */
static int
path_check(const char *path, int flags, struct sess_err *e)
{
	struct stat sb;
	char *dir;
	int rc = 0, err;

	if (stat(path, &sb) == 0)
		return S_ISDIR(sb.st_mode) ? sess_err_set(e, SESS_ENOTSTORE,
		    "%s: is a directory, not a store file", path) : 0;
	if (errno != ENOENT && errno != ENOTDIR)
		return 0; /* SQLite says what it is */
	if (flags & SESS_RDONLY)
		return sess_err_set(e, SESS_ENOENT, "%s: no such store", path);
	if ((dir = concat(path, "")) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	if (strrchr(dir, '/') != NULL) {
		*strrchr(dir, '/') = '\0';
		if (*dir == '\0')
			dir[0] = '/', dir[1] = '\0';
		err = stat(dir, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? 0 :
		    ENOTDIR;
		if (err == ENOENT || err == ENOTDIR)
			rc = sess_err_set(e, SESS_EINVAL, "%s: cannot create "
			    "the store in %s: %s", path, dir, strerror(err));
	}
	free(dir);
	return rc;
}

struct sess_store *
sess_store_open(const char *path, int flags, struct sess_err *e)
{
	struct sess_store *st;
	int rc, appid, v, ntables, oflags;

	if (e != NULL)
		e->failure = 0;
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
	if (path_check(path, flags, e) != 0)
		goto fail;
	oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    (flags & SESS_RDONLY ? 0 : SQLITE_OPEN_CREATE);
	rc = sqlite3_open_v2(path, &st->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		if (rc == SQLITE_CANTOPEN) {
			int err = errno;

			sess_err_set(e, SESS_EIO, "%s: cannot open: %s", path,
			    strerror(err));
			if (e != NULL)
				e->failure = errno_failure(err);
		} else
			sess_dberr(st, rc, "open", e);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_MS);
	sqlite3_extended_result_codes(st->db, 1);
	/* Identify the file before anything writes to it. */
	if (read_header(st, &appid, &v, &ntables, e) != 0) {
		if (!(flags & SESS_RDFALLBACK) || !fs_rdonly(path))
			goto fail;
		if (open_immutable(st, e) != 0 ||
		    read_header(st, &appid, &v, &ntables, e) != 0)
			goto fail;
	}
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
	if (st->immutable) {
		/* Nothing may change it: no WAL switch, no migration. */
		if (v < SCHEMA_VERSION) {
			sess_err_set(e, SESS_EIO, "%s: store schema version %d "
			    "needs an upgrade, but the store is read-only",
			    path, v);
			if (e != NULL)
				e->failure = SESS_WRITE_READONLY;
			goto fail;
		}
		if (exec(st, "PRAGMA cache_size=-16384; "
		    "PRAGMA temp_store=MEMORY", "set pragmas", e) != 0)
			goto fail;
		return st;
	}
	if (with_retry(st, "PRAGMA journal_mode=WAL", "set WAL mode", e) != 0)
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

int
sess_store_immutable(const struct sess_store *st)
{
	return st->immutable;
}

const char *
sess_store_path(const struct sess_store *st)
{
	return st->path;
}
